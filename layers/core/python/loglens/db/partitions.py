"""Partition management for `logs`: plain functions the CLI, tests and scheduled jobs call.

A partition is created as a standalone table and then ATTACHed, because ATTACH PARTITION
never blocks readers, where CREATE TABLE ... PARTITION OF takes an ACCESS EXCLUSIVE lock on
`logs`. If rows for the new range already sit in the DEFAULT partition (PostgreSQL refuses the
attach while they do), they are copied first without blocking anyone, then moved for good in
one short transaction that pauses inserts only for as long as deleting them takes
(see _create_partition).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from loglens.settings import Granularity

PARENT = "logs"
DEFAULT_PARTITION = "logs_default"
_LOCK_KEY = 0x6C6F676C656E7370
_BOUND_RE = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime | None  # None for the DEFAULT partition
    end: datetime | None
    rows_estimate: int
    size_bytes: int

    @property
    def is_default(self) -> bool:
        return self.start is None


@dataclass(frozen=True)
class EnsureResult:
    created: list[str]
    moved_rows: dict[str, int]


def period_start(day: date, granularity: Granularity) -> date:
    if granularity is Granularity.DAY:
        return day
    if granularity is Granularity.WEEK:
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    return day.replace(day=1)


def period_end(start: date, granularity: Granularity) -> date:
    if granularity is Granularity.DAY:
        return start + timedelta(days=1)
    if granularity is Granularity.WEEK:
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def partition_name(start: date, granularity: Granularity) -> str:
    prefix = {Granularity.DAY: "d", Granularity.WEEK: "w", Granularity.MONTH: "m"}[granularity]
    return f"logs_{prefix}{start:%Y%m%d}"


def periods(first: date, last: date, granularity: Granularity) -> list[tuple[date, date]]:
    """The [start, end) periods that cover first..last inclusive."""
    out: list[tuple[date, date]] = []
    start = period_start(first, granularity)
    while start <= last:
        end = period_end(start, granularity)
        out.append((start, end))
        start = end
    return out


def _utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def list_partitions(conn: psycopg.Connection[Any]) -> list[Partition]:
    rows = conn.execute(
        """SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), c.reltuples::bigint,
                  pg_total_relation_size(c.oid)
           FROM pg_inherits i
           JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'logs'::regclass
           ORDER BY c.relname"""
    ).fetchall()
    out: list[Partition] = []
    for name, bound, tuples, size in rows:
        match = _BOUND_RE.search(bound or "")
        start = end = None
        if match:
            start = datetime.fromisoformat(match.group(1)).astimezone(UTC)
            end = datetime.fromisoformat(match.group(2)).astimezone(UTC)
        out.append(Partition(name, start, end, max(int(tuples), 0), int(size)))
    out.sort(key=lambda p: (p.start is None, p.start or datetime.min.replace(tzinfo=UTC)))
    return out


def ensure_partitions(
    conn: psycopg.Connection[Any], first: date, last: date, granularity: Granularity = Granularity.DAY
) -> EnsureResult:
    """Create every missing partition covering first..last; move matching DEFAULT rows into them.

    `conn` must be in autocommit mode: each partition is its own short transaction.
    """
    if not conn.autocommit:
        raise ValueError("ensure_partitions() needs an autocommit connection")
    # Two maintainers at once (a scheduled run and a CLI run) would race to create the same table.
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        return _ensure(conn, first, last, granularity)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def _ensure(conn: psycopg.Connection[Any], first: date, last: date, granularity: Granularity) -> EnsureResult:
    existing = [(p.start, p.end) for p in list_partitions(conn) if not p.is_default]
    created: list[str] = []
    moved: dict[str, int] = {}
    for start_day, end_day in periods(first, last, granularity):
        start, end = _utc(start_day), _utc(end_day)
        if any(s is not None and e is not None and s < end and start < e for s, e in existing):
            continue  # covered (or overlapped, e.g. after a granularity change) by an existing partition
        name = partition_name(start_day, granularity)
        moved_rows = _create_partition(conn, name, start, end)
        created.append(name)
        if moved_rows:
            moved[name] = moved_rows
        existing.append((start, end))
    return EnsureResult(created, moved)


def _create_partition(conn: psycopg.Connection[Any], name: str, start: datetime, end: datetime) -> int:
    ident = sql.Identifier(name)
    default = sql.Identifier(DEFAULT_PARTITION)
    in_range = sql.SQL("created_at >= {} AND created_at < {}").format(sql.Literal(start), sql.Literal(end))
    # 1. A standalone table with the parent's columns, checks and indexes, filled with a copy of
    #    the DEFAULT rows for its range. Nothing is locked but the new table, however many rows.
    with conn.transaction():
        conn.execute(sql.SQL("CREATE TABLE {} (LIKE logs INCLUDING ALL)").format(ident))
        # Lets ATTACH skip scanning the new table to prove its rows fit the bound.
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK ({})").format(
                ident, sql.Identifier(f"{name}_bound"), in_range
            )
        )
        conn.execute(sql.SQL("INSERT INTO {} SELECT * FROM {} WHERE {}").format(ident, default, in_range))
    # 2. One short transaction: stop inserts into `logs` (they queue, then route to the new
    #    partition once it is attached; without this an insert already routed to DEFAULT would
    #    fail its partition check), take the rows that arrived since step 1, delete the copied
    #    rows from DEFAULT and attach. Readers are never blocked; lock_timeout keeps the job from
    #    queueing behind a long query on DEFAULT (the next run finishes the work).
    with conn.transaction():
        conn.execute("SET LOCAL lock_timeout = '10s'")
        conn.execute("LOCK TABLE logs IN SHARE ROW EXCLUSIVE MODE")
        conn.execute(
            sql.SQL("INSERT INTO {} SELECT * FROM {} WHERE {} ON CONFLICT DO NOTHING").format(ident, default, in_range)
        )
        moved = conn.execute(sql.SQL("DELETE FROM {} WHERE {}").format(default, in_range)).rowcount
        conn.execute(
            sql.SQL("ALTER TABLE logs ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
                ident, sql.Literal(start), sql.Literal(end)
            )
        )
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(ident, sql.Identifier(f"{name}_bound")))
    if moved:
        conn.execute(sql.SQL("ANALYZE {}").format(ident))
    return max(moved, 0)


def ensure_window(
    conn: psycopg.Connection[Any], today: date, days_ahead: int, granularity: Granularity = Granularity.DAY
) -> EnsureResult:
    """Partitions for today and the next `days_ahead` days."""
    return ensure_partitions(conn, today, today + timedelta(days=days_ahead), granularity)
