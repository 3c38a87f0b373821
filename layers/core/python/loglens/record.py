"""The log record: the single source of truth for every field loglens stores.

Validation, the OpenAPI document, the SQL column list used by the loader (and checked against
the migrations by a test) and the schema text the analysis agent reads are all derived from
`LogRecord`. Add a field here, then add the column in a new migration; the schema test fails
until both agree.

Rules (each is tested in tests/unit/test_record.py):
- Records in the shapes common loggers write (pino, winston, bunyan, structlog, loguru,
  Powertools, Python logging JSON, ECS, OpenTelemetry attribute names) are first brought to these
  field names by loglens.shapes (one alias table, shared with FireLens); its docstring has the rules.
- `level` is one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL; common spellings are normalised
  (see loglens.levels: "warning" → WARN, "err" → ERROR, "critical" → FATAL, any case), and a
  number is a pino/bunyan level (30 → INFO, 50 → ERROR).
- `service` missing means DEFAULT_SERVICE ("unknown_service"). `message` sent as an object or
  array is kept as its JSON text; a record with no message (or a blank one) but other fields of
  its own (pino's `logger.info({...})`) gets those fields' JSON text as its message.
- `timestamp` (stored as `created_at`) is ISO 8601 with or without a zone (naive means UTC) or
  an epoch number in s/ms/µs/ns (number or numeric string). It must fall inside the acceptance
  window around the time the server received it (default 30 days back, 1 hour ahead);
  outside it the record is rejected with a reason naming the field and the window. A missing
  timestamp means "now" (the server's receive time).
- Text: NUL characters are removed, invalid UTF-8 is replaced with U+FFFD, and text longer than
  its limit in TEXT_LIMITS is truncated with a visible "…[truncated]" marker, never rejected.
  Numbers sent for text fields (a numeric user_id) are kept as their decimal text.
- Unknown top-level fields are kept inside `metadata`, never silently dropped; one whose name is
  already taken there is kept as `_extra_<name>` (then `_extra2_<name>`, ...), never overwriting.
  `metadata` must be a JSON object of at most METADATA_MAX_BYTES serialised and METADATA_MAX_DEPTH deep.
- Server-owned fields (received_at, source, api_key_id, source_ip) are set from the ingest
  context; a client that sends them has them kept in metadata instead, never trusted.
- `event_id` is the deduplication key: a client UUID is kept; any other client string (up to
  128 characters) is mapped to a stable UUIDv5, so retries still deduplicate; absent, the
  server generates a time-ordered UUIDv7.
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from loglens.levels import LEVEL_ALIASES as LEVEL_ALIASES  # re-exported: the level spellings
from loglens.levels import Level as Level
from loglens.levels import level_from_word, pino_level
from loglens.shapes import BOOKKEEPING, already_canonical, canonical
from loglens.text import clean_text, truncate
from loglens.timeparse import TimeParseError, parse_event_time

ERROR_LEVELS: Final = (Level.ERROR, Level.FATAL)


class Source(StrEnum):
    API = "api"
    FIRELENS = "firelens"
    OTLP = "otlp"


# Character limits; longer text is truncated with a marker (see module docstring).
TEXT_LIMITS: Final[dict[str, int]] = {
    "log_type": 32,
    "service": 128,
    "environment": 64,
    "message": 32_768,
    "user_id": 256,
    "session_id": 256,
    "trace_id": 128,
    "span_id": 64,
    "error_type": 256,
    "application_error_code": 128,
    "stack_trace": 65_536,
    "module": 256,
    "component": 256,
    "endpoint": 1024,
    "method": 16,
    "page_path": 1024,
    "page_url": 2048,
    "browser_name": 64,
    "device_type": 32,
    "action_type": 128,
    "action_target": 512,
    "api_key_id": 128,
}
METADATA_MAX_BYTES: Final = 64 * 1024
METADATA_MAX_DEPTH: Final = 8
EVENT_ID_MAX_CHARS: Final = 128
# Fixed namespace so the same non-UUID client id always maps to the same UUID.
_CLIENT_ID_NAMESPACE: Final = uuid.UUID("6f1d3c1e-4d0b-5a59-9a57-6c6f676c656e")
SERVER_FIELDS: Final = frozenset({"received_at", "source", "api_key_id", "source_ip"})
# A record that names no service (pino, winston and structlog lines often do not); the same name
# OpenTelemetry gives a resource without service.name.
DEFAULT_SERVICE: Final = "unknown_service"


@dataclass(frozen=True)
class AcceptanceWindow:
    """How far from the receive time an event time may lie."""

    back: timedelta = timedelta(days=30)
    ahead: timedelta = timedelta(hours=1)

    def describe(self) -> str:
        return f"{_human(self.back)} back, {_human(self.ahead)} ahead"


@dataclass(frozen=True)
class IngestContext:
    """What the server knows about a record that the client does not get to say."""

    source: Source
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    api_key_id: str | None = None
    source_ip: str | None = None
    window: AcceptanceWindow = field(default_factory=AcceptanceWindow)
    # True only when re-reading records that loglens itself wrote (the load path reading collect's
    # output): their server fields were set by us and are kept as they are.
    trusted: bool = False


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86_400 == 0:
        days = seconds // 86_400
        return f"{days} day" + ("s" if days != 1 else "")
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour" + ("s" if hours != 1 else "")
    return f"{seconds} seconds"


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 v7): new rows land at the right edge of the index."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80  # 48-bit Unix milliseconds
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # 12 random bits
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & ((1 << 62) - 1)  # 62 random bits
    return uuid.UUID(int=value)


def _text(name: str) -> Any:
    limit = TEXT_LIMITS[name]

    def check(value: object) -> object:
        if value is None:
            return None
        if isinstance(value, bool):
            raise ValueError("expected a string, got a boolean")
        if isinstance(value, int | float):
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError("expected a string, got a non-finite number")
            value = str(value)
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {_json_type(value)}")
        return truncate(clean_text(value), limit)

    return BeforeValidator(check)


def _json_type(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def _int_in(low: int, high: int) -> Any:
    def check(value: object) -> object:
        if value is None:
            return None
        if isinstance(value, bool):
            raise ValueError(f"expected an integer from {low} to {high}, got a boolean")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            digits = value.strip()
            if len(digits) > 20:  # beyond any range here (and int() refuses 4,300+ digits)
                raise ValueError(f"expected an integer from {low} to {high}, got a number of {len(digits)} digits")
            value = int(digits)
        if isinstance(value, str):
            raise ValueError(f"expected an integer from {low} to {high}, got {clean_text(value)[:40]!r}")
        if not isinstance(value, int):
            raise ValueError(f"expected an integer from {low} to {high}, got {_json_type(value)}")
        if not low <= value <= high:
            raise ValueError(f"expected an integer from {low} to {high}, got {value}")
        return value

    return BeforeValidator(check)


def _non_negative_number(value: object) -> object:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("expected a non-negative number, got a boolean")
    if isinstance(value, str):
        text = value
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"expected a non-negative number, got {text[:40]!r}") from None
    if not isinstance(value, int | float):
        raise ValueError(f"expected a non-negative number, got {_json_type(value)}")
    if isinstance(value, int) and value.bit_length() > 1024:  # float() would raise OverflowError
        raise ValueError(f"expected a non-negative number, got an integer of {len(str(value))} digits")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"expected a non-negative number, got {value}")
    return float(value)


def _required_text(name: str) -> Any:
    inner = _text(name).func

    def check(value: object) -> object:
        if value is None:
            raise ValueError("expected a string, got null")
        out = inner(value)
        if out is None or (isinstance(out, str) and not out.strip()):
            raise ValueError("must not be empty")
        return out

    return BeforeValidator(check)


def _message() -> Any:
    inner = _required_text("message").func

    def check(value: object) -> object:
        if type(value) is not str and isinstance(value, dict | list):
            value = json_text(value)  # a dict message (Powertools, structlog): kept whole, as JSON
        return inner(value)

    return BeforeValidator(check)


def json_text(value: object) -> str:
    """Compact JSON text of a decoded JSON value."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _upper(value: str | None) -> str | None:
    return value.upper() if value is not None else None


