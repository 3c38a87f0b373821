"""The local spool's segments: Firehose's buffering and durability on one machine.

collect's Firehose records are appended to an open segment (`spool/open/<name>.ndjson`) and
fsync'd before `append` returns; concurrent appends share one fsync (group commit), so an
acknowledged record survives kill -9 and a power cut without a disk flush per request. A segment
is closed once it holds `max_bytes` or its first record is `max_seconds` old, like Firehose's
buffer hints; the loader then seals it (`seal`: renamed to its raw/ key, the layout of Firehose's
S3 objects) and loads it.

A writer holds an exclusive flock on each segment while it may still append to it, and a
segment's queue note (`queue/<name>.key`: the raw key, then the segment's path) is written only
after the segment exists, before its first append. So whoever holds a note finds exactly one of:
- the segment, locked: a writer is still filling it; come back later;
- the segment, unlocked: closed by its writer, or left by one that died (kill -9). Sealing cuts
  off a torn last append, which was never acknowledged (its fsync did not return);
- the raw object: load it (load_ledger and event ids make a second load store nothing twice);
- neither: the segment was empty, or someone removed it.
Sealing is one rename, so a crash leaves the segment or the object, never both or half of
either. A segment with no note was never appended to: it is removed when found.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import orjson

from loglens.ingest.envelope import SEAL_PREFIX

log = logging.getLogger(__name__)

OPEN_DIR: Final = "open"
QUEUE_DIR: Final = "queue"
NOTE_SUFFIX: Final = ".key"
_names = itertools.count()


class SpoolError(OSError):
    """The spool could not make an append durable; nothing of it was acknowledged."""


class Sealed(enum.Enum):
    HELD = "a writer still appends to it"
    READY = "its raw object is there to load"
    EMPTY = "nothing was appended to it"
    MISSING = "neither the segment nor its object exists"


@dataclass(frozen=True)
class Note:
    """A queue entry: the raw key its segment is sealed to, and the segment's path."""

    path: Path
    key: str
    segment: Path | None  # None for notes written before segments existed (one object per note)

    @classmethod
    def read(cls, root: Path, path: Path) -> Note:
        lines = path.read_text(encoding="utf-8").split("\n")
        segment = lines[1].strip() if len(lines) > 1 else ""
        return cls(path, lines[0].strip(), root / segment if segment else None)


@dataclass
class _Segment:
    name: str
    path: Path
    key: str
    fd: int
    first_append: float | None = None
    written: int = 0
    synced: int = 0
    syncing: bool = False
    failed: OSError | None = None


