"""OpenTelemetry OTLP/HTTP logs: both encodings mapped onto loglens records.

Protobuf requests are decoded with the official generated classes (opentelemetry-proto) and
turned into the same dictionary shape as OTLP/JSON, so one mapper serves both. Mapping:
- severityNumber ranges (1-4 TRACE … 21-24 FATAL) give the level; without one (0), severityText
  is normalised like any level; with neither, INFO.
- resource `service.name` → service (the spec's `unknown_service` when absent);
  `deployment.environment(.name)` → environment; other resource attributes → metadata.resource.
- semantic-convention attributes map to record fields (exception.type → error_type,
  http.response.status_code → http_status_code, http.route → endpoint, …); attributes named
  like a record field map to it; everything else is kept in metadata.
- the body is the message; a record without one uses its eventName.
- OTLP has no event id, and exporters resend a failed request unchanged, so the event id is a
  UUIDv5 of the record's content *and its position in the request*: a resent request
  deduplicates, while two identical records in one request stay two events.

The request is read strictly (OTLP/JSON as the spec writes it; numbers are also taken as JSON
numbers, 64-bit integers also as decimal strings). A broken envelope (resourceLogs, scopeLogs or
logRecords that are not lists of objects) is a 400 naming the place; anything wrong inside one
log record, its resource or its scope rejects only the records concerned, each with the JSON path
of what is wrong, and comes back in the OTLP partialSuccess.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from loglens.http.request import HttpError
from loglens.record import LogRecord
from loglens.validate import Unreadable

_OTLP_NAMESPACE: Final = uuid.UUID("2b3f6f0c-6f74-4c70-8a5e-6c6f676c656e")
_SEVERITY: Final = ((4, "TRACE"), (8, "DEBUG"), (12, "INFO"), (16, "WARN"), (20, "ERROR"), (24, "FATAL"))
_SEVERITY_NAMES: Final = {
    "SEVERITY_NUMBER_UNSPECIFIED": 0,
    **{f"SEVERITY_NUMBER_{name}{n if n > 1 else ''}": top - 4 + n for top, name in _SEVERITY for n in range(1, 5)},
}
_ATTRIBUTE_FIELDS: Final = {
    "exception.type": "error_type",
    "exception.stacktrace": "stack_trace",
    "http.response.status_code": "http_status_code",
    "http.status_code": "http_status_code",
    "http.request.method": "method",
    "http.method": "method",
    "http.route": "endpoint",
    "url.path": "endpoint",
    "http.target": "endpoint",
    "url.full": "page_url",
    "user.id": "user_id",
    "enduser.id": "user_id",
    "session.id": "session_id",
    "code.namespace": "module",
    "code.function.name": "component",
    "code.function": "component",
    "browser.brand": "browser_name",
}
_RECORD_FIELDS: Final = frozenset(LogRecord.model_fields) - {"received_at", "source", "api_key_id", "source_ip"}
_ANY_VALUE_KINDS: Final = (
    "stringValue",
    "boolValue",
    "intValue",
    "doubleValue",
    "arrayValue",
    "kvlistValue",
    "bytesValue",
)
# Deeper values are not logs but attacks on the decoder; metadata keeps 8 levels anyway.
MAX_VALUE_DEPTH: Final = 32
_INT64: Final = (-(2**63), 2**63 - 1)
_UINT64_MAX: Final = 2**64 - 1
_DECIMAL: Final = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_NON_FINITE: Final = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class _Bad(Exception):
    """Something inside one record (or its resource or scope) that cannot be read as sent."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")


def decode_protobuf(data: bytes) -> dict[str, Any]:
    from google.protobuf.json_format import MessageToDict
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    request = ExportLogsServiceRequest()
    try:
        request.ParseFromString(data)
    except DecodeError as exc:
        raise HttpError(400, f"body is not a valid OTLP ExportLogsServiceRequest protobuf: {exc}") from None
    out: dict[str, Any] = MessageToDict(request, use_integers_for_enums=True)
    # Protobuf JSON renders bytes as base64; OTLP/JSON (and loglens) use hex ids.
    for record in _log_records(out):
        for key in ("traceId", "spanId"):
            if key in record:
                record[key] = base64.b64decode(record[key]).hex()
    return out


def encode_response(rejected: int, message: str, *, protobuf: bool) -> tuple[bytes, str]:
    if protobuf:
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse

        response = ExportLogsServiceResponse()
        if rejected:
            response.partial_success.rejected_log_records = rejected
            response.partial_success.error_message = message
        return response.SerializeToString(), "application/x-protobuf"
    body: dict[str, Any] = {}
    if rejected:
        body["partialSuccess"] = {"rejectedLogRecords": str(rejected), "errorMessage": message}
    return json.dumps(body).encode(), "application/json"


