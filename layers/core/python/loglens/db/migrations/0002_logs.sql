-- loglens: run-as=owner
-- The logs table: its columns are the fields of loglens.record.LogRecord, in that order
-- (tests/integration/test_schema.py checks the two agree).
CREATE TABLE logs (
    event_id               uuid             NOT NULL,
    received_at            timestamptz      NOT NULL,
    created_at             timestamptz      NOT NULL,
    level                  text             NOT NULL
        CONSTRAINT logs_level_check CHECK (level IN ('TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL')),
    log_type               text             NOT NULL DEFAULT 'BACKEND',
    service                text             NOT NULL,
    environment            text             NOT NULL DEFAULT 'development',
    message                text             NOT NULL,
    user_id                text,
    session_id             text,
    trace_id               text,
    span_id                text,
    error_type             text,
    application_error_code text,
    http_status_code       integer,
    stack_trace            text,
    module                 text,
    component              text,
    endpoint               text,
    method                 text,
    duration_ms            double precision,
    page_path              text,
    page_url               text,
    browser_name           text,
    device_type            text,
    screen_width           integer,
    screen_height          integer,
    action_type            text,
    action_target          text,
    metadata               jsonb            NOT NULL DEFAULT '{}'::jsonb,
    source                 text             NOT NULL
        CONSTRAINT logs_source_check CHECK (source IN ('api', 'firelens', 'otlp')),
    api_key_id             text,
    source_ip              inet,
    -- The dedup key. created_at leads so new rows land at the index's right edge and time-range
    -- scans can use it; a retried record carries the same event_id and created_at.
    CONSTRAINT logs_pkey PRIMARY KEY (created_at, event_id)
) PARTITION BY RANGE (created_at);

-- No row is ever refused for its date: anything outside the existing partitions lands here,
-- and the maintain job moves it into its own partition when that is created.
CREATE TABLE logs_default PARTITION OF logs DEFAULT;

-- The origin document's indexes, defined on the parent so every partition gets them.
CREATE INDEX idx_service_level_time ON logs (service, level, created_at DESC);
CREATE INDEX idx_error_service_time ON logs (error_type, service, created_at DESC)
    WHERE level IN ('ERROR', 'FATAL');
CREATE INDEX idx_user_time ON logs (user_id, created_at DESC) WHERE user_id IS NOT NULL;
CREATE INDEX idx_trace ON logs (trace_id) WHERE trace_id IS NOT NULL;
-- jsonb_path_ops: smaller and faster for the containment (@>) lookups analysts write.
CREATE INDEX idx_metadata_gin ON logs USING gin (metadata jsonb_path_ops);

-- One row per raw object loaded, so a redelivered S3 event or a replay stores nothing twice.
CREATE TABLE load_ledger (
    object_key     text        NOT NULL,
    object_version text        NOT NULL DEFAULT '',
    rows_loaded    integer     NOT NULL DEFAULT 0,
    rows_duplicate integer     NOT NULL DEFAULT 0,
    rows_rejected  integer     NOT NULL DEFAULT 0,
    loaded_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT load_ledger_pkey PRIMARY KEY (object_key, object_version)
);

GRANT SELECT, INSERT ON logs TO loglens_writer;
GRANT SELECT, INSERT ON load_ledger TO loglens_writer;
GRANT SELECT ON logs TO loglens_analyst;
