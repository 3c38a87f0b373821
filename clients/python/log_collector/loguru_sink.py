"""A loguru sink: `logger.add(loglens_sink(collector))` ships every loguru record.

loguru is not imported here: the sink only reads the record dictionary loguru hands to every
sink (`message.record`), so the client keeps no dependency on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from .records import exception_fields

if TYPE_CHECKING:
    from .collector import LogCollector


def loglens_sink(collector: LogCollector | None = None, **collector_options: Any) -> Callable[[Any], None]:
    """A sink for `logger.add(...)`. Pass a LogCollector, or LogCollector's own arguments to have
    one made (`loglens_sink(log_server_url=..., service=...)`; it is reachable as `.collector`).

    Mapping: the level by its number (loguru's TRACE 5 … CRITICAL 50, SUCCESS 25 → INFO, custom
    levels by their number), the message, the record time, the logger name → module, bound
    `extra` fields → record fields (service, user_id, trace_id, ...) or metadata, an exception →
    error_type + stack_trace, and function/line → metadata.
    """
    if collector is None:
        from .collector import LogCollector

        collector = LogCollector(**collector_options)
    elif collector_options:
        raise TypeError("pass either a LogCollector or LogCollector's arguments, not both")
    target = collector

    def sink(message: Any) -> None:
        record = message.record
        fields: dict[str, Any] = {"module": record["name"], "function": record["function"], "line": record["line"]}
        fields.update(record["extra"])
        exception = record["exception"]
        if exception is not None and exception.type is not None:
            fields.update(exception_fields((exception.type, exception.value, exception.traceback)))
        target._submit(record["time"].timestamp(), record["level"].no, record["message"], fields)

    sink.collector = target  # type: ignore[attr-defined]
    return sink
