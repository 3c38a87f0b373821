"""Hour by hour: findings in, incidents opened, grown, linked, resolved and reopened.

The same loop serves the scheduled run (the hours since the last run, with the incidents kept in PostgreSQL) and
`loglens alerts check` (every hour of a period, replayed in order with an empty book, as if a run had happened at
the end of each hour). The hour holding the frontier is partial; the scheduled run evaluates it again next time
with more data, which is idempotent: an open incident only grows, and resolution is computed from the data since
the incident was last seen, not accumulated.

What needs `logs` itself (the release that appeared at a change's start, traces shared with another service's
incident) is asked of a `Probe`, only when a detector has already found something.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from loglens.alerts.detectors import (
    ERROR_RATE,
    LATENCY,
    NEW_ERROR,
    SILENCE,
    Finding,
    basis_count,
    detect,
    expected_records,
    occurrences,
)
from loglens.alerts.hours import HOUR, HourlyFacts, hour_of
from loglens.alerts.incidents import Incident, IncidentBook, Subject
from loglens.alerts.settings import AlertSettings
from loglens.alerts.templates import TemplateCatalog

# A release is looked for while an incident is younger than this (it appears at the start of a change).
CAUSE_SEARCH: Final = timedelta(hours=3)


@dataclass(frozen=True)
class Link:
    """Two services' anomalous rows share traces; `origin` is the one that failed first in most of them."""

    origin: str
    shared_traces: int
    share: float


class Probe(Protocol):
    def release_at(
        self, service: str, findings: Sequence[Finding], start: datetime, until: datetime
    ) -> dict[str, Any] | None:
        """The release (a metadata version value) that appeared at the start of these findings' change, if any."""
        ...

    def link(self, incident: Incident, findings: Sequence[Finding], start: datetime, until: datetime) -> Link | None:
        """Whether `findings` (another service's) share traces with `incident`'s anomalous rows."""
        ...


class NoProbe:
    """A probe that finds nothing (tests of the loop alone)."""

    def release_at(
        self, service: str, findings: Sequence[Finding], start: datetime, until: datetime
    ) -> dict[str, Any] | None:
        return None

    def link(self, incident: Incident, findings: Sequence[Finding], start: datetime, until: datetime) -> Link | None:
        return None


def evaluate(
    book: IncidentBook,
    facts: HourlyFacts,
    catalog: TemplateCatalog,
    hours: Iterable[datetime],
    settings: AlertSettings,
    probe: Probe,
    *,
    noticed: Mapping[datetime, datetime] | None = None,
) -> None:
    """Run the detectors for each hour in order and update `book`. `noticed` maps an hour to when a run saw it
    (default: the hour's end within the data)."""
    for hour in sorted(set(hours)):
        seen_at = (noticed or {}).get(hour, facts.hour_end(hour))
        findings = detect(facts, catalog, hour, settings, book.excluded)
        by_service: dict[str, list[Finding]] = defaultdict(list)
        for finding in findings:
            by_service[finding.service].append(finding)
        touched: set[int] = set()
        # Services with an open incident first, then the strongest change: a downstream effect then finds the
        # incident it belongs to already open.
        order = sorted(
            by_service,
            key=lambda s: (book.open_for(s) is None, min(f.p_value for f in by_service[s]), s),
        )
        for service in order:
            incident = _apply(book, facts, service, by_service[service], hour, seen_at, settings, probe)
            if incident is not None:
                touched.add(id(incident))
        for incident in book.open_incidents():
            if id(incident) not in touched:
                _quiet_hour(incident, facts, catalog, hour, settings, book)


