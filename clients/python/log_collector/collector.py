"""LogCollector: the API applications call. Every log call only appends to a bounded queue; a
single background worker does the JSON, gzip, HTTP, retries and spooling."""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import time
import weakref
from collections.abc import Generator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .buffer import RecordBuffer
from .diagnostics import Reporter, logger
from .handler import LogCollectorHandler
from .records import Level, estimate_size, exception_fields
from .spool import Spool, default_spool_dir
from .transport import Transport
from .worker import Worker, WorkerSettings

BATCH_PATH = "/api/v1/logs/batch"
SERVER_MAX_BATCH = 10_000  # the ingest API refuses larger batches


class Completion:
    """What log/flush/close return. Truthy when the work is done (for log: the record is queued).
    Awaitable, so the origin document's `await logger.log(...)` and `await logger.close()` work
    unchanged, while a forgotten `await` can never lose a record: the call did its work already."""

    __slots__ = ("ok",)

    def __init__(self, ok: bool) -> None:
        self.ok = ok

    def __bool__(self) -> bool:
        return self.ok

    def __await__(self) -> Generator[Any, None, bool]:
        yield from ()
        return self.ok

    def __repr__(self) -> str:
        return f"Completion(ok={self.ok})"


_QUEUED = Completion(True)
_live_collectors: weakref.WeakSet[LogCollector] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for collector in list(_live_collectors):
        collector._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _close_at_exit(ref: weakref.ReferenceType[LogCollector]) -> None:
    collector = ref()
    if collector is not None:
        collector.close()


def _close_soon(buffer: RecordBuffer, budget: float) -> None:
    buffer.request_close(time.monotonic() + budget)


