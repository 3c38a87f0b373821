"""Incidents: one service's change from its start until it ends, however many detectors and hours saw it.

Grouping: a service has at most one open incident; every finding about the service while it is open joins it
(a new subject, or a later hour of a known one), so a payment outage that raises the error rate, brings a new
error type and slows an endpoint is one alert. A service whose anomalous rows share traces with an open incident
of another service, and fail after it in those traces, joins that incident as a downstream effect.

Resolution: an incident ends when its anomalous events stop although they would have shown up by now: the events
expected since it was last seen (at the rate it had, on the traffic that came since) reach `resolve_events`, and
at least `resolve_minutes` have passed. A sparse error (two an hour at night) is not "over" after one quiet hour.

Cool-down: the same service firing again within `cooldown_minutes` of a resolution reopens that incident (one
alert, updated) instead of sending a new one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from loglens.alerts.detectors import Finding

SubjectKey = tuple[str, str, str, str]  # (service, kind, environment, subject)


@dataclass
class Subject:
    """One thing an incident is about (an error type, an endpoint's latency, the error rate), as last measured."""

    service: str
    kind: str
    environment: str
    subject: str
    start: datetime
    first_hour: datetime
    last_hour: datetime
    rate: float
    basis: str
    observed: float
    expected: float
    p_value: float
    detail: dict[str, Any]
    peak_ratio: float

    @property
    def key(self) -> SubjectKey:
        return (self.service, self.kind, self.environment, self.subject)

    @property
    def ratio(self) -> float:
        return self.observed / self.expected if self.expected > 0 else float("inf")

    @classmethod
    def from_finding(cls, finding: Finding) -> Subject:
        return cls(
            service=finding.service,
            kind=finding.kind,
            environment=finding.environment,
            subject=finding.subject,
            start=finding.start,
            first_hour=finding.hour,
            last_hour=finding.hour,
            rate=finding.rate,
            basis=finding.basis,
            observed=finding.observed,
            expected=finding.expected,
            p_value=finding.p_value,
            detail=dict(finding.detail),
            peak_ratio=finding.ratio,
        )

    def update(self, finding: Finding) -> None:
        self.last_hour = max(self.last_hour, finding.hour)
        self.start = min(self.start, finding.start)
        if finding.ratio >= self.peak_ratio or finding.kind == "new_error":
            # The strongest hour describes the incident (a new error's count only grows).
            self.observed, self.expected, self.p_value = finding.observed, finding.expected, finding.p_value
            self.detail = dict(finding.detail)
            self.rate = max(self.rate, finding.rate)
            self.peak_ratio = max(self.peak_ratio, finding.ratio)

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "kind": self.kind,
            "environment": self.environment,
            "subject": self.subject,
            "start": self.start.isoformat(),
            "first_hour": self.first_hour.isoformat(),
            "last_hour": self.last_hour.isoformat(),
            "rate": self.rate,
            "basis": self.basis,
            "observed": self.observed,
            "expected": self.expected,
            "p_value": self.p_value,
            "detail": self.detail,
            "peak_ratio": self.peak_ratio if self.peak_ratio != float("inf") else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Subject:
        peak = data.get("peak_ratio")
        return cls(
            service=str(data["service"]),
            kind=str(data["kind"]),
            environment=str(data["environment"]),
            subject=str(data["subject"]),
            start=datetime.fromisoformat(data["start"]),
            first_hour=datetime.fromisoformat(data["first_hour"]),
            last_hour=datetime.fromisoformat(data["last_hour"]),
            rate=float(data["rate"]),
            basis=str(data["basis"]),
            observed=float(data["observed"]),
            expected=float(data["expected"]),
            p_value=float(data["p_value"]),
            detail=dict(data.get("detail") or {}),
            peak_ratio=float("inf") if peak is None else float(peak),
        )


@dataclass
class Incident:
    service: str  # where it started (the origin when several services are involved)
    started_at: datetime
    last_seen_at: datetime
    opened_at: datetime  # when loglens noticed (the data's time for a replay)
    subjects: dict[SubjectKey, Subject] = field(default_factory=dict)
    status: str = "open"
    resolved_at: datetime | None = None
    reopened: int = 0
    cause: dict[str, Any] | None = None  # the release that appeared at the start, when there is one
    related: list[str] = field(default_factory=list)  # downstream services that joined
    id: int | None = None
    acked_by: str | None = None
    acked_at: datetime | None = None
    delivery: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)  # the explanation's facts, when gathered
    explanation: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    # What happened to it in this run (opened, updated, resolved, reopened), for delivery; not stored.
    events: list[str] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    @property
    def services(self) -> list[str]:
        return [self.service, *self.related]

    @property
    def kinds(self) -> list[str]:
        order = ("error_rate", "new_error", "latency", "silence", "release")
        present = {s.kind for s in self.subjects.values()}
        if self.cause is not None:
            present.add("release")
        return [kind for kind in order if kind in present]

    @property
    def end(self) -> datetime:
        return self.resolved_at or self.last_seen_at

    def involves(self, service: str) -> bool:
        return service == self.service or service in self.related

    def absorb(self, finding: Finding) -> bool:
        """Add a finding; True when it was about a subject the incident already had."""
        subject = self.subjects.get((finding.service, finding.kind, finding.environment, finding.subject))
        if subject is None:
            self.subjects[(finding.service, finding.kind, finding.environment, finding.subject)] = Subject.from_finding(
                finding
            )
            self.started_at = min(self.started_at, finding.start)
            return False
        subject.update(finding)
        return True

    def note(self, event: str) -> None:
        if event not in self.events:
            self.events.append(event)

    def top_subjects(self, limit: int = 5) -> list[Subject]:
        """Subjects by how far they are from usual: opening kinds first, then by ratio."""

        def weight(subject: Subject) -> tuple[int, float]:
            rank = {"new_error": 0, "error_rate": 1, "latency": 2, "silence": 3}.get(subject.kind, 4)
            return (rank, -min(subject.ratio, 1e12))

        return sorted(self.subjects.values(), key=weight)[:limit]

    def detail_json(self) -> dict[str, Any]:
        return {
            "subjects": [subject.to_json() for subject in self.subjects.values()],
            "cause": self.cause,
            "related": self.related,
            "facts": self.facts,
            "explanation": self.explanation,
        }

    def load_detail(self, detail: Mapping[str, Any]) -> None:
        self.subjects = {}
        for data in detail.get("subjects") or []:
            subject = Subject.from_json(data)
            self.subjects[subject.key] = subject
        cause = detail.get("cause")
        self.cause = dict(cause) if isinstance(cause, Mapping) else None
        self.related = [str(s) for s in detail.get("related") or []]
        self.facts = dict(detail.get("facts") or {})
        self.explanation = dict(detail.get("explanation") or {})