def _apply(
    book: IncidentBook,
    facts: HourlyFacts,
    service: str,
    findings: list[Finding],
    hour: datetime,
    seen_at: datetime,
    settings: AlertSettings,
    probe: Probe,
) -> Incident | None:
    end = facts.hour_end(hour)
    incident = book.open_for(service)
    if incident is not None:
        known = [f for f in findings if (f.service, f.kind, f.environment, f.subject) in incident.subjects]
        joining = [f for f in findings if f.opens and f not in known]
        if not known and not joining:
            return None
        for finding in known + joining:
            incident.absorb(finding)
        if incident.cause is None and end - incident.started_at <= CAUSE_SEARCH:
            # The rows of the first minutes may not show the release yet; look again while the change is young.
            changes = [f for f in known + joining if f.kind in (ERROR_RATE, LATENCY, NEW_ERROR)]
            if changes:
                incident.cause = probe.release_at(service, changes, incident.started_at, end)
        incident.last_seen_at = max(incident.last_seen_at, end)
        incident.note("updated")
        return incident
    opening = [f for f in findings if f.opens]
    cause = None
    if not opening:
        # A weaker change (not strong enough alone) is an incident when a release appeared at its start.
        weaker = [f for f in findings if f.kind in (ERROR_RATE, LATENCY, NEW_ERROR)]
        if not weaker:
            return None
        cause = probe.release_at(service, weaker, min(f.start for f in weaker), end)
        if cause is None:
            return None
        opening = weaker
    previous = book.latest_resolved(service)
    if previous is not None:
        # A change cannot have begun inside an earlier incident of the service (a new error type stays "new"
        # for a day, its first appearance may be that incident's).
        opening = [replace(f, start=max(f.start, previous.end)) for f in opening]
    start = min(f.start for f in opening)
    for other in book.open_incidents():
        if other.service == service or other.end < start - HOUR:
            continue
        link = probe.link(other, opening, start, end)
        if link is None:
            continue
        # The other service's incident and this one are the same failure, seen from two places.
        for finding in opening:
            other.absorb(finding)
        if service not in other.related and service != other.service:
            other.related.append(service)
        if link.origin == service and other.service != service:
            other.related = [s for s in other.related if s != service] + [other.service]
            other.service = service
        other.last_seen_at = max(other.last_seen_at, end)
        other.note("updated")
        return other
    cooldown = timedelta(minutes=settings.cooldown_minutes)
    incident = previous if previous is not None and hour - previous.end <= cooldown else None
    if incident is not None:
        incident.status = "open"
        incident.resolved_at = None
        incident.reopened += 1
        incident.note("reopened")
    else:
        incident = book.add(Incident(service=service, started_at=start, last_seen_at=end, opened_at=seen_at))
        incident.note("opened")
        if cause is None and any(f.kind in (ERROR_RATE, LATENCY, NEW_ERROR) for f in opening):
            cause = probe.release_at(service, opening, start, end)
    for finding in opening:
        incident.absorb(finding)
    if cause is not None:
        incident.cause = cause
        for finding in opening:
            subject = incident.subjects[(finding.service, finding.kind, finding.environment, finding.subject)]
            subject.detail["release"] = cause.get("value")
    incident.last_seen_at = max(incident.last_seen_at, end)
    return incident


def _quiet_hour(
    incident: Incident,
    facts: HourlyFacts,
    catalog: TemplateCatalog,
    hour: datetime,
    settings: AlertSettings,
    book: IncidentBook,
) -> None:
    """An hour in which no detector spoke about an open incident: is it still happening, or over?"""
    if hour < hour_of(incident.last_seen_at):
        return
    if _still_happening(incident, facts, catalog, hour, settings, book):
        incident.last_seen_at = max(incident.last_seen_at, facts.hour_end(hour))
        incident.note("updated")
        return
    quiet_since = incident.last_seen_at
    evidence = 0.0
    h = hour_of(quiet_since)
    while h <= hour:
        if h + HOUR > quiet_since:
            share = 1.0 if h >= quiet_since else (h + HOUR - quiet_since) / HOUR
            evidence += share * _expected_events(incident, facts, h)
        h += HOUR
    quiet = facts.hour_end(hour) - quiet_since
    if evidence >= settings.resolve_events and quiet >= timedelta(minutes=settings.resolve_minutes):
        incident.status = "resolved"
        incident.resolved_at = incident.last_seen_at
        incident.note("resolved")


def _still_happening(
    incident: Incident,
    facts: HourlyFacts,
    catalog: TemplateCatalog,
    hour: datetime,
    settings: AlertSettings,
    book: IncidentBook,
) -> bool:
    """New errors go on while they occur at all; silence goes on while (almost) nothing comes."""
    for subject in incident.subjects.values():
        if subject.kind == NEW_ERROR:
            count = occurrences(facts, catalog, _as_finding(subject, hour), hour)
            if count:
                return True
        elif subject.kind == SILENCE:
            key = (subject.service, subject.environment)
            expected = expected_records(facts, key, hour, settings, lambda service, h: False)
            if expected is None or facts.records(key, hour) <= 0.2 * max(expected, 5.0):
                return True
    return False


def _expected_events(incident: Incident, facts: HourlyFacts, hour: datetime) -> float:
    """How many of the incident's anomalous events `hour` would have held if it were still going on."""
    total = 0.0
    for subject in incident.subjects.values():
        if subject.kind == SILENCE:
            total += facts.records((subject.service, subject.environment), hour)
        else:
            total += subject.rate * basis_count(facts, _as_finding(subject, hour), hour)
    return total


def _as_finding(subject: Subject, hour: datetime) -> Finding:
    return Finding(
        kind=subject.kind,
        service=subject.service,
        environment=subject.environment,
        subject=subject.subject,
        hour=hour,
        start=subject.start,
        observed=subject.observed,
        expected=subject.expected,
        p_value=subject.p_value,
        opens=False,
        rate=subject.rate,
        basis=subject.basis,
        detail=subject.detail,
    )
