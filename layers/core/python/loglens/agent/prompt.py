"""The system prompt: a stable part derived from the record model and the guard, and live database facts.

The stable part (how to work, the `logs` columns with their types and descriptions from `LogRecord`, the
functions the guard allows) changes only with the code. The facts part (views and their columns, the
partition window, indexes, the data's time range and the services, levels, error types and environments
actually present) is read from the database and kept for `facts_ttl_seconds`. Both carry a cache_control
marker, so within that time every question reuses the cached prefix instead of paying for it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from psycopg import sql

from loglens.agent.catalog import LOGS, Layout, read_layout
from loglens.agent.tools import DatabaseUnavailable
from loglens.lifecycle.rollups import ROLLUP_VIEWS
from loglens.record import LOG_COLUMNS, column_descriptions, column_sql_types
from loglens.sqlguard_functions import ALLOWED_FUNCTION_NAMES, FROM_FUNCTION_NAMES

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

# Values listed per column in the prompt: enough to spell them right, not so many the prompt balloons.
VALUE_COLUMNS = ("service", "environment", "level", "log_type", "error_type")
_VALUES_PER_COLUMN = 40
_METADATA_KEYS = 40
_FACTS_WINDOW = "7 days"  # values are read from the last week of data, which keeps the scan bounded

_VALUES_SQL = f"""
SELECT {", ".join(f"{c}::text" for c in VALUE_COLUMNS)}, count(*)
FROM logs
WHERE created_at > %(latest)s - interval '{_FACTS_WINDOW}' AND created_at <= %(latest)s
GROUP BY GROUPING SETS ({", ".join(f"({c})" for c in VALUE_COLUMNS)})
"""
_METADATA_KEYS_SQL = f"""
SELECT k, count(*) FROM (
    SELECT metadata FROM logs
    WHERE created_at > %(latest)s - interval '{_FACTS_WINDOW}' AND created_at <= %(latest)s
    LIMIT 20000
) s, jsonb_object_keys(s.metadata) k
GROUP BY k ORDER BY count(*) DESC, k LIMIT {_METADATA_KEYS}
"""


@dataclass(frozen=True)
class DataFacts:
    """What is in `logs` now. Empty when the table is empty or reading the facts failed."""

    earliest: datetime | None = None
    latest: datetime | None = None
    rows_estimate: int = 0
    values: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    metadata_keys: list[tuple[str, int]] = field(default_factory=list)
    view_latest_day: dict[str, str] = field(default_factory=dict)
    # Until when the rollup-backed views hold every stored row, and how many hours are still being added.
    views_complete_as_of: datetime | None = None
    views_pending_hours: int = 0
    note: str | None = None  # why some facts are missing


@dataclass(frozen=True)
class Facts:
    layout: Layout
    data: DataFacts
    read_at: datetime


def _read_rollup_freshness(conn: psycopg.Connection[Any]) -> tuple[datetime | None, int]:
    """(complete as of, hours pending) of the summary views (loglens.lifecycle.rollups), when recorded."""
    present = conn.execute("SELECT to_regclass('rollup_freshness') IS NOT NULL").fetchone()
    if not present or not present[0]:
        return None, 0
    row = conn.execute("SELECT complete_as_of, pending_hours FROM rollup_freshness").fetchone()
    return (row[0], int(row[1])) if row else (None, 0)


def read_data_facts(conn: psycopg.Connection[Any], layout: Layout) -> DataFacts:
    # min/max of the time column are two index probes per partition, not a scan.
    earliest, latest = conn.execute("SELECT min(created_at), max(created_at) FROM logs").fetchone() or (None, None)
    complete_as_of, pending_hours = _read_rollup_freshness(conn)
    rows_estimate = sum(max(p.rows_estimate, 0) for p in layout.partitions)
    view_latest = {}
    for view, columns in layout.view_columns.items():
        if ("day", "date") in columns:
            # The name comes from pg_class, quoted as an identifier: not input from anyone.
            query = sql.SQL("SELECT max(day)::text FROM {}").format(sql.Identifier(view))
            row = conn.execute(query).fetchone()
            if row and row[0]:
                view_latest[view] = str(row[0])
    if latest is None:
        return DataFacts(
            rows_estimate=rows_estimate,
            view_latest_day=view_latest,
            views_complete_as_of=complete_as_of,
            views_pending_hours=pending_hours,
            note="logs is empty",
        )
    values: dict[str, list[tuple[str, int]]] = {c: [] for c in VALUE_COLUMNS}
    for row in conn.execute(_VALUES_SQL, {"latest": latest}).fetchall():
        count = int(row[-1])
        for column, value in zip(VALUE_COLUMNS, row[:-1], strict=True):
            if value is not None:
                values[column].append((str(value), count))
    for column in values:
        values[column].sort(key=lambda item: (-item[1], item[0]))
        del values[column][_VALUES_PER_COLUMN:]
    keys = [(str(k), int(n)) for k, n in conn.execute(_METADATA_KEYS_SQL, {"latest": latest}).fetchall()]
    return DataFacts(earliest, latest, rows_estimate, values, keys, view_latest, complete_as_of, pending_hours)


class FactsCache:
    """Reads the facts through `transaction` at most once per `ttl` seconds, shared by all questions."""

    def __init__(
        self,
        transaction: Callable[[], Any],
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transaction = transaction
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._facts: Facts | None = None
        self._read_at = 0.0

    def get(self) -> Facts:
        with self._lock:
            now = self._clock()
            if self._facts is None or now - self._read_at >= self._ttl:
                self._facts = self._read()
                self._read_at = now
            return self._facts

    def layout(self) -> Layout:
        return self.get().layout

    def _read(self) -> Facts:
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


def stable_prompt(*, max_rows: int, model_rows: int) -> str:
    """Instructions and the `logs` schema; the same text for every question with the same code."""
    types = column_sql_types()
    descriptions = column_descriptions()
    columns = "\n".join(f"- {name} {types[name]}: {descriptions[name]}" for name in LOG_COLUMNS)
    functions = ", ".join(sorted(ALLOWED_FUNCTION_NAMES))
    from_functions = ", ".join(sorted(FROM_FUNCTION_NAMES))
    return f"""You are loglens, an analyst who answers questions about application logs stored in PostgreSQL.
