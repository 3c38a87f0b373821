"""A bounded on-disk queue of batches that could not be delivered.

One file per batch holding the exact gzip request body, so a replay sends the same bytes (and the
same event ids) as the first attempt. Names sort by creation time and carry the record count, so
eviction and accounting never need to open a file:

    00001732891234567890123-<pid>-<token>-000042-n100-d7.batch.gz

(100 records, the first of which reports 7 earlier drops: evicting this file loses 107.)

Writes are atomic (temp file, fsync, rename, fsync of the directory) so a crash leaves either a
whole batch or nothing. Several processes may share one directory (gunicorn workers, a restarted
container): a batch is claimed for sending by renaming it to `<name>.<owner>.sending`, which only
one process can win; claims left by dead processes are put back at the next start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import NamedTuple

from .diagnostics import Reporter

SUFFIX = ".batch.gz"
CLAIM_SUFFIX = ".sending"
TMP_PREFIX = ".tmp-"
# A send takes at most the request timeout; a claim this old belongs to a process that is gone
# even if its pid was reused (in containers the app is often pid 1 on every start).
STALE_CLAIM_SECONDS = 600.0


def _new_owner() -> str:
    return f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


_owner = _new_owner()


def _refresh_owner() -> None:
    global _owner
    _owner = _new_owner()


if hasattr(os, "register_at_fork"):
    # The child is a different process: its claims must not look like the parent's.
    os.register_at_fork(after_in_child=_refresh_owner)


class WriteResult(NamedTuple):
    stored: bool
    lost_records: int  # records deleted (oldest batches) or refused to respect the cap
    lost_reports: int  # earlier drop counts those batches carried, so the total stays exact


class SpoolEntry(NamedTuple):
    path: Path  # the claimed file while it is being sent
    original: Path  # where it goes back if the send must wait
    records: int
    reported_drops: int


def _counts_from_name(name: str) -> tuple[int, int]:
    """(records in the batch, earlier drops it reports) from a batch file name."""
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
    _, _, tail = stem.rpartition("-n")
    records, _, dropped = tail.partition("-d")
    try:
        return int(records), int(dropped or 0)
    except ValueError:
        return 0, 0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return False
    return True


class Spool:
    def __init__(self, directory: Path, max_bytes: int, reporter: Reporter) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._reporter = reporter
        self._lock = threading.Lock()
        self._seq = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def reset_after_fork(self) -> None:
        self._lock = threading.Lock()

    def _ensure_directory(self) -> bool:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            self._reporter.once(
                "spool-dir", logging.ERROR, "log_collector: cannot use spool directory %s: %s",
                self.directory, error,
            )
            return False
        return True

    def _scan(self) -> tuple[list[tuple[str, int]], int]:
        """Unclaimed batch files oldest first, and the bytes used by all batch files."""
        batches: list[tuple[str, int]] = []
        used = 0
        try:
            with os.scandir(self.directory) as it:
                for entry in it:
                    name = entry.name
                    if not (name.endswith(SUFFIX) or name.endswith(CLAIM_SUFFIX)):
                        continue
                    try:
                        size = entry.stat().st_size
                    except OSError:
                        continue  # claimed or evicted by another process meanwhile
                    used += size
                    if name.endswith(SUFFIX):
                        batches.append((name, size))
        except OSError:
            return [], 0
        batches.sort()
        return batches, used

    def write(self, body: bytes, count: int, reported_drops: int = 0) -> WriteResult:
        """Store one batch, evicting the oldest ones if the cap requires it."""
        refused = WriteResult(False, count, reported_drops)
        if not self.enabled or not self._ensure_directory():
            return refused
        if len(body) > self.max_bytes:
            self._reporter.once(
                "spool-too-big", logging.WARNING,
                "log_collector: a batch of %d bytes is larger than the whole spool (%d bytes); dropped",
                len(body), self.max_bytes,
            )
            return refused
        lost_records = lost_reports = 0
        with self._lock:
            batches, used = self._scan()
            # Drop the oldest first: recent records are the ones someone is about to look for.
            while used + len(body) > self.max_bytes and batches:
                name, size = batches.pop(0)
                try:
                    os.unlink(self.directory / name)
                except FileNotFoundError:
                    continue  # another process claimed or evicted it
                except OSError:
                    continue
                used -= size
                records, carried = _counts_from_name(name)
                lost_records += records
                lost_reports += carried
            if used + len(body) > self.max_bytes:
                # What is left is all in flight elsewhere; the new batch is the one that cannot fit.
                return WriteResult(False, lost_records + count, lost_reports + reported_drops)
            self._seq += 1
            name = f"{time.time_ns():020d}-{_owner}-{self._seq:06d}-n{count}-d{reported_drops}{SUFFIX}"
            try:
                self._write_atomically(name, body)
            except OSError as error:
                self._reporter.once(
                    "spool-write", logging.ERROR, "log_collector: cannot write to spool %s: %s",
                    self.directory, error,
                )
                return WriteResult(False, lost_records + count, lost_reports + reported_drops)
        return WriteResult(True, lost_records, lost_reports)

    def _write_atomically(self, name: str, body: bytes) -> None:
        tmp = self.directory / f"{TMP_PREFIX}{_owner}-{self._seq:06d}"
        try:
            with open(tmp, "wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.directory / name)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._fsync_directory()

    def _fsync_directory(self) -> None:
        # Makes the rename itself durable on POSIX; not possible (nor needed) on Windows.
        try:
            fd = os.open(self.directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def claim_oldest(self) -> SpoolEntry | None:
        if not self.enabled:
            return None
        with self._lock:
            batches, _ = self._scan()
            for name, _size in batches:
                original = self.directory / name
                claimed = self.directory / f"{name}.{_owner}{CLAIM_SUFFIX}"
                try:
                    os.rename(original, claimed)
                except OSError:
                    continue  # another process won it
                with contextlib.suppress(OSError):
                    os.utime(claimed)  # the claim's age is what recovery looks at
                return SpoolEntry(claimed, original, *_counts_from_name(name))
        return None

    def read(self, entry: SpoolEntry) -> bytes | None:
        try:
            return entry.path.read_bytes()
        except OSError:
            return None

    def release(self, entry: SpoolEntry) -> None:
        """Put a claimed batch back, keeping its place in the oldest-first order."""
        with contextlib.suppress(OSError):
            os.rename(entry.path, entry.original)

    def remove(self, entry: SpoolEntry) -> None:
        with contextlib.suppress(OSError):
            os.unlink(entry.path)

    def has_batches(self) -> bool:
        if not self.enabled:
            return False
        try:
            with os.scandir(self.directory) as it:
                return any(e.name.endswith(SUFFIX) for e in it)
        except OSError:
            return False

    def pending_records(self) -> int:
        if not self.enabled:
            return 0
        batches, _ = self._scan()
        return sum(_counts_from_name(name)[0] for name, _ in batches)

    def recover(self) -> None:
        """Put back batches claimed by processes that died mid-send; remove their half-written files."""
        if not self.enabled:
            return
        now = time.time()
        try:
            with os.scandir(self.directory) as it:
                names = [e.name for e in it]
        except OSError:
            return
        for name in names:
            path = self.directory / name
            if name.endswith(CLAIM_SUFFIX):
                base, _, owner = name[: -len(CLAIM_SUFFIX)].rpartition(".")
                if owner == _owner or not self._is_stale(owner, path, now):
                    continue
                with contextlib.suppress(OSError):
                    os.rename(path, self.directory / base)
            elif name.startswith(TMP_PREFIX):
                owner = name[len(TMP_PREFIX) :].rsplit("-", 1)[0]
                if owner != _owner and self._is_stale(owner, path, now):
                    with contextlib.suppress(OSError):
                        os.unlink(path)

    @staticmethod
    def _is_stale(owner: str, path: Path, now: float) -> bool:
        try:
            pid = int(owner.split("-", 1)[0])
        except ValueError:
            return True
        if pid == os.getpid() or not _pid_alive(pid):
            return True  # our pid with another token is an earlier incarnation of this process
        try:
            return now - path.stat().st_mtime > STALE_CLAIM_SECONDS
        except OSError:
            return False


def default_spool_dir(service: str, environment: str) -> Path:
    """A per-service directory that survives restarts: the user cache dir, else the temp dir
    (read-only homes are common in containers and Lambda, where only /tmp is writable)."""
    leaf = re.sub(r"[^A-Za-z0-9._-]", "_", f"{service}-{environment}")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    candidates = [
        Path(cache) / "loglens" / "spool" / leaf,
        Path(tempfile.gettempdir()) / f"loglens-spool-{uid}" / leaf,
    ]
    for candidate in candidates:
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            return candidate
    return candidates[-1]
