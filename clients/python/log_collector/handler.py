"""A standard logging.Handler, so `logging.getLogger().addHandler(collector.handler())` ships
every record of an existing application without touching its logging calls."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .diagnostics import LOGGER_NAME

if TYPE_CHECKING:
    from .collector import LogCollector

# Whatever a bare LogRecord carries is stdlib bookkeeping; anything else came from `extra=`.
_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
_OWN_PREFIX = LOGGER_NAME + "."
_fallback_formatter = logging.Formatter()


class LogCollectorHandler(logging.Handler):
    """Maps a LogRecord onto a loglens record: levels WARNING→WARN and CRITICAL→FATAL, logger
    name → module, exception info → error_type + stack_trace, `extra=` keys that are record fields
    → fields and all other `extra=` keys → metadata."""

    def __init__(self, collector: LogCollector, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.collector = collector

    def handle(self, record: logging.LogRecord) -> bool:
        # emit() only appends to the collector's own short-locked queue, so stdlib's per-handler
        # lock, which would serialise every thread's logging on this handler, is not needed.
        result: Any = self.filter(record)
        if isinstance(result, logging.LogRecord):  # 3.12+: a filter may return a replacement
            record = result
        if result:
            self.emit(record)
        return bool(result)

    def emit(self, record: logging.LogRecord) -> None:
        name = record.name
        # The client's own diagnostics must never come back in: that would loop on a dead server.
        if name == LOGGER_NAME or name.startswith(_OWN_PREFIX):
            return
        try:
            fields: dict[str, Any] = {"module": name}
            attributes = record.__dict__
            for key in attributes.keys() - _STANDARD_ATTRIBUTES:
                fields[key] = attributes[key]
            exc_info = record.exc_info
            if exc_info and exc_info[0] is not None:
                fields.setdefault("error_type", exc_info[0].__name__)
                # Formatted here, not on the worker: the traceback's frames change as the app moves on.
                formatter = self.formatter or _fallback_formatter
                trace = record.exc_text or formatter.formatException(exc_info)
                if record.stack_info:
                    trace = f"{trace}\n{record.stack_info}"
                fields.setdefault("stack_trace", trace)
            elif record.stack_info:
                fields.setdefault("stack_trace", record.stack_info)
            self.collector._submit(record.created, record.levelno, record.getMessage(), fields)
        except Exception:
            self.handleError(record)
