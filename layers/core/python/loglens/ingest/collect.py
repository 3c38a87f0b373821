"""collect: API Gateway REST events in, validated NDJSON to a sink, per-record feedback out.

Routes (the origin document's paths plus OTLP):
  POST /api/v1/logs         one record (a JSON object)
  POST /api/v1/logs/batch   {"logs": [...]} (a bare JSON array is accepted too)
  POST /otlp/v1/logs        OTLP/HTTP logs, application/json or application/x-protobuf
  GET  /api/v1/health
Answers: 200 {"accepted": n, "rejected": [{"index", "errors"}]} when at least one record is
accepted; 400 when none is or the body is unreadable (saying where it broke); 413 over a size
limit; 415 for a content type or encoding we do not read; 503 with Retry-After when the sink
(Firehose) does not take the records, so the client resends.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from loglens import __version__
from loglens.ingest import otlp
from loglens.ingest.envelope import MAX_LINE_BYTES, Sealer, pack_records, to_line
from loglens.ingest.limits import MAX_BATCH_RECORDS
from loglens.ingest.privacy import Redactor, count_metrics, redact
from loglens.ingest.request import HttpError, decode_body, media_type, parse_json, raw_body
from loglens.ingest.sinks import Sink, SinkUnavailable
from loglens.record import IngestContext, Source
from loglens.settings import Settings
from loglens.validate import Rejection, validate_batch

JSON_TYPES = ("application/json", "text/plain")  # text/plain: what navigator.sendBeacon sends
OTLP_TYPES = ("application/json", "application/x-protobuf")


class Metrics(Protocol):
    def add_metric(self, name: str, unit: Any, value: float) -> None: ...


@dataclass(frozen=True)
class Outcome:
    accepted: int
    rejected: list[Rejection]

    def body(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "rejected": [r.as_dict() for r in self.rejected]}


@dataclass
class CollectService:
    """Validate, redact, serialise and hand to the sink; the part every route shares."""

    sink: Sink
    settings: Settings
    redactor: Redactor | None = None
    metrics: Metrics | None = None
    sealer: Sealer | None = None

    def ingest(self, items: Sequence[Any], ctx: IngestContext) -> Outcome:
        result = validate_batch(items, ctx)
        lines: list[bytes] = []
        rejected = list(result.rejected)
        positions = _accepted_positions(len(items), rejected)
        redactions: Counter[str] = Counter()
        for position, record in zip(positions, result.accepted, strict=True):
            redact(self.redactor, record, redactions)
            line = to_line(record)
            if len(line) > MAX_LINE_BYTES:
                rejected.append(
                    Rejection(position, (f"record is {len(line)} bytes serialised; the limit is {MAX_LINE_BYTES}",))
                )
                continue
            lines.append(line)
        if lines:
            # raises SinkUnavailable: nothing is acknowledged unless durable
            self.sink.put(pack_records(lines, self.sealer))
        rejected.sort(key=lambda r: r.index)
        if self.metrics is not None:
            self.metrics.add_metric(name="RecordsAccepted", unit="Count", value=len(lines))
            self.metrics.add_metric(name="RecordsRejected", unit="Count", value=len(rejected))
            count_metrics(self.metrics, redactions)
        return Outcome(len(lines), rejected)


def _accepted_positions(total: int, rejected: Sequence[Rejection]) -> list[int]:
    bad = {r.index for r in rejected}
    return [i for i in range(total) if i not in bad]


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any, headers: dict[str, str] | None = None) -> HttpResponse:
        return cls(status, json.dumps(data, ensure_ascii=False).encode(), "application/json", headers or {})


@dataclass
class CollectApi:
    """Routes an API Gateway REST (payload 1.0) proxy event to the service; returns a proxy response."""

    service: CollectService
    cors_origin: str = "*"

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._route(event)
        except HttpError as exc:
            response = HttpResponse.json(exc.status, {"error": exc.message}, exc.headers)
        except SinkUnavailable as exc:
            retry = str(exc.retry_after)
            response = HttpResponse.json(
                503,
                {"error": f"temporarily unavailable: {exc}", "retry_after": exc.retry_after},
                {"Retry-After": retry},
            )
        return self._proxy_response(response)

    def _route(self, event: dict[str, Any]) -> HttpResponse:
        method = str(event.get("httpMethod") or "").upper()
        path = _route_path(event)
        if path == "/api/v1/health":
            if method != "GET":
                raise HttpError(405, "use GET", {"Allow": "GET"})
            return HttpResponse.json(200, {"status": "ok", "version": __version__})
        if path not in ("/api/v1/logs", "/api/v1/logs/batch", "/otlp/v1/logs"):
            raise HttpError(404, f"no route for {path}")
        if method != "POST":
            raise HttpError(405, "use POST", {"Allow": "POST"})
        headers = _headers(event)
        body = decode_body(
            raw_body(event.get("body"), bool(event.get("isBase64Encoded"))), headers.get("content-encoding")
        )
        ctx = self._context(event)
        if path == "/otlp/v1/logs":
            return self._otlp(body, media_type(headers.get("content-type")), ctx)
        kind = media_type(headers.get("content-type"))
        if kind not in JSON_TYPES:
            raise HttpError(415, f"Content-Type {kind or '(none)'!r} is not accepted; send application/json")
        payload = parse_json(body)
        items = _single(payload) if path == "/api/v1/logs" else _batch(payload)
        outcome = self.service.ingest(items, ctx)
        return HttpResponse.json(200 if outcome.accepted else 400, outcome.body())

    def _otlp(self, body: bytes, kind: str, ctx: IngestContext) -> HttpResponse:
        if kind not in OTLP_TYPES:
            raise HttpError(
                415,
                f"Content-Type {kind or '(none)'!r} is not accepted; send application/x-protobuf or application/json",
            )
        protobuf = kind == "application/x-protobuf"
        request = otlp.decode_protobuf(body) if protobuf else parse_json(body)
        items = otlp.to_raw_records(request)
        if len(items) > MAX_BATCH_RECORDS:
            raise HttpError(413, f"request holds {len(items)} log records; the limit is {MAX_BATCH_RECORDS}")
        outcome = self.service.ingest(items, ctx)
        message = "; ".join(f"record {r.index}: {', '.join(r.errors)}" for r in outcome.rejected[:10])
        data, content_type = otlp.encode_response(len(outcome.rejected), message, protobuf=protobuf)
        return HttpResponse(200, data, content_type)

    def _context(self, event: dict[str, Any]) -> IngestContext:
        request_context = event.get("requestContext") or {}
        identity = request_context.get("identity") or {}
        source = Source.OTLP if _route_path(event) == "/otlp/v1/logs" else Source.API
        source_ip = None
        if self.service.settings.record_source_ip and identity.get("sourceIp"):
            source_ip = str(identity["sourceIp"]).split("/", 1)[0]
        return IngestContext(
            source=source,
            received_at=datetime.now(UTC),
            api_key_id=identity.get("apiKeyId") or None,
            source_ip=source_ip,
            window=self.service.settings.window,
        )

    def _proxy_response(self, response: HttpResponse) -> dict[str, Any]:
        headers = {
            "Content-Type": response.content_type,
            "Access-Control-Allow-Origin": self.cors_origin,
            **response.headers,
        }
        if response.content_type == "application/x-protobuf":
            import base64

            return {
                "statusCode": response.status,
                "headers": headers,
                "isBase64Encoded": True,
                "body": base64.b64encode(response.body).decode(),
            }
        return {
            "statusCode": response.status,
            "headers": headers,
            "isBase64Encoded": False,
            "body": response.body.decode(),
        }


def _route_path(event: dict[str, Any]) -> str:
    # `resource` is the API Gateway route template; `path` may carry a stage prefix on custom domains.
    path = str(event.get("resource") or event.get("path") or "")
    return path.rstrip("/") or "/"


def _headers(event: dict[str, Any]) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}


def _single(payload: Any) -> list[Any]:
    if not isinstance(payload, dict):
        raise HttpError(400, "body must be one log record as a JSON object; send arrays to /api/v1/logs/batch")
    return [payload]


def _batch(payload: Any) -> list[Any]:
    items = payload.get("logs") if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise HttpError(400, 'body must be {"logs": [ ...records ]}')
    if not items:
        raise HttpError(400, "logs is empty: send at least one record")
    if len(items) > MAX_BATCH_RECORDS:
        raise HttpError(413, f"batch holds {len(items)} records; the limit is {MAX_BATCH_RECORDS}")
    return items
