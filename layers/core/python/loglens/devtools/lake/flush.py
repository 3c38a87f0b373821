"""Flushing the buffer into the local lake: dedup on (created_at, event_id), one Parquet file per day, compaction.

A flush, under the writer lock:
1. reads every complete buffer file with DuckDB (a file it cannot read is moved to buffer/rejected/ and
   named in the result, never dropped silently);
2. keeps the first delivery of each (created_at, event_id) among them (file order: delivery order), then
   drops the keys the day's data files already hold (an anti-join on the two key columns only);
3. writes one zstd Parquet file per day, sorted as the table is (service, level, created_at: row-group
   statistics then skip other services' rows), and lists them in a new snapshot (one atomic replace);
4. deletes the buffer files it read. A crash before this point leaves them for the next flush, which finds
   their keys stored and writes nothing twice.
Then each day with more than ``MAX_SMALL_FILES`` files below ``TARGET_FILE_BYTES`` has them rewritten as one
(Iceberg's compaction, locally), and replaced files past their grace period are deleted.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from loglens.devtools.lake.buffer import buffered_files
from loglens.devtools.lake.engine import connect_duckdb, sql_list, sql_text
from loglens.devtools.lake.snapshot import (
    GRACE,
    DataFile,
    LakeLayout,
    Snapshot,
    expire,
    orphans,
    read_snapshot,
    write_snapshot,
)
from loglens.lake.schema import PARQUET_COMPRESSION, SORT_COLUMNS, TIME_COLUMN, day_folder, duckdb_types
from loglens.record import LOG_COLUMNS

log = logging.getLogger(__name__)

MAX_SMALL_FILES: Final = 8
TARGET_FILE_BYTES: Final = 128 * 1024 * 1024
_STALE_TEMP: Final = timedelta(hours=1)


@dataclass
class FlushResult:
    buffer_files: int = 0
    rows_read: int = 0
    rows_written: int = 0
    duplicates: int = 0  # already in the lake, or repeated in the buffer
    days: list[date] = field(default_factory=list)
    files_written: int = 0
    compacted: int = 0  # files rewritten into larger ones
    rejected_files: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "buffer_files": self.buffer_files,
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "duplicates": self.duplicates,
            "days": [d.isoformat() for d in self.days],
            "files_written": self.files_written,
            "compacted": self.compacted,
            "rejected_files": self.rejected_files,
            "seconds": round(self.seconds, 3),
        }


def _row_casts() -> str:
    """The buffer's row arrays as typed columns (timestamps arrive with their UTC offset)."""
    casts = []
    for index, (name, kind) in enumerate(duckdb_types().items(), start=1):
        value = f"r[{index}]"
        if kind == "TIMESTAMP":
            value = f"CAST(CAST({value} AS TIMESTAMPTZ) AS TIMESTAMP)"
        elif kind != "VARCHAR":
            value = f"CAST({value} AS {kind})"
        casts.append(f"{value} AS {name}")
    return ", ".join(casts)


_READ_BUFFER = "SELECT {casts}, filename AS _file FROM read_json({files}, format = 'array', records = false, columns = {{'r': 'VARCHAR[]'}}, filename = true)"  # noqa: E501


def flush(layout: LakeLayout, *, now: datetime | None = None) -> FlushResult:
    """Deliver everything buffered now into the lake (see the module docstring)."""
    started = time.perf_counter()
    result = FlushResult()
    with layout.writer_lock():
        now = now or datetime.now(UTC)
        snapshot = read_snapshot(layout)
        files = buffered_files(layout)
        result.buffer_files = len(files)
        if files:
            snapshot = _write_buffered(layout, snapshot, files, now, result)
            for path in files:
                path.unlink(missing_ok=True)
        snapshot = _compact(layout, snapshot, now, result)
        expired = expire(layout, snapshot, now)
        if expired is not snapshot:
            write_snapshot(layout, expired)
            snapshot = expired
        for orphan in orphans(layout, snapshot, now):
            log.warning("removing %s: no snapshot lists it (a flush stopped half-way)", orphan)
            orphan.unlink(missing_ok=True)
        _remove_stale_temporaries(layout, now)
    result.seconds = time.perf_counter() - started
    return result