def _log_records(request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for resource_logs in request.get("resourceLogs") or []:
        for scope_logs in resource_logs.get("scopeLogs") or []:
            yield from scope_logs.get("logRecords") or []


@dataclass(frozen=True)
class _Resource:
    service: Any
    environment: Any
    attributes: dict[str, Any]


def to_raw_records(request: Any) -> list[dict[str, Any] | Unreadable]:
    """Flatten an OTLP request into loglens input records (validated afterwards like any other);
    a record that cannot be read is an Unreadable with the JSON path of the problem."""
    if not isinstance(request, dict):
        raise HttpError(400, "body is not an OTLP ExportLogsServiceRequest: expected an object with resourceLogs")
    out: list[dict[str, Any] | Unreadable] = []
    for i, resource_logs in enumerate(_envelope_list(request.get("resourceLogs"), "resourceLogs")):
        rpath = f"resourceLogs[{i}]"
        _envelope_object(resource_logs, rpath)
        try:
            resource: _Resource | _Bad = _resource(resource_logs.get("resource"), f"{rpath}.resource")
        except _Bad as bad:
            resource = bad
        for j, scope_logs in enumerate(_envelope_list(resource_logs.get("scopeLogs"), f"{rpath}.scopeLogs")):
            spath = f"{rpath}.scopeLogs[{j}]"
            _envelope_object(scope_logs, spath)
            try:
                scope: dict[str, Any] | _Bad = _scope(scope_logs.get("scope"), f"{spath}.scope")
            except _Bad as bad:
                scope = bad
            for k, item in enumerate(_envelope_list(scope_logs.get("logRecords"), f"{spath}.logRecords")):
                lpath = f"{spath}.logRecords[{k}]"
                _envelope_object(item, lpath)
                try:
                    if isinstance(resource, _Bad):
                        raise resource
                    if isinstance(scope, _Bad):
                        raise scope
                    out.append(_record(item, lpath, resource, scope, (i, j, k)))
                except _Bad as bad:
                    out.append(Unreadable((str(bad),)))
    return out


def _envelope_list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise HttpError(400, f"body is not an OTLP ExportLogsServiceRequest: {path} must be a list, got {_kind(value)}")
    return value


def _envelope_object(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise HttpError(
            400, f"body is not an OTLP ExportLogsServiceRequest: {path} must be an object, got {_kind(value)}"
        )


def _resource(value: Any, path: str) -> _Resource:
    attributes = _attributes(_object(value, path).get("attributes"), f"{path}.attributes")
    service = attributes.pop("service.name", None) or "unknown_service"
    environment = attributes.pop("deployment.environment.name", None) or attributes.pop("deployment.environment", None)
    return _Resource(service, environment, attributes)


def _scope(value: Any, path: str) -> dict[str, Any]:
    scope = _object(value, path)
    out: dict[str, Any] = {}
    for key in ("name", "version"):
        text = _string(scope.get(key), f"{path}.{key}")
        if text:
            out[key] = text
    return out


def _record(
    item: dict[str, Any], path: str, resource: _Resource, scope: dict[str, Any], position: tuple[int, int, int]
) -> dict[str, Any]:
    message = _body_text(item.get("body"), f"{path}.body")
    event_name = _string(item.get("eventName"), f"{path}.eventName")
    raw: dict[str, Any] = {
        "service": resource.service,
        "level": _level(item, path),
        "message": message if message is not None else (event_name or ""),
    }
    if resource.environment:
        raw["environment"] = resource.environment
    observed = _uint64(item.get("observedTimeUnixNano"), f"{path}.observedTimeUnixNano")
    when = _uint64(item.get("timeUnixNano"), f"{path}.timeUnixNano") or observed
    if when:
        raw["timestamp"] = when
    for key, name in (("traceId", "trace_id"), ("spanId", "span_id")):
        ident = _id(item.get(key), f"{path}.{key}")
        if ident:
            raw[name] = ident
    metadata: dict[str, Any] = {}
    for key, value in _attributes(item.get("attributes"), f"{path}.attributes").items():
        field = _ATTRIBUTE_FIELDS.get(key) or (key if key in _RECORD_FIELDS else None)
        if field and field not in raw:
            raw[field] = value
        else:
            metadata[key] = value
    if resource.attributes:
        metadata["resource"] = resource.attributes
    if scope.get("name"):
        metadata["otel.scope"] = scope["name"]
    if scope.get("version"):
        metadata["otel.scope.version"] = scope["version"]
    if event_name:
        metadata["event.name"] = event_name
    raw["metadata"] = metadata
    if "event_id" not in raw:
        canonical = json.dumps(
            [list(position), item, resource.service, resource.environment, resource.attributes, scope],
            sort_keys=True,
            default=str,
        )
        raw["event_id"] = str(uuid.uuid5(_OTLP_NAMESPACE, hashlib.sha256(canonical.encode()).hexdigest()))
    return raw


def _level(item: dict[str, Any], path: str) -> str:
    number = item.get("severityNumber")
    text = _string(item.get("severityText"), f"{path}.severityText")
    if isinstance(number, str) and number in _SEVERITY_NAMES:
        number = _SEVERITY_NAMES[number]
    if number is None:
        number = 0
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= 24:
        raise _Bad(
            f"{path}.severityNumber",
            f"expected a severity number from 0 to 24 (or a SEVERITY_NUMBER_ name), got {_shown(number)}",
        )
    if number:
        return next(name for top, name in _SEVERITY if number <= top)
    return text or "INFO"


def _body_text(body: Any, path: str) -> str | None:
    if body is None:
        return None
    value = _any_value(body, path, 0)
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _attributes(items: Any, path: str, depth: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for index, entry in enumerate(_list(items, path)):
        where = f"{path}[{index}]"
        if not isinstance(entry, dict):
            raise _Bad(where, f"expected a key-value object, got {_kind(entry)}")
        key = entry.get("key")
        if not isinstance(key, str):
            raise _Bad(f"{where}.key", f"expected a string, got {_kind(key)}")
        if key in out:
            raise _Bad(f"{where}.key", f"{_shown(key)} appears twice; attribute keys must be unique")
        out[key] = _any_value(entry.get("value"), f"{where}.value", depth)
    return out


def _any_value(value: Any, path: str, depth: int) -> Any:
    """An AnyValue as plain JSON data (None for an empty one)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _Bad(path, f"expected an AnyValue object, got {_kind(value)}")
    if depth >= MAX_VALUE_DEPTH:
        raise _Bad(path, f"values nest deeper than {MAX_VALUE_DEPTH} levels")
    kinds = [k for k in _ANY_VALUE_KINDS if k in value]
    if len(kinds) > 1:
        raise _Bad(path, f"an AnyValue holds one value, got {' and '.join(kinds)}")
    if not kinds:
        if value:  # unknown fields alone: a value we cannot read, not an empty one
            names = ", ".join(sorted(_shown(k) for k in value)[:5])
            raise _Bad(path, f"no AnyValue field among {names}; expected one of {', '.join(_ANY_VALUE_KINDS)}")
        return None
    kind = kinds[0]
    inner = value[kind]
    where = f"{path}.{kind}"
    if kind == "stringValue":
        return _string(inner, where) or ""
    if kind == "boolValue":
        if not isinstance(inner, bool):
            raise _Bad(where, f"expected true or false, got {_kind(inner)}")
        return inner
    if kind == "intValue":
        return _integer(inner, where, *_INT64)
    if kind == "doubleValue":
        return _double(inner, where)
    if kind == "bytesValue":
        return _base64(inner, where)
    if kind == "arrayValue":
        values = _object(inner, where).get("values")
        return [
            _any_value(v, f"{where}.values[{n}]", depth + 1) for n, v in enumerate(_list(values, f"{where}.values"))
        ]
    return _attributes(_object(inner, where).get("values"), f"{where}.values", depth + 1)


def _object(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Bad(path, f"expected an object, got {_kind(value)}")
    return value


def _list(value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Bad(path, f"expected a list, got {_kind(value)}")
    return value


def _string(value: Any, path: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise _Bad(path, f"expected a string, got {_kind(value)}")


def _integer(value: Any, path: str, low: int, high: int) -> int:
    """A 64-bit integer: a JSON number or a decimal string (how OTLP/JSON writes them)."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        # 20 digits hold any 64-bit value; a longer string is out of range (and int() of 4,300+
        # digits would raise).
        if text.lstrip("-").isdigit() and text.isascii() and len(text) <= 21:
            number = int(text)
    if number is None or not low <= number <= high:
        raise _Bad(path, f"expected an integer from {low} to {high}, got {_shown(value)}")
    return number


def _uint64(value: Any, path: str) -> int | None:
    if value is None or value == "":
        return None
    return _integer(value, path, 0, _UINT64_MAX) or None


def _double(value: Any, path: str) -> float | str:
    if isinstance(value, str) and value in _NON_FINITE:
        number = _NON_FINITE[value]
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond a double's range
            number = math.copysign(math.inf, value)
    elif isinstance(value, str) and len(value) <= 64 and _DECIMAL.fullmatch(value):
        number = float(value)  # proto3 JSON also writes doubles as strings
    else:
        raise _Bad(path, f"expected a number, got {_shown(value)}")
    if math.isfinite(number):
        return number
    # JSON (and jsonb) has no NaN or Infinity: keep proto3 JSON's names for them, as text.
    return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")


def _base64(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise _Bad(path, f"expected base64 text, got {_kind(value)}")
    padded = value + "=" * (-len(value) % 4)
    for alphabet in (None, b"-_"):  # proto3 JSON allows standard and URL-safe base64
        try:
            base64.b64decode(padded, altchars=alphabet, validate=True)
            return value
        except (binascii.Error, ValueError):
            continue
    raise _Bad(path, f"expected base64 text, got {_shown(value)}")


def _id(value: Any, path: str) -> str | None:
    """traceId/spanId: hex in OTLP/JSON; all zeros or empty means none. Other text is kept as sent."""
    text = _string(value, path)
    if not text:
        return None
    if all(c in "0123456789abcdefABCDEF" for c in text):
        return None if not text.strip("0") else text.lower()
    return text


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:40] + "…")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return f"a number of {len(str(abs(value)))} digits"
    if isinstance(value, int | float | bool) or value is None:
        return json.dumps(value)
    return _kind(value)
