"""The client's own diagnostics, through stdlib logging under the "log_collector" logger.

The handler that ships application logs ignores this logger, so a diagnostic can never feed
itself back into the queue. No NullHandler is installed on purpose: without any logging setup,
stdlib's last-resort handler still prints warnings about lost records to stderr.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

LOGGER_NAME = "log_collector"
logger = logging.getLogger(LOGGER_NAME)


class Reporter:
    """Says a recurring problem once, then only how often it recurred, so a dead server or a bad
    API key cannot flood the application's own logs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}

    def once(self, key: str, level: int, message: str, *args: Any, exc_info: bool = False) -> None:
        with self._lock:
            count = self._seen.get(key, 0) + 1
            self._seen[key] = count
        # Powers of ten keep a persistent problem visible without repeating it per batch.
        if count == 1 or (count >= 10 and _is_power_of_ten(count)):
            suffix = "" if count == 1 else f" (seen {count} times)"
            logger.log(level, message + suffix, *args, exc_info=exc_info)

    def clear(self, key: str) -> None:
        with self._lock:
            self._seen.pop(key, None)


def _is_power_of_ten(value: int) -> bool:
    while value % 10 == 0:
        value //= 10
    return value == 1
