"""Incidents, mutes and the run's bookkeeping in PostgreSQL (migration 0014), read and written as loglens_alerter."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import psycopg

from loglens.alerts.incidents import Incident, IncidentBook

_COLUMNS: Final = (
    "id, service, status, started_at, last_seen_at, resolved_at, opened_at, reopened, detail, delivery, "
    "acked_by, acked_at, summary"
)
MAX_TEXT: Final = 200


class RunBusy(RuntimeError):
    """Another run holds the lock (EventBridge retried, or a run is slower than the schedule)."""


@dataclass(frozen=True)
class Mute:
    id: int
    service: str
    kind: str | None
    until: datetime
    reason: str
    created_by: str

    def covers(self, incident: Incident) -> bool:
        if not incident.involves(self.service):
            return False
        return self.kind is None or self.kind in incident.kinds


@dataclass(frozen=True)
class RunState:
    last_frontier: datetime | None
    last_run_at: datetime | None
    last_digest_day: date | None


def lock_run(conn: psycopg.Connection[Any]) -> RunState:
    """Take the run lock for the current transaction; RunBusy when another run has it."""
    row = conn.execute(
        "SELECT last_frontier, last_run_at, last_digest_day FROM alert_runs FOR UPDATE SKIP LOCKED"
    ).fetchone()
    if row is None:
        raise RunBusy("another alerts run is in progress")
    return RunState(*row)


def record_run(conn: psycopg.Connection[Any], *, frontier: datetime | None, at: datetime) -> None:
    conn.execute("UPDATE alert_runs SET last_frontier = coalesce(%s, last_frontier), last_run_at = %s", (frontier, at))


def record_digest(conn: psycopg.Connection[Any], day: date) -> None:
    conn.execute("UPDATE alert_runs SET last_digest_day = %s", (day,))


def load_book(conn: psycopg.Connection[Any], *, since: datetime) -> IncidentBook:
    """Open incidents, and those that ended after `since` (to reopen, or to keep out of baselines)."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM alert_incidents WHERE status = 'open' OR last_seen_at >= %s ORDER BY id", (since,)
    ).fetchall()
    return IncidentBook([_incident(row) for row in rows])


def get_incident(conn: psycopg.Connection[Any], incident_id: int) -> Incident | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM alert_incidents WHERE id = %s", (incident_id,)).fetchone()
    return _incident(row) if row else None


def recent_incidents(conn: psycopg.Connection[Any], *, since: datetime, limit: int = 50) -> list[Incident]:
    rows = conn.execute(
        f"""SELECT {_COLUMNS} FROM alert_incidents WHERE status = 'open' OR last_seen_at >= %s
            ORDER BY last_seen_at DESC LIMIT %s""",
        (since, limit),
    ).fetchall()
    return [_incident(row) for row in rows]


def _incident(row: tuple[Any, ...]) -> Incident:
    ident, service, status, started, last_seen, resolved, opened, reopened, detail, delivery = row[:10]
    acked_by, acked_at, summary = row[10:13]
    incident = Incident(
        service=service,
        started_at=started,
        last_seen_at=last_seen,
        opened_at=opened,
        status=status,
        resolved_at=resolved,
        reopened=reopened,
        id=ident,
        acked_by=acked_by,
        acked_at=acked_at,
        delivery=dict(delivery or {}),
        summary=summary,
    )
    incident.load_detail(detail or {})
    return incident


def save_book(conn: psycopg.Connection[Any], book: IncidentBook) -> None:
    """Insert new incidents and update changed ones (the book's incidents with events in this run)."""
    for incident in book.changed():
        summary = incident.summary or incident.service
        values = (
            incident.service,
            incident.status,
            incident.kinds,
            summary,
            incident.started_at,
            incident.last_seen_at,
            incident.resolved_at,
            incident.reopened,
            json.dumps(incident.detail_json(), default=str),
        )
        if incident.id is None:
            row = conn.execute(
                """INSERT INTO alert_incidents (service, status, kinds, summary, started_at, last_seen_at,
                                                resolved_at, reopened, detail, opened_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s) RETURNING id""",
                (*values, incident.opened_at),
            ).fetchone()
            incident.id = int(row[0]) if row else None
        else:
            conn.execute(
                """UPDATE alert_incidents SET service = %s, status = %s, kinds = %s, summary = %s, started_at = %s,
                          last_seen_at = %s, resolved_at = %s, reopened = %s, detail = %s::jsonb, updated_at = now()
                   WHERE id = %s""",
                (*values, incident.id),
            )


def save_delivery(conn: psycopg.Connection[Any], incident: Incident) -> None:
    if incident.id is None:
        return
    conn.execute(
        "UPDATE alert_incidents SET delivery = %s::jsonb, detail = %s::jsonb WHERE id = %s",
        (json.dumps(incident.delivery, default=str), json.dumps(incident.detail_json(), default=str), incident.id),
    )


def acknowledge(conn: psycopg.Connection[Any], incident_id: int, *, by: str, at: datetime) -> bool:
    """Mark an incident acknowledged (no more updates are sent, only its resolution); False if there is none."""
    row = conn.execute(
        """UPDATE alert_incidents SET acked_by = %s, acked_at = %s, updated_at = now()
           WHERE id = %s RETURNING id""",
        (_bounded(by, "who"), at, incident_id),
    ).fetchone()
    return row is not None


def mute(
    conn: psycopg.Connection[Any],
    service: str,
    *,
    until: datetime,
    by: str,
    reason: str = "",
    kind: str | None = None,
) -> int:
    row = conn.execute(
        """INSERT INTO alert_mutes (service, kind, until, reason, created_by) VALUES (%s, %s, %s, %s, %s)
           RETURNING id""",
        (_bounded(service, "service"), kind, until, reason[:500], _bounded(by, "who")),
    ).fetchone()
    assert row is not None
    return int(row[0])


def unmute(conn: psycopg.Connection[Any], service: str) -> int:
    return conn.execute("DELETE FROM alert_mutes WHERE service = %s", (service,)).rowcount


def active_mutes(conn: psycopg.Connection[Any], *, at: datetime) -> list[Mute]:
    rows = conn.execute(
        "SELECT id, service, kind, until, reason, created_by FROM alert_mutes WHERE until > %s ORDER BY id", (at,)
    ).fetchall()
    return [Mute(*row) for row in rows]


def _bounded(value: str, what: str) -> str:
    text = value.strip()
    if not text or len(text) > MAX_TEXT or "\x00" in text:
        raise ValueError(f"{what} must be 1-{MAX_TEXT} characters of text")
    return text
