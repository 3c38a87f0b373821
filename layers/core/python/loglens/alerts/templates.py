"""Error message templates per hour: the baseline that tells a new message from a familiar one.

A template is an error message with the parts that vary masked (ids, numbers, hex): "Payment 8812 failed after
30000 ms" and "Payment 9120 failed after 30000 ms" are one template. The rollups do not keep messages, so each run
recomputes the templates of the newest hours from the error rows of `logs` (ERROR/FATAL only, through the errors
index: about 1-2% of the rows) into `alert_template_hours`, and marks an hour complete once the data has moved a
quarter of an hour past its end (late rows from Firehose's buffers are in by then). Older hours are read back from
that table, so the baseline of seven days costs a few thousand rows, not seven days of errors.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import psycopg

from loglens.alerts.hours import HOUR, hour_of

# Late rows (Firehose buffers up to 900 s) are in once the data is this far past an hour's end.
LATE_ROWS: Final = timedelta(minutes=15)
# Masked in this order: UUIDs, then any word made of hex digits with at least one digit (numbers, hashes, hex ids).
TEMPLATE_SQL: Final = (
    "left(regexp_replace(regexp_replace(left(message, 500), "
    "'[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}', '<id>', 'g'), "
    "'\\m(0x)?[0-9a-fA-F]*[0-9][0-9a-fA-F]*\\M', '<n>', 'g'), 300)"
)

TemplateKey = tuple[str, str]  # (error_type, template)


@dataclass(frozen=True)
class TemplateHour:
    occurrences: int
    first_seen: datetime
    sample: str


@dataclass
class TemplateCatalog:
    """Templates per (service, environment) and hour, and the hours the catalog holds completely."""

    hours: dict[tuple[str, str], dict[datetime, dict[TemplateKey, TemplateHour]]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    scanned: set[datetime] = field(default_factory=set)


def refresh(
    conn: psycopg.Connection[Any],
    *,
    first_hour: datetime,
    frontier: datetime,
    max_hours: int | None = None,
) -> list[datetime]:
    """Recompute the hours from `first_hour` to the frontier's hour that are not complete yet, newest first.

    At most `max_hours` hours per call (a first run catches up over several runs); returns the hours recomputed.
    """
    last_hour = hour_of(frontier)
    complete = {
        row[0]
        for row in conn.execute(
            "SELECT hour FROM alert_template_scans WHERE complete AND hour >= %s AND hour <= %s",
            (first_hour, last_hour),
        )
    }
    todo: list[datetime] = []
    hour = last_hour
    while hour >= first_hour and (max_hours is None or len(todo) < max_hours):
        if hour not in complete:
            todo.append(hour)
        hour -= HOUR
    for start, end in _ranges(sorted(todo)):
        conn.execute("DELETE FROM alert_template_hours WHERE hour >= %s AND hour < %s", (start, end))
        conn.execute(
            f"""INSERT INTO alert_template_hours
                    (hour, service, environment, error_type, template, occurrences, first_seen, sample_message)
                SELECT date_trunc('hour', created_at, 'UTC'), service, environment, coalesce(error_type, ''),
                       {TEMPLATE_SQL}, count(*), min(created_at),
                       (array_agg(left(message, 300) ORDER BY created_at))[1]
                FROM logs
                WHERE created_at >= %s AND created_at < %s AND level IN ('ERROR', 'FATAL')
                GROUP BY 1, 2, 3, 4, 5""",
            (start, end),
        )
    for hour in todo:
        conn.execute(
            """INSERT INTO alert_template_scans (hour, complete, scanned_at) VALUES (%s, %s, now())
               ON CONFLICT (hour) DO UPDATE SET complete = excluded.complete, scanned_at = excluded.scanned_at""",
            (hour, frontier >= hour + HOUR + LATE_ROWS),
        )
    return todo


def _ranges(hours: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    """Consecutive hours as [start, end) ranges, so a catch-up is one statement per gap, not one per hour."""
    ranges: list[tuple[datetime, datetime]] = []
    for hour in hours:
        if ranges and ranges[-1][1] == hour:
            ranges[-1] = (ranges[-1][0], hour + HOUR)
        else:
            ranges.append((hour, hour + HOUR))
    return ranges


def read(conn: psycopg.Connection[Any], *, first_hour: datetime, last_hour: datetime) -> TemplateCatalog:
    catalog = TemplateCatalog()
    catalog.scanned = {
        row[0]
        for row in conn.execute(
            "SELECT hour FROM alert_template_scans WHERE hour >= %s AND hour <= %s", (first_hour, last_hour)
        )
    }
    for hour, service, environment, error_type, template, occurrences, first_seen, sample in conn.execute(
        """SELECT hour, service, environment, error_type, template, occurrences, first_seen, sample_message
           FROM alert_template_hours WHERE hour >= %s AND hour <= %s""",
        (first_hour, last_hour),
    ):
        slot = catalog.hours[(service, environment)].setdefault(hour, {})
        slot[(error_type, template)] = TemplateHour(int(occurrences), first_seen, sample)
    return catalog


def prune(conn: psycopg.Connection[Any], *, before: datetime) -> None:
    """Forget hours older than any baseline looks back."""
    conn.execute("DELETE FROM alert_template_hours WHERE hour < %s", (before,))
    conn.execute("DELETE FROM alert_template_scans WHERE hour < %s", (before,))
