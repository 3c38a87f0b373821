-- loglens: run-as=owner
-- What the analyst's typical questions need to stay in tens of milliseconds on tens of
-- millions of rows (measured by bench/queries.py; the numbers are in the README).

-- Substring search in messages (ILIKE '%timeout%') without reading every row of the day.
-- pg_trgm is a trusted extension (the owner may create it) and RDS offers it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX idx_message_trgm ON logs USING gin (message gin_trgm_ops);

-- Hourly counts per service/environment/level/type/error type: "errors per service per hour
-- this week" reads a few thousand rollup rows instead of millions of log rows. Hours are UTC.
CREATE MATERIALIZED VIEW hourly_log_rollup AS
SELECT date_trunc('hour', created_at, 'UTC')        AS hour,
       service,
       environment,
       level,
       log_type,
       coalesce(error_type, '')                      AS error_type,
       count(*)                                      AS log_count,
       count(duration_ms)                            AS duration_count,
       sum(duration_ms)                              AS duration_sum_ms
FROM logs
GROUP BY 1, 2, 3, 4, 5, 6;
CREATE UNIQUE INDEX hourly_log_rollup_key
    ON hourly_log_rollup (hour, service, environment, level, log_type, error_type);

-- Latency distributions per service/endpoint/hour as histograms with geometric buckets
-- (each 25% wider than the last, from 1 ms), so percentiles over any period are a cumulative
-- sum over buckets, accurate to a bucket's width: a p95 of 1,200 ms reads as 931-1,164 ms.
-- le_ms is the bucket's upper bound.
CREATE MATERIALIZED VIEW hourly_latency_histogram AS
SELECT date_trunc('hour', created_at, 'UTC')                               AS hour,
       service,
       coalesce(endpoint, '')                                              AS endpoint,
       coalesce(method, '')                                                AS method,
       round(power(1.25, greatest(0, ceil(ln(greatest(duration_ms, 1)) / ln(1.25))))::numeric, 1)::float8
                                                                           AS le_ms,
       count(*)                                                            AS request_count
FROM logs
WHERE duration_ms IS NOT NULL
GROUP BY 1, 2, 3, 4, 5;
CREATE UNIQUE INDEX hourly_latency_histogram_key
    ON hourly_latency_histogram (hour, service, endpoint, method, le_ms);

GRANT SELECT ON hourly_log_rollup, hourly_latency_histogram TO loglens_analyst;
