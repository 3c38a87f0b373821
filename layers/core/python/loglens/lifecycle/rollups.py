"""The summary views and hourly rollups, kept incrementally: a refresh costs the new rows, not the table.

The five relations the analyst reads (daily_log_summary, error_patterns, performance_metrics,
hourly_log_rollup, hourly_latency_histogram) are views over tables filled here (migration 0008):

- per UTC hour, from `logs`: counts and duration sums (rollup_log_hours), error groups with a sample
  message (rollup_error_hours), request durations (rollup_request_hours) and the latency histogram
  (rollup_latency_hours);
- per UTC day: who was seen per group (rollup_user_days, rollup_error_user_days) and the latency
  histogram (rollup_latency_days), kept as hours are recomputed; and the three origin-document
  summaries, recomputed from the day's hourly rows, user sets and histogram.

Every writer of `logs` announces the hours it touched in rollup_dirty_hours, in the same transaction as
its rows (ingest.write.TouchedHours for the load path and restore; the archive when it detaches a
partition). A refresh claims the announced hours newest first, a batch at a time, and in one
transaction per batch deletes the claims, recomputes each claimed hour from `logs` (the hour's rows read
once, through an index range on the primary key, feeding every hourly table; DELETE + INSERT of the
hour's aggregates) and then each day the batch touched. Late rows for an old hour recompute that hour
and its day; nothing else is read. An hour that lost rows (an archived partition) recomputes to nothing.

Why the claims are correct without locking writers: the claims are deleted first and the hours read
afterwards (each statement takes a new snapshot in READ COMMITTED), so any claim deleted belongs to rows
already committed and visible to the recompute; a writer committing later leaves its own claim, which
the next refresh takes. Two refreshes never run at once (an advisory lock; the second one skips).

What does not add up across hours: distinct users are kept as a day's set of (group, user) pairs, added
to as hours are recomputed (and counted as they are added) and never shrunk by it, because rows leave
`logs` only a whole day at a time (a partition: a day with no hours left loses its users). Rows deleted
by hand from part of a day need `loglens maintain --rebuild-views`. A day's p50/p95/p99 come from its
histogram (25% buckets, the sum of its hours, kept by adding each recomputed hour and subtracting the
hour it replaced), interpolated inside the bucket holding the exact value and clamped to the day's min
and max; recomputing them from `logs` would cost a whole day of rows on every refresh.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

HOUR: Final = timedelta(hours=1)
# Hours recomputed per transaction. One: a busy hour of the large preset is millions of rows, and an
# interrupted batch is done again; the newest hours go first, so the current hour is fresh even while a
# backlog (after the migration, a long outage) is worked off.
BATCH_HOURS: Final = 1
# A refresh stops starting batches when less than this (or twice its last batch) is left of its time,
# and keeps this much in hand when it tells PostgreSQL how long a statement may run.
_MIN_SECONDS_FOR_A_BATCH: Final = 60.0
_SECONDS_KEPT_IN_HAND: Final = 15.0
# Another fixed 64-bit advisory-lock key (partitions, migrations and the archive use their own).
_LOCK_KEY: Final = 0x6C6F676C656E7372

# What the analyst reads: a view each over the tables below.
ROLLUP_VIEWS: Final = (
    "daily_log_summary",
    "error_patterns",
    "performance_metrics",
    "hourly_log_rollup",
    "hourly_latency_histogram",
)
HOURS_STEP: Final = "the new rows' hours (all five views)"
# The parts of a refresh the report times: one pass over the announced hours' rows feeding every hourly
# table, then each daily view's day recomputation.
REFRESH_PARTS: Final = (HOURS_STEP, "daily_log_summary", "error_patterns", "performance_metrics")
DAY_TABLE_VIEW: Final = {
    "rollup_log_days": "daily_log_summary",
    "rollup_error_days": "error_patterns",
    "rollup_request_days": "performance_metrics",
}

_ERRORS = "level IN ('ERROR', 'FATAL')"
_HOUR_IN_RANGE = "hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz"
_DAY_IN_RANGE = (
    "day >= (%(start)s::timestamptz AT TIME ZONE 'UTC')::date AND day < (%(end)s::timestamptz AT TIME ZONE 'UTC')::date"
)
_DAY = "(hour AT TIME ZONE 'UTC')::date"
LATENCY_BUCKET_SQL: Final = (
    "round(power(1.25, greatest(0, ceil(ln(greatest(duration_ms, 1)) / ln(1.25))))::numeric, 1)::float8"
)
_ADD_TO_DAY_HISTOGRAM = """
        INSERT INTO rollup_latency_days AS d (day, service, endpoint, method, le_ms, request_count)
        SELECT (hour AT TIME ZONE 'UTC')::date, service, endpoint, method, le_ms, {sign}sum(request_count)
        FROM {source} GROUP BY 1, 2, 3, 4, 5
        ON CONFLICT (day, service, endpoint, method, le_ms)
        DO UPDATE SET request_count = d.request_count + EXCLUDED.request_count"""

# The hourly rows of [start, end) go, and what they added to each day's histogram with them.
_CLEAR_HOURS: Final = f"""
    WITH old_latency AS (
        DELETE FROM rollup_latency_hours WHERE {_HOUR_IN_RANGE}
        RETURNING hour, service, endpoint, method, le_ms, request_count),
    subtracted AS ({_ADD_TO_DAY_HISTOGRAM.format(sign="-", source="old_latency")}),
    log_hours AS (DELETE FROM rollup_log_hours WHERE {_HOUR_IN_RANGE}),
    error_hours AS (DELETE FROM rollup_error_hours WHERE {_HOUR_IN_RANGE}),
    request_hours AS (DELETE FROM rollup_request_hours WHERE {_HOUR_IN_RANGE})
    SELECT 1"""

# One pass over the rows of [start, end) (an index range on the primary key), their few columns kept, feeding
# every hourly table, the day's histogram and the day's user sets. The error sample is the latest error's
# message, looked up by its created_at (a primary-key probe) instead of collecting every message to keep one.
_FILL_HOURS: Final = f"""
    WITH r AS MATERIALIZED (
        SELECT created_at, date_trunc('hour', created_at, 'UTC') AS hour, (created_at AT TIME ZONE 'UTC')::date AS day,
               service, environment, level, log_type, coalesce(error_type, '') AS error_type,
               coalesce(application_error_code, '') AS application_error_code, user_id,
               coalesce(endpoint, '') AS endpoint, coalesce(method, '') AS method, duration_ms, http_status_code,
               {LATENCY_BUCKET_SQL} AS le_ms
        FROM logs WHERE created_at >= %(start)s::timestamptz AND created_at < %(end)s::timestamptz),
    log_hours AS (
        INSERT INTO rollup_log_hours (hour, service, environment, level, log_type, error_type, log_count,
                                      duration_count, duration_sum_ms, last_seen)
        SELECT hour, service, environment, level, log_type, error_type, count(*), count(duration_ms),
               sum(duration_ms), max(created_at)
        FROM r GROUP BY 1, 2, 3, 4, 5, 6),
    error_hours AS (
        INSERT INTO rollup_error_hours (hour, service, error_type, application_error_code, occurrences,
                                        first_seen, last_seen, sample_message)
        SELECT g.hour, g.service, g.error_type, g.application_error_code, g.occurrences, g.first_seen,
               g.last_seen, s.sample_message
        FROM (SELECT hour, service, error_type, application_error_code, count(*) AS occurrences,
                     min(created_at) AS first_seen, max(created_at) AS last_seen
              FROM r WHERE {_ERRORS} GROUP BY 1, 2, 3, 4) g
        CROSS JOIN LATERAL (
            SELECT left(l.message, 300) AS sample_message FROM logs l
            WHERE l.created_at = g.last_seen AND l.level IN ('ERROR', 'FATAL') AND l.service = g.service
              AND coalesce(l.error_type, '') = g.error_type
              AND coalesce(l.application_error_code, '') = g.application_error_code
            ORDER BY l.event_id DESC LIMIT 1) s),
    request_hours AS (
        INSERT INTO rollup_request_hours (hour, service, endpoint, method, request_count, duration_sum_ms,
                                          min_duration_ms, max_duration_ms, error_count)
        SELECT hour, service, endpoint, method, count(*), sum(duration_ms), min(duration_ms), max(duration_ms),
               count(*) FILTER (WHERE {_ERRORS} OR http_status_code >= 500)
        FROM r WHERE duration_ms IS NOT NULL GROUP BY 1, 2, 3, 4),
    latency_hours AS (
        INSERT INTO rollup_latency_hours (hour, service, endpoint, method, le_ms, request_count)
        SELECT hour, service, endpoint, method, le_ms, count(*)
        FROM r WHERE duration_ms IS NOT NULL GROUP BY 1, 2, 3, 4, 5
        RETURNING hour, service, endpoint, method, le_ms, request_count),
    added AS ({_ADD_TO_DAY_HISTOGRAM.format(sign="", source="latency_hours")}),
    users AS (
        INSERT INTO rollup_user_days (day, service, environment, level, log_type, user_id)
        SELECT DISTINCT day, service, environment, level, log_type, user_id FROM r WHERE user_id IS NOT NULL
        ON CONFLICT DO NOTHING
        RETURNING day, service, environment, level, log_type),
    user_counts AS (
        INSERT INTO rollup_user_day_counts AS c (day, service, environment, level, log_type, users)
        SELECT day, service, environment, level, log_type, count(*) FROM users GROUP BY 1, 2, 3, 4, 5
        ON CONFLICT (day, service, environment, level, log_type) DO UPDATE SET users = c.users + EXCLUDED.users),
    error_users AS (
        INSERT INTO rollup_error_user_days (day, service, error_type, application_error_code, user_id)
        SELECT DISTINCT day, service, error_type, application_error_code, user_id
        FROM r WHERE user_id IS NOT NULL AND {_ERRORS}
        ON CONFLICT DO NOTHING
        RETURNING day, service, error_type, application_error_code),
    error_user_counts AS (
        INSERT INTO rollup_error_user_day_counts AS c (day, service, error_type, application_error_code, users)
        SELECT day, service, error_type, application_error_code, count(*) FROM error_users GROUP BY 1, 2, 3, 4
        ON CONFLICT (day, service, error_type, application_error_code) DO UPDATE SET users = c.users + EXCLUDED.users)
    SELECT count(*) FROM r"""

# Each day table: its fill for the days in [start, end) (whole UTC days) from the hourly rows, the day's
# user sets and histogram: a few rows per group and hour, whatever the day's volume.
_DAY_FILLS: Final = {
    "rollup_log_days": f"""
        INSERT INTO rollup_log_days (day, service, environment, level, log_type, log_count, error_count,
                                     unique_users, avg_duration_ms, last_seen)
        SELECT h.day, h.service, h.environment, h.level, h.log_type, h.log_count, h.error_count,
               coalesce(u.users, 0), h.avg_duration_ms, h.last_seen
        FROM (SELECT {_DAY} AS day, service, environment, level, log_type, sum(log_count)::bigint AS log_count,
                     coalesce(sum(log_count) FILTER (WHERE {_ERRORS}), 0)::bigint AS error_count,
                     sum(duration_sum_ms) / nullif(sum(duration_count), 0) AS avg_duration_ms,
                     max(last_seen) AS last_seen
              FROM rollup_log_hours WHERE {_HOUR_IN_RANGE}
              GROUP BY 1, 2, 3, 4, 5) h
        LEFT JOIN (SELECT day, service, environment, level, log_type, users
                   FROM rollup_user_day_counts WHERE {_DAY_IN_RANGE}) u
            USING (day, service, environment, level, log_type)""",
    "rollup_error_days": f"""
        INSERT INTO rollup_error_days (day, service, error_type, application_error_code, occurrences,
                                       affected_users, first_seen, last_seen, sample_message)
        SELECT e.day, e.service, e.error_type, e.application_error_code, e.occurrences, coalesce(u.users, 0),
               e.first_seen, e.last_seen, e.sample_message
        FROM (SELECT {_DAY} AS day, service, error_type, application_error_code,
                     sum(occurrences)::bigint AS occurrences, min(first_seen) AS first_seen,
                     max(last_seen) AS last_seen,
                     (array_agg(sample_message ORDER BY last_seen DESC))[1] AS sample_message
              FROM rollup_error_hours WHERE {_HOUR_IN_RANGE}
              GROUP BY 1, 2, 3, 4) e
        LEFT JOIN (SELECT day, service, error_type, application_error_code, users
                   FROM rollup_error_user_day_counts WHERE {_DAY_IN_RANGE}) u
            USING (day, service, error_type, application_error_code)""",
    # A percentile is read as percentile_cont does: at position t = q*(n-1) among the day's n sorted
    # durations, between the values at floor(t) and ceil(t). A value at position k is estimated from the
    # bucket holding it (the running count says which), as if the bucket's durations were spread evenly
    # between its bounds; the first and the last position are the day's min and max, known exactly.
    "rollup_request_days": f"""
        INSERT INTO rollup_request_days (day, service, endpoint, method, request_count, avg_duration_ms,
                                         p50_ms, p95_ms, p99_ms, max_duration_ms, error_count)
        WITH r AS (
            SELECT {_DAY} AS day, service, endpoint, method, sum(request_count) AS n,
                   sum(duration_sum_ms) AS total_ms, min(min_duration_ms) AS lo, max(max_duration_ms) AS hi,
                   sum(error_count) AS errors
            FROM rollup_request_hours WHERE {_HOUR_IN_RANGE}
            GROUP BY 1, 2, 3, 4),
        c AS (
            SELECT b.day, b.service, b.endpoint, b.method, b.le_ms, b.request_count::float8 AS n, r.lo, r.hi,
                   sum(b.request_count) OVER (PARTITION BY b.day, b.service, b.endpoint, b.method ORDER BY b.le_ms)
                       - b.request_count AS below,
                   r.n::float8 AS total,
                   CASE WHEN b.le_ms <= 1 THEN 0 ELSE b.le_ms / 1.25 END AS floor_ms
            FROM rollup_latency_days b JOIN r USING (day, service, endpoint, method)
            WHERE b.request_count > 0),
        k AS (
            SELECT c.day, c.service, c.endpoint, c.method, p.q, p.q * (c.total - 1) AS t, pos.k,
                   CASE WHEN pos.k = 0 THEN c.lo
                        WHEN pos.k = c.total - 1 THEN c.hi
                        ELSE greatest(c.lo, least(c.hi,
                                 c.floor_ms + (c.le_ms - c.floor_ms) * (pos.k - c.below + 0.5) / c.n)) END AS value
            FROM c CROSS JOIN (VALUES (0.50::float8), (0.95::float8), (0.99::float8)) AS p(q)
            CROSS JOIN LATERAL (VALUES (floor(p.q * (c.total - 1))), (ceil(p.q * (c.total - 1)))) AS pos(k)
            WHERE c.below <= pos.k AND pos.k < c.below + c.n),
        q AS (
            SELECT day, service, endpoint, method, q,
                   min(value) + (max(t) - min(k)) * (max(value) - min(value)) AS value
            FROM k GROUP BY 1, 2, 3, 4, 5),
        p AS (
            SELECT day, service, endpoint, method,
                   max(value) FILTER (WHERE q = 0.50) AS p50, max(value) FILTER (WHERE q = 0.95) AS p95,
                   max(value) FILTER (WHERE q = 0.99) AS p99
            FROM q GROUP BY 1, 2, 3, 4)
        SELECT r.day, r.service, r.endpoint, r.method, r.n::bigint, r.total_ms / r.n, p.p50, p.p95, p.p99, r.hi,
               r.errors::bigint
        FROM r JOIN p USING (day, service, endpoint, method)""",
}
# A day whose hours are all gone (its partition left `logs`) loses its users and the rest of its histogram.
_FORGET_EMPTY_DAYS: Final = (
    f"DELETE FROM rollup_latency_days WHERE {_DAY_IN_RANGE} AND request_count <= 0",
    *(
        f"""DELETE FROM {table} WHERE {_DAY_IN_RANGE}
            AND NOT EXISTS (SELECT 1 FROM rollup_log_hours WHERE {_HOUR_IN_RANGE})"""
        for table in (
            "rollup_user_days",
            "rollup_user_day_counts",
            "rollup_error_user_days",
            "rollup_error_user_day_counts",
        )
    ),
)
_ALL_TABLES: Final = (
    "rollup_log_hours",
    "rollup_error_hours",
    "rollup_request_hours",
    "rollup_latency_hours",
    "rollup_latency_days",
    "rollup_user_days",
    "rollup_user_day_counts",
    "rollup_error_user_days",
    "rollup_error_user_day_counts",
    "rollup_log_days",
    "rollup_error_days",
    "rollup_request_days",
)

_FRESHNESS_SQL = "SELECT complete_as_of, last_run_at, pending_hours FROM rollup_freshness"


@dataclass
class RollupReport:
    """What one refresh did; `seconds_by_part` says where its time went."""

    hours: int = 0  # hours recomputed
    days: int = 0  # day recomputations (a day touched by two batches counts twice)
    batches: int = 0
    pending_hours: int = 0  # still announced after this run (time ran out, or rows arrived meanwhile)
    complete_as_of: datetime | None = None
    seconds: float = 0.0
    seconds_by_part: dict[str, float] = field(default_factory=lambda: {part: 0.0 for part in REFRESH_PARTS})
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "hours": self.hours,
            "days": self.days,
            "batches": self.batches,
            "pending_hours": self.pending_hours,
            "complete_as_of": self.complete_as_of.isoformat() if self.complete_as_of else None,
            "seconds": round(self.seconds, 3),
            "seconds_by_part": {part: round(s, 3) for part, s in self.seconds_by_part.items()},
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class Freshness:
    """How current the rollups are (view rollup_freshness, over rollup_progress and rollup_dirty_hours)."""

    complete_as_of: datetime | None  # every row committed before this is in the rollups
    last_run_at: datetime | None
    pending_hours: int


def read_freshness(conn: psycopg.Connection[Any]) -> Freshness:
    row = conn.execute(_FRESHNESS_SQL).fetchone()
    if row is None:
        return Freshness(None, None, 0)
    return Freshness(row[0], row[1], int(row[2]))


def hour_ranges(hours: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    """Sorted, merged [start, end) ranges covering exactly the given whole hours."""
    out: list[tuple[datetime, datetime]] = []
    for hour in sorted(set(hours)):
        if out and out[-1][1] == hour:
            out[-1] = (out[-1][0], hour + HOUR)
        else:
            out.append((hour, hour + HOUR))
    return out


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def mark_hours(conn: psycopg.Connection[Any], start: datetime, end: datetime) -> None:
    """Announce every hour in [start, end) as changed (the archive, when a partition leaves `logs`)."""
    conn.execute(
        """INSERT INTO rollup_dirty_hours (hour)
           SELECT generate_series(date_trunc('hour', %(start)s::timestamptz, 'UTC'),
                                  %(end)s::timestamptz - interval '1 microsecond', interval '1 hour')""",
        {"start": start, "end": end},
    )


class _Timer:
    def __init__(self, report: RollupReport) -> None:
        self._report = report

    def run(self, conn: psycopg.Connection[Any], part: str, statement: str, params: dict[str, Any]) -> None:
        started = time.perf_counter()
        conn.execute(statement, params)
        self._report.seconds_by_part[part] += time.perf_counter() - started


def _recompute_hours(conn: psycopg.Connection[Any], ranges: Sequence[tuple[Any, Any]], timer: _Timer) -> None:
    for start, end in ranges:
        params = {"start": start, "end": end}
        timer.run(conn, HOURS_STEP, _CLEAR_HOURS, params)
        timer.run(conn, HOURS_STEP, _FILL_HOURS, params)


def _recompute_days(conn: psycopg.Connection[Any], ranges: Sequence[tuple[Any, Any]], timer: _Timer) -> None:
    for start, end in ranges:
        params = {"start": start, "end": end}
        for statement in _FORGET_EMPTY_DAYS:
            timer.run(conn, HOURS_STEP, statement, params)
        for table, fill in _DAY_FILLS.items():
            timer.run(conn, DAY_TABLE_VIEW[table], f"DELETE FROM {table} WHERE {_DAY_IN_RANGE}", params)
            timer.run(conn, DAY_TABLE_VIEW[table], fill, params)


def _refresh_batch(
    conn: psycopg.Connection[Any], size: int, timer: _Timer, seconds_left: float | None
) -> tuple[list[datetime], list[date]]:
    """One transaction: claim the newest announced hours, recompute them and their days."""
    with conn.transaction():
        # Read only the hours being recomputed: the day's partition grows all day and its statistics
        # lag, and a sequential scan of it would make a refresh cost the day instead of the hour.
        conn.execute("SET LOCAL enable_seqscan = off")
        if seconds_left is not None:
            # PostgreSQL gives up, and rolls back, before the function is stopped in the middle of a statement.
            limit_ms = max(1_000, int((seconds_left - _SECONDS_KEPT_IN_HAND) * 1000))
            conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(limit_ms)))
        batch = _claim_batch(conn, size)
        if not batch:
            return [], []
        conn.execute("DELETE FROM rollup_dirty_hours WHERE hour = ANY(%s)", (batch,))
        _recompute_hours(conn, hour_ranges(batch), timer)
        days = sorted({hour.astimezone(UTC).date() for hour in batch})
        _recompute_days(conn, [(_day_start(d), _day_start(d) + timedelta(days=1)) for d in days], timer)
    return batch, days


def _claim_batch(conn: psycopg.Connection[Any], size: int) -> list[datetime]:
    rows = conn.execute(
        "SELECT hour FROM rollup_dirty_hours GROUP BY hour ORDER BY hour DESC LIMIT %s", (size,)
    ).fetchall()
    return [row[0] for row in rows]


def _locked(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_KEY,)).fetchone()
    return bool(row and row[0])


def _finish(conn: psycopg.Connection[Any], report: RollupReport, started_at: datetime) -> None:
    """Record how fresh the rollups are: complete as of this run's start when no older claim is left."""
    with conn.transaction():
        row = conn.execute("SELECT count(*) FROM rollup_dirty_hours WHERE marked_at <= %s", (started_at,)).fetchone()
        older = int(row[0]) if row else 0
        conn.execute(
            """UPDATE rollup_progress SET last_run_at = now(),
                   complete_as_of = CASE WHEN %s THEN greatest(complete_as_of, %s::timestamptz)
                                         ELSE complete_as_of END""",
            (older == 0, started_at),
        )
        fresh = read_freshness(conn)  # the view lowers complete_as_of to the first hour still announced
        report.pending_hours = fresh.pending_hours
        report.complete_as_of = fresh.complete_as_of


