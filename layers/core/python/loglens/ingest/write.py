"""Writing rows to `logs`: binary COPY, duplicates skipped.

Duplicates are rare (a client retry, a replay), so the common case must cost no more than a
plain COPY. The loader streams a whole object into one COPY under a savepoint (copy_all), and
the primary key (created_at, event_id) — which PostgreSQL checks during the COPY anyway —
reports a duplicate, whether already stored, earlier in the object or repeated, as a unique
violation. Only then is the object read again and written chunk by chunk (write_rows): each
chunk COPYed optimistically under its own savepoint and, if that fails too, its repeats dropped,
the stored keys looked up (an index probe per key, within the chunk's time range so only its
partitions are touched) and the rest COPYed. A staging table with INSERT ... ON CONFLICT would
write every row twice and, behind RDS Proxy, pin the connection. Two loaders racing on the same
event meet the primary key too: the later one waits for the first to commit, then looks up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import ip_address
from operator import itemgetter
from typing import Any

import msgspec
import orjson
import psycopg
from psycopg import adapters as default_adapters
from psycopg import sql
from psycopg.adapt import AdaptersMap, Dumper, Transformer
from psycopg.postgres import types as pg_types
from psycopg.pq import Format
from psycopg.types.net import InetBinaryDumper

try:
    # psycopg's own (C-accelerated) binary COPY row formatter. It is not public API, so the version is
    # pinned below 3.4 in pyproject.toml and its absence only costs speed (see format_copy_data).
    from psycopg._copy_base import BinaryFormatter
except ImportError:  # pragma: no cover - a psycopg that moved it
    BinaryFormatter = None  # type: ignore[assignment,misc]

from loglens.record import LOG_COLUMNS, LogRecord, column_sql_types

_PG_TYPES = {"double precision": "float8"}

COPY_TYPES = [_PG_TYPES.get(t, t) for t in column_sql_types().values()]
_COPY_OIDS = [pg_types[name].oid for name in COPY_TYPES]
_COPY = sql.SQL("COPY logs ({}) FROM STDIN (FORMAT BINARY)").format(
    sql.SQL(", ").join(map(sql.Identifier, LOG_COLUMNS))
)
# One primary-key probe per key: LATERAL ... LIMIT 1 runs per key whatever the statistics say (a
# join let the planner materialise the chunk's time range and compare every pair: 2 s per 5,000).
_EXISTING = """SELECT k.created_at, k.event_id
               FROM unnest(%s::timestamptz[], %s::uuid[]) AS k(created_at, event_id)
               CROSS JOIN LATERAL (SELECT 1 FROM logs l
                                   WHERE l.created_at = k.created_at AND l.event_id = k.event_id
                                     AND l.created_at BETWEEN %s AND %s
                                   LIMIT 1) AS stored"""


class _JsonbDumper(Dumper):
    """jsonb in binary: a version byte, then JSON text. Sealed lines bring their metadata as the
    JSON text collect wrote (msgspec.Raw), which goes through untouched; dicts go through orjson."""

    format = Format.BINARY
    oid = pg_types["jsonb"].oid

    def dump(self, obj: Any) -> bytes:
        return b"\x01" + (bytes(obj) if isinstance(obj, msgspec.Raw) else orjson.dumps(obj))


class _InetDumper(InetBinaryDumper):
    """Also takes the address as text, as sealed lines bring it."""

    def dump(self, obj: Any) -> Any:
        return super().dump(ip_address(obj) if isinstance(obj, str) else obj)


# COPY looks dumpers up by column type, so these replace the defaults for jsonb and inet.
_ADAPTERS = AdaptersMap(default_adapters)
_ADAPTERS.register_dumper(msgspec.Raw, _JsonbDumper)
_ADAPTERS.register_dumper("ipaddress.IPv4Address", _InetDumper)

_CREATED = LOG_COLUMNS.index("created_at")
_EVENT = LOG_COLUMNS.index("event_id")
_created = itemgetter(_CREATED)
Row = tuple[Any, ...]
_MARK_HOURS = "INSERT INTO rollup_dirty_hours (hour) SELECT unnest(%s::timestamptz[])"


def _hour(moment: datetime) -> datetime:
    return datetime.fromtimestamp(int(moment.timestamp()) // 3600 * 3600, UTC)


class TouchedHours:
    """The UTC hours rows were written to, announced to the rollups (loglens.lifecycle.rollups) in
    rollup_dirty_hours in the same transaction as the rows, so the next refresh recomputes exactly them.

    Rows of one object usually share an hour, so a chunk costs a min and a max (C loops, ~0.1 µs a row
    against PostgreSQL's ~30 µs to store it); only a chunk spanning hours is looked at row by row.
    """

    def __init__(self) -> None:
        self.hours: set[datetime] = set()

    def add(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        first, last = _hour(min(map(_created, rows))), _hour(max(map(_created, rows)))
        if first == last:
            self.hours.add(first)
        else:
            self.hours.update(_hour(moment) for moment in map(_created, rows))

    def params(self) -> list[datetime]:
        return sorted(self.hours)

    def record(self, conn: psycopg.Connection[Any]) -> None:
        if self.hours:
            conn.execute(_MARK_HOURS, (self.params(),))


@dataclass(frozen=True)
class WriteResult:
    inserted: int
    duplicates: int


def write_batch(conn: psycopg.Connection[Any], records: Sequence[LogRecord]) -> WriteResult:
    """Insert the records not already stored."""
    return write_rows(conn, [record.db_row() for record in records])


class CopyStream:
    """One binary COPY stream built piece by piece, without a connection: the header goes out with
    the first rows, the trailer with end(). None of it needs the connection, so the loader builds
    it in its parsing thread and the thread that talks to PostgreSQL only hands bytes over."""

    def __init__(self) -> None:
        if BinaryFormatter is None:
            raise RuntimeError("this psycopg has no binary COPY formatter")
        transformer = Transformer(_ADAPTERS)
        transformer.set_dumper_types(_COPY_OIDS, Format.BINARY)
        self._formatter = BinaryFormatter(transformer)

    def rows(self, rows: Sequence[Row]) -> bytes:
        write_row = self._formatter.write_row
        out = bytearray()
        for row in rows:
            out += write_row(row)
        return bytes(out)

    def end(self) -> bytes:
        return bytes(self._formatter.end())


def can_stream() -> bool:
    return BinaryFormatter is not None


def format_copy_data(rows: Sequence[Row]) -> bytes | None:
    """A whole binary COPY stream for `rows`; None when psycopg cannot build one (see the import)."""
    if BinaryFormatter is None:
        return None
    stream = CopyStream()
    return stream.rows(rows) + stream.end()


def copy_all(conn: psycopg.Connection[Any], pieces: Iterable[bytes]) -> None:
    """One COPY of a CopyStream's pieces, under a savepoint: a duplicate anywhere raises
    UniqueViolation and leaves nothing of it behind. One statement instead of one per chunk
    keeps PostgreSQL busy: between statements it waits on round trips to the client."""
    with conn.transaction(), conn.cursor() as cur, cur.copy(_COPY) as copy:
        for piece in pieces:
            copy.write(piece)


def write_rows(
    conn: psycopg.Connection[Any],
    rows: Sequence[Row],
    copy_data: bytes | None = None,
    *,
    touched: TouchedHours | None = None,
) -> WriteResult:
    """Rows in LOG_COLUMNS order; those already stored, or repeated, are skipped. `copy_data`, if
    given, is format_copy_data(rows). Must run inside a transaction (the savepoint needs one).

    The hours of the rows stored are announced to the rollups in that transaction, or, when the caller
    collects them (`touched`, the load path: one statement per object), added there."""
    if not rows:
        return WriteResult(0, 0)
    try:
        with conn.transaction():  # a savepoint: a duplicate rolls back this chunk only
            _copy(conn, rows, copy_data)
        written: Sequence[Row] = rows
    except psycopg.errors.UniqueViolation:
        written = _not_stored(conn, _first_of_each(rows))
        if written:
            _copy(conn, written)
    hours = TouchedHours() if touched is None else touched
    hours.add(written)
    if touched is None:
        hours.record(conn)
    return WriteResult(len(written), len(rows) - len(written))


def _first_of_each(rows: Sequence[Row]) -> list[Row]:
    seen: set[tuple[Any, Any]] = set()
    out: list[Row] = []
    for row in rows:
        key = (row[_CREATED], row[_EVENT])
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def _copy(conn: psycopg.Connection[Any], rows: Sequence[Row], copy_data: bytes | None = None) -> None:
    data = copy_data if copy_data is not None else format_copy_data(rows)
    with conn.cursor() as cur:
        if data is not None:
            with cur.copy(_COPY) as copy:
                copy.write(data)
            return
        cur.adapters.register_dumper(msgspec.Raw, _JsonbDumper)  # psycopg moved its formatter: row by row
        cur.adapters.register_dumper("ipaddress.IPv4Address", _InetDumper)
        with cur.copy(_COPY) as copy:
            copy.set_types(COPY_TYPES)
            for row in rows:
                copy.write_row(row)


def _not_stored(conn: psycopg.Connection[Any], rows: list[Row]) -> list[Row]:
    times = [r[_CREATED] for r in rows]
    stored = set(conn.execute(_EXISTING, (times, [r[_EVENT] for r in rows], min(times), max(times))).fetchall())
    return [r for r in rows if (r[_CREATED], r[_EVENT]) not in stored]
