"""The one background thread that turns queued records into delivered (or spooled) batches.

Normal mode: send full batches as they fill and everything on each flush interval; a batch that
keeps failing after a few quick retries goes to the spool and the worker enters outage mode.
Outage mode: no network for new records (they go straight to the spool, which is safer than
memory), only a probe with the oldest spooled batch, spaced by backoff and Retry-After. When a
probe succeeds the spool is replayed oldest-first and normal mode resumes.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

from .buffer import RecordBuffer
from .diagnostics import Reporter, logger
from .records import RecordBuilder, add_dropped_count, encode_batch, encode_record
from .spool import Spool, SpoolEntry
from .transport import Answer, Outcome, Transport

_DROP_REPORT_INTERVAL = 30.0
# Other processes sharing the spool (or ones that died) may leave batches; look now and then.
_SPOOL_RESCAN_INTERVAL = 60.0


@dataclass(frozen=True)
class WorkerSettings:
    service: str
    environment: str
    log_type: str
    batch_size: int
    max_batch_bytes: int
    flush_interval: float
    timeout: float
    max_retries: int
    backoff_base: float
    backoff_max: float
    compress: bool
    spill_mark: int  # queued records that make the worker move memory to disk while it waits
    spill_bytes: int


class Batch:
    """A batch's records and its request body, encoded once and reused for every retry."""

    def __init__(
        self, records: list[dict[str, Any]] | None, raw: bytes | None, body: bytes | None, gzipped: bool,
        count: int,
    ) -> None:
        self._records = records
        self._raw = raw  # uncompressed JSON body
        self._body = body  # what goes on the wire (gzip when `gzipped`)
        self.gzipped = gzipped
        self.count = count
        self.reported_drops = 0  # earlier drops announced in this batch's first record
        self._settled = False
        self._settle_lock = threading.Lock()

    @classmethod
    def from_records(cls, records: list[dict[str, Any]], compress: bool, raw: bytes | None = None) -> Batch:
        return cls(records, raw, None, compress, len(records))

    @classmethod
    def from_spool(cls, body: bytes, count: int) -> Batch:
        return cls(None, None, body, True, count)

    def body(self) -> bytes:
        if self._body is None:
            raw = self._raw if self._raw is not None else encode_batch(self.records())
            # mtime=0 keeps the bytes reproducible; level 6 is gzip's usual speed/size balance.
            self._body = gzip.compress(raw, compresslevel=6, mtime=0) if self.gzipped else raw
            self._raw = None
        return self._body

    def spool_body(self) -> bytes:
        body = self.body()
        return body if self.gzipped else gzip.compress(body, compresslevel=6, mtime=0)

    def records(self) -> list[dict[str, Any]]:
        if self._records is None:
            raw = self._body or b""
            if self.gzipped:
                raw = gzip.decompress(raw)
            logs = json.loads(raw).get("logs", [])
            self._records = [r for r in logs if isinstance(r, dict)]
            self.count = len(self._records)
        return self._records

    def settle(self) -> bool:
        """Take responsibility for the outcome; only the first caller (worker or close) wins."""
        with self._settle_lock:
            if self._settled:
                return False
            self._settled = True
            return True


