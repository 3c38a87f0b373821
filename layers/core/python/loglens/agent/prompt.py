"""The system prompt: a stable part derived from the record model and the guard, and live database facts.

The stable part (how to work, the `logs` columns with their types and descriptions from `LogRecord`, the
functions the guard allows) changes only with the code. The facts part (views and their columns and how
fresh they are, the partition window, indexes, the data's time range, the services, levels, error types,
environments, endpoints and page paths actually present, and the metadata keys with what they mean) is read
by `loglens.agent.facts` and kept for `facts_ttl_seconds`. Both carry a cache_control marker, so within that
time every question reuses the cached prefix instead of paying for it again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from loglens.agent.catalog import LOGS, Layout
from loglens.agent.facts import DataFacts, Facts, FactsCache
from loglens.agent.metadata_keys import prompt_lines
from loglens.record import LOG_COLUMNS, column_descriptions, column_sql_types
from loglens.sqlguard_functions import ALLOWED_FUNCTION_NAMES, FROM_FUNCTION_NAMES

__all__ = ["FactsCache", "facts_prompt", "question_text", "stable_prompt", "system_blocks"]
# How often the maintain job refreshes the views where the database does not record it (cdk.json's
# schedules.views and `loglens dev`'s timer).
VIEWS_REFRESH = "hourly"


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
- A request you must not carry out (changing or deleting data, reading other systems) or a question that needs \
no query: reply in plain text without calling a tool; that reply is the answer.
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


def facts_prompt(facts: Facts, text: Callable[[str], str] = lambda value: value) -> str:
    """The database as it is now; `text` prepares values from the data for the model (redaction, length)."""
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
    lines.append("- Summary views " + _freshness(data))
    for view, view_columns in layout.view_columns.items():
        columns = ", ".join(f"{name} {sql_type}" for name, sql_type in view_columns)
        purpose = layout.view_purposes.get(view) or "no description"
        present = []
        if view in data.view_latest_day:
            present.append(f"latest day present: {data.view_latest_day[view]}")
        if view in data.view_latest_hour:
            present.append(f"latest hour present: {data.view_latest_hour[view]:%Y-%m-%d %H:%M} UTC")
        freshness = f" ({'; '.join(present)})" if present else ""
        lines.append(f"  - {view}({columns}): {purpose.rstrip('.')}.{freshness}")
    if layout.index_definitions:
        lines.append("- Indexes on logs: " + "; ".join(_index_summary(d) for d in layout.index_definitions.values()))
    if data.values:
        lines.append("- Values present in the last week of data (with counts); use them exactly:")
        for column, pairs in data.values.items():
            shown = ", ".join(f"{text(value)} ({count:,})" for value, count in pairs) or "none"
            lines.append(f"  - {column}: {shown}")
    if data.endpoints:
        lines.append(
            "- Endpoints present in the last week (with counts, methods and services). A question about an "
            "endpoint that is not here has no data under that name: say so, or look for a similar one:"
        )
        lines.extend(
            f"  - {text(e.endpoint)} ({e.count:,}; {'/'.join(e.methods) or 'no method'}; {', '.join(e.services)})"
            for e in data.endpoints
        )
    lines.extend(prompt_lines(data.metadata_keys, text))
    return "\n".join(lines) + "\n"


def _freshness(data: DataFacts) -> str:
    fresh = data.freshness
    if fresh is None:
        return (
            f"(materialized, refreshed {VIEWS_REFRESH} by the maintain job, not continuously: the latest hour or "
            "more may be missing, so use logs for recent windows):"
        )
    if fresh.complete_as_of is None:
        return "(not filled yet: answer from logs):"
    ran = f", last refresh {fresh.last_run_at:%Y-%m-%d %H:%M} UTC" if fresh.last_run_at else ""
    waiting = f", {fresh.pending_hours} hours waiting to be recomputed" if fresh.pending_hours else ""
    return (
        f"(complete for every row stored before {fresh.complete_as_of:%Y-%m-%d %H:%M} UTC{ran}{waiting}; "
        "use logs for anything after that):"
    )


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