# fdatasync skips the inode's timestamps; macOS has only fsync.
_datasync: Final[Callable[[int], None]] = getattr(os, "fdatasync", os.fsync)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_durably(path: Path, data: bytes) -> None:
    """A whole file or none: a temporary file, fsync, rename, fsync of the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def complete_length(data: bytes) -> int:
    """How many leading bytes of a segment are whole records: sealed blocks whose every byte is
    there, or lines that end in a newline. What follows is an append a crash cut short."""
    at = 0
    while at < len(data):
        end = data.find(b"\n", at)
        if end < 0:
            return at
        if data.startswith(SEAL_PREFIX, at):
            try:
                size = int(orjson.loads(data[at:end])["bytes"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                size = -1
            if size >= 0:  # a header we cannot read is kept as a line, for the loader to report
                if end + 1 + size > len(data):
                    return at
                end += size
        at = end + 1
    return at


def seal(root: Path, note: Note) -> Sealed:
    """Move the note's closed (or abandoned) segment to its raw/ key; HELD while a writer has it.

    Not compressed, unlike Firehose's objects: a rename costs nothing, where compressing here and
    inflating in the loader cost CPU the server and PostgreSQL share; raw/ keeps about 700 bytes
    a record."""
    if note.segment is None:
        return Sealed.READY if (root / note.key).exists() else Sealed.MISSING
    try:
        fd = os.open(note.segment, os.O_RDONLY)
    except FileNotFoundError:  # sealed before (a rename: the object exists)
        return Sealed.READY if (root / note.key).exists() else Sealed.MISSING
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return Sealed.HELD
        try:
            current = os.stat(note.segment).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if not current:  # sealed by someone else between our open and our lock
            return Sealed.READY if (root / note.key).exists() else Sealed.MISSING
        size = os.fstat(fd).st_size
        whole = complete_length(os.pread(fd, size, 0))
        if whole == 0:
            note.segment.unlink()
            return Sealed.EMPTY
        if whole < size:
            log.warning("spool segment %s ends in %d bytes of a cut-off append; left out", note.segment, size - whole)
            os.truncate(note.segment, whole)
        target = root / note.key
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(note.segment, target)
        _fsync_dir(target.parent)
        _fsync_dir(note.segment.parent)
        return Sealed.READY
    finally:
        os.close(fd)


def remove_strays(root: Path, older_than: float = 60.0) -> int:
    """Remove unlocked segments that have no note: their writer died before appending to them.

    Only old ones: a writer creates a segment's file a moment before it locks it and writes its
    note, and a young file without either may be one being made right now."""
    folder = root / OPEN_DIR
    if not folder.is_dir():
        return 0
    noted = {p.stem for p in (root / QUEUE_DIR).glob(f"*{NOTE_SUFFIX}")}
    removed = 0
    now = time.time()
    for segment in folder.glob("*.ndjson"):
        if segment.stem in noted:
            continue
        with contextlib.suppress(FileNotFoundError):
            if now - segment.stat().st_mtime < older_than:
                continue
        with contextlib.suppress(FileNotFoundError):
            fd = os.open(segment, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if not (root / QUEUE_DIR / f"{segment.stem}{NOTE_SUFFIX}").exists():
                    segment.unlink()
                    removed += 1
            except BlockingIOError:
                pass  # a writer is between creating it and writing its note
            finally:
                os.close(fd)
    return removed


@dataclass
class SegmentWriter:
    """Appends records to the open segment; closes segments by size and age (see the module doc).

    With `max_seconds` <= 0 nothing is buffered: every append gets a segment of its own, closed
    before `append` returns. `on_closed` is called (from a background thread) when a segment is
    ready to seal and load.
    """

    root: Path
    max_bytes: int = 1 << 20
    max_seconds: float = 0.2
    on_closed: Callable[[], None] | None = None
    _cond: threading.Condition = field(default_factory=threading.Condition, init=False, repr=False)
    _open: _Segment | None = field(default=None, init=False, repr=False)
    _spare: _Segment | None = field(default=None, init=False, repr=False)
    _retired: list[_Segment] = field(default_factory=list, init=False, repr=False)
    _closed: bool = field(default=False, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)

    @property
    def buffering(self) -> bool:
        return self.max_seconds > 0

    def append(self, data: bytes) -> None:
        """Return once `data` is on disk (fsync'd); raise SpoolError if it may not be."""
        if not data:
            return
        with self._cond:
            if self._closed:
                raise SpoolError("the spool is closed")
            segment = self._open or self._take_segment()
            before = segment.written
            try:
                _write_all(segment.fd, data)
            except OSError as exc:
                self._cut_back(segment, before)
                raise SpoolError(f"writing to the spool failed: {exc}") from exc
            segment.written += len(data)
            if segment.first_append is None:
                segment.first_append = time.monotonic()
                self._cond.notify_all()  # the closing thread now has a deadline
            end = segment.written
            if not self.buffering:
                self._open = None  # this append is an object of its own
            elif segment.written >= self.max_bytes:
                self._retire(segment)
            self._wait_durable(segment, end)
        if not self.buffering:
            self._close(segment)

    def close(self) -> None:
        """Close what is open and stop the background thread (later appends raise SpoolError)."""
        with self._cond:
            self._closed = True
            if self._open is not None:
                self._retire(self._open)
            spare, self._spare = self._spare, None
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(30)
        self._close_retired()
        if spare is not None:
            self._discard(spare)

    def _take_segment(self) -> _Segment:
        if self._spare is not None:
            self._open, self._spare = self._spare, None
        else:
            self._open = self._new_segment()
        if self.buffering and self._thread is None:
            self._thread = threading.Thread(target=self._background, name="loglens-spool", daemon=True)
            self._thread.start()
        self._cond.notify_all()  # the background thread makes the next spare
        return self._open

    def _new_segment(self) -> _Segment:
        now = datetime.now(UTC)
        name = f"{now:%Y%m%dT%H%M%S%f}-{os.getpid()}-{next(_names):06d}"
        key = f"raw/{now:%Y/%m/%d/%H}/loglens-local-{name}.ndjson"
        path = self.root / OPEN_DIR / f"{name}.ndjson"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                _fsync_dir(path.parent)
                # The note only once the segment exists (and is locked): a note always leads to it.
                note = self.root / QUEUE_DIR / f"{name}{NOTE_SUFFIX}"
                write_durably(note, f"{key}\n{OPEN_DIR}/{path.name}\n".encode())
            except OSError:
                os.close(fd)
                path.unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise SpoolError(f"cannot open a spool segment: {exc}") from exc
        return _Segment(name, path, key, fd)

    def _discard(self, segment: _Segment) -> None:
        """An unused spare: its note and file go (the note first, so no note outlives its segment)."""
        with contextlib.suppress(OSError):
            (self.root / QUEUE_DIR / f"{segment.name}{NOTE_SUFFIX}").unlink()
            segment.path.unlink()
        os.close(segment.fd)

    def _retire(self, segment: _Segment) -> None:
        """No more appends go to `segment`; it is closed once everything in it is durable."""
        if self._open is segment:
            self._open = None
            self._retired.append(segment)
            self._cond.notify_all()

    def _cut_back(self, segment: _Segment, length: int) -> None:
        """After a failed write: drop its partial bytes, and write the next append elsewhere."""
        try:
            os.ftruncate(segment.fd, length)
        except OSError:
            log.exception("could not cut a failed append off %s; sealing will leave it out", segment.path)
        self._retire(segment)

    def _wait_durable(self, segment: _Segment, end: int) -> None:
        """Group commit, with the condition held: one fsync covers every append written before it."""
        while segment.synced < end:
            if segment.failed is not None:
                raise SpoolError(f"the spool could not sync: {segment.failed}")
            if segment.syncing:
                self._cond.wait()
                continue
            segment.syncing = True
            upto = segment.written
            self._cond.release()
            try:
                _datasync(segment.fd)
                error: OSError | None = None
            except OSError as exc:
                error = exc
            finally:
                self._cond.acquire()
                segment.syncing = False
                self._cond.notify_all()
            if error is not None:
                # After a failed fsync the kernel may have dropped the pages: what is not known to
                # be durable was never acknowledged, so it is cut off rather than trusted.
                segment.failed = error
                self._cut_back(segment, segment.synced)
                raise SpoolError(f"the spool could not sync: {error}")
            segment.synced = max(segment.synced, upto)

    def _close_retired(self) -> None:
        while True:
            with self._cond:
                if not self._retired:
                    return
                segment = self._retired.pop(0)
            self._close(segment)

    def _close(self, segment: _Segment) -> None:
        """Hand a segment to the loader: its flock ends with its file descriptor."""
        # After a failed sync, what was durable before it is kept; the rest was cut off.
        with self._cond, contextlib.suppress(SpoolError):
            self._wait_durable(segment, segment.written)
        os.close(segment.fd)
        if self.on_closed is not None:
            self.on_closed()

    def _background(self) -> None:
        """Closes segments when they are due and keeps a spare ready, so no append waits for the
        fsyncs that creating a segment takes."""
        while True:
            make_spare = False
            with self._cond:
                while not self._retired:
                    if self._closed:
                        return
                    if self._spare is None:
                        make_spare = True
                        break
                    if self._open is None or self._open.first_append is None:
                        self._cond.wait()
                        continue
                    left = self._open.first_append + self.max_seconds - time.monotonic()
                    if left <= 0:
                        self._retire(self._open)
                    else:
                        self._cond.wait(left)
            self._close_retired()
            if make_spare:
                try:
                    spare = self._new_segment()
                except SpoolError:
                    log.exception("could not prepare a spool segment; appends will try themselves")
                    with self._cond:
                        self._cond.wait(1.0)
                    continue
                with self._cond:
                    unused = self._spare is not None or self._closed
                    if not unused:
                        self._spare = spare
                if unused:
                    self._discard(spare)
