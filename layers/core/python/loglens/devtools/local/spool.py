"""The local load queue: the spool's notes (see loglens.ingest.segments), consumed by the same loader code.

Stands in for S3 → SQS → load Lambda. A note is deleted only after its object is loaded; while
the database is down the loader backs off and tries again, so nothing accepted is lost across a
database outage or a restart of `loglens dev`. A segment whose writer died (kill -9) is sealed
here too, so what that writer acknowledged is loaded.

`loglens dev` runs the consumer in a process of its own (`LoaderProcess`), as the load Lambda
runs apart from collect: in the server's process it competed for one interpreter lock with 32
request threads and fell behind (bench/local_stack.py). It also seals (compresses) the segments,
so the server only appends and fsyncs. The sink wakes it when it closes a segment; polling is the
fallback, and the notes and segment locks are files, so nothing else is shared.
"""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from loglens.ingest.notifications import Loader, ObjectRef
from loglens.ingest.segments import NOTE_SUFFIX, QUEUE_DIR, Note, Sealed, remove_strays, seal
from loglens.settings import Settings

log = logging.getLogger(__name__)


class Flag(Protocol):
    """threading.Event or multiprocessing's Event."""

    def set(self) -> None: ...
    def clear(self) -> None: ...
    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


@dataclass
class SpoolConsumer:
    root: Path
    loader: Loader
    poll_seconds: float = 0.5
    max_backoff: float = 5.0
    _stop: Flag = field(default_factory=threading.Event)
    _wake: Flag = field(default_factory=threading.Event)
    _finish: Flag = field(default_factory=threading.Event)  # drain what is ready, then stop
    _thread: threading.Thread | None = None

    @property
    def queue(self) -> Path:
        return self.root / QUEUE_DIR

    def pending(self) -> list[Path]:
        """Notes of objects not loaded yet (some may still be open segments), oldest first."""
        if not self.queue.exists():
            return []
        return sorted(p for p in self.queue.iterdir() if p.suffix == NOTE_SUFFIX)

    def drain_once(self) -> int:
        """Load every sealed object, oldest first; return how many notes were done. Raises on DB errors.

        Consumers may share a queue: each note is claimed with an flock first, and one another
        consumer holds is left to it."""
        handled = 0
        for path in self.pending():
            if self._stop.is_set():
                break
            with _claimed(path) as claimed:
                if not claimed:
                    continue
                note = Note.read(self.root, path)
                state = seal(self.root, note) if note.key else Sealed.MISSING
                if state is Sealed.HELD:
                    continue  # its writer is still filling it
                if state is Sealed.READY:
                    self.loader.load(ObjectRef(None, note.key, None))
                elif state is Sealed.MISSING:
                    log.warning("spool note %s: %s; removed", path.name, state.value)
                path.unlink(missing_ok=True)
                handled += 1
        return handled

    def wake(self) -> None:
        """Look at the queue now (a segment was sealed)."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="loglens-loader", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0, *, drain: bool = False) -> None:
        """Stop; with `drain`, load what is ready first (unless the database fails)."""
        (self._finish if drain else self._stop).set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self, parent: int | None = None) -> None:
        """Drain until stopped (or until process `parent` is gone), waking early when woken."""
        delay = self.poll_seconds
        remove_strays(self.root)
        while (
            not self._stop.is_set()
            and not self._finish.is_set()
            and (parent is None or os.getppid() == parent)
        ):
            self._wake.clear()
            try:
                self.drain_once()
                delay = self.poll_seconds
            except Exception as exc:
                delay = min(self.max_backoff, max(delay * 2, 0.5))
                log.warning("loading from the spool failed (%s); retrying in %.1fs", exc, delay)
                self._finish.wait(delay)  # a wake-up does not cut an outage's backoff short
                continue
            self._wake.wait(delay)
        if self._finish.is_set() and not self._stop.is_set():
            try:
                self.drain_once()
            except Exception as exc:
                log.warning("loading from the spool failed (%s); the rest loads at the next start", exc)


@contextmanager
def _claimed(note: Path) -> Iterator[bool]:
    """True while this consumer holds the note (and it was not done by another meanwhile)."""
    try:
        fd = os.open(note, os.O_RDONLY)
    except FileNotFoundError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            current = os.stat(note).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        yield current
    finally:
        os.close(fd)


def _serve(
    root: Path,
    writer_url: str,
    settings: Settings,
    workers: int,
    flags: tuple[Flag, Flag, Flag],
    parent: int,
    lake: bool = False,
) -> None:
    """The loader process: the load Lambda's code over the spool, until stopped or orphaned.

    `workers` consumers load different objects at once, each on its own connection, as
    concurrent load Lambdas do: one COPY at a time kept a single PostgreSQL backend busy while
    the other core idled (bench/local_stack.py)."""
    from loglens.db.connect import ConnectionProvider
    from loglens.ingest.envelope import sealer_from_env
    from loglens.ingest.objects import LocalObjectStore
    from loglens.ingest.privacy import redactor_from_env

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    redactor, sealer = redactor_from_env(), sealer_from_env(settings.home)
    lake_sinks = None
    if lake:  # the loader forwards what it validated to the local lake's buffer (the parent flushes it)
        from loglens.devtools.lake.wiring import buffer_sinks

        lake_sinks = buffer_sinks(settings)
    threads = []
    for n in range(workers):
        loader = Loader(
            LocalObjectStore(root),
            ConnectionProvider(lambda: writer_url, application="loglens-load"),
            settings,
            redactor=redactor,
            sealer=sealer,
            lake=lake_sinks,
        )
        stop, wake, finish = flags
        consumer = SpoolConsumer(root, loader, poll_seconds=0.25, _stop=stop, _wake=wake, _finish=finish)
        # The parent's kill -9 must not leave a loader behind: each round checks the parent.
        thread = threading.Thread(target=consumer.run, args=(parent,), name=f"loglens-load-{n}", daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()


@dataclass
class LoaderProcess:
    """A SpoolConsumer in a child process; `wake` and `stop` from the parent."""

    root: Path
    writer_url: str
    settings: Settings
    workers: int = 2
    lake: bool = False
    _process: multiprocessing.process.BaseProcess | None = None

    def __post_init__(self) -> None:
        self._context = multiprocessing.get_context("spawn")  # no fork of a threaded server
        self._stop = self._context.Event()
        self._wake = self._context.Event()
        self._finish = self._context.Event()

    def start(self) -> None:
        self._process = self._context.Process(
            target=_serve,
            args=(
                self.root,
                self.writer_url,
                self.settings,
                self.workers,
                (self._stop, self._wake, self._finish),
                os.getpid(),
                self.lake,
            ),
            name="loglens-loader",
            daemon=True,
        )
        self._process.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 15.0) -> None:
        """Load what is ready (the sink closed its segment first), then stop; give up after `timeout`."""
        self._finish.set()
        self._wake.set()
        if self._process is None:
            return
        self._process.join(timeout)
        if self._process.is_alive():  # stuck on the database: its open transaction is rolled back
            self._process.terminate()
            self._process.join(5)
