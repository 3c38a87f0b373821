"""The summary views and hourly rollups equal the same aggregates computed from `logs` — after random
late rows spread over many hours, after a partition is archived and after it is restored — while each
refresh recomputes only the hours that were announced (loglens.lifecycle.rollups)."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from loglens.db.connect import connect
from loglens.ingest.objects import LocalObjectStore
from loglens.lifecycle.archive import archive_expired
from loglens.lifecycle.maintenance import maintain_partitions, owner_connection
from loglens.lifecycle.restore import restore_day
from loglens.lifecycle.rollups import ROLLUP_VIEWS, hour_ranges, read_freshness, rebuild_rollups, refresh_rollups
from loglens.record import LogRecord
from loglens.settings import Settings
from tests.factories import insert_records, make_record

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
SETTINGS = Settings.from_env({})

# The definitions the materialized views had (migrations 0003 and 0006), as plain queries over `logs`:
# the truth the incremental tables must equal. Ties for the sample message break on event_id, as the
# rollups do (the old view left them to chance).
TRUTH = {
    "daily_log_summary": """
        SELECT (created_at AT TIME ZONE 'UTC')::date, service, environment, level, log_type, count(*),
               count(*) FILTER (WHERE level IN ('ERROR', 'FATAL')), count(DISTINCT user_id), avg(duration_ms),
               max(created_at)
        FROM logs GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5""",
    "error_patterns": """
        SELECT (created_at AT TIME ZONE 'UTC')::date, service, coalesce(error_type, ''),
               coalesce(application_error_code, ''), count(*), count(DISTINCT user_id), min(created_at),
               max(created_at), (array_agg(left(message, 300) ORDER BY created_at DESC, event_id DESC))[1]
        FROM logs WHERE level IN ('ERROR', 'FATAL') GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4""",
    "performance_metrics": """
        SELECT (created_at AT TIME ZONE 'UTC')::date, service, coalesce(endpoint, ''), coalesce(method, ''),
               count(*), avg(duration_ms),
               percentile_cont(0.50) WITHIN GROUP (ORDER BY duration_ms),
               percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms),
               percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms), max(duration_ms),
               count(*) FILTER (WHERE level IN ('ERROR', 'FATAL') OR http_status_code >= 500)
        FROM logs WHERE duration_ms IS NOT NULL GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4""",
    "hourly_log_rollup": """
        SELECT date_trunc('hour', created_at, 'UTC'), service, environment, level, log_type,
               coalesce(error_type, ''), count(*), count(duration_ms), sum(duration_ms)
        FROM logs GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6""",
    "hourly_latency_histogram": """
        SELECT date_trunc('hour', created_at, 'UTC'), service, coalesce(endpoint, ''), coalesce(method, ''),
               round(power(1.25, greatest(0, ceil(ln(greatest(duration_ms, 1)) / ln(1.25))))::numeric, 1)::float8,
               count(*)
        FROM logs WHERE duration_ms IS NOT NULL GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5""",
}
VIEW_ROWS = {
    "daily_log_summary": "SELECT * FROM daily_log_summary ORDER BY 1, 2, 3, 4, 5",
    "error_patterns": "SELECT * FROM error_patterns ORDER BY 1, 2, 3, 4",
    "performance_metrics": "SELECT * FROM performance_metrics ORDER BY 1, 2, 3, 4",
    "hourly_log_rollup": "SELECT * FROM hourly_log_rollup ORDER BY 1, 2, 3, 4, 5, 6",
    "hourly_latency_histogram": "SELECT * FROM hourly_latency_histogram ORDER BY 1, 2, 3, 4, 5",
}
# performance_metrics' p50/p95/p99 come from the day's histogram: in the bucket (25% wide) of the value at
# the percentile's rank, while percentile_cont interpolates towards the next value, which may sit in the next
# bucket: so within two buckets' width, or 1 ms below the first bucket's bound.
PERCENTILE_COLUMNS = (6, 7, 8)
TWO_BUCKETS = 1.25**2


def _same_number(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def _mismatches(view: str, got: Sequence[Sequence[Any]], want: Sequence[Sequence[Any]]) -> list[str]:
    problems: list[str] = []
    if len(got) != len(want):
        problems.append(f"{view}: {len(got)} rows, logs say {len(want)}")
    for g, w in zip(got, want, strict=False):
        for i, (a, b) in enumerate(zip(g, w, strict=True)):
            if view == "performance_metrics" and i in PERCENTILE_COLUMNS:
                ok = b / TWO_BUCKETS - 1e-9 <= a <= b * TWO_BUCKETS + 1e-9 or abs(a - b) <= 1.0
            elif isinstance(a, int | float) and not isinstance(a, bool):
                ok = _same_number(a, b)
            else:
                ok = a == b
            if not ok:
                problems.append(f"{view} row {tuple(g)[:6]}…: column {i} is {a!r}, logs say {b!r}")
                break
    return problems


def assert_rollups_match_logs(url: str) -> None:
    with connect(url) as conn:
        problems = [
            problem
            for view in ROLLUP_VIEWS
            for problem in _mismatches(
                view, conn.execute(VIEW_ROWS[view]).fetchall(), conn.execute(TRUTH[view]).fetchall()
            )
        ]
    assert problems == []


def _rows(hours_ago: float, n: int, service: str = "search-api", **extra: Any) -> list[LogRecord]:
    out = []
    for i in range(n):
        level = "ERROR" if i % 7 == 0 else "INFO"
        out.append(
            make_record(
                created_at=NOW - timedelta(hours=hours_ago) + timedelta(seconds=i),
                service=service,
                level=level,
                error_type="UpstreamTimeout" if level == "ERROR" else None,
                endpoint="/api/v1/search",
                method="GET",
                duration_ms=float(10 + (i * 37) % 1500) if i % 5 else None,
                **extra,
            )
        )
    return out


def _random_rows(rng: random.Random, n: int, *, oldest_hours: int, message: str = "event") -> list[LogRecord]:
    """Rows scattered over the last `oldest_hours` hours, varied in every grouping column the rollups use."""
    out = []
    for i in range(n):
        level = rng.choice(["INFO", "INFO", "DEBUG", "WARN", "ERROR", "FATAL"])
        error = level in ("ERROR", "FATAL")
        out.append(
            make_record(
                created_at=NOW - timedelta(seconds=rng.randrange(oldest_hours * 3600)),
                service=rng.choice(["payment-api", "search-api", "web"]),
                environment=rng.choice(["production", "staging"]),
                level=level,
                log_type=rng.choice(["BACKEND", "FRONTEND"]),
                message=f"{message} {i} {rng.getrandbits(32):x}",
                user_id=rng.choice([None, *(f"user-{u}" for u in range(12))]),
                error_type=rng.choice([None, "Timeout", "Declined"]) if error else None,
                application_error_code=rng.choice([None, "E-1", "E-2"]) if error else None,
                endpoint=rng.choice([None, "/pay", "/search"]),
                method=rng.choice(["GET", "POST"]),
                http_status_code=rng.choice([None, 200, 404, 500, 503]),
                duration_ms=rng.choice([None, 0.0, 0.4, round(rng.lognormvariate(4, 1.2), 3)]),
            )
        )
    return out


def _insert(url: str, records: list[LogRecord]) -> None:
    with connect(url) as conn:
        insert_records(conn, records)
        conn.commit()


def _refresh(url: str) -> Any:
    with owner_connection(url) as conn:
        return refresh_rollups(conn)


def test_rollups_match_logs_after_random_late_rows_over_many_hours(fresh_db_url: str) -> None:
    rng = random.Random(14)
    # Given: three days of rows, rolled up
    _insert(fresh_db_url, _random_rows(rng, 600, oldest_hours=72))
    first = _refresh(fresh_db_url)
    assert first.hours > 24 and first.pending_hours == 0
    assert_rollups_match_logs(fresh_db_url)
    # When: late rows arrive, rounds of them, for random hours already rolled up (and some new ones)
    for round_number in range(4):
        late = _random_rows(rng, 80, oldest_hours=96, message=f"late {round_number}")
        _insert(fresh_db_url, late)
        report = _refresh(fresh_db_url)
        # Then: only the hours that received rows were recomputed, and everything still equals `logs`
        assert report.hours == len({r.created_at.replace(minute=0, second=0, microsecond=0) for r in late})
        assert_rollups_match_logs(fresh_db_url)


def test_rollups_match_logs_after_inserts_and_late_rows(fresh_db_url: str) -> None:
    _insert(fresh_db_url, _rows(1, 60) + _rows(5, 40, service="payment-api") + _rows(30, 25))
    _refresh(fresh_db_url)
    assert_rollups_match_logs(fresh_db_url)
    # late arrivals for hours already rolled up, and for a new hour
    _insert(fresh_db_url, _rows(5, 13, service="payment-api", message="late") + _rows(50, 9))
    _refresh(fresh_db_url)
    assert_rollups_match_logs(fresh_db_url)


def test_a_refresh_reads_only_the_announced_hours(fresh_db_url: str) -> None:
    # Given: two hours rolled up, then one rollup row of the older hour altered by hand
    _insert(fresh_db_url, _rows(3, 20) + _rows(1, 20))
    _refresh(fresh_db_url)
    old_hour = NOW - timedelta(hours=3)
    with owner_connection(fresh_db_url) as conn:
        groups = conn.execute(
            "UPDATE rollup_log_hours SET log_count = log_count + 1000 WHERE hour = %s", (old_hour,)
        ).rowcount
    # When: a row arrives for the newer hour only
    _insert(fresh_db_url, _rows(1, 1, message="one more"))
    report = _refresh(fresh_db_url)
    with connect(fresh_db_url) as conn:
        altered = conn.execute("SELECT sum(log_count) FROM hourly_log_rollup WHERE hour = %s", (old_hour,)).fetchone()
    # Then: one hour was recomputed, and the older one was not even read (its alteration is still there)
    assert (report.hours, report.days) == (1, 1)
    assert altered == (20 + 1000 * groups,)
    # ...until a rebuild recomputes everything from logs
    with owner_connection(fresh_db_url) as conn:
        rebuilt = rebuild_rollups(conn)
    assert rebuilt.hours == 2
    assert_rollups_match_logs(fresh_db_url)


def test_p95_from_the_histogram_is_within_one_bucket_of_the_exact_value(fresh_db_url: str) -> None:
    _insert(fresh_db_url, _rows(2, 400))
    _refresh(fresh_db_url)
    with connect(fresh_db_url) as conn:
        exact = conn.execute("SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) FROM logs").fetchone()
        estimate = conn.execute(
            """WITH c AS (SELECT le_ms, sum(request_count) OVER (ORDER BY le_ms) AS cum,
                                 sum(request_count) OVER () AS total FROM hourly_latency_histogram)
               SELECT min(le_ms) FROM c WHERE cum >= 0.95 * total"""
        ).fetchone()
        daily = conn.execute("SELECT p95_ms FROM performance_metrics").fetchone()
    assert exact is not None and estimate is not None and daily is not None
    assert exact[0] <= estimate[0] <= exact[0] * 1.25 + 1e-9  # the bucket holding it, 25% wide
    assert exact[0] / 1.25 <= daily[0] <= exact[0] * 1.25  # the daily view interpolates inside that bucket
    assert math.isfinite(estimate[0])


def test_rollups_match_logs_after_a_partition_is_archived_and_restored(fresh_db_url: str, tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    old_day = (NOW - timedelta(days=45)).date()
    with connect(fresh_db_url) as conn:
        insert_records(conn, _rows(24 * 45, 30) + _rows(3, 20))  # one old day past retention, one recent hour
        conn.commit()
    with owner_connection(fresh_db_url) as conn:
        maintain_partitions(conn, SETTINGS)  # the old day gets its partition (out of DEFAULT)
    _refresh(fresh_db_url)
    assert_rollups_match_logs(fresh_db_url)
    # When: the old day is archived
    with owner_connection(fresh_db_url) as conn:
        result = archive_expired(conn, store, SETTINGS)
    assert result.failed == [] and [o.rows for o in result.outcomes] == [30]
    after_archive = _refresh(fresh_db_url)
    # Then: its 24 hours were recomputed (to nothing), and the rollups hold only the recent hour
    assert after_archive.hours == 24
    assert_rollups_match_logs(fresh_db_url)
    with connect(fresh_db_url) as conn:
        assert conn.execute("SELECT sum(log_count) FROM hourly_log_rollup").fetchone() == (20,)
        assert conn.execute("SELECT count(*) FROM daily_log_summary WHERE day = %s", (old_day,)).fetchone() == (0,)
    # When: the day is restored
    with owner_connection(fresh_db_url) as conn:
        restored = restore_day(conn, store, SETTINGS, old_day)
    assert restored.inserted == 30
    _refresh(fresh_db_url)
    # Then: it is back in the rollups, equal to logs again
    assert_rollups_match_logs(fresh_db_url)
    with connect(fresh_db_url) as conn:
        assert conn.execute("SELECT sum(log_count) FROM daily_log_summary WHERE day = %s", (old_day,)).fetchone() == (
            30,
        )


def test_rows_committed_during_a_refresh_are_left_for_the_next_one(fresh_db_url: str) -> None:
    # Given: a writer's transaction with rows and their announcement, not yet committed
    _insert(fresh_db_url, _rows(2, 10))
    with connect(fresh_db_url) as writer:
        insert_records(writer, _rows(2, 5, message="in flight"))
        # When: a refresh runs meanwhile, and the writer commits after it
        during = _refresh(fresh_db_url)
        writer.commit()
    with connect(fresh_db_url) as conn:
        seen = conn.execute("SELECT sum(log_count) FROM hourly_log_rollup").fetchone()
    # Then: that refresh did not see the rows, and did not claim their hour for good either
    assert seen == (10,)
    assert during.pending_hours == 0
    after = _refresh(fresh_db_url)
    assert after.hours == 1
    assert_rollups_match_logs(fresh_db_url)


def test_freshness_says_until_when_the_rollups_are_complete(fresh_db_url: str) -> None:
    with owner_connection(fresh_db_url) as conn:
        assert read_freshness(conn).complete_as_of is None
    _insert(fresh_db_url, _rows(1, 5) + _rows(30, 5))
    with owner_connection(fresh_db_url) as conn:
        # Out of time before the first batch: nothing done, both hours still pending, no claim of completeness
        starved = refresh_rollups(conn, time_left=lambda: 10.0)
        assert (starved.hours, starved.pending_hours, starved.complete_as_of) == (0, 2, None)
        # One hour per batch, time for one batch only: the newest hour first
        clock = iter([120.0, 0.0])
        partial = refresh_rollups(conn, time_left=lambda: next(clock), batch_hours=1)
        assert (partial.hours, partial.pending_hours, partial.complete_as_of) == (1, 1, None)
        newest = conn.execute("SELECT max(hour) FROM rollup_log_hours").fetchone()
        before = conn.execute("SELECT now()").fetchone()
        done = refresh_rollups(conn)
        freshness = read_freshness(conn)
    assert newest is not None and newest[0] == NOW - timedelta(hours=1)
    assert before is not None and done.complete_as_of is not None and done.complete_as_of >= before[0]
    assert (freshness.pending_hours, freshness.complete_as_of) == (0, done.complete_as_of)
    assert freshness.last_run_at is not None and freshness.last_run_at >= done.complete_as_of


def test_a_late_row_for_an_old_hour_lowers_the_freshness_until_it_is_rolled_up(fresh_db_url: str) -> None:
    # Given: rollups complete after a refresh
    _insert(fresh_db_url, _rows(1, 5))
    done = _refresh(fresh_db_url)
    assert done.complete_as_of is not None and done.complete_as_of > NOW
    # When: a row for an hour a day ago is committed after it
    _insert(fresh_db_url, _rows(24, 1, message="late"))
    with connect(fresh_db_url) as conn:
        late = read_freshness(conn)
    # Then: the freshness read now says the rollups are complete only before that hour, for rows committed
    # before it and for rows created before it alike (what the agent's prompt and the alerts rely on)
    assert (late.complete_as_of, late.pending_hours) == (NOW - timedelta(hours=24), 1)
    again = _refresh(fresh_db_url)
    assert again.complete_as_of is not None and again.complete_as_of > NOW and again.pending_hours == 0
    assert_rollups_match_logs(fresh_db_url)


def test_a_second_refresh_at_the_same_time_skips(fresh_db_url: str) -> None:
    with owner_connection(fresh_db_url) as first, owner_connection(fresh_db_url) as second:
        first.execute("SELECT pg_advisory_lock(%s)", (0x6C6F676C656E7372,))
        assert refresh_rollups(second).skipped == "another rollup refresh is running"
        assert rebuild_rollups(second).skipped == "another rollup refresh is running"
        first.execute("SELECT pg_advisory_unlock(%s)", (0x6C6F676C656E7372,))
        assert refresh_rollups(second).skipped is None


def test_refresh_needs_an_autocommit_connection(fresh_db_url: str) -> None:
    with connect(fresh_db_url) as conn, pytest.raises(ValueError, match="autocommit"):
        refresh_rollups(conn)


def test_the_analyst_reads_the_views_and_freshness_but_not_the_tables(fresh_db_url: str, analyst_url_of: Any) -> None:
    analyst = analyst_url_of(fresh_db_url)
    with connect(analyst) as conn:
        for view in ROLLUP_VIEWS:
            conn.execute(f"SELECT * FROM {view} LIMIT 1").fetchall()
        conn.execute("SELECT complete_as_of FROM rollup_freshness").fetchall()
    for table in ("rollup_log_hours", "rollup_user_days", "rollup_request_days", "rollup_dirty_hours"):
        with connect(analyst) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"SELECT * FROM {table}")


def test_hour_ranges_merge_adjacent_hours() -> None:
    h = datetime(2026, 1, 1, tzinfo=UTC)
    hours = [h + timedelta(hours=n) for n in (5, 0, 1, 3, 1)]
    assert hour_ranges(hours) == [(h, h + timedelta(hours=2)), (h + timedelta(hours=3), h + timedelta(hours=4)),
                                  (h + timedelta(hours=5), h + timedelta(hours=6))]  # fmt: skip


@pytest.fixture
def analyst_url_of() -> Any:
    from loglens.db.connect import with_user
    from tests.conftest import ROLE_PASSWORD

    return lambda url: with_user(url, "loglens_analyst", ROLE_PASSWORD)


def test_a_batch_that_outlasts_the_time_given_is_rolled_back_and_left_announced(
    fresh_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loglens.lifecycle import rollups

    _insert(fresh_db_url, _rows(2, 10))
    # Given: a function with a minute left, and the hourly table locked by someone for longer than that
    monkeypatch.setattr(rollups, "_SECONDS_KEPT_IN_HAND", 59.0)  # a statement may then run 1.5 s
    with owner_connection(fresh_db_url) as blocker, owner_connection(fresh_db_url) as conn:
        with blocker.transaction():
            blocker.execute("LOCK TABLE rollup_log_hours IN ACCESS EXCLUSIVE MODE")
            # When
            report = refresh_rollups(conn, time_left=lambda: 60.5)
        # Then: PostgreSQL gave up on the statement, nothing was half done, and the hour waits for the next run
        assert (report.hours, report.pending_hours, report.complete_as_of) == (0, 1, None)
        again = refresh_rollups(conn)
    assert (again.hours, again.pending_hours) == (1, 0)
    assert_rollups_match_logs(fresh_db_url)
