"""Batch validation: good records go on, each bad one comes back with its index and reasons."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from loglens.record import IngestContext, LogRecord

log = logging.getLogger(__name__)

_EXPECTED: dict[str, str] = {
    "missing": "required field is missing",
    "string_type": "expected a string",
    "dict_type": "expected a JSON object",
    "uuid_parsing": "expected a UUID",
    "ip_any_address": "expected an IPv4 or IPv6 address",
    "datetime_type": "expected an ISO 8601 time or epoch number",
}


@dataclass(frozen=True)
class Rejection:
    index: int
    errors: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "errors": list(self.errors)}


@dataclass(frozen=True)
class Unreadable:
    """An input item its decoder (e.g. OTLP's) could not read; reported as rejected with these reasons."""

    errors: tuple[str, ...]


@dataclass
class BatchResult:
    accepted: list[LogRecord] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


def validate_record(raw: object, ctx: IngestContext) -> LogRecord:
    """Validate one record; raises ValidationError (use `describe_errors` for the reasons)."""
    return LogRecord.model_validate(raw, context=ctx)


def validate_batch(items: Iterable[object], ctx: IngestContext) -> BatchResult:
    result = BatchResult()
    for index, raw in enumerate(items):
        if isinstance(raw, Unreadable):
            result.rejected.append(Rejection(index, raw.errors))
            continue
        try:
            result.accepted.append(LogRecord.model_validate(raw, context=ctx))
        except ValidationError as exc:
            result.rejected.append(Rejection(index, describe_errors(exc, raw)))
        except (ArithmeticError, ValueError, RecursionError) as exc:
            # A value a check did not foresee (a number too large to convert, say): the record
            # cannot be stored as sent, so it is rejected alone instead of failing its batch;
            # the stack is logged because it points at a check to tighten.
            log.warning("record %d could not be validated", index, exc_info=True)
            result.rejected.append(Rejection(index, (f"record could not be read: {type(exc).__name__}",)))
    return result


def describe_errors(exc: ValidationError, raw: object = None) -> tuple[str, ...]:
    """Turn pydantic's errors into "field: what was expected" sentences."""
    sent_timestamp = isinstance(raw, Mapping) and "timestamp" in raw
    reasons: list[str] = []
    for err in exc.errors(include_url=False):
        loc = err.get("loc") or ()
        name = str(loc[0]) if loc else ""
        if name == "created_at" and (sent_timestamp or not isinstance(raw, Mapping)):
            name = "timestamp"
        message = str(err.get("msg", ""))
        kind = str(err.get("type", ""))
        if kind == "value_error":
            message = message.removeprefix("Value error, ")
        elif kind in _EXPECTED:
            message = _EXPECTED[kind]
        if name and len(loc) > 1:
            name += "." + ".".join(str(p) for p in loc[1:])
        reasons.append(f"{name}: {message}" if name else message)
    return tuple(reasons)
