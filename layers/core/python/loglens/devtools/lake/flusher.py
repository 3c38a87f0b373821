"""Flushing the local lake's buffer by size or age, in one background thread of `loglens dev`.

Firehose delivers a buffer when it reaches its size hint or its oldest record its interval hint, whichever
comes first; this does the same with LOGLENS_LAKE_BUFFER_MB and LOGLENS_LAKE_BUFFER_SECONDS. A failed flush
is logged and tried again later (the buffer files stay until a flush succeeds). Stopping flushes once more,
so rows are not left waiting for the next `loglens dev`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from loglens.devtools.lake.buffer import buffer_state
from loglens.devtools.lake.flush import FlushResult, flush
from loglens.devtools.lake.snapshot import LakeLayout

log = logging.getLogger(__name__)


class LakeFlusher:
    def __init__(
        self,
        layout: LakeLayout,
        *,
        max_bytes: int,
        max_age: timedelta,
        poll_seconds: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.layout = layout
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.poll_seconds = poll_seconds
        self.flushes = 0
        self.failures = 0
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def due(self) -> bool:
        state = buffer_state(self.layout)
        if not state.files:
            return False
        too_old = state.oldest is not None and self._clock() - state.oldest >= self.max_age
        return state.bytes >= self.max_bytes or too_old

    def flush_if_due(self) -> FlushResult | None:
        if not self.due():
            return None
        result = flush(self.layout)
        self.flushes += 1
        return result

    def start(self) -> LakeFlusher:
        self._thread = threading.Thread(target=self._run, name="loglens-lake-flusher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
            try:
                flush(self.layout)
            except Exception:  # the buffer stays on disk; the next flush delivers it
                log.exception("the last lake flush before stopping failed")

    def _run(self) -> None:
        delay = self.poll_seconds
        while not self._stop.wait(delay):
            try:
                self.flush_if_due()
                delay = self.poll_seconds
            except Exception:
                self.failures += 1
                delay = min(60.0, delay * 2)
                log.exception("flushing the local lake failed; retrying in %.0f s", delay)
