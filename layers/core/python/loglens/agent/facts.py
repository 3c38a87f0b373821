"""Live facts about the data for the prompt: what is in `logs` now, and how fresh the summary views are.

Read through the agent's own read-only transactions and kept for `facts_ttl_seconds` (`FactsCache`), so the
prompt's facts part stays the same, and cached by the API, between refreshes. Every query here is bounded:
the time range is two index probes per partition, the values and endpoints come from the last week of the
data, the metadata keys from a sample of it, and each view's latest day or hour is one index probe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from psycopg import sql

from loglens.agent.catalog import Layout, read_layout
from loglens.agent.metadata_keys import MetadataKey, summarise
from loglens.agent.tools import DatabaseUnavailable
from loglens.ttl import TtlValue

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

# Values listed per column in the prompt: enough to spell them right, not so many the prompt balloons.
VALUE_COLUMNS = ("service", "environment", "level", "log_type", "error_type", "page_path")
_VALUES_PER_COLUMN = 40
_ENDPOINTS = 40
_METADATA_KEYS = 40
_METADATA_SAMPLE = 20_000
_FACTS_WINDOW = "7 days"  # values are read from the last week of data, which keeps the scan bounded
_WINDOW = f"created_at > %(latest)s - interval '{_FACTS_WINDOW}' AND created_at <= %(latest)s"

# One scan for every value list and the endpoints: GROUPING(endpoint) tells the endpoint rows apart.
_VALUES_SQL = f"""
SELECT {", ".join(f"{c}::text" for c in VALUE_COLUMNS)}, endpoint, method, GROUPING(endpoint) = 0, count(*)
FROM logs
WHERE {_WINDOW}
GROUP BY GROUPING SETS ({", ".join(f"({c})" for c in VALUE_COLUMNS)}, (endpoint, method, service))
"""
# Per key, service and JSON type: rows, distinct values and a few of them. Grouping by the value first (a hash)
# and then by key counts distinct values three times faster than count(DISTINCT jsonb) sorting them.
_METADATA_SQL = f"""
SELECT key, service, kind, sum(n)::bigint, count(*),
       (array_agg(left(value, 60)) FILTER (WHERE kind IN ('string', 'number', 'boolean')))[1:9]