def refresh_rollups(
    conn: psycopg.Connection[Any],
    *,
    time_left: Callable[[], float] | None = None,
    batch_hours: int = BATCH_HOURS,
) -> RollupReport:
    """Recompute the announced hours (newest first) and their days. `conn`: autocommit, as loglens_owner.

    With `time_left` (seconds remaining, e.g. a Lambda's), no batch starts when less than a minute is
    left; the hours not reached stay announced for the next run.
    """
    if not conn.autocommit:
        raise ValueError("refresh_rollups() needs an autocommit connection: each batch is its own transaction")
    report = RollupReport()
    clock = time.perf_counter()
    if not _locked(conn):
        report.skipped = "another rollup refresh is running"
        return report
    try:
        started_row = conn.execute("SELECT now()").fetchone()
        assert started_row is not None
        started_at: datetime = started_row[0]
        timer = _Timer(report)
        last_batch = 0.0
        while True:
            left = None if time_left is None else time_left()
            # A batch starts only with time for it: a minute, or twice what the last one took (busy hours).
            if left is not None and left < max(_MIN_SECONDS_FOR_A_BATCH, 2 * last_batch):
                break
            began = time.perf_counter()
            try:
                batch, days = _refresh_batch(conn, batch_hours, timer, left)
            except psycopg.errors.QueryCanceled:  # out of time mid-batch: rolled back, its hours still announced
                log.warning("rollup refresh stopped: a batch did not finish before the time given ran out")
                break
            if not batch:
                break
            last_batch = time.perf_counter() - began
            report.hours += len(batch)
            report.days += len(days)
            report.batches += 1
        _finish(conn, report, started_at)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    report.seconds = time.perf_counter() - clock
    return report


