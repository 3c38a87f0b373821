"""The local lake's buffer: what the loader forwarded, as files waiting for a flush (Firehose's buffer, locally).

Each object the loader loads gets its own ``BufferSink`` (loglens.lake.forward.LakeSink): the rows it adds
go to a hidden temporary file in ``lake/buffer/`` as a JSON array of row arrays in LOG_COLUMNS order (times
in ISO 8601 with their offset, event ids as text, metadata as the JSON object it is, addresses as text;
one orjson call per batch, ~1-3 µs a row); ``flush()``, which the loader calls just before it commits,
fsyncs the file and renames it into place. A flush of the lake reads only such complete files, in name
order, and the names start with the time of that rename in nanoseconds: so "first forwarded wins" when a
flush meets one key twice, as "first stored wins" in PostgreSQL. A file never renamed (the load failed) is
removed by a later lake flush; the object is loaded and forwarded again.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import msgspec
import orjson

from loglens.devtools.lake.snapshot import LakeLayout

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


def encode_rows(rows: Sequence[Sequence[Any]]) -> bytes:
    """A batch as one JSON array of row arrays (see the module docstring)."""
    return orjson.dumps(rows, default=_lake_value)


def _lake_value(value: Any) -> Any:
    if isinstance(value, msgspec.Raw):
        return orjson.Fragment(bytes(value))  # metadata a sealed line brought: already JSON
    return str(value)  # IPv4Address / IPv6Address


class BufferSink:
    """One object's rows on their way into the buffer (see the module docstring)."""

    def __init__(self, layout: LakeLayout) -> None:
        self._layout = layout
        self._temp = layout.buffer / f".{uuid.uuid4().hex}.tmp"
        self._file: IO[bytes] | None = None
        self.rows = 0

    def add(self, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        data = encode_rows(rows)
        if self._file is None:
            self._layout.buffer.mkdir(parents=True, exist_ok=True)
            self._file = open(self._temp, "wb")  # noqa: SIM115 - closed by flush()
            self._file.write(b"[")
        else:
            self._file.write(b",")
        self._file.write(data[1:-1])  # the rows without the batch's own brackets
        self.rows += len(rows)

    def flush(self) -> None:
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


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
