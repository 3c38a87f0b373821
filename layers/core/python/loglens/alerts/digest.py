"""The daily digest: yesterday (a UTC day) in five sections, from the daily summary views and the incidents.

Volume by service (against the day before), the top errors, error types new that day (absent the seven days
before), the slowest endpoints (p95 against the day before), and the incidents of the day. It reads the daily
views (`daily_log_summary`, `error_patterns`, `performance_metrics`): a few hundred rows, whatever the volume.
Sent once per day to every configured channel; `alert_runs.last_digest_day` keeps a retried schedule from sending
it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

import psycopg

from loglens.agent.slack import escape
from loglens.alerts import store
from loglens.alerts.delivery import Channel, DeliveryFailed
from loglens.alerts.messages import clip

log = logging.getLogger(__name__)

TOP: Final = 5
MIN_REQUESTS: Final = 20


@dataclass
class Digest:
    day: date
    title: str
    sections: list[tuple[str, str]]
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "title": self.title, **self.data}


def build(conn: psycopg.Connection[Any], day: date) -> Digest:
    before = day - timedelta(days=1)
    volume = conn.execute(
        """SELECT service, sum(log_count) FILTER (WHERE day = %(day)s)::bigint AS records,
                  coalesce(sum(error_count) FILTER (WHERE day = %(day)s), 0)::bigint AS errors,
                  coalesce(sum(log_count) FILTER (WHERE day = %(before)s), 0)::bigint AS records_before
           FROM daily_log_summary WHERE day IN (%(day)s, %(before)s)
           GROUP BY service HAVING sum(log_count) FILTER (WHERE day = %(day)s) > 0 ORDER BY 2 DESC""",
        {"day": day, "before": before},
    ).fetchall()
    top_errors = conn.execute(
        f"""SELECT service, error_type, sum(occurrences)::bigint, sum(affected_users)::bigint,
                   (array_agg(sample_message ORDER BY occurrences DESC))[1]
            FROM error_patterns WHERE day = %s GROUP BY 1, 2 ORDER BY 3 DESC LIMIT {TOP}""",
        (day,),
    ).fetchall()
    new_types = conn.execute(
        f"""SELECT service, error_type, sum(occurrences)::bigint, min(first_seen)
            FROM error_patterns p WHERE day = %s AND error_type <> ''
              AND NOT EXISTS (SELECT 1 FROM error_patterns q WHERE q.service = p.service
                              AND q.error_type = p.error_type AND q.day >= %s AND q.day < %s)
            GROUP BY 1, 2 ORDER BY 3 DESC LIMIT {TOP}""",
        (day, day - timedelta(days=7), day),
    ).fetchall()
    slowest = conn.execute(
        f"""SELECT d.service, d.method, d.endpoint, d.request_count, d.p95_ms, b.p95_ms
            FROM performance_metrics d
            LEFT JOIN performance_metrics b ON b.day = %s AND b.service = d.service AND b.endpoint = d.endpoint
                                           AND b.method = d.method
            WHERE d.day = %s AND d.endpoint <> '' AND d.request_count >= {MIN_REQUESTS}
            ORDER BY d.p95_ms DESC LIMIT {TOP}""",
        (before, day),
    ).fetchall()
    start = datetime.combine(day, time(), UTC)
    incidents = conn.execute(
        """SELECT id, service, status, summary, started_at, coalesce(resolved_at, last_seen_at)
           FROM alert_incidents WHERE started_at < %s AND coalesce(resolved_at, last_seen_at) >= %s
           ORDER BY started_at LIMIT 20""",
        (start + timedelta(days=1), start),
    ).fetchall()
    sections = [
        ("Volume by service", "\n".join(_volume_line(*row) for row in volume)),
        ("Top errors", "\n".join(_error_line(*row) for row in top_errors)),
        ("New error types", "\n".join(_new_line(*row) for row in new_types)),
        ("Slowest endpoints (p95)", "\n".join(_slow_line(*row) for row in slowest)),
        ("Incidents", "\n".join(_incident_line(*row) for row in incidents)),
    ]
    data = {
        "volume": [{"service": s, "records": r, "errors": e, "records_day_before": b} for s, r, e, b in volume],
        "top_errors": [
            {"service": s, "error_type": t, "occurrences": n, "users": u, "sample": m} for s, t, n, u, m in top_errors
        ],
        "new_error_types": [
            {"service": s, "error_type": t, "occurrences": n, "first_seen": f.isoformat()} for s, t, n, f in new_types
        ],
        "slowest_endpoints": [
            {"service": s, "method": m, "endpoint": e, "requests": n, "p95_ms": p, "p95_ms_day_before": b}
            for s, m, e, n, p, b in slowest
        ],
        "incidents": [
            {"id": i, "service": s, "status": st, "summary": su, "start": a.isoformat(), "end": b.isoformat()}
            for i, s, st, su, a, b in incidents
        ],
    }
    return Digest(day, f"loglens daily digest: {day.isoformat()}", sections, data)


def _change(now: float, before: float) -> str:
    if not before:
        return "new"
    return f"{(now - before) / before:+.0%}"


def _volume_line(service: str, records: int, errors: int, before: int) -> str:
    return f"• {escape(service)}: {records:,} records ({_change(records, before)} vs the day before), {errors:,} errors"


def _error_line(service: str, error_type: str, count: int, users: int, sample: str | None) -> str:
    what = escape(error_type or "untyped")
    return f"• {count:,}× {what} in {escape(service)} ({users:,} users): {escape(clip(sample or '', 90))}"


def _new_line(service: str, error_type: str, count: int, first: datetime) -> str:
    return f"• {escape(error_type)} in {escape(service)}: {count:,}×, first at {first:%H:%M} UTC"


def _slow_line(service: str, method: str, endpoint: str, requests: int, p95: float, before: float | None) -> str:
    change = f" ({_change(p95, before)} vs the day before)" if before else ""
    return f"• {escape(service)} {escape(method)} {escape(endpoint)}: {p95:,.0f} ms{change}, {requests:,} requests"


def _incident_line(ident: int, service: str, status: str, summary: str, start: datetime, end: datetime) -> str:
    return f"• #{ident} {escape(clip(summary, 150))} ({start:%H:%M}–{end:%H:%M} UTC, {status})"


@dataclass
class DigestReport:
    day: date
    sent: list[str]
    skipped: str | None = None


def run_digest(
    conn: psycopg.Connection[Any],
    *,
    now: datetime,
    channels: Sequence[Channel],
    day: date | None = None,
    force: bool = False,
) -> tuple[Digest | None, DigestReport]:
    """Yesterday's digest to every channel, once (unless `force`)."""
    wanted = day or (now.astimezone(UTC).date() - timedelta(days=1))
    with conn.transaction():
        try:
            state = store.lock_run(conn)
        except store.RunBusy as busy:
            return None, DigestReport(wanted, [], str(busy))
        if not force and state.last_digest_day is not None and state.last_digest_day >= wanted:
            return None, DigestReport(wanted, [], f"the digest of {wanted} was sent already")
        digest = build(conn, wanted)
        sent: list[str] = []
        failures: list[str] = []
        for channel in channels:  # every channel gets its digest; one failing does not stop the others
            try:
                channel.send_digest(digest.title, digest.sections)
            except Exception as error:
                log.warning("the digest could not be sent to %s: %s", channel.name, error)
                failures.append(f"{channel.name}: {error}")
                continue
            sent.append(channel.name)
        if sent:
            store.record_digest(conn, wanted)
    if failures and not sent:
        raise DeliveryFailed("the digest reached no channel: " + "; ".join(failures))
    return digest, DigestReport(wanted, sent, "; ".join(failures) or None)
