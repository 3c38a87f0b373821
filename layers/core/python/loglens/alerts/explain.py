"""An alert that explains itself: the facts of an incident, the SQL that shows it, and the words.

`gather` reads the facts once, from `logs` within the incident's window and from the detectors' measurements: what
changed and by how much against the baseline, since when, the top error types and messages, who and what is
affected (users, sessions, endpoints, pages, browsers), the release that appeared at the start, and a few queries
that show it, each checked by the SQL guard (so they run on the analyst role, in the console or with psql).

`templated` writes the explanation from those facts. `with_model` asks Claude through the same agent and guarded
tools as `loglens ask`: the facts go in the question, the model checks them with its own queries and writes the
summary, the insight and the next step; if the model fails, the templated text stands.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode

import psycopg

from loglens.alerts.detectors import ERROR_RATE, LATENCY, NEW_ERROR, SILENCE
from loglens.alerts.hours import HOUR, HourlyFacts, hour_of
from loglens.alerts.incidents import Incident, Subject
from loglens.alerts.rows import RowFilter, any_of, literal
from loglens.alerts.settings import AlertSettings
from loglens.alerts.stats import histogram_quantile

if TYPE_CHECKING:
    from loglens.agent.service import AskService

log = logging.getLogger(__name__)

TOP: Final = 5
SERIES_HOURS: Final = 12
_BARS: Final = "▁▂▃▄▅▆▇█"


def summary_line(incident: Incident) -> str:
    """One line: the service and its biggest changes, against usual, and the release when there is one."""
    parts = [describe(subject) for subject in incident.top_subjects(3)]
    text = f"{incident.service}: " + "; ".join(parts)
    if incident.cause:
        text += f" (after {incident.cause.get('key')} {incident.cause.get('value')})"
    if incident.related:
        text += f"; also {', '.join(incident.related)}"
    return text


def describe(subject: Subject) -> str:
    detail = subject.detail
    where = f" in {subject.environment}" if subject.environment else ""
    if subject.kind == ERROR_RATE:
        rate, usual = float(detail.get("error_rate", 0)), float(detail.get("usual_error_rate", 0))
        return f"error rate {rate:.1%} vs {usual:.1%} usual ({_times(subject.ratio)}){where}"
    if subject.kind == NEW_ERROR:
        what = detail.get("sample_message") if detail.get("template") is not None else detail.get("error_type")
        label = "new message" if detail.get("template") is not None else "new error"
        return f"{label} {_quote(str(what or subject.subject))} ×{subject.observed:,.0f}{where}"
    if subject.kind == LATENCY:
        q = round(float(detail.get("percentile", 0.95)) * 100)
        ms, usual = float(detail.get("ms", 0)), float(detail.get("usual_ms", 0))
        return f"{subject.subject} p{q} {ms:,.0f} ms vs {usual:,.0f} ms usual ({_times(ms / usual if usual else 0)})"
    if subject.kind == SILENCE:
        return f"no records{where} (≈{subject.expected:,.0f} expected)"
    return subject.subject or subject.kind


def _times(ratio: float) -> str:
    return "new" if ratio == float("inf") else f"{ratio:,.1f}×"


def _quote(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return f"“{text[: limit - 1]}…”" if len(text) > limit else f"“{text}”"


def gather(
    conn: psycopg.Connection[Any],
    incident: Incident,
    settings: AlertSettings,
    facts: HourlyFacts | None = None,
) -> dict[str, Any]:
    """The explanation's facts (also refines `incident.started_at` to its first anomalous row)."""
    start, end = incident.started_at, max(incident.end, incident.started_at + timedelta(minutes=1))
    filters = [RowFilter.for_subject(s) for s in incident.subjects.values() if s.kind != SILENCE]
    found: dict[str, Any] = {
        "service": incident.service,
        "services": incident.services,
        "status": incident.status,
        "changes": [_change(s) for s in incident.top_subjects(8)],
        "cause": incident.cause,
    }
    if filters:
        # The start is the first row of the most specific change (a new error, a slow endpoint), not any error.
        specific = [RowFilter.for_subject(s) for s in incident.subjects.values() if s.kind in (NEW_ERROR, LATENCY)]
        where, params = any_of(specific or filters, start, end)
        first = conn.execute(f"SELECT min(created_at) FROM logs WHERE {where}", params).fetchone()
        if first and first[0] is not None and start <= first[0] < end:
            incident.started_at = first[0]
            start = first[0]
        found["top_errors"] = _top_errors(conn, incident.services, start, end)
        # Who the specific change touches (the new error's rows, the slow requests), else every error's.
        found["affected"] = _affected(conn, specific or filters, start, end)
    elif any(s.kind == SILENCE for s in incident.subjects.values()):
        row = conn.execute(
            "SELECT max(created_at) FROM logs WHERE service = %s AND created_at >= %s AND created_at < %s",
            (incident.service, start - timedelta(days=1), end),
        ).fetchone()
        found["last_record"] = row[0].isoformat() if row and row[0] else None
    found["window"] = {
        "start": start.isoformat(),
        "end": incident.end.isoformat(),
        "open": incident.is_open,
        "minutes": round((incident.end - start).total_seconds() / 60),
    }
    if facts is not None:
        found["series"] = series(incident, facts)
    found["sql"] = queries(incident, settings)
    found["links"] = links(incident, settings, found["sql"])
    return found


