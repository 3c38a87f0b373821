"""The lake stream's gate: Firehose's transformation Lambda in front of the Iceberg table.

Why a gate in the stream, rather than trusting producers: on a lake-only stage there is no load
path, and ECS tasks put FireLens records straight into the stream — records collect never saw.
So every Firehose record is checked here with the ingest path's own code before it can become a
row, exactly as load checks a raw object's lines:
- a sealed record (loglens.ingest.envelope) whose MAC verifies holds one row that collect or load
  already validated and redacted (loglens.lake.rows): it passes through untouched;
- a FireLens record is mapped (loglens.ingest.firelens), validated as LogRecord with the time
  Firehose received it, and redacted; split lines in one batch are joined first;
- a collect-shaped line without a valid seal is validated as client input (its server-owned
  fields are never believed), as load does;
- anything else, and anything that does not validate, is ``ProcessingFailed``: Firehose writes it
  whole under the stream's error prefix (``processing-failed/``), so nothing vanishes.
Each row goes out with Firehose's Iceberg routing metadata: the table, and ``update`` so the
stream upserts on the unique keys (created_at, event_id) and a record delivered twice is stored
once. One input record is at most one row (Firehose's Iceberg destination writes one row per
record), so FireLens senders must not aggregate records (Fluent Bit's ``simple_aggregation``).

Cost, per GB of FireLens input: bench/lake_gate.py measures the records per second one core
validates; docs/deploy.md turns that into Lambda dollars per GB beside Firehose's own price.
Sealed rows cost a MAC check each (~2 µs), which is why load and collect seal what they send.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson
from pydantic import ValidationError

from loglens.ingest import firelens
from loglens.ingest.blocks import _header
from loglens.ingest.envelope import MARKER, SEAL_PREFIX, Sealer, is_envelope
from loglens.ingest.privacy import Redactor, redact
from loglens.lake.rows import OPERATION, lake_line
from loglens.record import AcceptanceWindow, IngestContext, LogRecord, Source
from loglens.validate import describe_errors

OK: Final = "Ok"
DROPPED: Final = "Dropped"
FAILED: Final = "ProcessingFailed"


@dataclass(frozen=True)
class Destination:
    database: str
    table: str

    def metadata(self) -> dict[str, Any]:
        return {
            "otfMetadata": {
                "destinationDatabaseName": self.database,
                "destinationTableName": self.table,
                "operation": OPERATION,
            }
        }


@dataclass
class GateReport:
    """What one invocation did, for metrics and tests: counts and reasons, never record values."""

    passed: int = 0  # sealed rows passed through
    validated: int = 0  # FireLens or unsealed lines validated here
    joined: int = 0  # parts of split FireLens lines folded into their first part
    failed: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (recordId, reasons)
    redactions: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class _Input:
    record_id: str
    arrived: datetime
    data: bytes | None  # None: not base64


@dataclass
class LakeGate:
    sealer: Sealer
    destination: Destination
    window: AcceptanceWindow
    redactor: Redactor | None = None
    stream: str = "lake"

    def transform(self, event: Mapping[str, Any]) -> tuple[dict[str, Any], GateReport]:
        """Firehose's transformation event in, its response out (one entry per record, same ids)."""
        report = GateReport()
        inputs = [_input(item) for item in event.get("records", [])]
        answers: dict[str, dict[str, Any]] = {}
        pending: list[tuple[int, dict[str, Any]]] = []
        for index, item in enumerate(inputs):
            if item.data is None:
                answers[item.record_id] = self._failed(item, ("the record's data is not base64",), report)
                continue
            row = self._sealed_row(item.data)
            if row is not None:
                answers[item.record_id] = self._ok(item.record_id, row)
                report.passed += 1
                continue
            parsed = _one_object(item.data)
            if isinstance(parsed, tuple):
                answers[item.record_id] = self._failed(item, parsed, report)
                continue
            pending.append((index, parsed))
        for index, data in firelens.join_partials(pending):
            item = inputs[index]
            answers[item.record_id] = self._validated(item, data, report)
        for item in inputs:  # the later parts of a joined line: their text went into the first part
            if item.record_id not in answers:
                answers[item.record_id] = {"recordId": item.record_id, "result": DROPPED}
                report.joined += 1
        return {"records": [answers[item.record_id] for item in inputs]}, report

    def _sealed_row(self, data: bytes) -> bytes | None:
        """The row of a record sealed by collect or load whose MAC verifies, else None."""
        if not data.startswith(SEAL_PREFIX):
            return None
        head, _, body = data.partition(b"\n")
        try:
            size, mac = _header(head)
        except ValueError:
            return None
        if len(body) != size or body.count(b"\n") != 1 or not body.endswith(b"\n"):
            return None
        return body[:-1] if self.sealer.verify(mac, body) else None

    def _validated(self, item: _Input, data: dict[str, Any], report: GateReport) -> dict[str, Any]:
        ctx: IngestContext
        if firelens.is_firelens(data):
            raw = firelens.to_raw_record(data, f"firehose:{self.stream}:{item.record_id}", 1)
            ctx = IngestContext(source=Source.FIRELENS, received_at=item.arrived, window=self.window)
        elif is_envelope(data):
            raw = {k: v for k, v in data.items() if k != MARKER}
            ctx = IngestContext(source=Source.API, received_at=item.arrived, window=self.window)
        else:
            return self._failed(item, ("not a loglens or FireLens record (no _loglens marker, no log field)",), report)
        try:
            record = LogRecord.model_validate(raw, context=ctx)
        except ValidationError as exc:
            return self._failed(item, describe_errors(exc, raw), report)
        redact(self.redactor, record, report.redactions)
        report.validated += 1
        return self._ok(item.record_id, lake_line(record.db_row()).rstrip(b"\n"))

    def _ok(self, record_id: str, row: bytes) -> dict[str, Any]:
        return {
            "recordId": record_id,
            "result": OK,
            "data": base64.b64encode(row).decode(),
            "metadata": self.destination.metadata(),
        }

    @staticmethod
    def _failed(item: _Input, reasons: Sequence[str], report: GateReport) -> dict[str, Any]:
        report.failed.append((item.record_id, tuple(reasons)))
        # The original bytes go back: Firehose writes them under the error prefix as they came.
        return {"recordId": item.record_id, "result": FAILED, "data": base64.b64encode(item.data or b"").decode()}


