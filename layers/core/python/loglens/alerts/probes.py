"""The questions only `logs` can answer, asked once a detector has found something (so rarely, and bounded):
which release appeared at a change's start, and whether two services' failures are the same failure.

- Release: the anomalous rows (a sample of at most 300) mostly carry one value of a release key (metadata
  `version`, `release`, ...) that the service's rows from a few hours before the change do not; the value's first
  appearance (one probe of the metadata index) falls within two hours before, or the hour of, the change's start.
- Link: the two services' anomalous rows share traces (at least 3, and a fifth of the smaller side's), and the service
  whose anomalous row comes first in most shared traces is where it began (a checkout fails in payment-api before
  order-api gives up waiting for it).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import psycopg

from loglens.alerts.detectors import SILENCE, Finding
from loglens.alerts.engine import Link
from loglens.alerts.incidents import Incident, Subject
from loglens.alerts.rows import RowFilter, any_of
from loglens.alerts.settings import AlertSettings

SAMPLE_ROWS: Final = 300
TRACE_ROWS: Final = 2000
# A release "at the start" of a change first appears this long before the change's hour, or during that hour.
RELEASE_BEFORE: Final = timedelta(hours=2)
RELEASE_AFTER: Final = timedelta(hours=1)
# The rows a release must be absent from: the service's rows this far before the change.
BEFORE_WINDOW: Final = timedelta(hours=24)
DOMINANT_SHARE: Final = 0.6
ABSENT_SHARE: Final = 0.1
MIN_SHARED_TRACES: Final = 3
MIN_SHARED_SHARE: Final = 0.2


class LogsProbe:
    def __init__(self, conn: psycopg.Connection[Any], settings: AlertSettings) -> None:
        self.conn = conn
        self.settings = settings
        self._releases: dict[tuple[str, datetime], dict[str, Any] | None] = {}

    def release_at(
        self, service: str, findings: Sequence[Finding], start: datetime, until: datetime
    ) -> dict[str, Any] | None:
        filters = [RowFilter.for_subject(Subject.from_finding(f)) for f in findings if f.kind != SILENCE]
        if not filters:
            return None
        cache_key = (service, start)
        if cache_key in self._releases:
            return self._releases[cache_key]
        found = self._release(service, filters, start, until)
        self._releases[cache_key] = found
        return found

    def _release(
        self, service: str, filters: list[RowFilter], start: datetime, until: datetime
    ) -> dict[str, Any] | None:
        where, params = any_of(filters, start, until)
        anomalous = [
            row[0]
            for row in self.conn.execute(
                f"SELECT metadata FROM logs WHERE {where} ORDER BY created_at LIMIT {SAMPLE_ROWS}", params
            )
        ]
        before = [
            row[0]
            for row in self.conn.execute(
                f"""SELECT metadata FROM logs WHERE service = %s AND created_at >= %s AND created_at < %s
                    ORDER BY created_at DESC LIMIT {SAMPLE_ROWS}""",
                (service, start - BEFORE_WINDOW, start - RELEASE_BEFORE),
            )
        ]
        if not anomalous or not before:
            return None
        for key in self.settings.release_keys:
            values = Counter(_text(m.get(key)) for m in anomalous if isinstance(m, dict) and m.get(key) is not None)
            if not values:
                continue
            value, count = values.most_common(1)[0]
            share = count / sum(values.values())
            earlier = Counter(_text(m.get(key)) for m in before if isinstance(m, dict) and m.get(key) is not None)
            total_before = sum(earlier.values())
            if share < DOMINANT_SHARE or total_before == 0 or earlier[value] / total_before > ABSENT_SHARE:
                continue
            row = self.conn.execute(
                """SELECT min(created_at) FROM logs
                   WHERE service = %s AND created_at >= %s AND created_at < %s AND metadata @> %s::jsonb""",
                (service, start - RELEASE_BEFORE, until, json.dumps({key: _json_value(anomalous, key, value)})),
            ).fetchone()
            first = row[0] if row else None
            if first is None or not start - RELEASE_BEFORE <= first < start + RELEASE_AFTER:
                continue
            return {
                "key": key,
                "value": value,
                "previous": earlier.most_common(1)[0][0],
                "first_seen": first.isoformat(),
                "share_of_anomalous_rows": round(share, 3),
            }
        return None

    def link(self, incident: Incident, findings: Sequence[Finding], start: datetime, until: datetime) -> Link | None:
        theirs = [RowFilter.for_subject(s) for s in incident.subjects.values() if s.kind != SILENCE]
        ours = [RowFilter.for_subject(Subject.from_finding(f)) for f in findings if f.kind != SILENCE]
        if not theirs or not ours:
            return None
        window_start = min(start, incident.started_at) - timedelta(hours=1)
        their_traces = self._traces(theirs, window_start, until)
        our_traces = self._traces(ours, window_start, until)
        shared = their_traces.keys() & our_traces.keys()
        # The downstream side's failing traces are mostly a subset of the origin's: measure against the smaller.
        smaller = min(len(their_traces), len(our_traces))
        if len(shared) < MIN_SHARED_TRACES or len(shared) < MIN_SHARED_SHARE * smaller:
            return None
        theirs_first = sum(1 for trace in shared if their_traces[trace] <= our_traces[trace])
        newcomer = findings[0].service
        origin = incident.service if theirs_first * 2 >= len(shared) else newcomer
        return Link(origin=origin, shared_traces=len(shared), share=len(shared) / max(1, smaller))

    def _traces(self, filters: list[RowFilter], start: datetime, until: datetime) -> dict[str, datetime]:
        where, params = any_of(filters, start, until)
        rows = self.conn.execute(
            f"""SELECT trace_id, min(created_at) FROM logs WHERE ({where}) AND trace_id IS NOT NULL
                GROUP BY trace_id LIMIT {TRACE_ROWS}""",
            params,
        )
        return {str(trace): first for trace, first in rows}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _json_value(rows: Sequence[Any], key: str, text: str) -> Any:
    """The value as stored (a version may be a number), for the containment probe."""
    for metadata in rows:
        if isinstance(metadata, dict) and _text(metadata.get(key)) == text:
            return metadata[key]
    return text
