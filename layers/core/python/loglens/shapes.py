"""The shapes people already log in, mapped onto the record's fields.

Applications rarely log in loglens's own field names: pino writes `msg` and numeric levels,
structlog `event`, ECS `log.level` and `error.stack_trace`, Powertools `xray_trace_id`. One table,
ALIASES, says where else each record field may be found, and every path that takes application
JSON uses it: LogRecord validation (the HTTP API) and the FireLens mapping of stdout lines.

Rules (tested with the exact JSON each library emits in tests/unit/test_shapes.py):
- A field sent under its own name wins; an alias fills only a field the record lacks (or sends as
  null), and the first alias in table order that is present and fits wins.
- An alias's value is taken only if the field can hold it (a level word, a time, a status code
  100-599, text for text fields, ...). Otherwise it stays where it was and, like any unknown
  field, is kept in metadata under its own name.
- A dotted name is found as one key ("log.level"), as nested objects ({"log": {"level": ..}}) or
  a mix of both. A value taken from inside an object is removed from it and the object's other
  keys are kept (ECS `http: {request: {method, id}}` → method, metadata.http.request.id).
- `service` holding an object is ECS/OTel's namespace (`service.name`, `service.environment`);
  what is left of it goes to metadata.
- Structures: loguru's `serialize=True` envelope ({"text", "record"}) is unwrapped and its bound
  `extra` fields become the record's own; structlog's `dict_tracebacks` list and Powertools'
  `stack_trace` object become traceback text.
- `name` is the service for pino/bunyan (a numeric level) and the logger (module) for Python's
  logging (`levelname` present); otherwise it is only metadata.
- error_type, when not sent, is read from the stack trace's exception line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from loglens.levels import level_from_word, python_level
from loglens.timeparse import TimeParseError, parse_event_time


@dataclass(frozen=True)
class Alias:
    """`target` (a record field) may be found at `path`, converted by `convert`, only `when` it applies."""

    target: str
    path: tuple[str, ...]
    convert: Callable[[Any], Any] | None = None
    when: Callable[[Mapping[str, Any]], bool] | None = None
    # The top-level keys under which the path can start: "a", "a.b", "a.b.c" for ("a", "b", "c").
    heads: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        heads = frozenset(".".join(self.path[:i]) for i in range(1, len(self.path) + 1))
        object.__setattr__(self, "heads", heads)


def _alias(target: str, dotted: str, convert: Callable[[Any], Any] | None = None, **kw: Any) -> Alias:
    return Alias(target, tuple(dotted.split(".")), convert, **kw)


def _numeric_level(data: Mapping[str, Any]) -> bool:
    level = data.get("level")
    return isinstance(level, int | float) and not isinstance(level, bool)


def _python_logging(data: Mapping[str, Any]) -> bool:
    return "levelname" in data


def _nanos_to_ms(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return value / 1_000_000
        except OverflowError:  # an integer of hundreds of digits: not a duration, kept in metadata
            return None
    return None


# Per field, in priority order; the comment names who writes it.
ALIASES: Final[tuple[Alias, ...]] = (
    _alias("timestamp", "@timestamp"),  # ECS, logstash-logback-encoder
    _alias("timestamp", "time"),  # pino (epoch ms), bunyan, logrus, zerolog
    _alias("timestamp", "ts"),  # zap
    _alias("timestamp", "asctime"),  # Python logging / python-json-logger
    _alias("level", "levelname"),  # Python logging / python-json-logger
    _alias("level", "log.level"),  # ECS
    _alias("level", "severity"),  # Google Cloud, many Go loggers
    _alias("level", "log_level"),
    _alias("level", "lvl"),
    _alias("message", "msg"),  # pino, bunyan, logrus, zap
    _alias("message", "event"),  # structlog (a string; ECS `event` is an object and stays metadata)
    _alias("message", "log_message"),
    _alias("message", "err.message"),  # only when nothing else says what happened
    _alias("message", "error.message"),
    _alias("message", "exception.message"),
    _alias("service", "service.name"),  # ECS, OpenTelemetry
    _alias("service", "otelServiceName"),  # OpenTelemetry's Python logging instrumentation
    _alias("service", "name", when=_numeric_level),  # pino, bunyan
    _alias("environment", "deployment.environment.name"),  # OpenTelemetry semconv 1.27+
    _alias("environment", "deployment.environment"),  # OpenTelemetry before 1.27
    _alias("environment", "service.environment"),  # ECS 8
    _alias("environment", "env"),  # Datadog unified service tagging
    _alias("user_id", "user.id"),  # ECS
    _alias("user_id", "enduser.id"),  # OpenTelemetry
    _alias("user_id", "usr.id"),  # Datadog
    _alias("session_id", "session.id"),  # OpenTelemetry
    _alias("trace_id", "trace.id"),  # ECS
    _alias("trace_id", "xray_trace_id"),  # Powertools Logger (kept in X-Ray's own format)
    _alias("trace_id", "otelTraceID"),  # OpenTelemetry's Python logging instrumentation
    _alias("span_id", "span.id"),  # ECS
    _alias("span_id", "otelSpanID"),
    _alias("error_type", "exception_name"),  # Powertools Logger (Python)
    _alias("error_type", "error.type"),  # ECS
    _alias("error_type", "error.name"),  # Powertools Logger (TypeScript)
    _alias("error_type", "error.kind"),  # Datadog
    _alias("error_type", "err.type"),  # pino
    _alias("error_type", "err.name"),  # bunyan
    _alias("error_type", "exception.type"),  # OpenTelemetry, loguru
    _alias("application_error_code", "error.code"),  # ECS
    _alias("application_error_code", "err.code"),  # Node.js error codes (ECONNREFUSED, ...)
    _alias("stack_trace", "exception"),  # structlog format_exc_info, Powertools Logger (Python)
    _alias("stack_trace", "exc_info"),  # python-json-logger
    _alias("stack_trace", "error.stack_trace"),  # ECS
    _alias("stack_trace", "error.stack"),  # Datadog, Powertools Logger (TypeScript)
    _alias("stack_trace", "err.stack"),  # pino, bunyan
    _alias("stack_trace", "exception.stacktrace"),  # OpenTelemetry
    _alias("stack_trace", "stack"),  # winston format.errors({stack: true})
    _alias("module", "logger"),  # structlog add_logger_name
    _alias("module", "log.logger"),  # ECS
    _alias("module", "logger_name"),  # logstash-logback-encoder
    _alias("module", "logger.name"),  # Datadog
    _alias("module", "name", when=_python_logging),  # Python logging / python-json-logger
    _alias("module", "code.namespace"),  # OpenTelemetry
    _alias("component", "code.function.name"),  # OpenTelemetry
    _alias("component", "code.function"),
    _alias("http_status_code", "http.response.status_code"),  # ECS, OpenTelemetry
    _alias("http_status_code", "http.status_code"),  # OpenTelemetry before 1.21
    _alias("http_status_code", "res.statusCode"),  # pino-http, bunyan
    _alias("http_status_code", "status_code"),
    _alias("http_status_code", "statusCode"),
    _alias("method", "http.request.method"),  # ECS, OpenTelemetry
    _alias("method", "http.method"),  # OpenTelemetry before 1.21
    _alias("method", "req.method"),  # pino-http, bunyan
    _alias("endpoint", "http.route"),  # OpenTelemetry
    _alias("endpoint", "url.path"),  # ECS, OpenTelemetry
    _alias("endpoint", "http.target"),  # OpenTelemetry before 1.21
    _alias("endpoint", "req.url"),  # pino-http, bunyan
    _alias("duration_ms", "event.duration", _nanos_to_ms),  # ECS (nanoseconds)
    _alias("duration_ms", "responseTime"),  # pino-http (milliseconds)
    _alias("page_url", "url.full"),  # OpenTelemetry
    _alias("browser_name", "browser.brand"),  # OpenTelemetry
)
ALIAS_FIELDS: Final = frozenset(a.target for a in ALIASES)
_BY_FIELD: Final[dict[str, tuple[Alias, ...]]] = {
    name: tuple(a for a in ALIASES if a.target == name) for name in dict.fromkeys(a.target for a in ALIASES)
}
# Keys that can start an alias path; a record holding none of them (and no structure below) is
# already in loglens's own names and passes through untouched.
_TRIGGERS: Final = frozenset().union(*(a.heads for a in ALIASES)) - ALIAS_FIELDS
# Bookkeeping the loggers add to every line: not what the application said (see record.py's
# fallback message for records that carry no message of their own).
BOOKKEEPING: Final = frozenset({"pid", "hostname", "v", "taskName"})
# Fields whose name ECS and OpenTelemetry also use for an object (`service: {name, version}`).
_NAMESPACES: Final = frozenset({"service"})


def _finite(value: Any) -> bool:
    """A JSON number that is a real value (math.isfinite would overflow on a huge integer)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _text(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    return _finite(value)


def _string(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _level(value: Any) -> bool:
    return isinstance(value, str) and level_from_word(value) is not None


def _time(value: Any) -> bool:
    try:
        parse_event_time(value)
    except TimeParseError:
        return False
    return True


def _status(value: Any) -> bool:
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 3:
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599


def _duration(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return False
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 1024:
        return False  # the column is a double: float() of this would overflow
    return _finite(value) and value >= 0


# What a value must be for its field to hold it; anything else stays in metadata.
_FITS: Final[dict[str, Callable[[Any], bool]]] = {
    "timestamp": _time,
    "level": _level,
    "message": _string,
    "service": _string,
    "stack_trace": _string,
    "http_status_code": _status,
    "duration_ms": _duration,
}


@dataclass
class Shaped:
    """A record in loglens's names. `moved` holds values kept for metadata although their key is
    a field's name (what is left of an ECS `service` object, loguru's own `module`)."""

    fields: dict[str, Any]
    moved: dict[str, Any] = field(default_factory=dict)


def canonical(data: Mapping[str, Any]) -> Shaped:
    """`data` in loglens's field names; unknown keys are left as they are. `data` is never
    modified; when there is nothing to map, `fields` is `data` itself."""
    if already_canonical(data):
        return Shaped(data if isinstance(data, dict) else dict(data))
    out = dict(data)
    moved: dict[str, Any] = {}
    record = out.get("record")
    if isinstance(record, dict) and "text" in out and isinstance(record.get("level"), dict):
        out, moved = _unwrap_loguru(out, record)
    if isinstance(out.get("exception"), list):
        _structlog_traceback(out)
    if isinstance(out.get("stack_trace"), dict):
        _powertools_stack_trace(out)
    keys = out.keys()
    if not keys.isdisjoint(_TRIGGERS) or isinstance(out.get("service"), dict):
        # Found values are set after the search, so that every alias sees the record as sent
        # (ECS `service.environment` is still there after `service.name` was taken).
        found: dict[str, Any] = {}
        sent = dict(out)  # what `when` conditions look at: the record before anything was taken
        for name, aliases in _BY_FIELD.items():
            own = out.get(name)
            if own is not None and not (name in _NAMESPACES and isinstance(own, dict)):
                continue
            for alias in aliases:
                if alias.heads.isdisjoint(keys) or (alias.when is not None and not alias.when(sent)):
                    continue
                hit = _find(out, alias.path)
                if hit is None:
                    continue
                value = hit[0] if alias.convert is None else alias.convert(hit[0])
                if _FITS.get(name, _text)(value):
                    _remove(out, hit[1])
                    found[name] = value
                    break
        for name, value in found.items():
            if name in _NAMESPACES and isinstance(out.get(name), dict):
                moved[name] = out[name]  # what is left of the namespace object
            out[name] = value
        if isinstance(out.get("service"), dict | list):
            moved["service"] = out.pop("service")
    if out.get("error_type") is None and isinstance(out.get("stack_trace"), str):
        found_type = error_type_from_stack(out["stack_trace"])
        if found_type:
            out["error_type"] = found_type
    return Shaped(out, moved)


def already_canonical(data: Mapping[str, Any]) -> bool:
    """Nothing for canonical() to do: the common case (loglens's own clients), kept cheap because
    every record of every API request passes here."""
    if not data.keys().isdisjoint(_TRIGGERS) or ("record" in data and "text" in data):
        return False
    if isinstance(data.get("service"), dict) or isinstance(data.get("stack_trace"), dict):
        return False
    return data.get("error_type") is not None or not isinstance(data.get("stack_trace"), str)


def _find(node: Mapping[str, Any], parts: tuple[str, ...]) -> tuple[Any, tuple[str, ...]] | None:
    """The value at `parts` and the keys that lead to it; dotted keys and nesting in any mix."""
    for i in range(len(parts), 0, -1):
        key = ".".join(parts[:i])
        if key not in node:
            continue
        value = node[key]
        if i == len(parts):
            return value, (key,)
        if isinstance(value, Mapping):
            found = _find(value, parts[i:])
            if found is not None:
                return found[0], (key, *found[1])
    return None


def _remove(node: dict[str, Any], route: tuple[str, ...]) -> None:
    """Delete the value at `route`, copying the objects on the way (the input is never changed)
    and dropping those left empty."""
    key = route[0]
    if len(route) == 1:
        del node[key]
        return
    child = dict(node[key])
    _remove(child, route[1:])
    if child:
        node[key] = child
    else:
        del node[key]


def _unwrap_loguru(data: dict[str, Any], record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """loguru's serialize=True line: the record's fields, its bound extras as top-level fields."""
    out = {k: v for k, v in data.items() if k not in ("text", "record")}
    moved: dict[str, Any] = {}
    level = record["level"]
    name, number = level.get("name"), level.get("no")
    if isinstance(name, str) and level_from_word(name) is not None:
        out["level"] = name
    elif isinstance(number, int | float) and not isinstance(number, bool):
        out["level"] = python_level(number).value  # a custom level: its number says how severe
    else:
        out["level"] = name
    out["message"] = record.get("message")
    when = record.get("time")
    if isinstance(when, dict):
        out["timestamp"] = when.get("timestamp", when.get("repr"))
    if record.get("name") is not None:
        out["module"] = record["name"]  # the logger name (`__name__`), as the stdlib handler sends
    exception = record.get("exception")
    text = data.get("text")
    if isinstance(exception, dict) and isinstance(text, str):
        out["stack_trace"] = _loguru_traceback(text, str(record.get("message") or ""))
    skip = {"level", "message", "time", "name", "extra"}
    for key, value in record.items():
        if key not in skip and value is not None:
            # loguru's `module` is the file's stem (also in file.name): not the column's logger name
            (moved if key in out or key == "module" else out)[key] = value
    extra = record.get("extra")
    if isinstance(extra, dict):
        for key, value in extra.items():
            (moved if key in out else out)[str(key)] = value
    return out, moved


def _loguru_traceback(text: str, message: str) -> str:
    start = text.find("Traceback (most recent call last):")
    if start < 0:
        after = text.find(message + "\n") if message else -1
        start = after + len(message) + 1 if after >= 0 else 0
    return text[start:].rstrip("\n")


def _structlog_traceback(data: dict[str, Any]) -> None:
    """structlog's dict_tracebacks: a list of exceptions, the raised one first, then its causes."""
    stacks = [s for s in data["exception"] if isinstance(s, dict)]
    if not stacks or not all("exc_type" in s for s in stacks):
        return
    parts = []
    for stack in reversed(stacks):
        frames = [
            (f.get("filename"), f.get("lineno"), f.get("name"), f.get("line"))
            for f in stack.get("frames") or []
            if isinstance(f, dict)
        ]
        parts.append(python_traceback(stack.get("exc_type"), stack.get("exc_value"), frames))
    data["exception"] = "\n\n".join(parts)
    if data.get("error_type") is None:
        data["error_type"] = str(stacks[0]["exc_type"])


def _powertools_stack_trace(data: dict[str, Any]) -> None:
    """Powertools Logger's serialize_stacktrace object. Its `exception` text (when present) says
    the same, so the object is only rendered when that text is missing."""
    obj = data["stack_trace"]
    if "frames" not in obj or "type" not in obj:
        return
    del data["stack_trace"]
    if data.get("error_type") is None and "exception_name" not in data:
        data["error_type"] = obj["type"]
    if not _string(data.get("exception")):
        frames = [
            (f.get("file"), f.get("line"), f.get("function"), f.get("statement"))
            for f in obj.get("frames") or []
            if isinstance(f, dict)
        ]
        data["stack_trace"] = python_traceback(obj.get("type"), obj.get("value"), frames)


def python_traceback(exc_type: Any, exc_value: Any, frames: list[tuple[Any, Any, Any, Any]]) -> str:
    """Frames as Python prints them, so stack traces read the same whichever logger sent them."""
    lines = ["Traceback (most recent call last):"]
    for filename, lineno, function, statement in frames:
        lines.append(f'  File "{filename}", line {lineno}, in {function}')
        if statement:
            lines.append(f"    {str(statement).strip()}")
    lines.append(f"{exc_type}: {exc_value}" if exc_value not in (None, "") else str(exc_type))
    return "\n".join(lines)


_EXCEPTION_LINE: Final = re.compile(
    r'^(?:Exception in thread "[^"]*" )?([A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)(?::\s|:?$)'
)
_EXCEPTION_NAME: Final = re.compile(r"(?:Error|Exception|Throwable)$")


def error_type_from_stack(text: str) -> str | None:
    """The exception class a stack trace names: Python's last line, JavaScript's and Java's
    first ("TypeError: ...", "java.lang.IllegalStateException: ..."); None when unsure."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return None
    line = lines[-1] if lines[0].startswith("Traceback (most recent call last)") else lines[0]
    match = _EXCEPTION_LINE.match(line)
    if not match or not _EXCEPTION_NAME.search(match.group(1)):
        return None
    return match.group(1)


def split_traceback(text: str) -> tuple[str, str] | None:
    """A plain-text line that is a whole traceback (FireLens joins them): (message, error type).
    The message is the exception line: Python's last, Java's first."""
    stripped = text.strip()
    if not stripped or "\n" not in stripped:
        return None
    lines = stripped.splitlines()
    python = lines[0].startswith("Traceback (most recent call last)")
    java = any(line.lstrip().startswith("at ") for line in lines[1:])
    if not (python or java):
        return None
    found = error_type_from_stack(stripped)
    if found is None:
        return None
    return (lines[-1].strip() if python else lines[0].strip()), found
