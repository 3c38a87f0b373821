-- loglens: run-as=admin
-- Issue #17: read roles that cannot be bent, and answers that outlive an HTTP request.
--
-- PostgreSQL lets any role ALTER ROLE itself SET ... (statement_timeout, default_transaction_read_only,
-- RESET ALL) and change its own password; nothing a migration grants or revokes can stop that. So the
-- agent's login (loglens_analyst) is never handed to people: the agent sets its own limits in every
-- transaction (loglens.agent.tools.AnalystSession), and people get loglens_reader, a login of their own
-- whose changes to itself reach nobody else. What neither read role can change, whatever it sets:
--   - no large objects: creating one is a write that needs no table privilege at all;
--   - no advisory locks: pg_advisory_lock(<the migration key>) would block every later migration;
--   - temp_file_limit (a superuser-only setting): bounds the temp files one session can fill;
--   - CONNECTION LIMIT (only a CREATEROLE role may change it): bounds how many sessions it holds.
-- What a reader can still do to its own sessions, and why that is accepted: docs/architecture.md,
-- "Read roles".

-- The reader: a login for people (psql, BI tools), separate from the agent's.
DO $$
BEGIN
    CREATE ROLE loglens_reader;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- another database in this cluster (or a racing migrator) created it first
END $$;
ALTER ROLE loglens_reader LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS CONNECTION LIMIT 5;

-- Defaults for the reader's sessions. Each one the reader can lift for itself (they are user settings);
-- they are there so that a tool that just connects behaves, not as a wall (the wall is above).
ALTER ROLE loglens_reader SET default_transaction_read_only = on;
ALTER ROLE loglens_reader SET statement_timeout = '60s';
ALTER ROLE loglens_reader SET lock_timeout = '2s';
ALTER ROLE loglens_reader SET idle_in_transaction_session_timeout = '5min';
ALTER ROLE loglens_reader SET idle_session_timeout = '1h';
ALTER ROLE loglens_reader SET work_mem = '32MB';
ALTER ROLE loglens_reader SET search_path = public;

-- Superuser-only, so neither role can raise, lower or RESET it for itself (ALTER ROLE ... RESET ALL
-- by the role keeps it). 2 GB per session: a large sort spills rather than fails, a runaway CROSS JOIN
-- stops there. A migrator without the privilege (a managed server whose admin is not a superuser) gets
-- a warning, and the server-wide temp_file_limit is what bounds those sessions.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['loglens_analyst', 'loglens_reader'] LOOP
        BEGIN
            EXECUTE format('ALTER ROLE %I SET temp_file_limit = %L', r, '2GB');
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE WARNING 'cannot set temp_file_limit for %: %', r, SQLERRM;
        END;
    END LOOP;
END $$;

-- Large-object and advisory-lock functions: nobody in this database needs the first; only the owner
-- (migrations, partitions, archive, maintenance) needs the second, and the migrator inherits it from the
-- owner role it is a member of. Revoking from PUBLIC is what counts (a grant to PUBLIC reaches every
-- role); a server whose admin does not own pg_catalog answers with a warning instead, and
-- loglens.db.read_roles.open_escapes reports what is still open. pg_catalog's ACLs are per database, so this changes nothing elsewhere.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'pg_catalog'
          AND (p.proname ~ '^lo_' OR p.proname IN ('loread', 'lowrite') OR p.proname ~ '^pg_(try_)?advisory_')
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC, loglens_analyst, loglens_reader', f);
    END LOOP;
    FOR f IN
        SELECT p.oid::regprocedure
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'pg_catalog' AND p.proname ~ '^pg_(try_)?advisory_'
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO loglens_owner', f);
    END LOOP;
END $$;

GRANT USAGE ON SCHEMA public TO loglens_reader;
-- The reader's SELECT grants follow the analyst's: loglens.db.migrate copies them after every run, so a
-- view a later migration grants to the analyst reaches the reader too (and nothing else does).

SET LOCAL ROLE loglens_owner;

-- Follow-ups carry the earlier answer's key insight, not only its SQL and summary.
ALTER TABLE conversation_turns ADD COLUMN key_insight text NOT NULL DEFAULT '';

-- Asks over HTTP that take longer than API Gateway's 29 seconds: POST answers 202 with an id, the
-- worker appends the outcome, GET /api/v1/ask/{id} reads it. Append-only like conversation_turns (the
-- writer may SELECT and INSERT, never UPDATE): a 'running' row when the ask starts, then one outcome
-- row ('done' or 'failed'). `requester` scopes every read: another API key never sees the answer.
CREATE TABLE ask_answers (
    ask_id      uuid        NOT NULL,
    requester   text        NOT NULL
        CONSTRAINT ask_answers_requester_check CHECK (length(requester) BETWEEN 1 AND 300),
    state       text        NOT NULL CONSTRAINT ask_answers_state_check CHECK (state IN ('running', 'done', 'failed')),
    http_status integer     CONSTRAINT ask_answers_status_check CHECK (http_status BETWEEN 200 AND 599),
    -- 'running': {"question", "conversation_id"}; 'done': the Answer; 'failed': {"error": "..."}
    body        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ask_answers_pkey PRIMARY KEY (ask_id, state)
);
CREATE UNIQUE INDEX ask_answers_one_outcome ON ask_answers (ask_id) WHERE state <> 'running';
-- For pruning old answers (maintenance, as the owner).
CREATE INDEX ask_answers_created_at ON ask_answers (created_at);

GRANT SELECT, INSERT ON ask_answers TO loglens_writer;
