"""The hourly rollups equal the same aggregates computed from `logs` — also after late-arriving
rows and after a partition is archived (the maintain job's view refresh keeps them so)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from loglens.db.connect import connect
from loglens.ingest.objects import LocalObjectStore
from loglens.lifecycle.archive import archive_expired
from loglens.lifecycle.maintenance import maintain_partitions, owner_connection, refresh_views
from loglens.settings import Settings
from tests.factories import insert_records, make_record

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
ROLLUP_FROM_LOGS = """
    SELECT date_trunc('hour', created_at, 'UTC'), service, environment, level, log_type, coalesce(error_type, ''),
           count(*), count(duration_ms), coalesce(sum(duration_ms), 0)
    FROM logs GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6"""
ROLLUP = """
    SELECT hour, service, environment, level, log_type, error_type, log_count, duration_count,
           coalesce(duration_sum_ms, 0)
    FROM hourly_log_rollup ORDER BY 1, 2, 3, 4, 5, 6"""
HISTOGRAM_TOTALS = """
    SELECT hour, service, endpoint, method, sum(request_count) FROM hourly_latency_histogram
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"""
HISTOGRAM_FROM_LOGS = """
    SELECT date_trunc('hour', created_at, 'UTC'), service, coalesce(endpoint, ''), coalesce(method, ''), count(*)
    FROM logs WHERE duration_ms IS NOT NULL GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"""


def _rows(hours_ago: float, n: int, service: str = "search-api", **extra: Any) -> list[Any]:
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


def _refresh(url: str) -> None:
    with owner_connection(url) as conn:
        refresh_views(conn)


def _same(url: str) -> None:
    with connect(url) as conn:
        rollup = [tuple(float(v) if isinstance(v, int | float) else v for v in r) for r in conn.execute(ROLLUP)]
        truth = [
            tuple(float(v) if isinstance(v, int | float) else v for v in r) for r in conn.execute(ROLLUP_FROM_LOGS)
        ]
        assert rollup == truth
        assert conn.execute(HISTOGRAM_TOTALS).fetchall() == conn.execute(HISTOGRAM_FROM_LOGS).fetchall()


def test_rollups_match_logs_after_inserts_and_late_rows(fresh_db_url: str) -> None:
    with connect(fresh_db_url) as conn:
        insert_records(conn, _rows(1, 60) + _rows(5, 40, service="payment-api") + _rows(30, 25))
        conn.commit()
    _refresh(fresh_db_url)
    _same(fresh_db_url)
    with connect(fresh_db_url) as conn:  # late arrivals for hours already rolled up, and for a new hour
        insert_records(conn, _rows(5, 13, service="payment-api", message="late") + _rows(50, 9))
        conn.commit()
    _refresh(fresh_db_url)
    _same(fresh_db_url)


def test_p95_from_the_histogram_is_within_one_bucket_of_the_exact_value(fresh_db_url: str) -> None:
    with connect(fresh_db_url) as conn:
        insert_records(conn, _rows(2, 400))
        conn.commit()
    _refresh(fresh_db_url)
    with connect(fresh_db_url) as conn:
        exact = conn.execute("SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) FROM logs").fetchone()
        estimate = conn.execute(
            """WITH c AS (SELECT le_ms, sum(request_count) OVER (ORDER BY le_ms) AS cum,
                                 sum(request_count) OVER () AS total FROM hourly_latency_histogram)
               SELECT min(le_ms) FROM c WHERE cum >= 0.95 * total"""
        ).fetchone()
    assert exact is not None and estimate is not None
    assert exact[0] <= estimate[0] <= exact[0] * 1.25 + 1e-9  # the bucket holding it, 25% wide
    assert math.isfinite(estimate[0])


def test_rollups_match_logs_after_a_partition_is_archived(fresh_db_url: str, tmp_path: Path) -> None:
    settings = Settings.from_env({})
    with connect(fresh_db_url) as conn:
        insert_records(conn, _rows(24 * 45, 30) + _rows(3, 20))  # one old day past retention, one recent hour
        conn.commit()
    with owner_connection(fresh_db_url) as conn:
        maintain_partitions(conn, settings)  # the old day gets its partition (out of DEFAULT)
    _refresh(fresh_db_url)
    _same(fresh_db_url)
    with owner_connection(fresh_db_url) as conn:
        result = archive_expired(conn, LocalObjectStore(tmp_path), settings)
    assert result.failed == [] and [o.rows for o in result.outcomes] == [30]
    _refresh(fresh_db_url)
    _same(fresh_db_url)
    with connect(fresh_db_url) as conn:
        assert conn.execute("SELECT sum(log_count) FROM hourly_log_rollup").fetchone() == (20,)
