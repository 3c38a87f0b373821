"""Event-time parsing: the many ways clients say "when".

Accepted: ISO 8601 strings with or without a zone (naive means UTC), and epoch numbers in
seconds, milliseconds, microseconds or nanoseconds, as numbers or numeric strings. The unit
of an epoch number is inferred from its magnitude, which is unambiguous for any date between
1973 and 2286 — far wider than the acceptance window that follows.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

_EPOCH_RE = re.compile(r"^\s*[+-]?\d+(\.\d+)?\s*$")
# Upper bounds of each unit's magnitude for present-day timestamps (see module docstring).
_SECONDS_MAX = 1e11
_MILLIS_MAX = 1e14
_MICROS_MAX = 1e17


class TimeParseError(ValueError):
    """The value is not a time we understand; the message says what was expected."""


def parse_event_time(value: object) -> datetime:
    """Return an aware UTC datetime for a client-supplied event time."""
    if isinstance(value, bool):
        raise TimeParseError("expected an ISO 8601 string or epoch number, got a boolean")
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int | float):
        if isinstance(value, int) and value.bit_length() > 1024:  # float() would raise OverflowError
            raise TimeParseError(f"epoch value of {len(str(value))} digits is out of range")
        return _from_epoch(float(value))
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise TimeParseError("expected an ISO 8601 string or epoch number, got an empty string")
        if _EPOCH_RE.match(text):
            return _from_epoch(float(text))
        return _from_iso(text)
    raise TimeParseError(f"expected an ISO 8601 string or epoch number, got {type(value).__name__}")


def _from_epoch(number: float) -> datetime:
    if math.isnan(number) or math.isinf(number) or number < 0:
        raise TimeParseError(f"epoch value {number!r} is not a positive finite number")
    if number < _SECONDS_MAX:
        seconds = number
    elif number < _MILLIS_MAX:
        seconds = number / 1e3
    elif number < _MICROS_MAX:
        seconds = number / 1e6
    else:
        seconds = number / 1e9
    try:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    except OverflowError as exc:
        raise TimeParseError(f"epoch value {number!r} is out of range") from exc


def _from_iso(text: str) -> datetime:
    # fromisoformat (3.11+) takes 'Z', offsets, 'T' or space, and fractions of any length.
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise TimeParseError(f"{shown!r} is not an ISO 8601 time or epoch number") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
