"""The local load queue: notification files written by SpoolSink, consumed by the same loader code.

Stands in for S3 → SQS → load Lambda. A notification is deleted only after its object is
loaded; while the database is down the loader backs off and tries again, so nothing accepted
is lost across a database outage or a restart of `loglens dev`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from loglens.ingest.notifications import Loader, ObjectRef

log = logging.getLogger(__name__)


@dataclass
class SpoolConsumer:
    root: Path
    loader: Loader
    poll_seconds: float = 0.2
    max_backoff: float = 5.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def queue(self) -> Path:
        return self.root / "queue"

    def pending(self) -> list[Path]:
        if not self.queue.exists():
            return []
        return sorted(p for p in self.queue.iterdir() if p.suffix == ".key")

    def drain_once(self) -> int:
        """Load every pending object, oldest first; return how many were handled. Raises on DB errors."""
        handled = 0
        for note in self.pending():
            key = note.read_text().strip()
            self.loader.load(ObjectRef(None, key, None))
            note.unlink(missing_ok=True)
            handled += 1
        return handled

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="loglens-loader", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        delay = self.poll_seconds
        while not self._stop.is_set():
            try:
                self.drain_once()
                delay = self.poll_seconds
            except Exception as exc:
                delay = min(self.max_backoff, max(delay * 2, 0.5))
                log.warning("loading from the spool failed (%s); retrying in %.1fs", exc, delay)
            self._stop.wait(delay)
