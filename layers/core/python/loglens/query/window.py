"""The time range of a search: ISO 8601 times or relative ones (`15m`, `24h`, `7d`), resolved once on the server."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from loglens.query.errors import QueryInputError

DEFAULT_WINDOW = timedelta(hours=24)
_RELATIVE = re.compile(r"(\d{1,6})\s*([smhdw])\Z")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# The earliest and latest times worth a literal; anything else is a typo or a probe.
_FLOOR = datetime(2000, 1, 1, tzinfo=UTC)
_CEILING_AHEAD = timedelta(days=1)


@dataclass(frozen=True)
class Window:
    since: datetime  # inclusive
    until: datetime  # exclusive

    @property
    def length(self) -> timedelta:
        return self.until - self.since


def parse_time(value: str, *, now: datetime, field: str) -> datetime:
    """An aware UTC time from `2026-01-02T10:00:00Z` (naive means UTC) or `15m` / `24h` / `7d` before now."""
    text = value.strip()
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        try:
            return now - timedelta(**{_UNITS[unit]: amount})
        except OverflowError:
            raise QueryInputError(f"{text!r} reaches too far back", field=field) from None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise QueryInputError(
            f"{shown!r} is neither an ISO 8601 time (2026-01-02T10:00:00Z) nor a relative one (15m, 24h, 7d)",
            field=field,
        ) from None
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if parsed < _FLOOR or parsed > now + _CEILING_AHEAD:
        raise QueryInputError(f"{parsed.isoformat()} is outside the range a search can cover", field=field)
    return parsed


def resolve(since: str | None, until: str | None, *, now: datetime, hot_window: timedelta) -> Window:
    """The window a search covers: `until` defaults to now, `since` to 24 h before `until`."""
    end = parse_time(until, now=now, field="filters.until") if until is not None else now
    start = parse_time(since, now=now, field="filters.since") if since is not None else end - DEFAULT_WINDOW
    return check(Window(start, end), hot_window=hot_window)


def check(window: Window, *, hot_window: timedelta) -> Window:
    if window.since >= window.until:
        raise QueryInputError(
            f"since ({window.since.isoformat()}) must be before until ({window.until.isoformat()})",
            field="filters.since",
        )
    if window.length > hot_window:
        raise QueryInputError(
            f"the window is {_days(window.length)}; a search covers at most the hot window of {_days(hot_window)} "
            "(older logs are archived: use the archive for them)",
            field="filters.since",
        )
    return window


def _days(delta: timedelta) -> str:
    days = delta.total_seconds() / 86_400
    return f"{days:,.1f} days" if days >= 1 else f"{delta.total_seconds() / 3600:,.1f} hours"