def _write_buffered(
    layout: LakeLayout, snapshot: Snapshot, files: list[Path], now: datetime, result: FlushResult
) -> Snapshot:
    con = connect_duckdb()
    try:
        readable = _load_incoming(con, layout, files, result)
        if not readable:
            return snapshot
        count = con.execute("SELECT count(*) FROM incoming").fetchone()
        result.rows_read = int(count[0]) if count else 0
        _keep_first_of_each_key(con)
        found = con.execute(f"SELECT DISTINCT CAST({TIME_COLUMN} AS DATE) FROM fresh ORDER BY 1").fetchall()
        days = [row[0] for row in found]
        stored = [f for day in days for f in snapshot.day_files(day)]
        if stored:  # only the key columns of the days this flush touches are read
            paths = sql_list([str(layout.path_of(f.path)) for f in stored])
            con.execute(f"CREATE TEMP TABLE stored_keys AS SELECT {TIME_COLUMN}, event_id FROM read_parquet({paths})")
            con.execute(
                f"DELETE FROM fresh USING stored_keys s "
                f"WHERE fresh.{TIME_COLUMN} = s.{TIME_COLUMN} AND fresh.event_id = s.event_id"
            )
        added: list[DataFile] = []
        for day in days:
            written = _write_day(con, layout, "fresh", day)
            if written is not None:
                added.append(written)
        result.rows_written = sum(f.rows for f in added)
        result.duplicates = result.rows_read - result.rows_written
        result.days = [f.day for f in added]
        result.files_written = len(added)
    finally:
        con.close()
    if not added:
        return snapshot
    updated = snapshot.with_changes(added=added, now=now)
    write_snapshot(layout, updated)
    return updated


def _keep_first_of_each_key(con: Any) -> None:
    """`incoming` as `fresh`, each (created_at, event_id) once: the first delivered (then the first received).

    Repeats are rare (a retried request, an object loaded twice), so they are looked for first on the two
    key columns alone, and the rows are only ordered and picked over when there are some.
    """
    repeated = con.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM incoming GROUP BY {TIME_COLUMN}, event_id HAVING count(*) > 1)"
    ).fetchone()
    if repeated and repeated[0]:
        con.execute(
            f"CREATE TEMP TABLE fresh AS SELECT DISTINCT ON ({TIME_COLUMN}, event_id) * EXCLUDE (_file) "
            f"FROM incoming ORDER BY {TIME_COLUMN}, event_id, _file, received_at"
        )
        con.execute("DROP TABLE incoming")
    else:
        con.execute("ALTER TABLE incoming DROP COLUMN _file")
        con.execute("ALTER TABLE incoming RENAME TO fresh")


def _load_incoming(con: Any, layout: LakeLayout, files: list[Path], result: FlushResult) -> list[Path]:
    """Read the buffer files into the temp table `incoming`; set aside (and report) any that cannot be read."""
    import duckdb

    casts = _row_casts()
    try:
        con.execute("CREATE TEMP TABLE incoming AS " + _READ_BUFFER.format(casts=casts, files=sql_list(files)))
        return files
    except duckdb.Error as exc:
        log.warning("reading the lake buffer in one go failed (%s); reading file by file", exc)
    readable: list[Path] = []
    con.execute("DROP TABLE IF EXISTS incoming")
    for path in files:
        try:  # counting parses and casts every row
            con.execute(f"SELECT count(*) FROM ({_READ_BUFFER.format(casts=casts, files=sql_list([path]))})").fetchone()
        except duckdb.Error as exc:
            layout.rejected.mkdir(parents=True, exist_ok=True)
            path.replace(layout.rejected / path.name)
            result.rejected_files.append(path.name)
            log.error("lake buffer file %s cannot be read (%s); moved to %s", path.name, exc, layout.rejected)
            continue
        readable.append(path)
    if readable:
        con.execute("CREATE TEMP TABLE incoming AS " + _READ_BUFFER.format(casts=casts, files=sql_list(readable)))
    return readable