def _change(subject: Subject) -> dict[str, Any]:
    return {
        "kind": subject.kind,
        "subject": subject.subject,
        "service": subject.service,
        "environment": subject.environment,
        "text": describe(subject),
        "observed": subject.observed,
        "expected": round(subject.expected, 3),
        "ratio": None if subject.ratio == float("inf") else round(subject.ratio, 2),
        "p_value": subject.p_value,
        "since": subject.start.isoformat(),
        "detail": subject.detail,
    }


def _top_errors(
    conn: psycopg.Connection[Any], services: Sequence[str], start: datetime, end: datetime
) -> list[dict[str, Any]]:
    rows = conn.execute(
        f"""SELECT service, coalesce(error_type, ''), left(message, 200), count(*), count(DISTINCT user_id)
            FROM logs WHERE service = ANY(%s) AND level IN ('ERROR', 'FATAL') AND created_at >= %s AND created_at < %s
            GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT {TOP}""",
        (list(services), start, end),
    ).fetchall()
    return [{"service": s, "error_type": t, "message": m, "count": c, "users": u} for s, t, m, c, u in rows]


def _affected(
    conn: psycopg.Connection[Any], filters: Sequence[RowFilter], start: datetime, end: datetime
) -> dict[str, Any]:
    where, params = any_of(filters, start, end)
    row = conn.execute(
        f"SELECT count(*), count(DISTINCT user_id), count(DISTINCT session_id) FROM logs WHERE {where}", params
    ).fetchone()
    rows, users, sessions = row if row else (0, 0, 0)
    affected: dict[str, Any] = {"rows": rows, "users": users, "sessions": sessions}
    for name, column in (
        ("endpoints", "coalesce(method || ' ', '') || endpoint"),
        ("pages", "page_path"),
        ("browsers", "browser_name"),
        ("environments", "environment"),
    ):
        top = conn.execute(
            f"""SELECT {column} AS value, count(*) FROM logs WHERE ({where}) AND {column} IS NOT NULL
                GROUP BY 1 ORDER BY 2 DESC LIMIT 3""",
            params,
        ).fetchall()
        affected[name] = [{"value": value, "count": count} for value, count in top]
    return affected


def series(incident: Incident, facts: HourlyFacts) -> dict[str, Any]:
    """The main subject per hour from a few hours before the start: for the chart."""
    main = incident.top_subjects(1)
    if not main:
        return {}
    subject = main[0]
    first = max(facts.first_hour, hour_of(incident.started_at) - SERIES_HOURS * HOUR)
    hours: list[datetime] = []
    h = first
    while h <= hour_of(incident.end) and h <= facts.last_hour:
        hours.append(h)
        h += HOUR
    key = (subject.service, subject.environment)
    values: list[float | None]
    if subject.kind == LATENCY:
        endpoint = (subject.service, str(subject.detail.get("endpoint")), str(subject.detail.get("method")))
        histograms = facts.latency.get(endpoint, {})
        q = float(subject.detail.get("percentile", 0.95))
        values = [histogram_quantile(histograms[x], q) if x in histograms else None for x in hours]
        label = f"{subject.subject} p{round(q * 100)} (ms)"
    elif subject.kind == NEW_ERROR and subject.detail.get("template") is None:
        error_type = str(subject.detail.get("error_type", ""))
        by_hour = facts.error_types.get(key, {})
        values = [float(by_hour.get(x, {}).get(error_type, 0)) for x in hours]
        label = f"{error_type} per hour"
    elif subject.kind == SILENCE:
        values = [float(facts.records(key, x)) for x in hours]
        label = "records per hour"
    else:
        counts = facts.counts.get(key, {})
        values = [float(counts[x].errors) if x in counts else 0.0 for x in hours]
        label = "errors per hour"
    return {"label": label, "hours": [x.isoformat() for x in hours], "values": values, "chart": sparkline(values)}


