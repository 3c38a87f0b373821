"""Charts as text: a result's time series as block sparklines (▁▂▃▄▅▆▇█), for Slack and the terminal.

The shape rules are the console's (clients/console/src/chart.ts), so Slack and the console agree on what is
a time series: one time column and numbers (a line per number column), or one time column, one category and
one number (a line per category: the largest ones, the rest summed as "other"). Anything else has no text
chart. Long series are averaged down to `width` marks, so a week of minutes still fits a Slack message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

BLOCKS: Final = "▁▂▃▄▅▆▇█"
MAX_SERIES: Final = 5
DEFAULT_WIDTH: Final = 48
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?\Z")


@dataclass(frozen=True)
class Series:
    label: str
    values: list[float | None]


@dataclass(frozen=True)
class TimeSeries:
    x_label: str
    start: datetime
    end: datetime
    series: list[Series]


def sparkline(values: Sequence[float | None]) -> str:
    """One block per value, scaled from 0 (or the minimum, when negative) to the maximum; None is a gap."""
    present = [v for v in values if v is not None and math.isfinite(v)]
    if not present:
        return " " * len(values)
    low, high = min(0.0, min(present)), max(present)
    span = high - low
    marks = []
    for value in values:
        if value is None or not math.isfinite(value):
            marks.append(" ")
        elif span == 0:
            marks.append(BLOCKS[0])
        else:
            marks.append(BLOCKS[min(len(BLOCKS) - 1, int((value - low) / span * (len(BLOCKS) - 1) + 0.5))])
    return "".join(marks)


def squeeze(values: Sequence[float | None], width: int) -> list[float | None]:
    """At most `width` values: consecutive runs averaged (gaps left out of the average)."""
    if len(values) <= width:
        return list(values)
    out: list[float | None] = []
    for i in range(width):
        chunk = [v for v in values[i * len(values) // width : (i + 1) * len(values) // width] if v is not None]
        out.append(sum(chunk) / len(chunk) if chunk else None)
    return out


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not _TIME.match(value):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _kind(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "other"
    if all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in present):
        return "number"
    if all(_time(v) is not None for v in present):
        return "time"
    if all(isinstance(v, str | bool) for v in present):
        return "text"
    return "other"


def time_series(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> TimeSeries | None:
    """The result as time series, or None when its shape is not one."""
    if len(rows) < 2 or not columns:
        return None
    kinds = [_kind([row[i] if i < len(row) else None for row in rows]) for i in range(len(columns))]
    times = [i for i, k in enumerate(kinds) if k == "time"]
    numbers = [i for i, k in enumerate(kinds) if k == "number"]
    texts = [i for i, k in enumerate(kinds) if k == "text"]
    if len(times) != 1 or not numbers:
        return None
    t = times[0]
    stamps = sorted({stamp for row in rows if (stamp := _time(row[t])) is not None})
    if len(stamps) < 2:
        return None
    slot = {stamp: i for i, stamp in enumerate(stamps)}
    if not texts:
        series = []
        for n in numbers[:MAX_SERIES]:
            values: list[float | None] = [None] * len(stamps)
            for row in rows:
                stamp = _time(row[t])
                if stamp is not None and row[n] is not None:
                    values[slot[stamp]] = (values[slot[stamp]] or 0.0) + float(row[n])
            series.append(Series(columns[n], values))
    elif len(texts) == 1 and len(numbers) == 1:
        series = _pivot(rows, t, texts[0], numbers[0], slot)
    else:
        return None
    return TimeSeries(columns[t], stamps[0], stamps[-1], series)


def _pivot(rows: Sequence[Sequence[Any]], t: int, category: int, value: int, slot: dict[datetime, int]) -> list[Series]:
    totals: dict[str, float] = {}
    for row in rows:
        totals[str(row[category])] = totals.get(str(row[category]), 0.0) + float(row[value] or 0)
    ranked = sorted(totals, key=lambda name: (-totals[name], name))
    kept = ranked[: MAX_SERIES - 1] if len(ranked) > MAX_SERIES else ranked
    labels = kept + (["other"] if len(ranked) > len(kept) else [])
    out: dict[str, list[float | None]] = {label: [None] * len(slot) for label in labels}
    for row in rows:
        stamp = _time(row[t])
        if stamp is None:
            continue
        name = str(row[category])
        values = out[name if name in kept else "other"]
        values[slot[stamp]] = (values[slot[stamp]] or 0.0) + float(row[value] or 0)
    return [Series(label, values) for label, values in out.items()]


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:,.2f}"


def render(chart: TimeSeries, width: int = DEFAULT_WIDTH) -> str:
    """Lines of `label  ▁▂▇█  min … max`, with the time range on top; plain text, no markup."""
    points = len(chart.series[0].values)
    per_mark = math.ceil(points / width) if points > width else 1
    span = f"{chart.start:%Y-%m-%d %H:%M} → {chart.end:%Y-%m-%d %H:%M} UTC"
    head = f"{chart.x_label}: {span}, {points} points" + (f" (each mark averages {per_mark})" if per_mark > 1 else "")
    label_width = min(20, max(len(s.label) for s in chart.series))
    lines = [head]
    for series in chart.series:
        present = [v for v in series.values if v is not None]
        figures = f"{_number(min(present))} … {_number(max(present))}" if present else "no values"
        label = series.label if len(series.label) <= label_width else series.label[: label_width - 1] + "…"
        lines.append(f"{label.ljust(label_width)}  {sparkline(squeeze(series.values, width))}  {figures}")
    return "\n".join(lines)


def text_chart(columns: Sequence[str], rows: Sequence[Sequence[Any]], width: int = DEFAULT_WIDTH) -> str | None:
    """The result's time series as text, or None when it is not one."""
    chart = time_series(columns, rows)
    return render(chart, width) if chart is not None else None
