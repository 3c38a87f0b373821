"""Turning what the application handed us into the JSON records the ingest API expects.

All of this runs on the background worker, never on the application thread: the hot path only
captures (time, level, message, fields) and the cost of formatting is paid off the critical path.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import traceback
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Optional, Union

Level = Union[str, int]
# (event time as epoch seconds, level, message, fields or None, rough size in bytes)
QueuedItem = tuple[float, Level, str, Optional[dict[str, Any]], int]

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")

_LEVEL_ALIASES = {
    "TRACE": "TRACE",
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "NOTICE": "INFO",
    "WARN": "WARN",
    "WARNING": "WARN",
    "ERROR": "ERROR",
    "ERR": "ERROR",
    "FATAL": "FATAL",
    "CRITICAL": "FATAL",
}

# Fields the record schema knows; everything else a caller passes goes into metadata, so the
# server never has to guess and the application sees the same shape it would get from the server.
OPTIONAL_FIELDS = frozenset(
    {
        "user_id",
        "session_id",
        "trace_id",
        "span_id",
        "error_type",
        "application_error_code",
        "http_status_code",
        "stack_trace",
        "module",
        "component",
        "endpoint",
        "method",
        "duration_ms",
        "page_path",
        "page_url",
        "browser_name",
        "device_type",
        "screen_width",
        "screen_height",
        "action_type",
        "action_target",
    }
)
# Core fields a caller may override per record (an app that knows the event time or already has a
# stable event id should be able to say so; the event id is the server's dedup key).
OVERRIDABLE_FIELDS = frozenset({"timestamp", "log_type", "service", "environment", "event_id"})
RECORD_FIELDS = OPTIONAL_FIELDS | OVERRIDABLE_FIELDS

DROPPED_KEY = "loglens_client_dropped"


def normalize_level(level: Level) -> str:
    """Map stdlib numbers and common spellings onto the six levels the server stores."""
    if isinstance(level, int):
        if level < 10:
            return "TRACE"
        if level < 20:
            return "DEBUG"
        if level < 30:
            return "INFO"
        if level < 40:
            return "WARN"
        if level < 50:
            return "ERROR"
        return "FATAL"
    text = str(level).strip().upper()
    # An unknown spelling is passed through so the server's validation reports it once, visibly.
    return _LEVEL_ALIASES.get(text, text)


def _timestamp(value: Any) -> Any:
    if isinstance(value, datetime):
        # The origin document sent naive utcnow() values; treat naive times as UTC accordingly.
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, timezone.utc).isoformat()
    return value


class RecordBuilder:
    """Builds records for one collector. Lives on the worker thread, so its caches need no lock."""

    def __init__(self, service: str, environment: str, log_type: str) -> None:
        self.service = service
        self.environment = environment
        self.log_type = log_type
        self._second = -1
        self._second_text = ""

    def timestamp(self, created: float) -> str:
        # datetime.isoformat per record is the worker's costliest step; records logged within the
        # same second share the date-and-time prefix, so format that once per second.
        second = int(created)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        micros = min(int((created - second) * 1_000_000), 999_999)
        return f"{self._second_text}.{micros:06d}+00:00"

    def build(self, items: list[QueuedItem]) -> list[dict[str, Any]]:
        event_ids = new_event_ids(len(items))
        return [self._record(item, event_id) for item, event_id in zip(items, event_ids)]

    def _record(self, item: QueuedItem, event_id: str) -> dict[str, Any]:
        created, level, message, fields, _size = item
        record: dict[str, Any] = {
            "timestamp": self.timestamp(created),
            "level": normalize_level(level),
            "log_type": self.log_type,
            "service": self.service,
            "environment": self.environment,
            "message": message,
        }
        if fields:
            metadata: dict[str, Any] = {}
            explicit_metadata: Any = None
            for key, value in fields.items():
                if value is None:
                    continue
                if key == "metadata":
                    explicit_metadata = value
                elif key in RECORD_FIELDS:
                    record[key] = _timestamp(value) if key == "timestamp" else value
                else:
                    metadata[key] = value
            if explicit_metadata is not None:
                if isinstance(explicit_metadata, Mapping):
                    metadata.update(explicit_metadata)
                else:
                    metadata["value"] = explicit_metadata
            if metadata:
                record["metadata"] = metadata
        # Generated once, before the first attempt, and stored with the record in the spool: every
        # retry and replay carries the same id, which is what the server deduplicates on. An id the
        # application passed itself wins.
        record["event_id"] = str(record["event_id"]) if "event_id" in record else event_id
        return record


def new_event_ids(count: int) -> list[str]:
    """Random (version 4) UUID strings; one urandom call for the batch instead of uuid.uuid4()
    per record, which is several times slower."""
    raw = bytearray(os.urandom(16 * count))
    ids = []
    for offset in range(0, 16 * count, 16):
        raw[offset + 6] = (raw[offset + 6] & 0x0F) | 0x40  # version 4
        raw[offset + 8] = (raw[offset + 8] & 0x3F) | 0x80  # RFC 4122 variant
        h = raw[offset : offset + 16].hex()
        ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return ids


def add_dropped_count(record: dict[str, Any], dropped: int) -> None:
    metadata = record.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
        record["metadata"] = metadata
    metadata[DROPPED_KEY] = metadata.get(DROPPED_KEY, 0) + dropped


# One encoder for the process: json.dumps with options builds a new encoder on every call.
_ENCODER = json.JSONEncoder(default=str, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encode_record(record: Mapping[str, Any]) -> bytes:
    """JSON-encode one record; never raises, whatever the application put in its fields."""
    try:
        text = _ENCODER.encode(record)
    except (ValueError, TypeError, RecursionError):
        # NaN/Infinity would make the whole body invalid JSON, and a circular or exotic value
        # would kill the worker: degrade those values to strings instead.
        text = json.dumps(_sanitize(record, 0), separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "replace")


# Records per C-level encode call. The C encoder holds the GIL for the whole call, so one call for
# a big batch would stall the application's threads for milliseconds; small chunks keep each stall
# in the tens of microseconds at almost the same total cost.
_ENCODE_CHUNK = 32


def encode_batch(records: list[dict[str, Any]]) -> bytes:
    """The request body {"logs": [...]}; records are encoded one by one only if a value is odd."""
    try:
        parts = [
            _ENCODER.encode(records[i : i + _ENCODE_CHUNK])[1:-1]
            for i in range(0, len(records), _ENCODE_CHUNK)
        ]
        return ('{"logs":[' + ",".join(parts) + "]}").encode("utf-8", "replace")
    except (ValueError, TypeError, RecursionError):
        return b'{"logs":[' + b",".join(encode_record(r) for r in records) + b"]}"


def _sanitize(value: Any, depth: int) -> Any:
    if depth > 32:
        return "<too deep>"
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): _sanitize(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_sanitize(v, depth + 1) for v in value]
    try:
        return str(value)
    except Exception:  # a broken __str__ must not stop the batch
        return f"<unprintable {type(value).__name__}>"


def estimate_size(message: str, fields: Mapping[str, Any] | None) -> int:
    """A cheap guess of the encoded size, only used to wake the worker early for big records."""
    size = 256 + len(message)
    if fields:
        for value in fields.values():
            if isinstance(value, str):
                size += len(value)
    return size


def exception_fields(exc_info: Any) -> dict[str, Any]:
    """error_type and stack_trace from stdlib-style exc_info (True, an exception, or a tuple)."""
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if not isinstance(exc_info, tuple) or len(exc_info) != 3 or exc_info[0] is None:
        return {}
    return {
        "error_type": exc_info[0].__name__,
        "stack_trace": "".join(traceback.format_exception(*exc_info)).rstrip("\n"),
    }