@dataclass
class IncidentBook:
    """The incidents a run knows: those still open, and those resolved recently enough to reopen or to keep out of
    baselines."""

    incidents: list[Incident] = field(default_factory=list)

    def __iter__(self) -> Iterator[Incident]:
        return iter(self.incidents)

    def open_incidents(self) -> list[Incident]:
        return [incident for incident in self.incidents if incident.is_open]

    def open_for(self, service: str) -> Incident | None:
        return next((i for i in self.incidents if i.is_open and i.involves(service)), None)

    def latest_resolved(self, service: str) -> Incident | None:
        """The service's most recent resolved incident (to reopen within the cool-down, or to start after)."""
        candidates = [i for i in self.incidents if not i.is_open and i.involves(service)]
        return max(candidates, key=lambda i: i.end, default=None)

    def excluded(self, service: str, hour: datetime) -> bool:
        """Whether `hour` of `service` belongs to one of its incidents (and so is no baseline)."""
        for incident in self.incidents:
            if not incident.involves(service):
                continue
            first = incident.started_at.replace(minute=0, second=0, microsecond=0)
            if hour >= first and (incident.is_open or hour < incident.end):
                return True
        return False

    def add(self, incident: Incident) -> Incident:
        self.incidents.append(incident)
        return incident

    def changed(self) -> Iterable[Incident]:
        return (incident for incident in self.incidents if incident.events)
