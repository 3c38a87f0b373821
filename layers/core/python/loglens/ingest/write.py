"""Writing validated records to `logs`: binary COPY, with duplicates removed first.

Duplicates are found with one indexed lookup per batch (the primary key is
(created_at, event_id)) and dropped before the COPY, instead of COPYing into a staging table
and INSERT ... ON CONFLICT: that would write every row twice and, behind RDS Proxy, a temp table
pins the connection. Two loaders racing on the same event meet the primary key: the later
transaction fails and its retry finds the row already there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from loglens.record import LOG_COLUMNS, LogRecord, column_sql_types

_PG_TYPES = {"double precision": "float8"}
COPY_TYPES = [_PG_TYPES.get(t, t) for t in column_sql_types().values()]
_COPY = sql.SQL("COPY logs ({}) FROM STDIN (FORMAT BINARY)").format(
    sql.SQL(", ").join(map(sql.Identifier, LOG_COLUMNS))
)
_EXISTING = """SELECT l.created_at, l.event_id
               FROM unnest(%s::timestamptz[], %s::uuid[]) AS k(created_at, event_id)
               JOIN logs l ON l.created_at = k.created_at AND l.event_id = k.event_id"""


@dataclass(frozen=True)
class WriteResult:
    inserted: int
    duplicates: int


def write_batch(
    conn: psycopg.Connection[Any], records: Sequence[LogRecord], seen: set[tuple[Any, Any]] | None = None
) -> WriteResult:
    """Insert the records not already stored (nor earlier in `seen`, which is updated)."""
    seen = set() if seen is None else seen
    fresh: list[LogRecord] = []
    for record in records:
        key = (record.created_at, record.event_id)
        if key not in seen:
            seen.add(key)
            fresh.append(record)
    if fresh:
        stored = set(conn.execute(_EXISTING, ([r.created_at for r in fresh], [r.event_id for r in fresh])).fetchall())
        if stored:
            fresh = [r for r in fresh if (r.created_at, r.event_id) not in stored]
    if fresh:
        with conn.cursor() as cur, cur.copy(_COPY) as copy:
            copy.set_types(COPY_TYPES)
            for record in fresh:
                copy.write_row(record.db_row())
    return WriteResult(len(fresh), len(records) - len(fresh))
