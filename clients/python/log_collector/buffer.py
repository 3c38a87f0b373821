"""The bounded in-memory queue between application threads and the background worker.

Application threads only append under a short lock; they never wait for the worker. The counters
(enqueued/handled) let flush() wait for exactly the records that were logged before it was called.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from .records import QueuedItem


class RecordBuffer:
    def __init__(self, max_items: int, wake_count: int, wake_bytes: int) -> None:
        self.max_items = max_items
        self.wake_count = wake_count
        self.wake_bytes = wake_bytes
        self.closing = False
        self.close_deadline: float | None = None
        self._init_state()

    def _init_state(self) -> None:
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self._handled_changed = threading.Condition(self.lock)
        self._items: deque[QueuedItem] = deque()
        self.pending_bytes = 0
        self.enqueued = 0
        self.handled = 0
        self.dropped = 0
        self.flush_wanted = False

    def reset_after_fork(self) -> None:
        # Another thread of the parent may have held the lock at fork time; in the child it would
        # stay locked forever. The parent's records are the parent's to send: start empty.
        self._init_state()

    def put(self, item: QueuedItem) -> bool:
        """Append one record, dropping the oldest when full; True when the worker should wake."""
        with self.lock:
            items = self._items
            if len(items) >= self.max_items:
                oldest = items.popleft()
                self.pending_bytes -= oldest[4]
                self.dropped += 1
                self.handled += 1
            items.append(item)
            self.enqueued += 1
            self.pending_bytes += item[4]
            count = len(items)
            size = self.pending_bytes
        return (count >= self.wake_count or size >= self.wake_bytes) and not self.wake.is_set()

    def __len__(self) -> int:
        return len(self._items)

    def take(self, limit: int, max_bytes: int) -> list[QueuedItem]:
        """Up to `limit` of the oldest records whose estimated sizes fit in max_bytes (at least one)."""
        taken: list[QueuedItem] = []
        size = 0
        with self.lock:
            items = self._items
            while items and len(taken) < limit:
                estimate = items[0][4]
                if taken and size + estimate > max_bytes:
                    break
                taken.append(items.popleft())
                size += estimate
            self.pending_bytes -= size
        return taken

    def put_back(self, taken: list[QueuedItem]) -> None:
        """Return records the worker took but could not fit in a batch, keeping their order."""
        if not taken:
            return
        with self.lock:
            self._items.extendleft(reversed(taken))
            self.pending_bytes += sum(item[4] for item in taken)

    def mark_handled(self, count: int) -> None:
        """Records sent, spooled or deliberately dropped: whatever flush() waited for is done."""
        with self.lock:
            self.handled += count
            self._handled_changed.notify_all()

    def take_dropped(self) -> int:
        with self.lock:
            dropped, self.dropped = self.dropped, 0
        return dropped

    def wait_for_work(self, timeout: float) -> None:
        self.wake.wait(max(timeout, 0.0))
        # Cleared before the worker looks at the queue, so a record added meanwhile is still seen.
        self.wake.clear()

    def take_flush_request(self) -> bool:
        with self.lock:
            wanted, self.flush_wanted = self.flush_wanted, False
        return wanted

    def request_close(self, deadline: float) -> None:
        self.close_deadline = deadline
        self.closing = True
        self.wake.set()

    def flush(self, timeout: float) -> bool:
        """Wait until every record logged before this call is sent, spooled or counted as dropped."""
        deadline = time.monotonic() + timeout
        with self.lock:
            target = self.enqueued
            if self.handled >= target:
                return True
            self.flush_wanted = True
            self.wake.set()
            while self.handled < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._handled_changed.wait(remaining)
        return True

    def unhandled(self) -> int:
        with self.lock:
            return self.enqueued - self.handled
