-- loglens: run-as=owner
-- Summary views from the origin document. Each has a unique index over plain columns so
-- REFRESH MATERIALIZED VIEW CONCURRENTLY works; grouping columns are COALESCEd because NULLs
-- never compare equal and would defeat that unique index. Days are UTC days.
CREATE MATERIALIZED VIEW daily_log_summary AS
SELECT (created_at AT TIME ZONE 'UTC')::date                    AS day,
       service,
       environment,
       level,
       log_type,
       count(*)                                                AS log_count,
       count(*) FILTER (WHERE level IN ('ERROR', 'FATAL'))     AS error_count,
       count(DISTINCT user_id)                                 AS unique_users,
       avg(duration_ms)                                        AS avg_duration_ms,
       max(created_at)                                         AS last_seen
FROM logs
GROUP BY 1, 2, 3, 4, 5;
CREATE UNIQUE INDEX daily_log_summary_key ON daily_log_summary (day, service, environment, level, log_type);

CREATE MATERIALIZED VIEW error_patterns AS
SELECT (created_at AT TIME ZONE 'UTC')::date                    AS day,
       service,
       coalesce(error_type, '')                                AS error_type,
       coalesce(application_error_code, '')                    AS application_error_code,
       count(*)                                                AS occurrences,
       count(DISTINCT user_id)                                 AS affected_users,
       min(created_at)                                         AS first_seen,
       max(created_at)                                         AS last_seen,
       (array_agg(left(message, 300) ORDER BY created_at DESC))[1] AS sample_message
FROM logs
WHERE level IN ('ERROR', 'FATAL')
GROUP BY 1, 2, 3, 4;
CREATE UNIQUE INDEX error_patterns_key ON error_patterns (day, service, error_type, application_error_code);

CREATE MATERIALIZED VIEW performance_metrics AS
SELECT (created_at AT TIME ZONE 'UTC')::date                    AS day,
       service,
       coalesce(endpoint, '')                                  AS endpoint,
       coalesce(method, '')                                    AS method,
       count(*)                                                AS request_count,
       avg(duration_ms)                                        AS avg_duration_ms,
       percentile_cont(0.50) WITHIN GROUP (ORDER BY duration_ms) AS p50_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_ms,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms) AS p99_ms,
       max(duration_ms)                                        AS max_duration_ms,
       count(*) FILTER (WHERE level IN ('ERROR', 'FATAL') OR http_status_code >= 500) AS error_count
FROM logs
WHERE duration_ms IS NOT NULL
GROUP BY 1, 2, 3, 4;
CREATE UNIQUE INDEX performance_metrics_key ON performance_metrics (day, service, endpoint, method);

GRANT SELECT ON daily_log_summary, error_patterns, performance_metrics TO loglens_analyst;
