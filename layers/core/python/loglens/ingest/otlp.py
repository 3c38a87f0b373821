"""OpenTelemetry OTLP/HTTP logs: both encodings mapped onto loglens records.

Protobuf requests are decoded with the official generated classes (opentelemetry-proto) and
turned into the same dictionary shape as OTLP/JSON, so one mapper serves both. Mapping:
- severityNumber ranges (1-4 TRACE … 21-24 FATAL) give the level; without one, severityText is
  normalised like any level; with neither, INFO.
- resource `service.name` → service (the spec's `unknown_service` when absent);
  `deployment.environment(.name)` → environment; other resource attributes → metadata.resource.
- semantic-convention attributes map to record fields (exception.type → error_type,
  http.response.status_code → http_status_code, http.route → endpoint, …); attributes named
  like a record field map to it; everything else is kept in metadata.
- OTLP has no event id, and exporters resend a failed request unchanged, so the event id is a
  UUIDv5 of the record's content: a resent record deduplicates.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Iterator
from typing import Any, Final

from loglens.http.request import HttpError
from loglens.record import LogRecord

_OTLP_NAMESPACE: Final = uuid.UUID("2b3f6f0c-6f74-4c70-8a5e-6c6f676c656e")
_SEVERITY: Final = ((4, "TRACE"), (8, "DEBUG"), (12, "INFO"), (16, "WARN"), (20, "ERROR"), (24, "FATAL"))
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


def to_raw_records(request: Any) -> list[dict[str, Any]]:
    """Flatten an OTLP request into loglens input records (validated afterwards like any other)."""
    if not isinstance(request, dict) or not isinstance(request.get("resourceLogs", []), list):
        raise HttpError(400, "body is not an OTLP ExportLogsServiceRequest: expected an object with resourceLogs")
    out: list[dict[str, Any]] = []
    for resource_logs in request.get("resourceLogs") or []:
        resource = _attributes((resource_logs.get("resource") or {}).get("attributes"))
        service = resource.pop("service.name", None) or "unknown_service"
        environment = resource.pop("deployment.environment.name", None) or resource.pop("deployment.environment", None)
        for scope_logs in resource_logs.get("scopeLogs") or []:
            scope = scope_logs.get("scope") or {}
            for item in scope_logs.get("logRecords") or []:
                out.append(_record(item, service, environment, resource, scope))
    return out


def _record(
    item: dict[str, Any], service: Any, environment: Any, resource: dict[str, Any], scope: dict[str, Any]
) -> dict[str, Any]:
    raw: dict[str, Any] = {"service": service, "level": _level(item), "message": _body_text(item.get("body"))}
    if environment:
        raw["environment"] = environment
    when = _nonzero(item.get("timeUnixNano")) or _nonzero(item.get("observedTimeUnixNano"))
    if when:
        raw["timestamp"] = int(when)
    if item.get("traceId"):
        raw["trace_id"] = str(item["traceId"]).lower()
    if item.get("spanId"):
        raw["span_id"] = str(item["spanId"]).lower()
    metadata: dict[str, Any] = {}
    for key, value in _attributes(item.get("attributes")).items():
        field = _ATTRIBUTE_FIELDS.get(key) or (key if key in _RECORD_FIELDS else None)
        if field and field not in raw:
            raw[field] = value
        else:
            metadata[key] = value
    if resource:
        metadata["resource"] = resource
    if scope.get("name"):
        metadata["otel.scope"] = scope["name"]
    if item.get("eventName"):
        metadata["event.name"] = item["eventName"]
    raw["metadata"] = metadata
    if "event_id" not in raw:
        canonical = json.dumps([item, service, environment, resource, scope], sort_keys=True, default=str)
        raw["event_id"] = str(uuid.uuid5(_OTLP_NAMESPACE, hashlib.sha256(canonical.encode()).hexdigest()))
    return raw


def _nonzero(value: Any) -> Any:
    return value if value not in (None, "", "0", 0) else None


def _level(item: dict[str, Any]) -> str:
    number = item.get("severityNumber")
    if isinstance(number, str) and number.startswith("SEVERITY_NUMBER_"):
        number = number.removeprefix("SEVERITY_NUMBER_").split("_", 1)[0]  # protobuf enum names, e.g. ERROR2
        return {"UNSPECIFIED": str(item.get("severityText") or "INFO")}.get(number, number.rstrip("0123456789"))
    try:
        value = int(number or 0)
    except (TypeError, ValueError):
        value = 0
    if 1 <= value <= 24:
        return next(name for top, name in _SEVERITY if value <= top)
    return str(item.get("severityText") or "INFO")


def _body_text(body: Any) -> str:
    value = _any_value(body) if isinstance(body, dict) else body
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _attributes(items: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for entry in items or []:
        if isinstance(entry, dict) and isinstance(entry.get("key"), str):
            out[entry["key"]] = _any_value(entry.get("value") or {})
    return out


def _any_value(value: dict[str, Any]) -> Any:
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return value["intValue"]
    if "doubleValue" in value:
        return value["doubleValue"]
    if "arrayValue" in value:
        return [_any_value(v) for v in (value["arrayValue"] or {}).get("values") or []]
    if "kvlistValue" in value:
        return _attributes((value["kvlistValue"] or {}).get("values"))
    if "bytesValue" in value:
        return value["bytesValue"]  # base64 text in both encodings' dict form
    return None
