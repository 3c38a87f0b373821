"""Bring an archived day back into `logs` for an investigation: verified, idempotent.

Every generation's manifest for the day is read; each part is checked (size and sha256) before any
of its rows is written, rows go in through the load path's write_batch (so rows already present are
not stored twice and a second restore inserts nothing), and the day is verified afterwards against
the manifests' row count and checksum. The day is then held (table archive_holds) for `keep_days`,
so the next scheduled archive run does not drop it again straight away; once the hold ends, the
archive job sees the rows are already archived and drops the partition without a second copy.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from ipaddress import ip_address
from typing import Any, Final

import psycopg

from loglens.db.partitions import ensure_partitions
from loglens.ingest.objects import ObjectMissing, ObjectStore
from loglens.ingest.write import write_batch
from loglens.lifecycle.archive import (
    ArchiveError,
    Checksum,
    Manifest,
    NoProgress,
    PartEntry,
    Progress,
    day_manifests,
    describe_store,
    part_lines,
    read_object,
    row_hash,
    table_checksum,
    total_of,
)
from loglens.record import LOG_COLUMNS, Level, LogRecord, Source, column_sql_types
from loglens.settings import Settings

BATCH_ROWS: Final = 5_000
_PRESENT = """SELECT count(*) FROM unnest(%s::timestamptz[], %s::uuid[]) AS k(created_at, event_id)
              JOIN logs l ON l.created_at = k.created_at AND l.event_id = k.event_id"""
_TIME_COLUMNS: Final = frozenset(n for n, t in column_sql_types().items() if t == "timestamptz")
_JSON_COLUMNS: Final = frozenset(n for n, t in column_sql_types().items() if t == "jsonb")
_FLOAT_COLUMNS: Final = frozenset(n for n, t in column_sql_types().items() if t == "double precision")


class RestoreError(ArchiveError):
    pass


@dataclass(frozen=True)
class RestoreResult:
    day: date
    store: str
    manifests: int
    parts: int
    archived_rows: int
    inserted: int
    duplicates: int
    partitions_created: list[str]
    verified_by: str  # "checksum" (the day holds exactly the archived rows) or "presence" (and others)
    held_until: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": "restore",
            "day": self.day.isoformat(),
            "store": self.store,
            "manifests": self.manifests,
            "parts": self.parts,
            "archived_rows": self.archived_rows,
            "inserted": self.inserted,
            "duplicates": self.duplicates,
            "partitions_created": self.partitions_created,
            "verified_by": self.verified_by,
            "held_until": self.held_until.isoformat(),
        }


def record_from_archive(row: dict[str, Any]) -> LogRecord:
    """An archived row as a LogRecord, without validation: it was valid when stored, and its
    created_at is far outside any acceptance window by now."""
    values: dict[str, Any] = {}
    for name in LOG_COLUMNS:
        value = row.get(name)
        if value is not None:
            if name in _TIME_COLUMNS:
                value = datetime.fromisoformat(value)
            elif name in _JSON_COLUMNS:
                value = json.loads(value)
            elif name in _FLOAT_COLUMNS:
                value = float(value)  # JSON writes 12.0 as 12
        values[name] = value
    values["event_id"] = uuid.UUID(values["event_id"])
    values["level"] = Level(values["level"])
    values["source"] = Source(values["source"])
    if values.get("source_ip") is not None:
        values["source_ip"] = ip_address(values["source_ip"])
    return LogRecord.model_construct(**values)


def _records(data: bytes) -> Iterator[LogRecord]:
    for line in part_lines(data):
        yield record_from_archive(json.loads(line))


def _verified_part(store: ObjectStore, part: PartEntry) -> bytes:
    """The part's bytes, refused unless they are the ones the manifest describes."""
    try:
        data = read_object(store, part.key)
    except ObjectMissing:
        raise RestoreError(f"{part.key} is listed in the manifest but missing from the archive") from None
    if len(data) != part.bytes or hashlib.sha256(data).hexdigest() != part.sha256:
        raise RestoreError(f"{part.key} does not match its manifest (size or sha256); nothing of it was restored")
    return data


