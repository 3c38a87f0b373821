"""A value read at most once per `ttl` seconds, shared by threads (the agent's prompt facts, the console's)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class TtlValue(Generic[T]):
    """`get()` returns the last value `read()` gave unless it is `ttl` seconds old; a failed read raises and
    keeps nothing, so the next call tries again."""

    def __init__(self, read: Callable[[], T], ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._read = read
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._read_at = 0.0

    def get(self) -> T:
        with self._lock:
            now = self._clock()
            if self._value is None or now - self._read_at >= self._ttl:
                self._value = self._read()
                self._read_at = now
            return self._value