You answer by writing read-only SQL, running it with your tools, and explaining what the result means.

How to work
- run_query runs one SQL statement and shows you the columns, up to {model_rows} rows, the row count and the \
time it took. explain_query shows the planner's estimate (cost, partitions of logs scanned, indexes) without \
running it; use it when a query might be heavy.
- When a tool returns an error, read it, fix the SQL and try again. Never repeat a refused statement unchanged.
- Finish by calling answer with the final SQL (the one query whose result answers the question; the person \
sees its full result, up to {max_rows} rows), a one-sentence summary that states the numbers, the key insight \
and one concrete recommendation. Example: "342 errors in the last hour, 230% above the usual rate, mostly \
DatabaseConnectionTimeout in payment-api" with the recommendation "check payment-api's database connection pool".
- When a question implies unusual, spike, increase, drop, normal or worse, compare with a baseline: the same \
window on previous days or the preceding period of equal length, and state the ratio.
- Earlier questions in the conversation are context. Answer the new question; reuse earlier filters only when \
it refers to them ("those", "that service", "same period").
- Times are timestamptz in UTC; "today" is the UTC day. Text values are case-sensitive: use the exact values \
listed under Database facts.
- Rows you see may have personal data and secrets masked as [REDACTED:rule]; do not try to recover them.

SQL rules (a guard checks every statement; what breaks them is refused before it runs)
- Exactly one SELECT (WITH, UNION, INTERSECT and EXCEPT are fine). No writes, DDL, SET, COPY, locking \
clauses or transaction control.
- Read only the table logs and the summary views listed under Database facts, plus your own CTEs.
- logs is partitioned by day on created_at: every read of logs must bound created_at from below on the bare \
column (created_at >= ..., BETWEEN, or an OR of such windows, e.g. this hour OR the same hour yesterday), \
or be bounded by a join window on a bounded side, or be a lookup by trace_id = '...' (which needs no range: \
use it for a trace of any age). Otherwise it is refused. Use the range the question asks about, not a default.
- A LIMIT of at most {max_rows} is added or enforced. Aggregate in SQL rather than fetching raw rows.
- Functions allowed: {functions}. In FROM: {from_functions}. Casts to common types (text, int, bigint, \
numeric, float8, date, timestamptz, interval, jsonb, boolean) are fine.
- JSONB: metadata->>'key' gives text, metadata->'key' gives jsonb, metadata @> '{{"k": "v"}}' tests \
containment (indexed).