def _input(item: Mapping[str, Any]) -> _Input:
    record_id = str(item.get("recordId", ""))
    arrived_ms = item.get("approximateArrivalTimestamp")
    arrived = (
        datetime.fromtimestamp(arrived_ms / 1000, UTC)
        if isinstance(arrived_ms, int | float) and not isinstance(arrived_ms, bool)
        else datetime.now(UTC)
    )
    try:
        data: bytes | None = base64.b64decode(str(item.get("data", "")), validate=True)
    except ValueError:
        data = None
    return _Input(record_id, arrived, data)


def _one_object(data: bytes) -> dict[str, Any] | tuple[str, ...]:
    """The record's one JSON object, or why it is not one."""
    lines = [line for line in data.split(b"\n") if line.strip()]
    if not lines:
        return ("the record is empty",)
    if len(lines) > 1:
        return (
            f"the record holds {len(lines)} lines; the lake takes one log record per Firehose record "
            "(turn off the sender's aggregation)",
        )
    try:
        parsed = orjson.loads(lines[0])
    except orjson.JSONDecodeError as exc:
        return (f"not valid JSON: {exc}",)
    if not isinstance(parsed, dict):
        return ("not a JSON object",)
    return parsed


def rows_of(response: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The rows a gate response hands to Firehose (for tests and the local stand-in)."""
    for item in response.get("records", []):
        if item.get("result") == OK:
            yield json.loads(base64.b64decode(item["data"]))