class Worker:
    def __init__(
        self,
        settings: WorkerSettings,
        buffer: RecordBuffer,
        transport: Transport,
        spool: Spool,
        reporter: Reporter,
    ) -> None:
        self.settings = settings
        self.buffer = buffer
        self.transport = transport
        self.spool = spool
        self.reporter = reporter
        self.builder = RecordBuilder(settings.service, settings.environment, settings.log_type)
        # Batches written straight to disk are larger (fewer files and fsyncs); max_batch_bytes
        # still bounds them, so their replay stays a normal request.
        self._spill_batch = min(10_000, settings.batch_size * 10)
        self.inflight: Batch | None = None
        self.thread: threading.Thread | None = None
        self._outage = False
        self._outage_failures = 0
        self._probe_at = 0.0
        self._last_retry_after: float | None = None
        self._replay_wanted = False
        self._dropped_unreported = 0
        self._last_drop_report = 0.0
        self._extra_dropped = 0
        self._extra_lock = threading.Lock()
        self.stats: dict[str, int] = {
            "sent": 0,
            "spooled": 0,
            "replayed": 0,
            "rejected": 0,
            "dropped": 0,
            "retries": 0,
            "failed_requests": 0,
        }

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        thread = threading.Thread(target=self._run, name="log_collector-worker", daemon=True)
        thread.start()
        self.thread = thread  # only once started: close() joins it

    @property
    def ident(self) -> int | None:
        return self.thread.ident if self.thread is not None else None

    def _run(self) -> None:
        try:
            self.spool.recover()
            self._replay_wanted = self.spool.has_batches()
        except Exception:
            logger.exception("log_collector: spool recovery failed")
        next_tick = time.monotonic() + self.settings.flush_interval
        next_rescan = time.monotonic() + _SPOOL_RESCAN_INTERVAL
        while True:
            try:
                now = time.monotonic()
                if now >= next_rescan:
                    next_rescan = now + _SPOOL_RESCAN_INTERVAL
                    self.spool.recover()
                    self._replay_wanted = self._replay_wanted or self.spool.has_batches()
                wake_at = min(next_tick, self._probe_at) if self._outage else next_tick
                if self._replay_wanted and not self._outage:
                    wake_at = now  # replay as soon as the server is known to answer
                self.buffer.wait_for_work(wake_at - now)
                if self.buffer.closing:
                    self._drain_for_close()
                    return
                now = time.monotonic()
                drain_all = self.buffer.take_flush_request()
                if now >= next_tick:
                    drain_all = True
                    next_tick = now + self.settings.flush_interval
                self._step(drain_all)
            except Exception:
                # The worker must outlive any bug or odd input; losing it would silently stop logging.
                logger.exception("log_collector: unexpected error in the background worker")
                self.buffer.wait_for_work(0.5)

    def _step(self, drain_all: bool) -> None:
        if self._outage and time.monotonic() >= self._probe_at:
            self._probe()
        if self._outage:
            self._spill(drain_all)
            return
        if self._replay_wanted:
            self._replay()
        if not self._outage:
            self._send_pending(drain_all)
        if self._outage:  # possibly just entered: what was due still goes somewhere safe
            self._spill(drain_all)

    # ---- building batches ------------------------------------------------------------------

    def _next_batch(self, limit: int = 0) -> Batch | None:
        settings = self.settings
        # The app-side size estimates pick how many records to take; the exact cut is below.
        items = self.buffer.take(limit or settings.batch_size, settings.max_batch_bytes)
        if not items:
            return None
        records = self.builder.build(items)
        dropped = self._take_dropped()
        if dropped:
            # The server learns about losses in the same stream it stores, next to the records.
            add_dropped_count(records[0], dropped)
        raw = encode_batch(records)
        if len(raw) > settings.max_batch_bytes and len(records) > 1:
            keep = _records_within(records, settings.max_batch_bytes)
            self.buffer.put_back(items[keep:])  # taken again (with new ids) for the next batch
            records = records[:keep]
            raw = encode_batch(records)
        batch = Batch.from_records(records, settings.compress, raw)
        batch.reported_drops = dropped
        return batch

    def _take_dropped(self) -> int:
        memory = self.buffer.take_dropped()
        with self._extra_lock:
            extra, self._extra_dropped = self._extra_dropped, 0
        dropped = memory + extra
        if dropped:
            self.stats["dropped"] += memory
            self._report_drops(dropped)
        return dropped

    def _count_dropped(self, count: int, earlier_reports: int = 0) -> None:
        """Count lost records for the next batch; `earlier_reports` are counts that a lost batch was
        carrying to the server (already in stats, but the server must still hear about them)."""
        if count <= 0 and earlier_reports <= 0:
            return
        with self._extra_lock:
            self._extra_dropped += count + earlier_reports
        self.stats["dropped"] += count

    def _report_drops(self, count: int) -> None:
        self._dropped_unreported += count
        now = time.monotonic()
        if self._last_drop_report and now - self._last_drop_report < _DROP_REPORT_INTERVAL:
            return
        logger.warning(
            "log_collector: dropped %d records (memory queue and spool full, or records too large); "
            "the count is sent to the server as metadata.loglens_client_dropped",
            self._dropped_unreported,
        )
        self._dropped_unreported = 0
        self._last_drop_report = now

    def _has_full_batch(self) -> bool:
        buffer = self.buffer
        return len(buffer) >= self.settings.batch_size or buffer.pending_bytes >= self.settings.max_batch_bytes

    # ---- normal mode -----------------------------------------------------------------------

    def _send_pending(self, drain_all: bool) -> None:
        # A snapshot of the length: with many threads logging, "until empty" might never come.
        remaining = len(self.buffer) if drain_all else 0
        while not self.buffer.closing and not self._outage:
            if remaining <= 0 and not self._has_full_batch():
                return
            batch = self._next_batch()
            if batch is None:
                return
            remaining -= batch.count
            if self._deliver_owned(batch, None, self.settings.max_retries) is Outcome.RETRY:
                self._enter_outage()
                return
            # A burst faster than the network: disk is much cheaper than a request, so park the
            # excess there (replayed right after) instead of letting the queue drop the oldest.
            if self._spill_pressure():
                self._replay_wanted = True

    def _deliver_owned(self, batch: Batch, deadline: float | None, max_retries: int) -> Outcome:
        """Deliver a batch that came from memory; whatever happens it ends sent, spooled or dropped."""
        self.inflight = batch
        try:
            outcome = self._deliver(batch, deadline, max_retries)
        except Exception:
            # A bug must not lose the records (or leave flush() waiting for them): keep them on disk.
            logger.exception("log_collector: unexpected error while sending a batch; spooling it")
            outcome = Outcome.RETRY
        finally:
            self.inflight = None
        if batch.settle():
            if outcome is Outcome.RETRY:
                self._store(batch)
            self.buffer.mark_handled(batch.count)
        return outcome

    def _deliver(self, batch: Batch, deadline: float | None, max_retries: int) -> Outcome:
        """Send with retries. Returns ACCEPTED when the batch is finished with (sent, split or dropped)
        and RETRY when it must wait in the spool."""
        attempt = 0
        while True:
            if self.buffer.closing and deadline is None:
                deadline = self._network_deadline()
            timeout = self.settings.timeout
            if deadline is not None:
                timeout = min(timeout, deadline - time.monotonic())
                if timeout <= 0:
                    return Outcome.RETRY
            answer = self.transport.post(batch.body(), batch.gzipped, timeout)
            if answer.outcome is Outcome.ACCEPTED:
                self._accepted(batch, answer)
                return Outcome.ACCEPTED
            if answer.outcome is Outcome.TOO_LARGE:
                return self._split(batch, deadline)
            if answer.outcome is not Outcome.RETRY:
                self._refused(batch, answer)
                return Outcome.ACCEPTED
            self.stats["failed_requests"] += 1
            self._last_retry_after = answer.retry_after
            self.reporter.once(
                "unreachable", logging.WARNING,
                "log_collector: ingest server unavailable (%s); retrying, then spooling to %s",
                answer.detail[:200] or answer.status, self.spool.directory,
            )
            attempt += 1
            if attempt > max_retries:
                return Outcome.RETRY
            delay = self._backoff(attempt, answer.retry_after)
            if answer.retry_after is not None and answer.retry_after > self.settings.backoff_max:
                return Outcome.RETRY  # a long wait is better spent with the batch safe on disk
            if deadline is not None and time.monotonic() + delay >= deadline:
                return Outcome.RETRY
            self.stats["retries"] += 1
            self._pause(delay)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        # Full jitter (AWS architecture blog) spreads many clients' retries after a shared outage.
        ceiling = min(self.settings.backoff_max, self.settings.backoff_base * (2 ** (attempt - 1)))
        delay = random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    def _pause(self, delay: float) -> None:
        """Wait between retries without letting the memory queue overflow, and stop early on close."""
        buffer = self.buffer
        end = time.monotonic() + delay
        normal_wake = buffer.wake_count, buffer.wake_bytes
        # Only wake for memory pressure meanwhile, not for every full batch.
        buffer.wake_count, buffer.wake_bytes = self.settings.spill_mark, self.settings.spill_bytes
        try:
            while not buffer.closing:
                remaining = end - time.monotonic()
                if remaining <= 0:
                    return
                buffer.wait_for_work(remaining)
                self._spill_pressure()
        finally:
            buffer.wake_count, buffer.wake_bytes = normal_wake

    def _accepted(self, batch: Batch, answer: Answer) -> None:
        self.reporter.clear("unreachable")
        self.stats["sent"] += batch.count - len(answer.rejected)
        if answer.rejected:
            self.stats["rejected"] += len(answer.rejected)
            # Said once per batch and never retried: the same record would be rejected again.
            details = "; ".join(_describe_rejection(batch, r) for r in answer.rejected[:10])
            more = len(answer.rejected) - 10
            logger.warning(
                "log_collector: server rejected %d of %d records: %s%s",
                len(answer.rejected), batch.count, details, f" (and {more} more)" if more > 0 else "",
            )

    def _refused(self, batch: Batch, answer: Answer) -> None:
        self.stats["rejected"] += batch.count
        if answer.outcome is Outcome.UNAUTHORIZED:
            self.reporter.once(
                "unauthorized", logging.ERROR,
                "log_collector: server refused the API key (HTTP %d); %d records not sent. "
                "Check api_key for %s",
                answer.status, batch.count, self.transport.endpoint,
            )
        elif answer.outcome is Outcome.REJECTED:
            details = "; ".join(_describe_rejection(batch, r) for r in answer.rejected[:10])
            logger.warning(
                "log_collector: server rejected a batch of %d records (HTTP 400): %s",
                batch.count, details or answer.detail[:500],
            )
        else:
            self.reporter.once(
                f"client-bug-{answer.status}", logging.ERROR,
                "log_collector: server answered HTTP %d to %s; %d records not sent: %s",
                answer.status, self.transport.endpoint, batch.count, answer.detail[:500],
            )

    def _split(self, batch: Batch, deadline: float | None) -> Outcome:
        """413: halve and resend; one record that is still too large is reported and dropped."""
        try:
            records = batch.records()
        except (OSError, ValueError, EOFError):
            logger.error("log_collector: an unreadable batch of %d records was dropped", batch.count)
            self._count_dropped(batch.count)
            return Outcome.ACCEPTED
        if len(records) <= 1:
            logger.warning(
                "log_collector: a record of %d bytes is too large for the server; dropped",
                len(encode_record(records[0])) if records else 0,
            )
            self._count_dropped(len(records))
            return Outcome.ACCEPTED
        middle = len(records) // 2
        for index, half in enumerate((records[:middle], records[middle:])):
            part = Batch.from_records(half, batch.gzipped)
            if index == 0:
                part.reported_drops = batch.reported_drops  # its first record carries the count
            if self._deliver(part, deadline, self.settings.max_retries) is Outcome.RETRY:
                self._store(part)
                self._enter_outage()
        return Outcome.ACCEPTED

    # ---- spool -----------------------------------------------------------------------------

    def _store(self, batch: Batch) -> None:
        result = self.spool.write(batch.spool_body(), batch.count, batch.reported_drops)
        if result.stored:
            self.stats["spooled"] += batch.count
        self._count_dropped(result.lost_records, result.lost_reports)

    def _spill(self, drain_all: bool) -> None:
        """Outage mode: move due batches from memory to disk without touching the network."""
        if not self.spool.enabled:
            return  # without a spool, memory (bounded, oldest dropped first) is the only place
        remaining = len(self.buffer) if drain_all else 0
        while remaining > 0 or self._has_full_batch():
            batch = self._next_batch(self._spill_batch)
            if batch is None:
                return
            remaining -= batch.count
            self._store(batch)
            self.buffer.mark_handled(batch.count)

    def _spill_pressure(self) -> bool:
        """Move records to disk when the queue passes the spill mark; True if it did."""
        settings = self.settings
        if not self.spool.enabled:
            return False
        if len(self.buffer) < settings.spill_mark and self.buffer.pending_bytes < settings.spill_bytes:
            return False
        while (
            len(self.buffer) >= settings.spill_mark // 2
            or self.buffer.pending_bytes >= settings.spill_bytes // 2
        ):
            batch = self._next_batch(self._spill_batch)
            if batch is None:
                break
            self._store(batch)
            self.buffer.mark_handled(batch.count)
        return True

    def _enter_outage(self) -> None:
        self._outage_failures += 1
        delay = self._backoff(self._outage_failures, self._last_retry_after)
        # Never hammer a server that just failed several times in a row.
        self._probe_at = time.monotonic() + max(delay, self.settings.backoff_base)
        self._outage = True
        self._replay_wanted = True

    def _probe(self) -> None:
        entry = self.spool.claim_oldest()
        if entry is None:
            batch = self._next_batch()
            if batch is None:
                self._outage = False  # nothing to prove the server with; the next send will tell
                return
            outcome = self._deliver_owned(batch, None, 0)
        else:
            outcome = self._replay_entry(entry, 0)
        if outcome is Outcome.RETRY:
            self._enter_outage()
        else:
            self._outage = False
            self._outage_failures = 0
            self._replay_wanted = True

    def _replay(self) -> None:
        """Send spooled batches oldest-first until the spool is empty or the server fails again."""
        while not self.buffer.closing:
            entry = self.spool.claim_oldest()
            if entry is None:
                self._replay_wanted = False
                return
            if self._replay_entry(entry, self.settings.max_retries) is Outcome.RETRY:
                self._enter_outage()
                return
            self._spill_pressure()

    def _replay_entry(self, entry: SpoolEntry, max_retries: int) -> Outcome:
        body = self.spool.read(entry)
        if body is None:
            return Outcome.ACCEPTED  # someone else removed it
        batch = Batch.from_spool(body, entry.records)
        batch.reported_drops = entry.reported_drops
        outcome = self._deliver(batch, None, max_retries)
        if outcome is Outcome.RETRY:
            self.spool.release(entry)
        else:
            self.spool.remove(entry)
            self.stats["replayed"] += entry.records
        return outcome

    # ---- shutdown --------------------------------------------------------------------------

    def _network_deadline(self) -> float:
        # Keep part of the close budget for writing what could not be sent to the spool.
        deadline = self.buffer.close_deadline or time.monotonic()
        budget = deadline - time.monotonic()
        return deadline - min(0.5, max(budget, 0.0) * 0.2)

    def _drain_for_close(self) -> None:
        net_deadline = self._network_deadline()
        # A short-lived process (cron job, CLI) should not leave its records on disk until its next
        # run because of one earlier hiccup: if a probe is due anyway, try the server once more.
        retries = 0 if self._outage else self.settings.max_retries
        if self._outage and time.monotonic() < self._probe_at:
            net_deadline = 0.0
        while time.monotonic() < net_deadline:
            batch = self._next_batch()
            if batch is None:
                break
            if self._deliver_owned(batch, net_deadline, retries) is Outcome.RETRY:
                break
            retries = self.settings.max_retries
        self.spill_leftovers()

    def spill_leftovers(self) -> None:
        """Write everything not yet delivered to the spool. Safe from any thread (close() calls it
        when the worker is stuck in a request that outlives the close budget)."""
        batch = self.inflight
        if batch is not None and batch.settle():
            self._store(batch)
            self.buffer.mark_handled(batch.count)
        while True:
            batch = self._next_batch(self._spill_batch)
            if batch is None:
                return
            self._store(batch)
            self.buffer.mark_handled(batch.count)


def _describe_rejection(batch: Batch, rejection: dict[str, Any]) -> str:
    index = rejection.get("index")
    errors = rejection.get("errors") or rejection.get("reason") or "?"
    event_id = "?"
    records = batch._records
    if isinstance(index, int) and records is not None and 0 <= index < len(records):
        event_id = records[index].get("event_id", "?")
    return f"#{index} (event_id {event_id}): {errors}"


def _records_within(records: list[dict[str, Any]], max_bytes: int) -> int:
    """How many leading records fit in a body of max_bytes (at least one: a single huge record is
    sent alone and, if the server refuses it with 413, reported and dropped)."""
    size = len(b'{"logs":[]}')
    for index, record in enumerate(records):
        size += len(encode_record(record)) + 1
        if size > max_bytes:
            return max(index, 1)
    return len(records)
