"""Rows as the lake receives them: one JSON object per Firehose record, sealed by its writer.

A stored row (``LogRecord.db_row()`` or a row decoded from a sealed block: LOG_COLUMNS order)
becomes the JSON object Firehose's Iceberg destination maps onto the table's columns by name:
timestamps as integer microseconds since the epoch (Firehose's rule for Iceberg timestamps),
``metadata`` as its JSON text, uuids and addresses as text, absent values left out (null).

Each object travels as its own Firehose record — the Iceberg destination turns one record into
one row and bills per byte, not per 5 KB record as the S3 destination does — behind a seal header
(loglens.ingest.envelope), so the stream's gate passes collect's and load's rows straight through
and validates anything else.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, IPv6Address
from typing import Any, Final

import orjson

from loglens.ingest.envelope import Sealer
from loglens.record import LOG_COLUMNS

# Firehose upserts on these: a row delivered again (client retry, Firehose redelivery, replay)
# replaces itself instead of adding a copy. They are PostgreSQL's primary key.
UNIQUE_KEYS: Final = ("created_at", "event_id")
OPERATION: Final = "update"

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


def micros(value: datetime) -> int:
    """Microseconds since the epoch; a naive time is taken as UTC (PostgreSQL's timestamptz is)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _MICROSECOND


def from_micros(value: int) -> datetime:
    return _EPOCH + value * _MICROSECOND


def _value(value: Any) -> Any:
    if isinstance(value, datetime):
        return micros(value)
    if isinstance(value, uuid.UUID | IPv4Address | IPv6Address):
        return str(value)
    if type(value).__module__ == "msgspec":  # msgspec.Raw: a sealed block's metadata, already JSON text
        return bytes(value).decode()
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    if hasattr(value, "value") and isinstance(value.value, str):  # StrEnum members
        return str(value.value)
    return value


def lake_object(row: Sequence[Any]) -> dict[str, Any]:
    """One stored row as the lake's JSON object (null columns left out)."""
    if len(row) != len(LOG_COLUMNS):
        raise ValueError(f"a row has {len(LOG_COLUMNS)} values, this one {len(row)}")
    out: dict[str, Any] = {}
    for name, value in zip(LOG_COLUMNS, row, strict=True):
        if value is None:
            continue
        out[name] = _value(value)
    return out


def lake_line(row: Sequence[Any]) -> bytes:
    return orjson.dumps(lake_object(row)) + b"\n"


def lake_records(rows: Iterable[Sequence[Any]], sealer: Sealer) -> list[bytes]:
    """Firehose records for the lake stream: each row alone, behind its seal."""
    return [sealer.seal(lake_line(row)) for row in rows]