def _write_day(con: Any, layout: LakeLayout, table: str, day: date) -> DataFile | None:
    """The day's rows of `table` as one new Parquet file in the table's sort order; None when it has none."""
    start, end = f"TIMESTAMP '{day.isoformat()}'", f"TIMESTAMP '{(day + timedelta(days=1)).isoformat()}'"
    where = f"{TIME_COLUMN} >= {start} AND {TIME_COLUMN} < {end}"
    extent = f"count(*), min({TIME_COLUMN}), max({TIME_COLUMN})"
    stats = con.execute(f"SELECT {extent} FROM {table} WHERE {where}").fetchone()
    if not stats or not stats[0]:
        return None
    folder = layout.root / day_folder(day)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4().hex}.parquet"
    temporary = folder / f".tmp-{name}"
    columns, order = ", ".join(LOG_COLUMNS), ", ".join(SORT_COLUMNS)
    con.execute(
        f"COPY (SELECT {columns} FROM {table} WHERE {where} ORDER BY {order}) TO {sql_text(str(temporary))} "
        f"(FORMAT parquet, COMPRESSION {PARQUET_COMPRESSION})"
    )
    final = folder / name
    temporary.replace(final)
    return _describe(con, layout, final, day, int(stats[0]), stats[1], stats[2])


def _describe(
    con: Any, layout: LakeLayout, path: Path, day: date, rows: int, first: datetime, last: datetime
) -> DataFile:
    sizes = con.execute(
        f"SELECT path_in_schema, sum(total_compressed_size) FROM parquet_metadata({sql_text(str(path))}) GROUP BY 1"
    ).fetchall()
    return DataFile(
        path.relative_to(layout.root).as_posix(),
        day,
        rows,
        path.stat().st_size,
        {str(column): int(size) for column, size in sizes},
        _utc(first),
        _utc(last),
    )


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _compact(layout: LakeLayout, snapshot: Snapshot, now: datetime, result: FlushResult) -> Snapshot:
    """Rewrite each day's small files as one when there are too many of them."""
    for day in snapshot.days():
        small = [f for f in snapshot.day_files(day) if f.bytes < TARGET_FILE_BYTES]
        if len(small) <= MAX_SMALL_FILES:
            continue
        merged = _merge(layout, small, day)
        snapshot = snapshot.with_changes(added=[merged], replaced=small, now=now)
        write_snapshot(layout, snapshot)
        result.compacted += len(small)
    return snapshot


def _merge(layout: LakeLayout, files: Sequence[DataFile], day: date) -> DataFile:
    con = connect_duckdb()
    try:
        paths = sql_list([str(layout.path_of(f.path)) for f in files])
        con.execute(f"CREATE TEMP TABLE merging AS SELECT * FROM read_parquet({paths})")
        merged = _write_day(con, layout, "merging", day)
    finally:
        con.close()
    if merged is None:
        raise RuntimeError(f"compacting {day}: {len(files)} files read back as no rows")
    if merged.rows != sum(f.rows for f in files):
        raise RuntimeError(f"compacting {day}: {merged.rows} rows written from {sum(f.rows for f in files)}")
    return merged


def _remove_stale_temporaries(layout: LakeLayout, now: datetime) -> None:
    """Half-written deliveries of a loader that died (it loads the object again later, delivering anew)."""
    if not layout.buffer.exists():
        return
    for path in layout.buffer.glob(".*.tmp"):
        try:
            if now - datetime.fromtimestamp(path.stat().st_mtime, UTC) >= max(_STALE_TEMP, GRACE):
                path.unlink(missing_ok=True)
        except FileNotFoundError:
            continue
