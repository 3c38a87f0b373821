"""Constant expressions worked out before the query runs: numbers, timestamps and intervals.

The size checks need the arguments of generate_series/sequence, a recursive counter's start, step and stop,
and repeat/lpad counts as values. Only what can be known from the text is evaluated (literals, typed literals,
now() and current_date, interval arithmetic, date_trunc); anything else is unknown (None) and the caller
decides what unknown means. Months count as 30 days and years as 365: estimates, never answers.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta

from sqlglot import exp

Value = int | float | datetime | timedelta

_UNIT_SECONDS: dict[str, float] = {}
for _names, _seconds in (
    (("microsecond", "microseconds", "us", "usec", "usecs"), 1e-6),
    (("millisecond", "milliseconds", "ms", "msec", "msecs"), 1e-3),
    (("second", "seconds", "sec", "secs", "s"), 1),
    (("minute", "minutes", "min", "mins", "m"), 60),
    (("hour", "hours", "hr", "hrs", "h"), 3600),
    (("day", "days", "d"), 86400),
    (("week", "weeks", "w"), 7 * 86400),
    (("month", "months", "mon", "mons"), 30 * 86400),
    (("quarter", "quarters"), 91 * 86400),
    (("year", "years", "y", "yr", "yrs"), 365 * 86400),
    (("decade", "decades"), 3650 * 86400),
    (("century", "centuries"), 36500 * 86400),
):
    for _name in _names:
        _UNIT_SECONDS[_name] = _seconds
_INTERVAL_PART = re.compile(r"\s*([+-]?\d+(?:\.\d+)?)\s*([a-z]+)\s*,?", re.IGNORECASE)
_CLOCK = re.compile(r"\s*([+-]?)(\d+):(\d{1,2})(?::(\d{1,2}(?:\.\d+)?))?\s*\Z")
_TIME_TYPES = frozenset(
    {exp.DType.TIMESTAMP, exp.DType.TIMESTAMPTZ, exp.DType.TIMESTAMPNTZ, exp.DType.TIMESTAMPLTZ, exp.DType.DATE}
)


def evaluate(node: exp.Expr | None, now: datetime | None = None) -> Value | None:
    """The value of a constant expression, or None when it depends on data or is not understood.

    `now` stands for now()/current_timestamp, so that every call in one statement sees the same instant.
    """
    if node is None:
        return None
    now = now or datetime.now(UTC)
    node = node.unnest()
    if isinstance(node, exp.Literal):
        return _number(node) if not node.is_string else None
    if isinstance(node, exp.Neg):
        inner = evaluate(node.this, now)
        return -inner if isinstance(inner, (int, float, timedelta)) else None
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div)):
        return _arithmetic(node, evaluate(node.this, now), evaluate(node.expression, now))
    if isinstance(node, (exp.Cast, exp.TryCast)):
        return _cast(node, now)
    if isinstance(node, exp.Interval):
        return _interval(node)
    if isinstance(node, (exp.CurrentTimestamp, exp.Localtimestamp)):
        return now
    if isinstance(node, exp.CurrentDate):
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if isinstance(node, (exp.TimestampTrunc, exp.DateTrunc)):
        return _truncate(evaluate(node.this, now), node.args.get("unit"))
    if isinstance(node, exp.DateAdd):
        base, amount = evaluate(node.this, now), evaluate(node.expression, now)
        step = parse_interval(f"1 {node.text('unit')}")
        if isinstance(base, datetime) and isinstance(amount, (int, float)) and step is not None:
            return base + step * amount
        return None
    if isinstance(node, exp.FromISO8601Timestamp) and isinstance(node.this, exp.Literal):
        return parse_timestamp(node.this.name)
    return None


def upper_bound(node: exp.Expr | None) -> float | None:
    """The largest number an expression can be, when the text says: a literal, or least() with one."""
    if node is None:
        return None
    node = node.unnest()
    value = evaluate(node)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(node, (exp.Cast, exp.TryCast)):
        return upper_bound(node.this)
    if isinstance(node, exp.Least):
        known = [b for b in map(upper_bound, [node.this, *node.expressions]) if b is not None]
        return min(known) if known else None
    if isinstance(node, exp.Greatest):
        bounds = [upper_bound(arg) for arg in [node.this, *node.expressions]]
        return None if any(b is None for b in bounds) else max(b for b in bounds if b is not None)
    return None


def series_length(start: Value | None, stop: Value | None, step: Value | None) -> int | None:
    """How many values start, start + step, ... up to stop (inclusive) are; None when not computable."""
    if isinstance(start, datetime) and isinstance(stop, datetime):
        step = timedelta(days=1) if step is None else step
        if _is_number(step):
            step = timedelta(days=float(step))  # type: ignore[arg-type]  # date + n adds days
        if not isinstance(step, timedelta) or step.total_seconds() == 0:
            return None
        ratio = (stop - start).total_seconds() / step.total_seconds()
    elif _is_number(start) and _is_number(stop):
        step = 1 if step is None else step
        if not _is_number(step) or step == 0:
            return None
        ratio = (float(stop) - float(start)) / float(step)  # type: ignore[arg-type]
    else:
        return None
    if not math.isfinite(ratio):
        return None
    return 0 if ratio < 0 else math.floor(ratio + 1e-9) + 1


def parse_interval(text: str) -> timedelta | None:
    """'1 hour', '15 minutes', '1 day 2 hours', '01:30:00' → timedelta (months ≈ 30 days)."""
    clock = _CLOCK.match(text)
    if clock:
        sign = -1 if clock.group(1) == "-" else 1
        seconds = int(clock.group(2)) * 3600 + int(clock.group(3)) * 60 + float(clock.group(4) or 0)
        return timedelta(seconds=sign * seconds)
    total, position = 0.0, 0
    for match in _INTERVAL_PART.finditer(text):
        if match.start() != position:
            return None
        unit = _UNIT_SECONDS.get(match.group(2).lower())
        if unit is None:
            return None
        total += float(match.group(1)) * unit
        position = match.end()
    if position == 0 or text[position:].strip():
        return None
    return timedelta(seconds=total)


def parse_timestamp(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.strip().replace(" ", "T", 1) if " " in text.strip() else text.strip())
    except ValueError:
        try:
            day = date.fromisoformat(text.strip())
        except ValueError:
            return None
        value = datetime(day.year, day.month, day.day)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _number(node: exp.Literal) -> int | float | None:
    text = str(node.this)
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _arithmetic(node: exp.Expr, left: Value | None, right: Value | None) -> Value | None:
    if left is None or right is None:
        return None
    # A date plus or minus a number moves by days (PostgreSQL's date + integer).
    if isinstance(left, datetime) and _is_number(right) and isinstance(node, (exp.Add, exp.Sub)):
        right = timedelta(days=float(right))  # type: ignore[arg-type]
    if isinstance(right, datetime) and _is_number(left) and isinstance(node, exp.Add):
        left = timedelta(days=float(left))  # type: ignore[arg-type]
    try:
        if isinstance(node, exp.Add):
            if isinstance(left, timedelta) and isinstance(right, datetime):
                return right + left
            return left + right  # type: ignore[operator]
        if isinstance(node, exp.Sub):
            return left - right  # type: ignore[operator]
        if isinstance(node, exp.Mul):
            if isinstance(left, timedelta) and isinstance(right, timedelta):
                return None
            return left * right  # type: ignore[operator]
        if _is_number(right) and right != 0 and (_is_number(left) or isinstance(left, timedelta)):
            return left / right  # type: ignore[operator]
    except (TypeError, OverflowError):
        return None
    return None


def _cast(node: exp.Cast | exp.TryCast, now: datetime) -> Value | None:
    target = node.to.this if isinstance(node.to, exp.DataType) else None
    inner = node.this.unnest() if isinstance(node.this, exp.Expr) else None
    if isinstance(inner, exp.Literal) and inner.is_string:
        if target in _TIME_TYPES:
            return parse_timestamp(inner.name)
        if target == exp.DType.INTERVAL:
            return parse_interval(inner.name)
        return None
    return evaluate(inner, now)


def _interval(node: exp.Interval) -> timedelta | None:
    amount = node.this
    if not isinstance(amount, exp.Literal):
        return None
    unit = node.args.get("unit")
    text = f"{amount.name} {unit.name}" if isinstance(unit, exp.Expr) and unit.name else amount.name
    return parse_interval(text)


def _truncate(value: Value | None, unit: object) -> datetime | None:
    if not isinstance(value, datetime) or not isinstance(unit, exp.Expr):
        return None
    name = unit.name.lower()
    name = name[:-1] if name.endswith("s") else name
    if name == "second":
        return value.replace(microsecond=0)
    if name == "minute":
        return value.replace(second=0, microsecond=0)
    if name == "hour":
        return value.replace(minute=0, second=0, microsecond=0)
    if name == "day":
        return value.replace(hour=0, minute=0, second=0, microsecond=0)
    if name == "week":
        day = value.replace(hour=0, minute=0, second=0, microsecond=0)
        return day - timedelta(days=day.weekday())
    if name == "month":
        return value.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if name == "year":
        return value.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    return None
