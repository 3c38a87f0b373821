-- loglens: run-as=owner
-- The archive job's ledger (see loglens/archive.py): one row per partition and generation, moving
-- exported → verified → detached → dropped. Database steps update it in the same transaction as
-- the DETACH or DROP they record, so after a crash it always says what is true; a generation > 0
-- archives rows that reached a day after it had been archived once.
CREATE TABLE archive_ledger (
    partition_name text           NOT NULL,
    generation     integer        NOT NULL CONSTRAINT archive_ledger_generation_check CHECK (generation >= 0),
    range_start    timestamptz    NOT NULL,
    range_end      timestamptz    NOT NULL,
    state          text           NOT NULL
        CONSTRAINT archive_ledger_state_check CHECK (state IN ('exported', 'verified', 'detached', 'dropped')),
    -- The day manifests holding this generation's rows (archive/day=YYYY-MM-DD/_manifest*.json).
    manifest_keys  text[]         NOT NULL,
    row_count      bigint         NOT NULL CONSTRAINT archive_ledger_rows_check CHECK (row_count >= 0),
    -- Sum mod 2^64 of a 64-bit hash per row key: up to 20 decimal digits.
    checksum       numeric(20, 0) NOT NULL,
    bytes          bigint         NOT NULL DEFAULT 0,
    -- The partition is renamed when detached, so maintain may create one of the same name again.
    detached_as    text,
    started_at     timestamptz    NOT NULL DEFAULT now(),
    updated_at     timestamptz    NOT NULL DEFAULT now(),
    CONSTRAINT archive_ledger_pkey PRIMARY KEY (partition_name, generation),
    CONSTRAINT archive_ledger_range_check CHECK (range_start < range_end),
    CONSTRAINT archive_ledger_detached_check CHECK (state IN ('exported', 'verified') OR detached_as IS NOT NULL)
);
CREATE INDEX archive_ledger_range ON archive_ledger (range_start, range_end);

-- Days brought back by `loglens restore`, kept out of archiving until hold_until.
CREATE TABLE archive_holds (
    day           date        PRIMARY KEY,
    hold_until    timestamptz NOT NULL,
    restored_rows bigint      NOT NULL DEFAULT 0,
    restored_at   timestamptz NOT NULL DEFAULT now()
);
