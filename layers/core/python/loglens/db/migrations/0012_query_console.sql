-- loglens: run-as=owner
-- What the query API, `loglens tail` and the web console need (loglens.query).

-- Live tail follows rows in the order they were stored, which neither created_at (a late record keeps
-- its old event time) nor received_at (Firehose buffers and concurrent loads commit out of that order)
-- gives. The id of the transaction that stored a row, compared with the reader's snapshots, does:
-- a poll returns the rows committed after the previous poll's snapshot and visible in its own
-- (loglens/query/tail.py). bigint, not xid8, so drivers read it as a number; the 64-bit transaction id
-- never wraps. pg_current_xact_id() is stable, so existing rows get this migration's id without a
-- table rewrite, and a partition move (INSERT ... SELECT *) keeps each row's original id.
ALTER TABLE logs ADD COLUMN stored_xid bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
-- Rows are appended in the order they are stored, so the ids follow the heap and a BRIN index finds the
-- newest ones by reading only the last few page ranges (and the ranges not summarised yet, which are the
-- newest anyway). Measured on COPY, a B-tree here cost about twice what BRIN does; bench/search.py
-- measures what the column and this index cost the write path now.
CREATE INDEX idx_logs_stored_xid ON logs USING brin (stored_xid) WITH (pages_per_range = 32, autosummarize = on);

-- Saved questions, searches and SQL, shared by everyone who may query. The body is what the console
-- sends back to run it: {"question"}, {"filters"} or {"sql"}, validated by loglens.query.saved.
CREATE TABLE saved_queries (
    id         uuid        NOT NULL,
    kind       text        NOT NULL CONSTRAINT saved_queries_kind_check CHECK (kind IN ('question', 'search', 'sql')),
    name       text        NOT NULL CONSTRAINT saved_queries_name_check CHECK (length(name) BETWEEN 1 AND 200),
    body       jsonb       NOT NULL CONSTRAINT saved_queries_body_check CHECK (pg_column_size(body) <= 65536),
    created_by text        NOT NULL CONSTRAINT saved_queries_created_by_check CHECK (length(created_by) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT saved_queries_pkey PRIMARY KEY (id)
);
CREATE INDEX saved_queries_created_at ON saved_queries (created_at DESC);

-- Answers behind shareable links (/#/answers/<id>): written once, never changed. The id is a random
-- token, so a link cannot be guessed from another one.
CREATE TABLE shared_answers (
    id         text        NOT NULL CONSTRAINT shared_answers_id_check CHECK (id ~ '^[A-Za-z0-9_-]{22}$'),
    answer     jsonb       NOT NULL CONSTRAINT shared_answers_answer_check CHECK (pg_column_size(answer) <= 2097152),
    created_by text        NOT NULL CONSTRAINT shared_answers_created_by_check CHECK (length(created_by) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT shared_answers_pkey PRIMARY KEY (id)
);
CREATE INDEX shared_answers_created_at ON shared_answers (created_at);

-- The writer role serves these (the analyst stays read-only and the SQL guard's catalog does not list
-- them). Saved entries can be removed; shared answers cannot be changed by the application.
GRANT SELECT, INSERT, DELETE ON saved_queries TO loglens_writer;
GRANT SELECT, INSERT ON shared_answers TO loglens_writer;