Table {LOGS}: one row per log event. Columns (name, type: meaning):
{columns}
"""


def facts_prompt(facts: Facts) -> str:
    """The database as it is now: views, partitions, indexes, time range and the values present."""
    layout, data = facts.layout, facts.data
    lines = [f"Database facts (read at {facts.read_at:%Y-%m-%d %H:%M} UTC)"]
    if data.latest is not None and data.earliest is not None:
        lines.append(
            f"- logs holds about {data.rows_estimate:,} rows with created_at from {data.earliest:%Y-%m-%d %H:%M:%S} "
            f"to {data.latest:%Y-%m-%d %H:%M:%S} UTC. Questions about 'now' refer to the current time given "
            "with the question; say so when the data ends before it."
        )
    elif data.note:
        lines.append(f"- {data.note}.")
    lines.append(_partition_line(layout))
    lines.append("- Summary views (brought up to date every few minutes from the stored rows; the freshness of "
                 "each is given; for the last minutes use logs):")  # fmt: skip
    for view, view_columns in layout.view_columns.items():
        columns = ", ".join(f"{name} {sql_type}" for name, sql_type in view_columns)
        purpose = layout.view_purposes.get(view) or "no description"
        latest = data.view_latest_day.get(view)
        freshness = f" Latest day present: {latest}." if latest else ""
        if view in ROLLUP_VIEWS:
            freshness += _rollup_freshness(data)
        lines.append(f"  - {view}({columns}): {purpose.rstrip('.')}.{freshness}")
    if layout.index_definitions:
        lines.append("- Indexes on logs: " + "; ".join(_index_summary(d) for d in layout.index_definitions.values()))
    if data.values:
        lines.append("- Values present in the last week of data (with counts):")
        for column, pairs in data.values.items():
            shown = ", ".join(f"{value} ({count:,})" for value, count in pairs) or "none"
            lines.append(f"  - {column}: {shown}")
    if data.metadata_keys:
        keys = ", ".join(key for key, _ in data.metadata_keys)
        lines.append(f"- Common metadata keys: {keys}")
    return "\n".join(lines) + "\n"


def _rollup_freshness(data: DataFacts) -> str:
    if data.views_complete_as_of is None:
        return " Not refreshed yet: answer from logs."
    pending = f" ({data.views_pending_hours} older hours still being added)" if data.views_pending_hours else ""
    return f" Complete for rows stored before {data.views_complete_as_of:%Y-%m-%d %H:%M:%S} UTC{pending}."


def _partition_line(layout: Layout) -> str:
    bounded = [p for p in layout.partitions if p.start is not None and p.end is not None]
    has_default = any(p.is_default for p in layout.partitions)
    if not bounded:
        return "- logs has no time partitions yet" + (" (only the DEFAULT partition)." if has_default else ".")
    first, last = bounded[0], bounded[-1]
    assert first.start is not None and last.end is not None
    default = " plus a DEFAULT partition for rows outside them" if has_default else ""
    return (
        f"- logs has {len(bounded)} partitions covering {first.start:%Y-%m-%d} to {last.end:%Y-%m-%d} (UTC, end "
        f"exclusive){default}; a created_at range lets PostgreSQL skip the others."
    )


def _index_summary(definition: str) -> str:
    # "CREATE INDEX idx ON ONLY public.logs USING btree (service, level, created_at DESC)" -> the useful part
    head, _, tail = definition.partition(" USING ")
    name = head.split(" INDEX ", 1)[-1].split(" ON ", 1)[0]
    return f"{name} {tail}" if tail else definition


def system_blocks(stable: str, facts: str) -> list[dict[str, Any]]:
    """The system prompt as two cached blocks: the stable part first, so a facts refresh keeps its cache."""
    return [
        {"type": "text", "text": stable, "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": facts, "cache_control": {"type": "ephemeral"}},
    ]


def question_text(question: str, now: datetime) -> str:
    return f"Current time: {now:%Y-%m-%d %H:%M:%S} UTC.\n\nQuestion: {question}"
