-- loglens: run-as=admin
-- Three roles (cluster-wide, so each CREATE tolerates a concurrent or earlier creator):
--   loglens_owner   owns every object; migrations and maintenance run as it
--   loglens_writer  the load path: INSERT into logs, its ledger (IAM auth in AWS, a local password locally)
--   loglens_analyst the agent: SELECT on logs and the summary views only, read-only transactions, timeouts
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['loglens_owner', 'loglens_writer', 'loglens_analyst'] LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I', r);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- another database in this cluster (or a racing migrator) created it first
        END;
    END LOOP;
END $$;

-- The owner may log in only where the deployment grants it a way (IAM auth in AWS); locally the
-- migrator reaches it with SET ROLE.
ALTER ROLE loglens_owner LOGIN;
ALTER ROLE loglens_writer LOGIN;
ALTER ROLE loglens_analyst LOGIN CONNECTION LIMIT 50;

-- The analyst's guard rails that hold even if the SQL guard were bypassed. The statement_timeout
-- here is a floor; the migration runner applies the configured value after migrating.
ALTER ROLE loglens_analyst SET default_transaction_read_only = on;
ALTER ROLE loglens_analyst SET statement_timeout = '15s';
ALTER ROLE loglens_analyst SET lock_timeout = '2s';
ALTER ROLE loglens_analyst SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE loglens_analyst SET search_path = public;
ALTER ROLE loglens_writer SET statement_timeout = '5min';

-- The migrator (whoever runs this: a local superuser or the RDS master user) acts as the owner.
DO $$
BEGIN
    EXECUTE format('GRANT loglens_owner TO %I', current_user);
EXCEPTION WHEN invalid_grant_operation OR duplicate_object THEN
    NULL;  -- already a member, or the owner itself
END $$;

-- Only the owner creates objects in the schema. Database-level privileges (CONNECT, TEMPORARY)
-- belong to the database rather than its contents (CREATE DATABASE ... TEMPLATE does not copy
-- them), so loglens.db.migrate applies those after every run instead of here.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO loglens_owner;
GRANT USAGE ON SCHEMA public TO loglens_writer, loglens_analyst;