def rebuild_rollups(conn: psycopg.Connection[Any]) -> RollupReport:
    """Recompute every rollup from all of `logs` in one transaction: what every hourly run did before
    issue #14 (the bench's baseline), and the repair after rows were changed behind the writers' backs."""
    if not conn.autocommit:
        raise ValueError("rebuild_rollups() needs an autocommit connection")
    report = RollupReport()
    clock = time.perf_counter()
    if not _locked(conn):
        report.skipped = "another rollup refresh is running"
        return report
    try:
        started_row = conn.execute("SELECT now()").fetchone()
        assert started_row is not None
        timer = _Timer(report)
        everything = [("-infinity", "infinity")]
        with conn.transaction():
            # Claims visible now are covered by this rebuild; later ones stay for the next refresh.
            conn.execute("DELETE FROM rollup_dirty_hours")
            for table in _ALL_TABLES:
                conn.execute(f"DELETE FROM {table}")
            timer.run(conn, HOURS_STEP, _FILL_HOURS, {"start": "-infinity", "end": "infinity"})
            _recompute_days(conn, everything, timer)
            counts = conn.execute(
                "SELECT (SELECT count(DISTINCT hour) FROM rollup_log_hours), "
                "(SELECT count(DISTINCT day) FROM rollup_log_days)"
            ).fetchone()
        report.hours, report.days = (int(counts[0] or 0), int(counts[1] or 0)) if counts else (0, 0)
        report.batches = 1
        _finish(conn, report, started_row[0])
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    report.seconds = time.perf_counter() - clock
    return report
