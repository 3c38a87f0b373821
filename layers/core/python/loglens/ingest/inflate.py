"""A raw object's bytes, inflated a megabyte at a time and read as lines or sealed blocks.

Firehose writes gzip (one member; concatenated members are read too) or, with compression off,
plain NDJSON. Inflating large pieces and cutting lines out of them costs a third less per line
than iterating a GzipFile, and a sealed block is taken whole without being split at all.
A damaged object ends early and is described in `damage`; the caller decides what the lines
before it are worth.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import IO, Final

# ISA-L's inflate is about twice zlib's speed (bench/ingest.py); inflating was a quarter of the
# load path's Python time per line. Same API and output as zlib.
from isal import isal_zlib

READ_BYTES: Final = 1 << 20
# Inflated output per step: a bound on memory whatever the compression ratio.
INFLATE_BYTES: Final = 4 << 20
_GZIP_MAGIC: Final = b"\x1f\x8b"
_CORRUPT: Final[type[Exception]] = isal_zlib.error  # type: ignore[assignment]  # the stubs call it an instance
_GZIP_WINDOW: Final = 16 + zlib.MAX_WBITS  # expect a gzip header and trailer


class ObjectBytes:
    """A raw object's decompressed bytes, read as lines or as runs of bytes (a sealed block)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._pieces = self._inflated(raw)
        self._buffer = b""
        self._at = 0
        self.count = 0  # lines read so far: the number of the last line returned
        self.damage: str | None = None
        self.fragment = b""  # with damage: the incomplete last line

    def line(self) -> bytes | None:
        """The next line without its newline (the last may lack one); None at the end."""
        while (end := self._buffer.find(b"\n", self._at)) < 0:
            if not self._fill():
                if self._at >= len(self._buffer):
                    return None
                if self.damage is not None:  # a line cut off by the damage is part of the damage
                    self.fragment = self._buffer[self._at :]
                    self._at = len(self._buffer)
                    return None
                end = len(self._buffer)
                break
        line = self._buffer[self._at : end]
        self._at = end + 1
        self.count += 1
        return line

    def take(self, size: int) -> bytes:
        """The next `size` bytes, or fewer when the object ends first."""
        while len(self._buffer) - self._at < size and self._fill():
            pass
        data = self._buffer[self._at : self._at + size]
        self._at += len(data)
        self.count += data.count(b"\n")
        return data

    def push_back(self, data: bytes) -> None:
        """Undo a take(): `data` is read again."""
        self._buffer = data + self._buffer[self._at :]
        self._at = 0
        self.count -= data.count(b"\n")

    def _fill(self) -> bool:
        piece = next(self._pieces, None)
        if piece is None:
            return False
        # Lines are bounded by Firehose's 1000 KiB record, so re-copying a partial line is cheap.
        rest = self._buffer[self._at :]
        self._buffer = rest + piece if rest else piece
        self._at = 0
        return True

    def _inflated(self, raw: IO[bytes]) -> Iterator[bytes]:
        first = raw.read(READ_BYTES)
        if not first.startswith(_GZIP_MAGIC):
            while first:
                yield first
                first = raw.read(READ_BYTES)
            return
        inflate = isal_zlib.decompressobj(_GZIP_WINDOW)
        started = False  # has the current gzip member been fed anything
        data = first
        try:
            while data:
                while data:
                    started = True
                    out = inflate.decompress(data, INFLATE_BYTES)
                    if out:
                        yield out
                    if inflate.eof:  # another member may follow
                        data = inflate.unused_data
                        inflate, started = isal_zlib.decompressobj(_GZIP_WINDOW), False
                    else:
                        data = inflate.unconsumed_tail
                data = raw.read(READ_BYTES)
            while started and not inflate.eof and (out := inflate.decompress(b"", INFLATE_BYTES)):
                yield out
            if started and not inflate.eof:
                self.damage = "compressed data ends before its end-of-stream marker"
        except _CORRUPT as exc:
            self.damage = f"compressed data is corrupt ({exc})"
