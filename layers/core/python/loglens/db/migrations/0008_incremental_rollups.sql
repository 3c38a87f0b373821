-- loglens: run-as=owner
-- Rollups that cost what is new (issue #14). The five summary relations of 0003 and 0006 were
-- materialized views rebuilt from all of `logs` every hour: 31 s for two of them on 10M rows, past
-- the maintain Lambda's 600 s near 200M rows. They become tables kept per UTC hour, recomputed only
-- for the hours that received (or lost) rows since the last refresh, and per UTC day from those
-- hourly rows (loglens/lifecycle/rollups.py holds the SQL that fills them).
--
-- The analyst reads the same five names with the same columns: each is now a plain view over its
-- table (the agent's catalog lists views, and the tables' extra columns stay out of its sight).
DROP MATERIALIZED VIEW daily_log_summary, error_patterns, performance_metrics,
    hourly_log_rollup, hourly_latency_histogram;

-- Hours that received or lost rows and whose rollups are not recomputed yet. Every writer of `logs`
-- adds its hours here in the same transaction as its rows (the load path, restore, the archive when it
-- detaches a partition), so a committed row is always either in the rollups or announced here.
-- Append-only, without a key: concurrent loaders touching the same hour never wait for each other.
CREATE TABLE rollup_dirty_hours (
    hour      timestamptz NOT NULL
        CONSTRAINT rollup_dirty_hours_whole_hour CHECK (hour = date_trunc('hour', hour, 'UTC')),
    marked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rollup_dirty_hours_hour ON rollup_dirty_hours (hour);
CREATE INDEX rollup_dirty_hours_marked_at ON rollup_dirty_hours (marked_at);
GRANT INSERT ON rollup_dirty_hours TO loglens_writer;

-- Per UTC hour. Grouping columns are never NULL ('' stands for none), as in the views they replace.
CREATE TABLE rollup_log_hours (
    hour            timestamptz      NOT NULL,
    service         text             NOT NULL,
    environment     text             NOT NULL,
    level           text             NOT NULL,
    log_type        text             NOT NULL,
    error_type      text             NOT NULL,
    log_count       bigint           NOT NULL,
    duration_count  bigint           NOT NULL,
    duration_sum_ms double precision,
    last_seen       timestamptz      NOT NULL,
    CONSTRAINT rollup_log_hours_pkey PRIMARY KEY (hour, service, environment, level, log_type, error_type)
);

-- Who was seen, per UTC day and group, so a day's distinct count stays exact (distinct counts do not add
-- up across hours). Added to as hours are recomputed, never shrunk by it: rows leave `logs` only a whole day
-- at a time (a partition), and a day with no rows left loses its users (see lifecycle/rollups.py).
CREATE TABLE rollup_user_days (
    day         date NOT NULL,
    service     text NOT NULL,
    environment text NOT NULL,
    level       text NOT NULL,
    log_type    text NOT NULL,
    user_id     text NOT NULL,
    CONSTRAINT rollup_user_days_pkey PRIMARY KEY (day, service, environment, level, log_type, user_id)
);
CREATE TABLE rollup_error_user_days (
    day                    date NOT NULL,
    service                text NOT NULL,
    error_type             text NOT NULL,
    application_error_code text NOT NULL,
    user_id                text NOT NULL,
    CONSTRAINT rollup_error_user_days_pkey PRIMARY KEY (day, service, error_type, application_error_code, user_id)
);
-- How many users each set holds, counted as pairs are added, so a refresh never recounts a day's users.
CREATE TABLE rollup_user_day_counts (
    day         date   NOT NULL,
    service     text   NOT NULL,
    environment text   NOT NULL,
    level       text   NOT NULL,
    log_type    text   NOT NULL,
    users       bigint NOT NULL,
    CONSTRAINT rollup_user_day_counts_pkey PRIMARY KEY (day, service, environment, level, log_type)
);
CREATE TABLE rollup_error_user_day_counts (
    day                    date   NOT NULL,
    service                text   NOT NULL,
    error_type             text   NOT NULL,
    application_error_code text   NOT NULL,
    users                  bigint NOT NULL,
    CONSTRAINT rollup_error_user_day_counts_pkey PRIMARY KEY (day, service, error_type, application_error_code)
);

CREATE TABLE rollup_error_hours (
    hour                   timestamptz NOT NULL,
    service                text        NOT NULL,
    error_type             text        NOT NULL,
    application_error_code text        NOT NULL,
    occurrences            bigint      NOT NULL,
    first_seen             timestamptz NOT NULL,
    last_seen              timestamptz NOT NULL,
    sample_message         text,
    CONSTRAINT rollup_error_hours_pkey PRIMARY KEY (hour, service, error_type, application_error_code)
);

CREATE TABLE rollup_request_hours (
    hour            timestamptz      NOT NULL,
    service         text             NOT NULL,
    endpoint        text             NOT NULL,
    method          text             NOT NULL,
    request_count   bigint           NOT NULL,
    duration_sum_ms double precision NOT NULL,
    min_duration_ms double precision NOT NULL,
    max_duration_ms double precision NOT NULL,
    error_count     bigint           NOT NULL,
    CONSTRAINT rollup_request_hours_pkey PRIMARY KEY (hour, service, endpoint, method)
);

-- Geometric buckets 25% wide from 1 ms (le_ms is the upper bound), as in 0006.
CREATE TABLE rollup_latency_hours (
    hour          timestamptz      NOT NULL,
    service       text             NOT NULL,
    endpoint      text             NOT NULL,
    method        text             NOT NULL,
    le_ms         double precision NOT NULL,
    request_count bigint           NOT NULL,
    CONSTRAINT rollup_latency_hours_pkey PRIMARY KEY (hour, service, endpoint, method, le_ms)
);

-- The day's latency histogram: the sum of its hours, kept by adding each recomputed hour's buckets and
-- subtracting the ones it replaced, so a day's percentiles read a few hundred buckets, not 24 hours of them.
CREATE TABLE rollup_latency_days (
    day           date             NOT NULL,
    service       text             NOT NULL,
    endpoint      text             NOT NULL,
    method        text             NOT NULL,
    le_ms         double precision NOT NULL,
    request_count bigint           NOT NULL,
    CONSTRAINT rollup_latency_days_pkey PRIMARY KEY (day, service, endpoint, method, le_ms)
);

-- Per UTC day, recomputed from the hourly tables (and the day's user sets and histogram) for the days a
-- refresh touched.
CREATE TABLE rollup_log_days (
    day             date             NOT NULL,
    service         text             NOT NULL,
    environment     text             NOT NULL,
    level           text             NOT NULL,
    log_type        text             NOT NULL,
    log_count       bigint           NOT NULL,
    error_count     bigint           NOT NULL,
    unique_users    bigint           NOT NULL,
    avg_duration_ms double precision,
    last_seen       timestamptz      NOT NULL,
    CONSTRAINT rollup_log_days_pkey PRIMARY KEY (day, service, environment, level, log_type)
);

CREATE TABLE rollup_error_days (
    day                    date        NOT NULL,
    service                text        NOT NULL,
    error_type             text        NOT NULL,
    application_error_code text        NOT NULL,
    occurrences            bigint      NOT NULL,
    affected_users         bigint      NOT NULL,
    first_seen             timestamptz NOT NULL,
    last_seen              timestamptz NOT NULL,
    sample_message         text,
    CONSTRAINT rollup_error_days_pkey PRIMARY KEY (day, service, error_type, application_error_code)
);

-- p50/p95/p99 are estimated from the day's latency histogram (a percentile does not add up across
-- hours, and recomputing it from `logs` would cost a whole day of rows on every refresh): within the
-- bucket holding the exact value, interpolated inside it and clamped to the day's min and max.
CREATE TABLE rollup_request_days (
    day             date             NOT NULL,
    service         text             NOT NULL,
    endpoint        text             NOT NULL,
    method          text             NOT NULL,
    request_count   bigint           NOT NULL,
    avg_duration_ms double precision NOT NULL,
    p50_ms          double precision NOT NULL,
    p95_ms          double precision NOT NULL,
    p99_ms          double precision NOT NULL,
    max_duration_ms double precision NOT NULL,
    error_count     bigint           NOT NULL,
    CONSTRAINT rollup_request_days_pkey PRIMARY KEY (day, service, endpoint, method)
);

-- How far the last refreshes got: every row committed before complete_as_of was in the rollups when it was
-- written. One row, written by the refresh alone.
CREATE TABLE rollup_progress (
    singleton      boolean     PRIMARY KEY DEFAULT true CONSTRAINT rollup_progress_one_row CHECK (singleton),
    complete_as_of timestamptz,
    last_run_at    timestamptz
);
INSERT INTO rollup_progress DEFAULT VALUES;

-- How fresh the rollups are now, for the agent's prompt and the alerts: complete_as_of is lowered to the
-- first hour still announced, so both readings hold at once: every row committed before it, and every
-- committed row created before it, is in the rollups (a row written since the last refresh, for any hour,
-- announced that hour in the same transaction). Read live: no writer of `logs` touches this row.
CREATE VIEW rollup_freshness AS
SELECT CASE WHEN p.complete_as_of IS NULL THEN NULL ELSE least(p.complete_as_of, d.first_hour) END AS complete_as_of,
       p.last_run_at,
       d.hours::integer AS pending_hours
FROM rollup_progress p
CROSS JOIN (SELECT min(hour) AS first_hour, count(DISTINCT hour) AS hours FROM rollup_dirty_hours) d;
COMMENT ON VIEW rollup_freshness IS 'How fresh the summary views are (one row): every row committed, or created, '
    'before complete_as_of is in them; pending_hours hours wait to be recomputed.';
GRANT SELECT ON rollup_freshness TO loglens_analyst;

CREATE VIEW daily_log_summary AS
SELECT day, service, environment, level, log_type, log_count, error_count, unique_users, avg_duration_ms, last_seen
FROM rollup_log_days;

CREATE VIEW error_patterns AS
SELECT day, service, error_type, application_error_code, occurrences, affected_users, first_seen, last_seen,
       sample_message
FROM rollup_error_days;

CREATE VIEW performance_metrics AS
SELECT day, service, endpoint, method, request_count, avg_duration_ms, p50_ms, p95_ms, p99_ms, max_duration_ms,
       error_count
FROM rollup_request_days;

CREATE VIEW hourly_log_rollup AS
SELECT hour, service, environment, level, log_type, error_type, log_count, duration_count, duration_sum_ms
FROM rollup_log_hours;

CREATE VIEW hourly_latency_histogram AS
SELECT hour, service, endpoint, method, le_ms, request_count
FROM rollup_latency_hours;

GRANT SELECT ON daily_log_summary, error_patterns, performance_metrics, hourly_log_rollup, hourly_latency_histogram
    TO loglens_analyst;

-- Whatever `logs` holds already is announced, partition by partition (two index probes each), so the
-- first refreshes after this migration fill the rollups without a table-wide scan inside it.
DO $$
DECLARE
    part regclass;
    first timestamptz;
    last timestamptz;
BEGIN
    FOR part IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'logs'::regclass LOOP
        EXECUTE format('SELECT min(created_at), max(created_at) FROM %s', part) INTO first, last;
        IF first IS NOT NULL THEN
            INSERT INTO rollup_dirty_hours (hour)
            SELECT generate_series(date_trunc('hour', first, 'UTC'), date_trunc('hour', last, 'UTC'), interval '1 hour');
        END IF;
    END LOOP;
END $$;
