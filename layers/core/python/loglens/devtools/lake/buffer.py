"""The local lake's buffer: the loader's deliveries as files, waiting for a flush (Firehose's buffer, locally).

Each delivery becomes one file in ``lake/buffer/``: a JSON array of the object's rows (loglens.lake.feed's
wire form), written to a hidden temporary name while the loader adds chunks, then fsynced and renamed into
place by ``deliver()``, before the loader commits. A flush reads only complete files, in name order, and the
names start with the delivery time in nanoseconds: so "first delivered wins" when the flush meets one key
twice, as "first stored wins" in PostgreSQL.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from loglens.devtools.lake.snapshot import LakeLayout
from loglens.lake.feed import Row, encode_rows

SUFFIX = ".json"


@dataclass(frozen=True)
class BufferState:
    files: int
    bytes: int
    oldest: datetime | None


def buffered_files(layout: LakeLayout) -> list[Path]:
    """Complete deliveries, oldest first."""
    if not layout.buffer.exists():
        return []
    return sorted(p for p in layout.buffer.iterdir() if p.suffix == SUFFIX and not p.name.startswith("."))


def buffer_state(layout: LakeLayout) -> BufferState:
    files = buffered_files(layout)
    size, oldest = 0, None
    for path in files:
        try:
            stat = path.stat()
        except FileNotFoundError:  # flushed meanwhile
            continue
        size += stat.st_size
        written = datetime.fromtimestamp(stat.st_mtime, UTC)
        oldest = written if oldest is None or written < oldest else oldest
    return BufferState(len(files), size, oldest)


class BufferDelivery:
    """One object's rows on their way into the buffer (see the module docstring)."""

    def __init__(self, layout: LakeLayout, source: str) -> None:
        self._layout = layout
        self._source = source
        self._temp = layout.buffer / f".{uuid.uuid4().hex}.tmp"
        self._file: IO[bytes] | None = None
        self.rows = 0

    def add(self, rows: Sequence[Row]) -> None:
        if not rows:
            return
        data = encode_rows(rows)
        if self._file is None:
            self._layout.buffer.mkdir(parents=True, exist_ok=True)
            self._file = open(self._temp, "wb")  # noqa: SIM115 - closed by deliver() or discard()
            self._file.write(b"[")
        else:
            self._file.write(b",")
        self._file.write(data[1:-1])  # the rows without the batch's own brackets
        self.rows += len(rows)

    def deliver(self) -> None:
        if self._file is None:
            return  # nothing was added: nothing to deliver
        self._file.write(b"]")
        self._file.flush()
        os.fsync(self._file.fileno())  # durable before the loader commits in PostgreSQL
        self._file.close()
        self._file = None
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}{SUFFIX}"
        os.replace(self._temp, self._layout.buffer / name)
        _fsync_folder(self._layout.buffer)

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._temp.unlink(missing_ok=True)
        self.rows = 0


@dataclass(frozen=True)
class BufferFeed:
    """The LakeFeed of `loglens dev` and local replays."""

    layout: LakeLayout

    def begin(self, source: str) -> BufferDelivery:
        return BufferDelivery(self.layout, source)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