def sparkline(values: Sequence[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return ""
    top = max(known) or 1.0
    return "".join(" " if v is None else _BARS[min(len(_BARS) - 1, int(v / top * (len(_BARS) - 1)))] for v in values)


def queries(incident: Incident, settings: AlertSettings) -> list[dict[str, str]]:
    """SQL that shows the incident, each passed through the SQL guard (what the analyst role will run)."""
    from loglens.agent.catalog import offline_catalog
    from loglens.sqlguard import check_sql

    catalog = offline_catalog()
    drafts: list[tuple[str, str]] = []
    before = incident.started_at - timedelta(hours=24)
    until = incident.end + timedelta(minutes=1)
    done: set[str] = set()
    for subject in incident.top_subjects(3):
        if subject.kind in done:
            continue
        done.add(subject.kind)
        drafts.append(_draft(subject, incident, before, until, settings))
    checked: list[dict[str, str]] = []
    for title, text in drafts:
        verdict = check_sql(text, catalog, max_rows=500)
        if verdict.allowed and verdict.sql:
            checked.append({"title": title, "sql": verdict.sql})
        else:  # a bug of ours, not the reader's: say so in the log and leave the query out
            log.error("an alert query was refused by the SQL guard (%s): %s", verdict.code, verdict.reason)
    return checked


def _draft(
    subject: Subject, incident: Incident, before: datetime, until: datetime, settings: AlertSettings
) -> tuple[str, str]:
    service = literal(subject.service)
    env = f" AND environment = {literal(subject.environment)}" if subject.environment else ""
    window = f"created_at >= {literal(before)} AND created_at < {literal(until)}"
    if subject.kind == LATENCY:
        endpoint = literal(str(subject.detail.get("endpoint", "")))
        method = str(subject.detail.get("method", ""))
        by_method = f" AND method = {literal(method)}" if method else ""
        version = ""
        if incident.cause and incident.cause.get("key"):
            version = f", metadata ->> {literal(str(incident.cause['key']))} AS release"
        q = float(subject.detail.get("percentile", 0.95))
        group = "1, 2" if version else "1"
        return (
            f"{subject.subject}: p{round(q * 100)} per hour" + (" and release" if version else ""),
            f"SELECT date_trunc('hour', created_at) AS hour{version}, count(*) AS requests, "
            f"percentile_cont({q}) WITHIN GROUP (ORDER BY duration_ms) AS p{round(q * 100)}_ms "
            f"FROM logs WHERE service = {service} AND endpoint = {endpoint}{by_method} AND {window} "
            f"GROUP BY {group} ORDER BY 1",
        )
    if subject.kind == NEW_ERROR:
        since = incident.started_at - timedelta(days=settings.baseline_days)
        return (
            f"{subject.service}: error types and messages, newest first seen first",
            f"SELECT error_type, left(message, 200) AS message, count(*) AS occurrences, "
            f"min(created_at) AS first_seen, count(DISTINCT user_id) AS users "
            f"FROM logs WHERE service = {service}{env} AND level IN ('ERROR', 'FATAL') "
            f"AND created_at >= {literal(since)} AND created_at < {literal(until)} "
            f"GROUP BY 1, 2 ORDER BY first_seen DESC LIMIT 20",
        )
    if subject.kind == SILENCE:
        return (
            f"{subject.service}: records per hour",
            f"SELECT hour, sum(log_count) AS records FROM hourly_log_rollup WHERE service = {service}{env} "
            f"AND hour >= {literal(hour_of(before))} GROUP BY hour ORDER BY hour",
        )
    return (
        f"{subject.service}: errors and records per hour",
        f"SELECT date_trunc('hour', created_at) AS hour, count(*) AS records, "
        f"count(*) FILTER (WHERE level IN ('ERROR', 'FATAL')) AS errors "
        f"FROM logs WHERE service = {service}{env} AND {window} GROUP BY 1 ORDER BY 1",
    )


def links(incident: Incident, settings: AlertSettings, checked: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """Console views of the incident, when a console URL is configured."""
    base = settings.console_url
    if not base:
        return {}
    found: dict[str, str] = {}
    params: dict[str, str] = {
        "service": incident.service,
        "since": incident.started_at.isoformat(),
        "until": (incident.end + timedelta(minutes=1)).isoformat(),
    }
    if any(s.kind in (ERROR_RATE, NEW_ERROR) for s in incident.subjects.values()):
        params["level"] = "ERROR,FATAL"
    found["logs"] = f"{base}/#/search?{urlencode(params)}"
    if checked:
        found["sql"] = f"{base}/#/sql?{urlencode({'sql': checked[0]['sql']})}"
    return found


def templated(incident: Incident, found: Mapping[str, Any]) -> dict[str, str]:
    """The explanation written from the facts alone (no model)."""
    window = found.get("window", {})
    since = _clock(window.get("start"))
    state = "ongoing" if incident.is_open else f"ended {_clock(window.get('end'))}"
    changes = [str(c["text"]) for c in found.get("changes", [])[:3]]
    what = "; ".join(changes) if changes else "an unusual change"
    summary = f"{incident.service} since {since} ({state}): {what}."
    insight_parts: list[str] = []
    cause = found.get("cause")
    if cause:
        insight_parts.append(
            f"It began with {cause.get('key')} {cause.get('value')} (previously {cause.get('previous')}), "
            f"first seen {_clock(cause.get('first_seen'))}, carried by "
            f"{float(cause.get('share_of_anomalous_rows', 0)):.0%} of the failing rows."
        )
    errors = found.get("top_errors") or []
    if errors:
        top = errors[0]
        insight_parts.append(
            f"Top error: {top['error_type'] or 'untyped'} {_quote(str(top['message']), 100)} ×{top['count']:,}."
        )
    affected = found.get("affected") or {}
    who = []
    if affected.get("users"):
        who.append(f"{affected['users']:,} users")
    for name in ("endpoints", "pages", "browsers"):
        values = affected.get(name) or []
        if values:
            who.append(f"{name} " + ", ".join(f"{v['value']} ({v['count']:,})" for v in values))
    if who:
        insight_parts.append("Affected: " + "; ".join(who) + ".")
    if incident.related:
        insight_parts.append(f"Downstream: {', '.join(incident.related)} failed in the same traces, after it.")
    if found.get("last_record"):
        insight_parts.append(f"Last record: {_clock(found['last_record'])}.")
    if cause:
        recommendation = (
            f"Compare {cause.get('value')} with {cause.get('previous')}; roll back if the change is not understood."
        )
    elif any(s.kind == SILENCE for s in incident.subjects.values()):
        recommendation = f"Check that {incident.service} is running and that its log shipping works."
    else:
        recommendation = "Run the first query below, then look at the failing rows of the top error."
    return {"summary": summary, "key_insight": " ".join(insight_parts), "recommendation": recommendation}


def _clock(value: Any) -> str:
    if not value:
        return "?"
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def with_model(service: AskService, incident: Incident, found: Mapping[str, Any]) -> dict[str, str] | None:
    """Claude's explanation through the ask agent's guarded tools; None when the model could not answer."""
    facts = {k: v for k, v in found.items() if k not in ("series", "links")}
    question = (
        "loglens's detectors opened an incident. Explain it for the on-call engineer in plain words: what changed, "
        "since when, how big against the usual, who is affected, and the likely cause if the data shows one. "
        "Verify the key numbers with one query of your own before answering; do not invent causes the data does "
        "not show. The detectors' facts (JSON):\n" + json.dumps(facts, default=str)[:12_000]
    )
    try:
        answer = service.ask(question)
    except Exception:  # the templated explanation stands; the alert must not wait on the model
        log.exception("the model could not explain incident %s", incident.id)
        return None
    if not answer.complete:
        return None
    explanation = answer.explanation
    result = {
        "summary": explanation.summary,
        "key_insight": explanation.key_insight,
        "recommendation": explanation.recommendation,
        "by": answer.model or "model",
    }
    if answer.sql:
        result["sql"] = answer.sql
    return result
