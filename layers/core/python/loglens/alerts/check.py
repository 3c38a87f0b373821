"""`loglens alerts check`: replay the detectors over a past period, as if a run had happened at each hour's end.

Nothing about incidents is stored: the replay starts from an empty book and reports what it would have alerted
on. It does fill the template catalog for the hours it reads (a cache of facts that the scheduled runs share).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from loglens.alerts import hours as hours_module
from loglens.alerts import templates
from loglens.alerts.detectors import history_start, latency_hours
from loglens.alerts.engine import Probe, evaluate
from loglens.alerts.hours import HOUR, HourlyFacts, hour_of
from loglens.alerts.incidents import Incident, IncidentBook
from loglens.alerts.settings import AlertSettings
from loglens.alerts.templates import TemplateCatalog


@dataclass
class Replay:
    incidents: list[Incident]
    facts: HourlyFacts | None
    catalog: TemplateCatalog
    frontier: datetime | None
    first_hour: datetime | None


def replay(
    conn: psycopg.Connection[Any],
    settings: AlertSettings,
    *,
    since: timedelta,
    now: datetime,
    probe: Probe | None = None,
) -> Replay:
    """The incidents the scheduled runs would have raised over the `since` before the data's frontier."""
    from loglens.alerts.probes import LogsProbe

    front = hours_module.frontier(conn, now)
    if front is None:
        return Replay([], None, TemplateCatalog(), None, None)
    first = hour_of(front - since)
    evaluated = []
    hour = first
    while hour <= hour_of(front):
        evaluated.append(hour)
        hour += HOUR
    history = history_start(first, settings)
    facts = hours_module.load_facts(
        conn,
        first_hour=history,
        frontier_at=front,
        latency_hours={h for e in evaluated for h in latency_hours(e, settings)},
        covered=hours_module.coverage(conn),
    )
    with conn.transaction():
        # The scheduled run recomputes the same catalog hours under this lock: take turns, never both at once.
        conn.execute("SELECT 1 FROM alert_runs FOR UPDATE")
        templates.refresh(conn, first_hour=history, frontier=front)
    catalog = templates.read(conn, first_hour=history, last_hour=hour_of(front))
    book = IncidentBook()
    evaluate(book, facts, catalog, evaluated, settings, probe or LogsProbe(conn, settings))
    reported = [incident for incident in book if incident.end >= front - since]
    return Replay(reported, facts, catalog, front, first)
