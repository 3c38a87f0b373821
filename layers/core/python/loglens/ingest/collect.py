"""collect: API Gateway REST events in, validated NDJSON to a sink, per-record feedback out.

Routes (the origin document's paths plus OTLP):
  POST /api/v1/logs         one record (a JSON object)
  POST /api/v1/logs/batch   {"logs": [...]} (a bare JSON array is accepted too)
  POST /otlp/v1/logs        OTLP/HTTP logs, application/json or application/x-protobuf
  GET  /api/v1/health
  GET  /api/v1/openapi.json  the OpenAPI 3.1 document of every route (loglens.openapi), no key
Answers: 200 {"accepted": n, "rejected": [{"index", "errors"}]} when at least one record is
accepted; 400 when none is or the body is unreadable (saying where it broke); 413 over a size
limit; 415 for a content type or encoding we do not read; 503 with Retry-After when the sink
(Firehose) does not take the records, so the client resends.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from loglens import __version__
from loglens.http import HttpError, HttpResponse, Request, Router, decode_body, media_type, parse_json
from loglens.ingest import otlp
from loglens.ingest.envelope import MAX_LINE_BYTES, Sealer, pack_records, to_line
from loglens.ingest.limits import MAX_BATCH_RECORDS
from loglens.ingest.privacy import Redactor, count_metrics, redact
from loglens.ingest.sinks import Sink, SinkUnavailable
from loglens.lake.rows import lake_records
from loglens.record import IngestContext, LogRecord, Source
from loglens.settings import Settings
from loglens.validate import Rejection, validate_batch

# JSON only: text/plain (a beacon sent with a string body) is refused with 415, as the README says; the
# JavaScript client's beacons send a Blob typed application/json (and only to a same-origin proxy, since
# a beacon cannot carry the API key), so no client of ours needs another type.
JSON_TYPES = ("application/json",)
OTLP_TYPES = ("application/json", "application/x-protobuf")


class Metrics(Protocol):
    def add_metric(self, name: str, unit: Any, value: float) -> None: ...


class RejectedRecord(BaseModel):
    index: int = Field(ge=0, description="The record's position in the request (OTLP: counted across the request).")
    errors: list[str] = Field(description="What is wrong, each naming its field or JSON path.")


class CollectAnswer(BaseModel):
    """What /api/v1/logs and /api/v1/logs/batch answer (200 when anything was accepted, else 400)."""

    accepted: int = Field(ge=0, description="Records that are now durable (stored once, whatever their repeats).")
    rejected: list[RejectedRecord] = Field(description="Records refused, each alone, with the reasons.")


class HealthAnswer(BaseModel):
    status: Literal["ok"]
    version: str


class OtlpPartialSuccess(BaseModel):
    rejectedLogRecords: str = Field(description="How many log records were rejected (an int64 as OTLP/JSON writes it).")
    errorMessage: str = Field(description="The first rejections, each with the JSON path of the problem.")


class OtlpAnswer(BaseModel):
    """ExportLogsServiceResponse in OTLP/JSON: empty when every record was accepted."""

    partialSuccess: OtlpPartialSuccess | None = None


@dataclass(frozen=True)
class Outcome:
    accepted: int
    rejected: list[Rejection]

    def body(self) -> dict[str, Any]:
        rejected = [RejectedRecord(index=r.index, errors=list(r.errors)) for r in self.rejected]
        return CollectAnswer(accepted=self.accepted, rejected=rejected).model_dump()


@dataclass
class CollectService:
    """Validate, redact, serialise and hand to the sink; the part every route shares."""

    sink: Sink
    settings: Settings
    redactor: Redactor | None = None
    metrics: Metrics | None = None
    sealer: Sealer | None = None
    # Lake-only stages: each record goes to the Iceberg stream as its own sealed row (loglens.lake.rows).
    lake_rows: bool = False

    def __post_init__(self) -> None:
        if self.lake_rows and self.sealer is None:
            raise ValueError("lake rows are sealed: the lake's gate trusts nothing else")

    def ingest(self, items: Sequence[Any], ctx: IngestContext) -> Outcome:
        result = validate_batch(items, ctx)
        lines: list[bytes] = []
        rejected = list(result.rejected)
        positions = _accepted_positions(len(items), rejected)
        redactions: Counter[str] = Counter()
        # (created_at, event_id) is the storage key: a second record with the same key would be
        # dropped by the load path, so it is settled here, where the client still hears about it.
        seen: dict[tuple[datetime, uuid.UUID], tuple[int, LogRecord]] = {}
        kept: list[LogRecord] = []
        repeats = 0
        for position, record in zip(positions, result.accepted, strict=True):
            redact(self.redactor, record, redactions)
            key = (record.created_at, record.event_id)
            earlier = seen.get(key)
            if earlier is not None:
                if earlier[1] == record:
                    repeats += 1  # the same event twice (a client resending within one batch): stored once
                else:
                    rejected.append(Rejection(position, (_conflict(record, earlier[0]),)))
                continue
            line = to_line(record)
            if len(line) > MAX_LINE_BYTES:
                rejected.append(
                    Rejection(position, (f"record is {len(line)} bytes serialised; the limit is {MAX_LINE_BYTES}",))
                )
                continue
            seen[key] = (position, record)
            lines.append(line)
            kept.append(record)
        if lines:
            # raises SinkUnavailable: nothing is acknowledged unless durable
            if self.lake_rows and self.sealer is not None:
                self.sink.put(lake_records([record.db_row() for record in kept], self.sealer))
            else:
                self.sink.put(pack_records(lines, self.sealer))
        rejected.sort(key=lambda r: r.index)
        if self.metrics is not None:
            self.metrics.add_metric(name="RecordsAccepted", unit="Count", value=len(lines) + repeats)
            self.metrics.add_metric(name="RecordsRejected", unit="Count", value=len(rejected))
            count_metrics(self.metrics, redactions)
        return Outcome(len(lines) + repeats, rejected)


def _conflict(record: LogRecord, first: int) -> str:
    return (
        f"event_id: {record.event_id} with timestamp {record.created_at.isoformat()} is already record {first}'s "
        "in this request, with different content; a different event needs its own event_id"
    )


def _accepted_positions(total: int, rejected: Sequence[Rejection]) -> list[int]:
    bad = {r.index for r in rejected}
    return [i for i in range(total) if i not in bad]


HEALTH_PATH = "/api/v1/health"
LOGS_PATH = "/api/v1/logs"
BATCH_PATH = "/api/v1/logs/batch"
OTLP_PATH = "/otlp/v1/logs"
OPENAPI_PATH = "/api/v1/openapi.json"  # also loglens.openapi.OPENAPI_PATH


@dataclass
class CollectApi:
    """The collect routes on the shared HTTP edge; `handle` takes an API Gateway REST (1.0) proxy event."""

    service: CollectService
    cors_origin: str = "*"
    router: Router = field(init=False)

    def __post_init__(self) -> None:
        self.router = Router(self.cors_origin)
        self.router.add("GET", HEALTH_PATH, _health)
        self.router.add("POST", LOGS_PATH, self._records)
        self.router.add("POST", BATCH_PATH, self._records)
        self.router.add("POST", OTLP_PATH, self._otlp)
        self.router.add("GET", OPENAPI_PATH, _openapi)
        self.router.on_error(SinkUnavailable, _unavailable)

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.router.resolve(event)

    def _records(self, request: Request) -> HttpResponse:
        body = decode_body(request.body, request.headers.get("content-encoding"))
        kind = media_type(request.headers.get("content-type"))
        if kind not in JSON_TYPES:
            raise HttpError(415, f"Content-Type {kind or '(none)'!r} is not accepted; send application/json")
        payload = parse_json(body)
        items = _single(payload) if request.path == LOGS_PATH else _batch(payload)
        outcome = self.service.ingest(items, self._context(request, Source.API))
        return HttpResponse.json(200 if outcome.accepted else 400, outcome.body())

    def _otlp(self, request: Request) -> HttpResponse:
        body = decode_body(request.body, request.headers.get("content-encoding"))
        kind = media_type(request.headers.get("content-type"))
        if kind not in OTLP_TYPES:
            raise HttpError(
                415,
                f"Content-Type {kind or '(none)'!r} is not accepted; send application/x-protobuf or application/json",
            )
        protobuf = kind == "application/x-protobuf"
        message = otlp.decode_protobuf(body) if protobuf else parse_json(body)
        items = otlp.to_raw_records(message)
        if len(items) > MAX_BATCH_RECORDS:
            raise HttpError(413, f"request holds {len(items)} log records; the limit is {MAX_BATCH_RECORDS}")
        outcome = self.service.ingest(items, self._context(request, Source.OTLP))
        text = "; ".join(f"record {r.index}: {', '.join(r.errors)}" for r in outcome.rejected[:10])
        data, content_type = otlp.encode_response(len(outcome.rejected), text, protobuf=protobuf)
        return HttpResponse(200, data, content_type)

    def _context(self, request: Request, source: Source) -> IngestContext:
        settings = self.service.settings
        return IngestContext(
            source=source,
            received_at=datetime.now(UTC),
            api_key_id=request.api_key_id,
            source_ip=request.source_ip if settings.record_source_ip else None,
            window=settings.window,
        )


def _openapi(_request: Request) -> HttpResponse:
    from loglens.openapi import document_text  # imports the ask models too: only on this route

    return HttpResponse(200, document_text().encode())


def _health(_request: Request) -> HttpResponse:
    return HttpResponse.json(200, {"status": "ok", "version": __version__})


def _unavailable(error: Exception) -> HttpResponse:
    retry = getattr(error, "retry_after", 5)
    return HttpResponse.error(
        503, f"temporarily unavailable: {error}", {"Retry-After": str(retry)}, retry_after=retry
    )


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