FROM (
    SELECT e.key, s.service, jsonb_typeof(e.value) AS kind, e.value #>> '{{}}' AS value, count(*) AS n
    FROM (
        SELECT service, metadata FROM logs
        WHERE {_WINDOW} AND jsonb_typeof(metadata) = 'object'
        LIMIT {_METADATA_SAMPLE}
    ) s, jsonb_each(s.metadata) e
    GROUP BY 1, 2, 3, 4
) per_value
GROUP BY 1, 2, 3
"""
# The incremental rollups (issue #14) record how far they are complete; before them, nothing does.
_FRESHNESS_TABLE = "rollup_freshness"


@dataclass(frozen=True)
class Endpoint:
    endpoint: str
    count: int
    methods: tuple[str, ...]
    services: tuple[str, ...]


@dataclass(frozen=True)
class RollupFreshness:
    complete_as_of: datetime | None  # every row stored before this is in the summary views
    last_run_at: datetime | None
    pending_hours: int


@dataclass(frozen=True)
class DataFacts:
    """What is in `logs` now. Empty when the table is empty or reading the facts failed."""

    earliest: datetime | None = None
    latest: datetime | None = None
    rows_estimate: int = 0
    values: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    endpoints: list[Endpoint] = field(default_factory=list)
    metadata_keys: list[MetadataKey] = field(default_factory=list)
    view_latest_day: dict[str, str] = field(default_factory=dict)
    view_latest_hour: dict[str, datetime] = field(default_factory=dict)
    freshness: RollupFreshness | None = None  # None: this database does not record it
    note: str | None = None  # why some facts are missing


@dataclass(frozen=True)
class Facts:
    layout: Layout
    data: DataFacts
    read_at: datetime


def read_data_facts(conn: psycopg.Connection[Any], layout: Layout) -> DataFacts:
    # min/max of the time column are two index probes per partition, not a scan.
    earliest, latest = conn.execute("SELECT min(created_at), max(created_at) FROM logs").fetchone() or (None, None)
    rows_estimate = sum(max(p.rows_estimate, 0) for p in layout.partitions)
    latest_day, latest_hour = _view_latest(conn, layout)
    freshness = read_rollup_freshness(conn)
    if latest is None:
        return DataFacts(
            rows_estimate=rows_estimate,
            view_latest_day=latest_day,
            view_latest_hour=latest_hour,
            freshness=freshness,
            note="logs is empty",
        )
    values, endpoints = _values_and_endpoints(conn, latest)
    keys = summarise(
        (str(k), s, str(t), int(n), int(d), [str(v) for v in (vs or [])])
        for k, s, t, n, d, vs in conn.execute(_METADATA_SQL, {"latest": latest}).fetchall()
    )[:_METADATA_KEYS]
    return DataFacts(earliest, latest, rows_estimate, values, endpoints, keys, latest_day, latest_hour, freshness)


def _values_and_endpoints(
    conn: psycopg.Connection[Any], latest: datetime
) -> tuple[dict[str, list[tuple[str, int]]], list[Endpoint]]:
    values: dict[str, list[tuple[str, int]]] = {c: [] for c in VALUE_COLUMNS}
    found: dict[str, tuple[int, set[str], set[str]]] = {}
    width = len(VALUE_COLUMNS)
    for row in conn.execute(_VALUES_SQL, {"latest": latest}).fetchall():
        count = int(row[-1])
        if row[-2]:  # the (endpoint, method, service) grouping set
            endpoint, method, service = row[width], row[width + 1], row[0]
            if endpoint is not None:
                total, methods, services = found.get(endpoint, (0, set(), set()))
                found[endpoint] = (
                    total + count,
                    methods | ({method} if method else set()),
                    services | ({service} if service else set()),
                )
            continue
        for column, value in zip(VALUE_COLUMNS, row[:width], strict=True):
            if value is not None:
                values[column].append((str(value), count))
    for column in values:
        values[column].sort(key=lambda item: (-item[1], item[0]))
        del values[column][_VALUES_PER_COLUMN:]
    endpoints = [
        Endpoint(name, total, tuple(sorted(methods)), tuple(sorted(services)))
        for name, (total, methods, services) in found.items()
    ]
    endpoints.sort(key=lambda e: (-e.count, e.endpoint))
    return values, endpoints[:_ENDPOINTS]


def _view_latest(conn: psycopg.Connection[Any], layout: Layout) -> tuple[dict[str, str], dict[str, datetime]]:
    """Each view's latest day (daily views) and latest hour (hourly rollups): one index probe each."""
    days: dict[str, str] = {}
    hours: dict[str, datetime] = {}
    for view, columns in layout.view_columns.items():
        # Names come from pg_class, quoted as identifiers: not input from anyone.
        if ("day", "date") in columns:
            row = conn.execute(sql.SQL("SELECT max(day)::text FROM {}").format(sql.Identifier(view))).fetchone()
            if row and row[0]:
                days[view] = str(row[0])
        if ("hour", "timestamp with time zone") in columns:
            row = conn.execute(sql.SQL("SELECT max(hour) FROM {}").format(sql.Identifier(view))).fetchone()
            if row and row[0]:
                hours[view] = row[0]
    return days, hours


def read_rollup_freshness(conn: psycopg.Connection[Any]) -> RollupFreshness | None:
    """How far the summary views are complete, where the database records it (None where it does not)."""
    import psycopg

    readable = conn.execute(
        """SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relname = %s AND has_table_privilege(c.oid, 'SELECT')""",
        (_FRESHNESS_TABLE,),
    ).fetchone()
    if readable is None:
        return None
    try:
        with conn.transaction():  # a savepoint: a table of another shape must not end the facts transaction
            row = conn.execute(
                sql.SQL("SELECT complete_as_of, last_run_at, pending_hours FROM {} LIMIT 1").format(
                    sql.Identifier(_FRESHNESS_TABLE)
                )
            ).fetchone()
    except psycopg.errors.UndefinedColumn:
        log.warning("%s has columns this agent does not know; rollup freshness left out", _FRESHNESS_TABLE)
        return None
    if row is None:
        return None
    return RollupFreshness(row[0], row[1], int(row[2] or 0))


class FactsCache(TtlValue["Facts"]):
    """Reads the facts through `transaction` at most once per `ttl` seconds, shared by all questions."""

    def __init__(
        self,
        transaction: Callable[[], Any],
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transaction = transaction
        super().__init__(self._read_facts, ttl, clock)

    def layout(self) -> Layout:
        return self.get().layout

    def _read_facts(self) -> Facts:
        with self._transaction() as conn:
            layout = read_layout(conn)
        try:
            with self._transaction() as conn:
                data = read_data_facts(conn, layout)
        except DatabaseUnavailable:
            raise
        except Exception as error:  # the prompt can do without value lists; the layout it cannot
            log.warning("could not read the data facts for the prompt: %s", error)
            data = DataFacts(note=f"the data facts could not be read ({type(error).__name__})")
        return Facts(layout, data, datetime.now(UTC))