def _restore_part(conn: psycopg.Connection[Any], data: bytes, part: PartEntry, progress: Progress) -> tuple[int, int]:
    inserted = duplicates = 0
    found = Checksum()
    batch: list[LogRecord] = []

    def flush() -> None:
        nonlocal inserted, duplicates
        with conn.transaction():
            result = write_batch(conn, batch)
        inserted += result.inserted
        duplicates += result.duplicates
        progress.advance(len(batch))
        batch.clear()

    for record in _records(data):
        found = found + Checksum(1, row_hash(record.created_at, record.event_id))
        batch.append(record)
        if len(batch) >= BATCH_ROWS:
            flush()
    if batch:
        flush()
    if found != Checksum(part.rows, part.checksum):
        raise RestoreError(f"{part.key}: read {found.rows} rows, the manifest lists {part.rows}")
    return inserted, duplicates


def hold_day(conn: psycopg.Connection[Any], day: date, until: datetime, rows: int) -> None:
    conn.execute(
        """INSERT INTO archive_holds (day, hold_until, restored_rows, restored_at) VALUES (%s, %s, %s, now())
           ON CONFLICT (day) DO UPDATE SET hold_until = greatest(archive_holds.hold_until, EXCLUDED.hold_until),
               restored_rows = EXCLUDED.restored_rows, restored_at = now()""",
        (day, until, rows),
    )


def _missing_rows(conn: psycopg.Connection[Any], store: ObjectStore, manifests: list[Manifest]) -> int:
    """Archived rows not found in `logs`, checked key by key (slow; only when the sums differ)."""
    missing = 0
    for manifest in manifests:
        for part in manifest.parts:
            keys: list[tuple[datetime, uuid.UUID]] = []
            for record in _records(read_object(store, part.key)):
                keys.append((record.created_at, record.event_id))
                if len(keys) >= BATCH_ROWS:
                    missing += count_missing(conn, keys)
                    keys = []
            missing += count_missing(conn, keys)
    return missing


def count_missing(conn: psycopg.Connection[Any], keys: list[tuple[datetime, uuid.UUID]]) -> int:
    if not keys:
        return 0
    row = conn.execute(_PRESENT, ([k[0] for k in keys], [k[1] for k in keys])).fetchone()
    return len(keys) - int(row[0] if row else 0)


def restore_day(
    conn: psycopg.Connection[Any],
    store: ObjectStore,
    settings: Settings,
    day: date,
    *,
    keep_days: int = 7,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> RestoreResult:
    """Restore one UTC day from the archive. `conn`: autocommit, acting as loglens_owner."""
    if not conn.autocommit:
        raise ValueError("restore_day() needs an autocommit connection")
    progress = progress or NoProgress()
    manifests = day_manifests(store, day)
    if not manifests:
        raise RestoreError(f"no archive for {day}: no manifest in {describe_store(store)}day={day.isoformat()}/")
    expected = total_of(m.total for m in manifests)
    held_until = (now or datetime.now(UTC)) + timedelta(days=keep_days)
    # Held before the first row goes in, so an archive run starting meanwhile leaves the day alone.
    hold_day(conn, day, held_until, expected.rows)
    created = ensure_partitions(conn, day, day, settings.partition_granularity).created

    inserted = duplicates = 0
    progress.begin(f"restore {day}", expected.rows)
    try:
        for manifest in manifests:
            for part in manifest.parts:
                data = _verified_part(store, part)
                added, seen = _restore_part(conn, data, part, progress)
                inserted += added
                duplicates += seen
    finally:
        progress.end()

    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    stored = table_checksum(conn, "logs", start, start + timedelta(days=1))
    if stored == expected:
        verified_by = "checksum"
    else:
        # The day also holds rows that were never archived, or the archive has a row twice
        # (two generations): the sums cannot match, so check that every archived row is there.
        missing = _missing_rows(conn, store, manifests)
        if missing:
            raise RestoreError(f"{day}: {missing} archived rows are not in logs after the restore")
        verified_by = "presence"
    return RestoreResult(
        day,
        describe_store(store),
        len(manifests),
        sum(len(m.parts) for m in manifests),
        expected.rows,
        inserted,
        duplicates,
        created,
        verified_by,
        held_until,
    )
