"""What the detectors read: per-hour counts and latency histograms, from the rollups and the newest minutes of logs.

The hourly rollups (`hourly_log_rollup`, `hourly_latency_histogram`) hold what a detector needs for every hour
it compares (the same hour on previous days, the previous hours), so a run reads a few thousand rollup rows
whatever the size of `logs`. Only the minutes the rollups do not hold yet are read from `logs`:

- where the rollups are maintained incrementally, `rollup_freshness.complete_as_of` says up to when they hold
  every committed row; rows created after it are read from `logs` and added;
- where they are materialized views refreshed on a schedule (nothing says when), the newest hour they hold may
  be partial, so that hour and every later one are read from `logs` instead.

The frontier is the newest event time in `logs` (never past `now`): the current hour is as full as the data
that has arrived, not as the wall clock, so ingestion lag (Firehose buffers for up to 15 minutes) makes no
service look silent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import psycopg

HOUR: Final = timedelta(hours=1)
ERROR_LEVELS: Final = ("ERROR", "FATAL")
ERROR_LEVELS_SQL: Final = "level IN ('ERROR', 'FATAL')"
# The latency histogram's buckets (migration 0006): 25% wide from 1 ms, le_ms is the upper bound.
LATENCY_BUCKET_SQL: Final = (
    "round(power(1.25, greatest(0, ceil(ln(greatest(duration_ms, 1)) / ln(1.25))))::numeric, 1)::float8"
)

ServiceKey = tuple[str, str]  # (service, environment)
EndpointKey = tuple[str, str, str]  # (service, endpoint, method)


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class ServiceHour:
    records: int = 0
    errors: int = 0


@dataclass
class HourlyFacts:
    """Counts per hour over a range of hours, and latency histograms for the hours a run compares.

    Hours are UTC hour starts; an hour in `first_hour..last_hour` with no entry had no records.
    """

    frontier: datetime
    first_hour: datetime
    last_hour: datetime
    # (service, environment) -> hour -> records and errors
    counts: dict[ServiceKey, dict[datetime, ServiceHour]] = field(default_factory=lambda: defaultdict(dict))
    # (service, environment) -> hour -> error type -> errors ('' for errors without a type)
    error_types: dict[ServiceKey, dict[datetime, dict[str, int]]] = field(default_factory=lambda: defaultdict(dict))
    # (service, endpoint, method) -> hour -> {le_ms: requests}
    latency: dict[EndpointKey, dict[datetime, dict[float, float]]] = field(default_factory=lambda: defaultdict(dict))
    latency_hours: frozenset[datetime] = frozenset()

    def covers(self, hour: datetime) -> bool:
        return self.first_hour <= hour <= self.last_hour

    def fraction(self, hour: datetime) -> float:
        """How much of `hour` the data covers: 1 for a past hour, less for the hour holding the frontier."""
        covered = (self.frontier - hour) / HOUR
        return max(0.0, min(1.0, covered))

    def hour_end(self, hour: datetime) -> datetime:
        return min(hour + HOUR, self.frontier)

    def records(self, key: ServiceKey, hour: datetime) -> int:
        found = self.counts.get(key, {}).get(hour)
        return found.records if found else 0


@dataclass(frozen=True)
class Coverage:
    """Which part of `logs` the rollups hold: rows created before `raw_from` (and committed before a refresh)."""

    raw_from: datetime | None  # read logs from here on; None: the rollups hold everything
    replace_from_hour: bool  # the rollups' rows for raw_from's hour and later are partial: ignore them


def frontier(conn: psycopg.Connection[Any], now: datetime) -> datetime | None:
    """The newest event time in logs, at most `now` (rows from clocks ahead of ours wait until they are due)."""
    row = conn.execute("SELECT max(created_at) FROM logs WHERE created_at <= %s", (now,)).fetchone()
    return row[0] if row and row[0] is not None else None


def coverage(conn: psycopg.Connection[Any]) -> Coverage:
    freshness = conn.execute("SELECT to_regclass('rollup_freshness') IS NOT NULL").fetchone()
    if freshness and freshness[0]:
        row = conn.execute("SELECT complete_as_of FROM rollup_freshness").fetchone()
        complete = row[0] if row else None
        if complete is not None:
            return Coverage(raw_from=complete, replace_from_hour=False)
        return Coverage(raw_from=datetime(1970, 1, 1, tzinfo=UTC), replace_from_hour=True)
    row = conn.execute("SELECT max(hour) FROM hourly_log_rollup").fetchone()
    newest = row[0] if row else None
    return Coverage(raw_from=newest or datetime(1970, 1, 1, tzinfo=UTC), replace_from_hour=True)


def load_facts(
    conn: psycopg.Connection[Any],
    *,
    first_hour: datetime,
    frontier_at: datetime,
    latency_hours: Iterable[datetime],
    covered: Coverage,
) -> HourlyFacts:
    """Counts and error types for every hour from `first_hour` to the frontier's; histograms for `latency_hours`."""
    last_hour = hour_of(frontier_at)
    wanted = frozenset(h for h in (hour_of(h) for h in latency_hours) if first_hour <= h <= last_hour)
    facts = HourlyFacts(frontier_at, first_hour, last_hour, latency_hours=wanted)
    raw_from = covered.raw_from
    cut = hour_of(raw_from) if raw_from is not None and covered.replace_from_hour else None
    rollup_last = last_hour if cut is None else min(last_hour, cut - HOUR)
    if first_hour <= rollup_last:
        rows = conn.execute(
            f"""SELECT hour, service, environment, {ERROR_LEVELS_SQL}, error_type, sum(log_count)::bigint
                FROM hourly_log_rollup WHERE hour >= %s AND hour <= %s GROUP BY 1, 2, 3, 4, 5""",
            (first_hour, rollup_last),
        )
        _add_counts(facts, rows)
        rollup_latency = sorted(h for h in wanted if h <= rollup_last)
        _add_latency(
            facts,
            conn.execute(
                """SELECT hour, service, endpoint, method, le_ms, sum(request_count)::float8
                   FROM hourly_latency_histogram WHERE hour = ANY(%s) AND endpoint <> '' GROUP BY 1, 2, 3, 4, 5""",
                (rollup_latency,),
            ),
        )
    if raw_from is not None and raw_from <= frontier_at:
        start = max(cut if cut is not None else raw_from, first_hour)
        _add_counts(
            facts,
            conn.execute(
                f"""SELECT date_trunc('hour', created_at, 'UTC'), service, environment, {ERROR_LEVELS_SQL},
                           coalesce(error_type, ''), count(*)
                    FROM logs WHERE created_at >= %s AND created_at <= %s GROUP BY 1, 2, 3, 4, 5""",
                (start, frontier_at),
            ),
        )
        _add_latency(
            facts,
            conn.execute(
                f"""SELECT date_trunc('hour', created_at, 'UTC'), service, endpoint, coalesce(method, ''),
                           {LATENCY_BUCKET_SQL}, count(*)
                    FROM logs
                    WHERE created_at >= %s AND created_at <= %s AND duration_ms IS NOT NULL AND endpoint <> ''
                    GROUP BY 1, 2, 3, 4, 5""",
                (start, frontier_at),
            ),
        )
    return facts


def _add_counts(facts: HourlyFacts, rows: Iterable[tuple[Any, ...]]) -> None:
    for hour, service, environment, is_error, error_type, count in rows:
        key = (service, environment)
        slot = facts.counts[key].setdefault(hour, ServiceHour())
        slot.records += int(count)
        if is_error:
            slot.errors += int(count)
            types = facts.error_types[key].setdefault(hour, {})
            types[error_type] = types.get(error_type, 0) + int(count)


def _add_latency(facts: HourlyFacts, rows: Iterable[tuple[Any, ...]]) -> None:
    for hour, service, endpoint, method, le_ms, count in rows:
        if hour in facts.latency_hours:
            histogram = facts.latency[(service, endpoint, method)].setdefault(hour, {})
            histogram[float(le_ms)] = histogram.get(float(le_ms), 0.0) + float(count)
