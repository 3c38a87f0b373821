"""A structlog processor: add `LoglensProcessor(collector)` to the chain, before the renderer.

It hands each event to the collector and returns it unchanged, so the app's own output (console,
JSON to stdout) goes on as before. structlog is not imported: processors are plain callables.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from .records import exception_fields

if TYPE_CHECKING:
    from .collector import LogCollector

# structlog's method names that are not level words
_METHOD_LEVELS = {"exception": "ERROR", "msg": "INFO", "log": "INFO", "failure": "ERROR", "err": "ERROR"}
# Added by structlog's own processors: said again by the record's columns, or not the event's.
_HANDLED = frozenset({"event", "level", "logger", "timestamp", "exc_info", "exception", "stack_info"})


class LoglensProcessor:
    """Ships structlog events: `event` → message (a dict event as its JSON text), `level` (from
    add_log_level, else the method name), `logger` (add_logger_name) → module, `exc_info` or a
    formatted `exception` → error_type and stack_trace, every other key → record field or
    metadata. The event's time is the moment the processor runs: when the application logged."""

    def __init__(self, collector: LogCollector) -> None:
        self.collector = collector

    def __call__(self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        try:
            self._ship(method_name, event_dict)
        except Exception:  # a log call must never break the application
            logging.getLogger("log_collector").exception("log_collector: the structlog processor failed")
        return event_dict

    def _ship(self, method_name: str, event: Mapping[str, Any]) -> None:
        level = event.get("level") or _METHOD_LEVELS.get(method_name, method_name)
        message = event.get("event")
        fields: dict[str, Any] = {key: value for key, value in event.items() if key not in _HANDLED}
        if event.get("logger") is not None:
            fields["module"] = str(event["logger"])
        exc_info = event.get("exc_info")
        if exc_info:
            fields.update(exception_fields(exc_info))
        elif isinstance(event.get("exception"), str):
            fields["stack_trace"] = event["exception"]
        if isinstance(message, (dict, list)):
            # as the server stores an object message: its compact JSON text
            message = json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=str)
        self.collector._submit(time.time(), str(level), "" if message is None else str(message), fields)