class LogCollector:
    """Ships application logs to the loglens ingest API.

    The first five parameters keep the origin document's order; the rest are keyword-only so a
    positional call written for the origin document cannot silently land in the wrong one.

    log_server_url: base URL of the ingest API (or the full .../api/v1/logs/batch URL).
    batch_size / max_batch_bytes / flush_interval: a batch leaves when it has this many records,
        this many uncompressed bytes, or this many seconds have passed.
    api_key: sent as x-api-key.
    spool_dir / spool_max_bytes: where undeliverable batches wait on disk, and the cap (0: no spool).
    max_queue: records held in memory; beyond it the oldest are dropped (and counted).
    timeout: seconds per HTTP request. close_timeout: budget of close() and of the exit handler.
    max_retries / backoff_base / backoff_max: quick retries of a failing batch before it is
        spooled, with exponential backoff and full jitter between them.
    compress: gzip request bodies. log_type: the records' log_type.
    register_atexit: close (flush, then spool the rest) when the interpreter exits.
    """

    def __init__(
        self,
        log_server_url: str,
        service: str,
        environment: str = "development",
        batch_size: int = 100,
        flush_interval: float = 5.0,
        *,
        api_key: str | None = None,
        max_batch_bytes: int = 512 * 1024,
        spool_dir: str | os.PathLike[str] | None = None,
        spool_max_bytes: int = 64 * 1024 * 1024,
        max_queue: int = 10_000,
        timeout: float = 10.0,
        close_timeout: float = 5.0,
        max_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        compress: bool = True,
        log_type: str = "BACKEND",
        register_atexit: bool = True,
    ) -> None:
        # Configuration mistakes fail loudly here, at start-up; log calls themselves never raise.
        parts = urlsplit(log_server_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"log_server_url must be an http(s) URL, got {log_server_url!r}")
        if not service:
            raise ValueError("service must be a non-empty string")
        if not 1 <= batch_size <= SERVER_MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {SERVER_MAX_BATCH}")
        for name, value in (
            ("flush_interval", flush_interval),
            ("timeout", timeout),
            ("backoff_base", backoff_base),
            ("backoff_max", backoff_max),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be positive")
        if max_batch_bytes < 1024 or max_queue < 1 or max_retries < 0 or spool_max_bytes < 0:
            raise ValueError("max_batch_bytes >= 1024, max_queue >= 1, max_retries >= 0, spool_max_bytes >= 0")
        if close_timeout < 0:
            raise ValueError("close_timeout must not be negative")
        if api_key is not None and (not api_key.isprintable() or not api_key.isascii()):
            raise ValueError("api_key must be printable ASCII (it travels in an HTTP header)")

        base = log_server_url.rstrip("/")
        self.endpoint = base if base.endswith(BATCH_PATH) else base + BATCH_PATH
        self.log_server_url = log_server_url
        self.service = service
        self.environment = environment
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.close_timeout = close_timeout
        self.spool_dir = Path(spool_dir) if spool_dir is not None else default_spool_dir(service, environment)

        spill_mark = max(batch_size, max_queue // 2)
        self._settings = WorkerSettings(
            service=service,
            environment=environment,
            log_type=log_type,
            batch_size=batch_size,
            max_batch_bytes=max_batch_bytes,
            flush_interval=flush_interval,
            timeout=timeout,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
            compress=compress,
            spill_mark=spill_mark,
            spill_bytes=16 * max_batch_bytes,
        )
        self._reporter = Reporter()
        self._buffer = RecordBuffer(max_queue, batch_size, max_batch_bytes)
        self._transport = Transport(self.endpoint, api_key)
        self._spool = Spool(self.spool_dir, spool_max_bytes, self._reporter)
        self._state_lock = threading.Lock()
        self._closed = False
        self._pid = os.getpid()
        self._running = False
        self._worker = self._new_worker()
        _live_collectors.add(self)
        if register_atexit:
            atexit.register(_close_at_exit, weakref.ref(self))
        # A collector dropped without close() still gets its queue delivered or spooled.
        weakref.finalize(self, _close_soon, self._buffer, close_timeout).atexit = False
        self._start_worker()

    # ---- logging calls (application threads; must stay cheap and never raise) ---------------

    def log(self, level: Level, message: str, **fields: Any) -> Completion:
        """Queue one record: `await collector.log("INFO", "paid", user_id=...)` as in the origin
        document, or without `await` from synchronous code. Never waits on the network."""
        try:
            if fields and "exc_info" in fields:
                fields.update(exception_fields(fields.pop("exc_info")))
            self._submit(time.time(), level, message, fields)
        except Exception:  # a log call must never break the application
            self._reporter.once("submit", logging.ERROR, "log_collector: a log call failed", exc_info=True)
        return _QUEUED

    # The synchronous spelling, for code where `log` reads as if it needed awaiting.
    log_sync = log

    def debug(self, message: str, **fields: Any) -> Completion:
        return self.log("DEBUG", message, **fields)

    def info(self, message: str, **fields: Any) -> Completion:
        return self.log("INFO", message, **fields)

    def warning(self, message: str, **fields: Any) -> Completion:
        return self.log("WARN", message, **fields)

    def error(self, message: str, **fields: Any) -> Completion:
        return self.log("ERROR", message, **fields)

    def critical(self, message: str, **fields: Any) -> Completion:
        return self.log("FATAL", message, **fields)

    def exception(self, message: str, **fields: Any) -> Completion:
        """ERROR with the exception being handled, like logging.exception."""
        fields.setdefault("exc_info", True)
        return self.log("ERROR", message, **fields)

    def _submit(self, created: float, level: Level, message: str, fields: dict[str, Any] | None) -> None:
        if self._closed:
            return
        if not self._running:
            self._start_worker()
        if not isinstance(message, str):
            message = str(message)
        if self._buffer.put((created, level, message, fields or None, estimate_size(message, fields))):
            self._wake()

    def _wake(self) -> None:
        if os.getpid() != self._pid:
            # A fork that bypassed os.register_at_fork (C-level fork): the queue is the parent's.
            self._after_fork()
            return
        self._buffer.wake.set()

    # ---- flush and close --------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> Completion:
        """Block until everything logged before this call is sent or spooled (or timeout)."""
        if not self._running:
            self._start_worker()
        budget = self.close_timeout if timeout is None else timeout
        return Completion(self._buffer.flush(max(budget, 0.0)))

    def close(self, timeout: float | None = None) -> Completion:
        """Deliver what is queued within `timeout` seconds (default close_timeout) and spool the
        rest; later log calls are ignored. Called at exit automatically."""
        budget = self.close_timeout if timeout is None else max(timeout, 0.0)
        with self._state_lock:
            if self._closed:
                return Completion(self._buffer.unhandled() == 0)
            self._closed = True
        deadline = time.monotonic() + budget
        self._buffer.request_close(deadline)
        worker = self._worker
        thread = worker.thread if self._running else None
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
        if thread is None or thread.is_alive():
            # The worker is stuck in a request that outlives the budget (or never ran): put what it
            # holds on disk from here, since the process may be about to exit.
            worker.spill_leftovers()
        return Completion(self._buffer.unhandled() == 0)

    async def aflush(self, timeout: float | None = None) -> bool:
        """flush() without blocking the event loop."""
        loop = asyncio.get_running_loop()
        return bool(await loop.run_in_executor(None, self.flush, timeout))

    async def aclose(self, timeout: float | None = None) -> bool:
        """close() without blocking the event loop."""
        loop = asyncio.get_running_loop()
        return bool(await loop.run_in_executor(None, self.close, timeout))

    def __enter__(self) -> LogCollector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> LogCollector:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- integration and introspection -----------------------------------------------------

    def handler(self, level: int = logging.NOTSET) -> LogCollectorHandler:
        """A logging.Handler shipping stdlib log records through this collector."""
        return LogCollectorHandler(self, level)

    def stats(self) -> dict[str, int]:
        """Counters for monitoring the client itself (sent, spooled, replayed, dropped, ...)."""
        stats = dict(self._worker.stats)
        stats["queued"] = len(self._buffer)
        stats["spool_records"] = self._spool.pending_records()
        return stats

    # ---- worker and fork handling ----------------------------------------------------------

    def _new_worker(self) -> Worker:
        return Worker(self._settings, self._buffer, self._transport, self._spool, self._reporter)

    def _start_worker(self) -> None:
        with self._state_lock:
            if self._running:
                return
            self._running = True
            try:
                self._worker.start()
            except RuntimeError as error:
                # At interpreter shutdown no thread can start; close() will spool the queue.
                logger.warning("log_collector: cannot start the background worker: %s", error)

    def _after_fork(self) -> None:
        """In a forked child: fresh locks, an empty queue and a new worker started on first use.
        The parent keeps sending its own queue, so nothing is sent twice."""
        self._pid = os.getpid()
        self._state_lock = threading.Lock()
        self._buffer.reset_after_fork()
        self._spool.reset_after_fork()
        self._running = False
        self._worker = self._new_worker()
