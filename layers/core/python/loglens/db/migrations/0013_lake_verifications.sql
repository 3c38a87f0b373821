-- loglens: run-as=owner
-- The lake tier's ledger (loglens.lake.verify): each time a UTC day is compared between PostgreSQL and the
-- lake, its row count and checksum on both sides (the archive's: sum mod 2^64 of md5(created_at_us|event_id)
-- [0:8]) and why it was compared. The archive job drops a partition only after every one of its days has a
-- matching row here from the same run; `loglens lake verify` and a restore from the lake record theirs too.
CREATE TABLE lake_verifications (
    id            bigint         GENERATED ALWAYS AS IDENTITY
        CONSTRAINT lake_verifications_pkey PRIMARY KEY,
    day           date           NOT NULL,
    pg_rows       bigint         NOT NULL CONSTRAINT lake_verifications_pg_rows_check CHECK (pg_rows >= 0),
    -- Up to 20 decimal digits, as in archive_ledger.
    pg_checksum   numeric(20, 0) NOT NULL,
    lake_rows     bigint         NOT NULL CONSTRAINT lake_verifications_lake_rows_check CHECK (lake_rows >= 0),
    lake_checksum numeric(20, 0) NOT NULL,
    matches       boolean        GENERATED ALWAYS AS (pg_rows = lake_rows AND pg_checksum = lake_checksum) STORED,
    -- Where the lake's figures came from: athena or duckdb.
    engine        text           NOT NULL,
    purpose       text           NOT NULL
        CONSTRAINT lake_verifications_purpose_check CHECK (purpose IN ('retire', 'check', 'restore')),
    -- The table PostgreSQL's figures came from: a partition, its detached copy, or logs.
    pg_table      text           NOT NULL,
    checked_at    timestamptz    NOT NULL DEFAULT now()
);
CREATE INDEX lake_verifications_day ON lake_verifications (day, checked_at DESC);