Text = Annotated[str | None, Field(default=None)]


def _sql(sql_type: str, description: str, **kwargs: Any) -> Any:
    return Field(description=description, json_schema_extra={"sql_type": sql_type}, **kwargs)


class LogRecord(BaseModel):
    """One application log event, as stored in the `logs` table."""

    model_config = ConfigDict(
        extra="forbid",  # unknown fields never reach here: the before-validator moves them to metadata
        frozen=False,
        populate_by_name=True,
        json_schema_extra={"description": "One log event. Unknown top-level fields are kept in metadata."},
    )

    event_id: uuid.UUID = _sql("uuid", "Deduplication key: the client's id or one generated by the server.")
    # received_at is declared first so the created_at check can read it (pydantic validates in order).
    received_at: datetime = _sql("timestamptz", "When loglens received the event (server-set).")
    created_at: datetime = _sql(
        "timestamptz",
        "When the event happened (clients send it as `timestamp`; ISO 8601 or epoch s/ms/ns).",
    )
    level: Level = _sql("text", "Severity: TRACE, DEBUG, INFO, WARN, ERROR or FATAL.")
    log_type: Annotated[str, _text("log_type"), AfterValidator(lambda v: v.upper())] = _sql(
        "text", "Where the log came from: BACKEND, FRONTEND, MOBILE, BATCH, INFRA, …", default="BACKEND"
    )
    service: Annotated[str, _required_text("service")] = _sql("text", "Service name, e.g. payment-api.")
    environment: Annotated[str, _text("environment")] = _sql(
        "text", "Deployment environment, e.g. production.", default="development"
    )
    message: Annotated[str, _message()] = _sql("text", "The log message.")
    user_id: Annotated[str | None, _text("user_id")] = _sql("text", "End user id.", default=None)
    session_id: Annotated[str | None, _text("session_id")] = _sql("text", "Session id.", default=None)
    trace_id: Annotated[str | None, _text("trace_id")] = _sql("text", "Distributed trace id.", default=None)
    span_id: Annotated[str | None, _text("span_id")] = _sql("text", "Span id within the trace.", default=None)
    error_type: Annotated[str | None, _text("error_type")] = _sql(
        "text", "Exception class or error kind, e.g. DatabaseConnectionTimeout.", default=None
    )
    application_error_code: Annotated[str | None, _text("application_error_code")] = _sql(
        "text", "Application-specific error code.", default=None
    )
    http_status_code: Annotated[int | None, _int_in(100, 599)] = _sql(
        "integer", "HTTP status code of the request, 100-599.", default=None
    )
    stack_trace: Annotated[str | None, _text("stack_trace")] = _sql("text", "Stack trace text.", default=None)
    module: Annotated[str | None, _text("module")] = _sql("text", "Code module or logger name.", default=None)
    component: Annotated[str | None, _text("component")] = _sql("text", "Component within the service.", default=None)
    endpoint: Annotated[str | None, _text("endpoint")] = _sql(
        "text", "API endpoint path, e.g. /api/v1/payment.", default=None
    )
    method: Annotated[str | None, _text("method"), AfterValidator(_upper)] = _sql(
        "text", "HTTP method, upper case.", default=None
    )
    duration_ms: Annotated[float | None, BeforeValidator(_non_negative_number)] = _sql(
        "double precision", "Request or operation duration in milliseconds.", default=None
    )
    page_path: Annotated[str | None, _text("page_path")] = _sql("text", "Frontend page path.", default=None)
    page_url: Annotated[str | None, _text("page_url")] = _sql("text", "Frontend page URL.", default=None)
    browser_name: Annotated[str | None, _text("browser_name")] = _sql(
        "text", "Browser: Chrome, Edge, Firefox, Safari, Opera, Samsung Internet, …", default=None
    )
    device_type: Annotated[str | None, _text("device_type")] = _sql(
        "text", "Device class: desktop, mobile or tablet.", default=None
    )
    screen_width: Annotated[int | None, _int_in(0, 100_000)] = _sql("integer", "Screen width in pixels.", default=None)
    screen_height: Annotated[int | None, _int_in(0, 100_000)] = _sql(
        "integer", "Screen height in pixels.", default=None
    )
    action_type: Annotated[str | None, _text("action_type")] = _sql(
        "text", "User action kind, e.g. button_click.", default=None
    )
    action_target: Annotated[str | None, _text("action_target")] = _sql(
        "text", "What the action was on, e.g. checkout-button.", default=None
    )
    metadata: dict[str, Any] = _sql(
        "jsonb", "Everything else, as a JSON object (unknown top-level fields land here).", default_factory=dict
    )
    source: Source = _sql("text", "Ingest path: api, firelens or otlp (server-set).")
    api_key_id: Annotated[str | None, _text("api_key_id")] = _sql(
        "text", "Id of the API key that sent the event (server-set).", default=None
    )
    source_ip: IPv4Address | IPv6Address | None = _sql(
        "inet", "Client address where recording it is allowed (server-set).", default=None
    )

    @model_validator(mode="before")
    @classmethod
    def _arrange(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            raise ValueError(f"a log record must be a JSON object, got {_json_type(data)}")
        ctx = _context(info)
        moved: dict[str, Any] = {}
        # loglens's own output, and what its clients send, is already in loglens's names
        if not ctx.trusted and not already_canonical(data):
            shaped = canonical(data)
            data, moved = shaped.fields, shaped.moved
        known = _INPUT_FIELDS
        out: dict[str, Any] = {}
        extras: dict[str, Any] = {}
        for key, value in data.items():
            if key == "timestamp" or (key == "created_at" and "timestamp" not in data):
                out["created_at"] = value
            elif key in SERVER_FIELDS:
                if ctx.trusted:
                    out[key] = value
                else:
                    extras[key] = value
            elif key in known:
                out[key] = value
            else:
                extras[str(key)] = value
        metadata = out.get("metadata")
        if metadata is None:
            metadata = {}
        elif not isinstance(metadata, dict):
            raise _FieldError("metadata", f"expected a JSON object, got {_json_type(metadata)}")
        if not ctx.trusted:
            _default_service_and_message(out, extras)
        if extras or moved:
            metadata = dict(metadata)
            for key, value in (*extras.items(), *moved.items()):
                place(metadata, key, value)
        out["metadata"] = metadata
        if not ctx.trusted:
            out["received_at"] = ctx.received_at
            out["source"] = ctx.source
            out["api_key_id"] = ctx.api_key_id
            out["source_ip"] = ctx.source_ip
        if out.get("created_at") is None:
            out["created_at"] = out.get("received_at") or ctx.received_at
        if out.get("event_id") is None:
            out["event_id"] = uuid7()
        return out

    @field_validator("event_id", mode="before")
    @classmethod
    def _event_id(cls, value: object) -> object:
        if isinstance(value, uuid.UUID):
            return value
        if not isinstance(value, str):
            raise ValueError(f"expected a string of at most {EVENT_ID_MAX_CHARS} characters, got {_json_type(value)}")
        text = value.strip()
        if not text or len(text) > EVENT_ID_MAX_CHARS:
            raise ValueError(f"expected a non-empty string of at most {EVENT_ID_MAX_CHARS} characters")
        try:
            return uuid.UUID(text)
        except ValueError:
            return uuid.uuid5(_CLIENT_ID_NAMESPACE, clean_text(text))

    @field_validator("created_at", mode="before")
    @classmethod
    def _created_at(cls, value: object, info: ValidationInfo) -> datetime:
        try:
            when = parse_event_time(value)
        except TimeParseError as exc:
            raise ValueError(str(exc)) from None
        ctx = _context(info)
        reference = info.data.get("received_at") if ctx.trusted else ctx.received_at
        if not isinstance(reference, datetime):
            reference = ctx.received_at
        if reference.tzinfo is None:
            reference = reference.replace(tzinfo=UTC)
        if not (reference - ctx.window.back <= when <= reference + ctx.window.ahead):
            raise ValueError(
                f"{when.isoformat()} is outside the accepted window ({ctx.window.describe()} of "
                f"{reference.isoformat(timespec='seconds')})"
            )
        return when

    @field_validator("received_at", mode="before")
    @classmethod
    def _received_at(cls, value: object) -> datetime:
        try:
            return parse_event_time(value)
        except TimeParseError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("level", mode="before")
    @classmethod
    def _level(cls, value: object) -> Level:
        if not isinstance(value, str):
            if isinstance(value, int | float) and not isinstance(value, bool):
                number = pino_level(value) if isinstance(value, int) or math.isfinite(value) else None
                if number is None:
                    raise ValueError(
                        f"{value} is not a level; expected a level name or a pino/bunyan number from 10 to 60"
                    )
                return number
            raise ValueError(f"expected one of {', '.join(Level)}, got {_json_type(value)}")
        found = level_from_word(value)
        if found is None:
            shown = clean_text(value.strip())[:40]
            raise ValueError(f"{shown!r} is not a level; expected one of {', '.join(Level)}")
        return found

    @field_validator("metadata", mode="after")
    @classmethod
    def _metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        cleaned = _clean_json(value, depth=1)
        size = len(json.dumps(cleaned, ensure_ascii=False, separators=(",", ":")).encode())
        if size > METADATA_MAX_BYTES:
            raise ValueError(f"is {size} bytes serialised; the limit is {METADATA_MAX_BYTES}")
        return cleaned  # type: ignore[no-any-return]

    @field_validator("source_ip", mode="before")
    @classmethod
    def _source_ip(cls, value: object) -> object:
        return value or None

    def db_row(self) -> tuple[Any, ...]:
        """The record's values in LOG_COLUMNS order, ready for COPY or INSERT."""
        return tuple(getattr(self, name) for name in LOG_COLUMNS)


class _FieldError(ValueError):
    """A before-model error that belongs to one field (reported with that field's name)."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field_name = field_name
        self.reason = reason


def place(target: dict[str, Any], key: str, value: Any) -> None:
    """Put `value` under `key`, or under the first free `_extra_key`, `_extra2_key`, ...: a value
    already there is never overwritten."""
    name, n = key, 1
    while name in target:
        name = f"_extra_{key}" if n == 1 else f"_extra{n}_{key}"
        n += 1
    target[name] = value


def _default_service_and_message(out: dict[str, Any], extras: dict[str, Any]) -> None:
    """pino, winston and structlog lines often name no service; pino's `logger.info({...})` and
    python-json-logger's dict messages carry no message, only fields."""
    if "service" not in out:
        out["service"] = DEFAULT_SERVICE
    message = out.get("message")
    if message is None and "message" in out:
        return  # an explicit null is the client's mistake, reported as such
    if message is None or (isinstance(message, str) and not message.strip()):
        said = {k: v for k, v in extras.items() if k not in BOOKKEEPING}
        if said:
            out["message"] = json_text(said)


def _context(info: ValidationInfo) -> IngestContext:
    ctx = info.context
    if isinstance(ctx, IngestContext):
        return ctx
    if isinstance(ctx, dict) and isinstance(ctx.get("ingest"), IngestContext):
        return ctx["ingest"]  # type: ignore[no-any-return]
    raise RuntimeError("LogRecord must be validated with an IngestContext (see loglens.validate)")


_JSON_INT_MIN: Final = -(2**63)
_JSON_INT_MAX: Final = 2**64 - 1


def _clean_json(value: Any, depth: int) -> Any:
    if depth > METADATA_MAX_DEPTH:
        raise ValueError(f"is nested deeper than {METADATA_MAX_DEPTH} levels")
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): _clean_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_json(v, depth + 1) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN/Infinity; jsonb would refuse the document
    if isinstance(value, int) and not _JSON_INT_MIN <= value <= _JSON_INT_MAX:
        return str(value)  # the serialiser (orjson) stops at 64 bits; the digits are kept, as text
    return value


# Fields a client may send (server-owned ones excluded), and the storage column order.
_INPUT_FIELDS: Final = frozenset(LogRecord.model_fields) - SERVER_FIELDS - {"created_at"}
LOG_COLUMNS: Final[tuple[str, ...]] = tuple(LogRecord.model_fields)
REQUIRED_INPUT_FIELDS: Final = ("level", "service", "message")


def column_sql_types() -> dict[str, str]:
    """Column name → PostgreSQL type, from the model (checked against the migrations in tests)."""
    out: dict[str, str] = {}
    for name, info in LogRecord.model_fields.items():
        extra = info.json_schema_extra
        assert isinstance(extra, dict), name
        out[name] = str(extra["sql_type"])
    return out


def column_descriptions() -> dict[str, str]:
    return {name: info.description or "" for name, info in LogRecord.model_fields.items()}
