-- loglens: run-as=admin
-- Issue #19: what the alert detectors remember between runs (loglens.alerts): incidents (open, resolved, acknowledged),
-- mutes, the run's own bookkeeping, and the error message templates seen per hour (the baseline of "a template
-- never seen before"). The alerts function logs in as loglens_alerter: it reads what the analyst reads (logs and
-- the summary views, through membership of loglens_analyst, so a view granted to the analyst later is readable
-- too) and writes only the tables below. Runs as admin to create that login; the tables are created as the owner.
DO $$
BEGIN
    CREATE ROLE loglens_alerter;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- another database in this cluster (or a racing migrator) created it first
END $$;
ALTER ROLE loglens_alerter LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 5;
ALTER ROLE loglens_alerter SET statement_timeout = '60s';
ALTER ROLE loglens_alerter SET lock_timeout = '5s';
ALTER ROLE loglens_alerter SET idle_in_transaction_session_timeout = '2min';
ALTER ROLE loglens_alerter SET search_path = public;
GRANT loglens_analyst TO loglens_alerter;
GRANT USAGE ON SCHEMA public TO loglens_alerter;
-- The migrator may act as the alerter (the local stack and the CLI connect as the admin and SET ROLE).
DO $$
BEGIN
    EXECUTE format('GRANT loglens_alerter TO %I', current_user);
EXCEPTION WHEN invalid_grant_operation OR duplicate_object THEN
    NULL;
END $$;

SET LOCAL ROLE loglens_owner;

-- One row per incident: one service's change, however many detectors saw it, from its start until it resolved.
-- `detail` holds what the detectors measured and the explanation's facts (loglens.alerts.incidents); `delivery`
-- what was sent where (the Slack message to update, the SNS message id).
CREATE TABLE alert_incidents (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service       text        NOT NULL CONSTRAINT alert_incidents_service_check CHECK (length(service) BETWEEN 1 AND 200),
    status        text        NOT NULL CONSTRAINT alert_incidents_status_check CHECK (status IN ('open', 'resolved')),
    kinds         text[]      NOT NULL,
    summary       text        NOT NULL,
    started_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    resolved_at   timestamptz,
    opened_at     timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    reopened      integer     NOT NULL DEFAULT 0,
    detail        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    delivery      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    acked_by      text,
    acked_at      timestamptz,
    CONSTRAINT alert_incidents_window_check CHECK (last_seen_at >= started_at),
    CONSTRAINT alert_incidents_resolved_check CHECK ((status = 'resolved') = (resolved_at IS NOT NULL))
);
-- One open incident per service: the grouping rule, kept by the database as well as by the code.
CREATE UNIQUE INDEX alert_incidents_one_open ON alert_incidents (service) WHERE status = 'open';
CREATE INDEX alert_incidents_recent ON alert_incidents (last_seen_at DESC);

-- Silences set by people (Slack's mute button, `loglens alerts mute`): an incident of a muted service (and kind,
-- when one is named) is still tracked but not sent.
CREATE TABLE alert_mutes (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service     text        NOT NULL CONSTRAINT alert_mutes_service_check CHECK (length(service) BETWEEN 1 AND 200),
    kind        text,
    until       timestamptz NOT NULL,
    reason      text        NOT NULL DEFAULT '',
    created_by  text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_mutes_until ON alert_mutes (until);

-- The run's bookkeeping, one row: how far the data had reached at the last run, the last digest. A run locks it
-- (FOR UPDATE SKIP LOCKED), so two runs never evaluate at once.
CREATE TABLE alert_runs (
    singleton       boolean     PRIMARY KEY DEFAULT true CONSTRAINT alert_runs_one_row CHECK (singleton),
    last_frontier   timestamptz,
    last_run_at     timestamptz,
    last_digest_day date
);
INSERT INTO alert_runs DEFAULT VALUES;

-- Error message templates per UTC hour (numbers, ids and hex masked), recomputed from logs for the newest hours
-- on every run; alert_template_scans says which hours are complete. The baseline of "never seen before".
CREATE TABLE alert_template_hours (
    hour           timestamptz NOT NULL,
    service        text        NOT NULL,
    environment    text        NOT NULL,
    error_type     text        NOT NULL,
    template       text        NOT NULL,
    occurrences    bigint      NOT NULL,
    first_seen     timestamptz NOT NULL,
    sample_message text        NOT NULL,
    CONSTRAINT alert_template_hours_pkey PRIMARY KEY (hour, service, environment, error_type, template)
);
CREATE TABLE alert_template_scans (
    hour       timestamptz NOT NULL PRIMARY KEY,
    complete   boolean     NOT NULL,
    scanned_at timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT, UPDATE ON alert_incidents, alert_mutes, alert_runs TO loglens_alerter;
GRANT DELETE ON alert_mutes TO loglens_alerter;
GRANT SELECT, INSERT, UPDATE, DELETE ON alert_template_hours, alert_template_scans TO loglens_alerter;
