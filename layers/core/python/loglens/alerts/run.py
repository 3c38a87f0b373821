"""One scheduled run (every 5 minutes in AWS, on a timer under `loglens dev`): detect, remember, explain, send.

In one transaction holding the run lock (a second run at the same time skips): read the frontier, evaluate the
hours since the last run's frontier (at most a day of them after an outage), update the incidents, gather each
changed incident's facts and SQL, and store it all. Then, outside it, the model's explanation for what is about
to be sent (when a model is configured) and the delivery, whose receipts are stored per incident.

Cost: the rollups for the hours compared (a few thousand rows), the newest minutes of `logs` when the rollups do
not hold them yet, the error rows of the current hour for the template catalog, and a handful of bounded queries
per incident that changed. bench/alerts.py measures it on 10M rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import psycopg

from loglens.alerts import explain, store, templates
from loglens.alerts import hours as hours_module
from loglens.alerts.delivery import Channel, deliver, due
from loglens.alerts.detectors import history_start, latency_hours
from loglens.alerts.engine import Probe, evaluate
from loglens.alerts.hours import HOUR, hour_of
from loglens.alerts.incidents import Incident
from loglens.alerts.settings import AlertSettings

# The first run, and a run after an outage of the function, evaluates at most this far back.
MAX_CATCH_UP: Final = timedelta(hours=24)
# Template hours recomputed per run: the current hour or two normally, a first run fills the baseline over a few.
TEMPLATE_HOURS_PER_RUN: Final = 48

Explainer = Callable[[Incident], dict[str, str] | None]


@dataclass
class RunReport:
    frontier: datetime | None = None
    hours: list[datetime] = field(default_factory=list)
    changed: list[Incident] = field(default_factory=list)
    sent: list[tuple[int | None, str, str]] = field(default_factory=list)
    template_hours: int = 0
    seconds: float = 0.0
    skipped: str | None = None
    undelivered: list[str] = field(default_factory=list)  # what every channel refused, per incident

    def to_dict(self) -> dict[str, Any]:
        return {
            "frontier": self.frontier.isoformat() if self.frontier else None,
            "hours_evaluated": len(self.hours),
            "incidents_changed": [
                {"id": i.id, "service": i.service, "status": i.status, "events": i.events, "summary": i.summary}
                for i in self.changed
            ],
            "sent": [{"id": ident, "action": action, "channel": channel} for ident, action, channel in self.sent],
            "template_hours": self.template_hours,
            "seconds": round(self.seconds, 3),
            "skipped": self.skipped,
            "undelivered": self.undelivered,
        }


def run_once(
    conn: psycopg.Connection[Any],
    settings: AlertSettings,
    *,
    now: datetime,
    channels: Sequence[Channel] = (),
    explainer: Explainer | None = None,
    probe: Probe | None = None,
    template_hours_per_run: int = TEMPLATE_HOURS_PER_RUN,
) -> RunReport:
    """One run on `conn` (an autocommit connection as loglens_alerter, or a role that can do what it can)."""
    from loglens.alerts.probes import LogsProbe

    started = time.perf_counter()
    report = RunReport()
    with conn.transaction():
        try:
            state = store.lock_run(conn)
        except store.RunBusy as busy:
            report.skipped = str(busy)
            return report
        front = hours_module.frontier(conn, now)
        report.frontier = front
        if front is None:
            store.record_run(conn, frontier=None, at=now)
            report.skipped = "no logs yet"
            return report
        last = state.last_frontier
        # The first run looks back a day: a change already under way is then an incident, not the new usual
        # (the previous hours are part of every baseline).
        first = hour_of(last) if last is not None and last <= front else hour_of(front - MAX_CATCH_UP)
        first = max(first, hour_of(front - MAX_CATCH_UP))
        evaluated = [first + i * HOUR for i in range(int((hour_of(front) - first) / HOUR) + 1)]
        history = history_start(first, settings)
        book = store.load_book(conn, since=history)
        facts = hours_module.load_facts(
            conn,
            first_hour=history,
            frontier_at=front,
            latency_hours={h for e in evaluated for h in latency_hours(e, settings)},
            covered=hours_module.coverage(conn),
        )
        scanned = templates.refresh(conn, first_hour=history, frontier=front, max_hours=template_hours_per_run)
        report.template_hours = len(scanned)
        catalog = templates.read(conn, first_hour=history, last_hour=hour_of(front))
        evaluate(
            book,
            facts,
            catalog,
            evaluated,
            settings,
            probe or LogsProbe(conn, settings),
            noticed={hour: now for hour in evaluated},
        )
        report.hours = evaluated
        report.changed = list(book.changed())
        for incident in report.changed:
            incident.facts = explain.gather(conn, incident, settings, facts)
            incident.summary = explain.summary_line(incident)
            if not incident.explanation.get("by") or incident.events != ["updated"]:
                incident.explanation = explain.templated(incident, incident.facts)
        store.save_book(conn, book)
        templates.prune(conn, before=history - timedelta(days=1))
        store.record_run(conn, frontier=front, at=now)
    mutes = store.active_mutes(conn, at=now)
    if explainer is not None:
        for incident in book:
            if due(incident, now=now, mutes=mutes) in ("opened", "reopened", "updated"):
                written = explainer(incident)
                if written:
                    incident.explanation = written
                    store.save_delivery(conn, incident)
    if channels:
        sent = deliver(list(book), channels, now=now, mutes=mutes, save=lambda i: store.save_delivery(conn, i))
        report.sent = [(incident.id, action, channel) for incident, action, channel in sent]
        report.undelivered = [
            f"#{incident.id}: {error}" for incident in book if (error := incident.delivery.get("last_error"))
        ]
    report.seconds = time.perf_counter() - started
    return report
