"""The local lake on disk: where things live, and the snapshot that says which data files are the table.

    LOGLENS_HOME/lake/
      buffer/                                   rows the loader delivered, one JSON file per object (feed.py)
      data/created_at_day=YYYY-MM-DD/*.parquet  the table's data files, zstd, sorted by created_at
      metadata/snapshot.json                    the live data files with their rows, sizes and time range

The data files are laid out as Iceberg lays out the AWS table's. The snapshot plays the part of Iceberg's
metadata: a file is part of the table once the snapshot lists it, and a rewrite (compaction) swaps files in
one atomic replace of the snapshot, so a reader never sees a row twice or not at all. Replaced files stay on
disk for a grace period (a query that read the older snapshot may still be reading them) and are then
deleted. One writer at a time (flush, compaction) holds an advisory file lock; readers take no lock.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from loglens.ingest.sinks import write_atomic
from loglens.lake.query import LakeExtent

SNAPSHOT_FORMAT: Final = "loglens-local-lake/1"
# How long a replaced data file stays readable for queries that started before the replacement.
GRACE: Final = timedelta(minutes=10)


@dataclass(frozen=True)
class LakeLayout:
    root: Path  # LOGLENS_HOME/lake

    @classmethod
    def under(cls, home: Path) -> LakeLayout:
        return cls(Path(home).resolve() / "lake")

    @property
    def buffer(self) -> Path:
        return self.root / "buffer"

    @property
    def rejected(self) -> Path:
        return self.buffer / "rejected"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def snapshot_path(self) -> Path:
        return self.root / "metadata" / "snapshot.json"

    def path_of(self, relative: str) -> Path:
        return self.root / relative

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """One flush or compaction at a time, across processes (`loglens dev` and `loglens lake flush`)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".writer.lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class DataFile:
    path: str  # relative to the lake's root: data/created_at_day=.../<name>.parquet
    day: date
    rows: int
    bytes: int
    column_bytes: dict[str, int]  # compressed bytes of each column: what a scan of it reads
    min_created_at: datetime
    max_created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "day": self.day.isoformat(),
            "rows": self.rows,
            "bytes": self.bytes,
            "column_bytes": self.column_bytes,
            "min_created_at": self.min_created_at.isoformat(),
            "max_created_at": self.max_created_at.isoformat(),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> DataFile:
        return cls(
            str(doc["path"]),
            date.fromisoformat(doc["day"]),
            int(doc["rows"]),
            int(doc["bytes"]),
            {str(k): int(v) for k, v in doc["column_bytes"].items()},
            datetime.fromisoformat(doc["min_created_at"]),
            datetime.fromisoformat(doc["max_created_at"]),
        )


@dataclass(frozen=True)
class Obsolete:
    path: str
    since: datetime


@dataclass(frozen=True)
class Snapshot:
    version: int = 0
    files: tuple[DataFile, ...] = ()
    obsolete: tuple[Obsolete, ...] = ()
    written_at: datetime | None = None

    def day_files(self, day: date) -> list[DataFile]:
        return [f for f in self.files if f.day == day]

    def days(self) -> list[date]:
        return sorted({f.day for f in self.files})

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def extent(self) -> LakeExtent:
        days = self.days()
        return LakeExtent(days[0] if days else None, days[-1] if days else None, self.rows)

    def with_changes(
        self, *, now: datetime, added: Sequence[DataFile] = (), replaced: Sequence[DataFile] = ()
    ) -> Snapshot:
        gone = {f.path for f in replaced}
        files = tuple(sorted((*(f for f in self.files if f.path not in gone), *added), key=lambda f: (f.day, f.path)))
        obsolete = (*self.obsolete, *(Obsolete(f.path, now) for f in replaced))
        return Snapshot(self.version + 1, files, obsolete, now)

    def without_obsolete(self, paths: set[str]) -> Snapshot:
        return replace(self, obsolete=tuple(o for o in self.obsolete if o.path not in paths))

    def to_json(self) -> bytes:
        doc = {
            "format": SNAPSHOT_FORMAT,
            "version": self.version,
            "written_at": (self.written_at or datetime.now(UTC)).isoformat(),
            "files": [f.to_json() for f in self.files],
            "obsolete": [{"path": o.path, "since": o.since.isoformat()} for o in self.obsolete],
        }
        return json.dumps(doc, indent=1).encode()


class SnapshotError(RuntimeError):
    """The snapshot cannot be read; the message names the file."""


def read_snapshot(layout: LakeLayout) -> Snapshot:
    path = layout.snapshot_path
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return Snapshot()
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"the local lake's snapshot {path} is unreadable: {exc}") from None
    if doc.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotError(f"{path}: unknown snapshot format {doc.get('format')!r}")
    try:
        return Snapshot(
            int(doc["version"]),
            tuple(DataFile.from_json(f) for f in doc["files"]),
            tuple(Obsolete(str(o["path"]), datetime.fromisoformat(o["since"])) for o in doc["obsolete"]),
            datetime.fromisoformat(doc["written_at"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"{path}: not a readable snapshot ({exc})") from None


def write_snapshot(layout: LakeLayout, snapshot: Snapshot) -> None:
    """Replace the snapshot in one rename (call with the writer lock held)."""
    write_atomic(layout.snapshot_path, snapshot.to_json())


def expire(layout: LakeLayout, snapshot: Snapshot, now: datetime, grace: timedelta = GRACE) -> Snapshot:
    """Delete replaced files past their grace period; return the snapshot without them (not yet written)."""
    done: set[str] = set()
    for item in snapshot.obsolete:
        if now - item.since >= grace:
            layout.path_of(item.path).unlink(missing_ok=True)
            done.add(item.path)
    return snapshot.without_obsolete(done) if done else snapshot


def orphans(layout: LakeLayout, snapshot: Snapshot, now: datetime, grace: timedelta = GRACE) -> list[Path]:
    """Data files no snapshot lists (a flush that died after writing one), older than the grace period."""
    if not layout.data.exists():
        return []
    known = {f.path for f in snapshot.files} | {o.path for o in snapshot.obsolete}
    found = []
    for path in layout.data.rglob("*.parquet"):
        relative = path.relative_to(layout.root).as_posix()
        if relative in known:
            continue
        age = now - datetime.fromtimestamp(os.path.getmtime(path), UTC)
        if age >= grace:
            found.append(path)
    return found
