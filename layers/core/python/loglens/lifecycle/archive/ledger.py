"""The archive ledger: each partition's step (exported, verified, detached, dropped), saved in the same
transaction as the database change it records.

See loglens.lifecycle.archive for the design (format, checksum, ledger states).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

import psycopg

from loglens.lifecycle.archive.format import Checksum

log = logging.getLogger(__name__)


class State(StrEnum):
    EXPORTED = "exported"
    VERIFIED = "verified"
    DETACHED = "detached"
    DROPPED = "dropped"


@dataclass(frozen=True)
class LedgerEntry:
    partition: str
    generation: int
    start: datetime
    end: datetime
    state: State
    manifest_keys: tuple[str, ...]
    row_count: int
    checksum: int
    bytes: int
    detached_as: str | None

    @property
    def total(self) -> Checksum:
        return Checksum(self.row_count, self.checksum)


LEDGER_COLUMNS: Final = (
    "partition_name, generation, range_start, range_end, state, manifest_keys, row_count, checksum, bytes, detached_as"
)


def ledger_entries(conn: psycopg.Connection[Any], start: datetime, end: datetime) -> list[LedgerEntry]:
    """Entries whose range overlaps [start, end), oldest generation first."""
    rows = conn.execute(
        f"SELECT {LEDGER_COLUMNS} FROM archive_ledger WHERE range_start < %s AND range_end > %s "
        "ORDER BY generation, partition_name",
        (end, start),
    ).fetchall()
    return [entry_from_row(row) for row in rows]


def unfinished_entries(conn: psycopg.Connection[Any]) -> list[LedgerEntry]:
    rows = conn.execute(
        f"SELECT {LEDGER_COLUMNS} FROM archive_ledger WHERE state <> 'dropped' ORDER BY range_start, generation"
    ).fetchall()
    return [entry_from_row(row) for row in rows]


def entry_from_row(row: Sequence[Any]) -> LedgerEntry:
    name, generation, start, end, state, keys, rows, checksum, size, detached_as = row
    return LedgerEntry(name, generation, start, end, State(state), tuple(keys), rows, int(checksum), size, detached_as)


def save_entry(conn: psycopg.Connection[Any], entry: LedgerEntry) -> None:
    conn.execute(
        f"""INSERT INTO archive_ledger ({LEDGER_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (partition_name, generation) DO UPDATE SET
                state = EXCLUDED.state, manifest_keys = EXCLUDED.manifest_keys, row_count = EXCLUDED.row_count,
                checksum = EXCLUDED.checksum, bytes = EXCLUDED.bytes, detached_as = EXCLUDED.detached_as,
                updated_at = now()""",
        (
            entry.partition,
            entry.generation,
            entry.start,
            entry.end,
            str(entry.state),
            list(entry.manifest_keys),
            entry.row_count,
            Decimal(entry.checksum),
            entry.bytes,
            entry.detached_as,
        ),
    )


def active_holds(conn: psycopg.Connection[Any], now: datetime) -> dict[date, datetime]:
    """Days a restore asked to keep in PostgreSQL, and until when."""
    rows = conn.execute("SELECT day, hold_until FROM archive_holds WHERE hold_until > %s", (now,)).fetchall()
    return {day: until for day, until in rows}
