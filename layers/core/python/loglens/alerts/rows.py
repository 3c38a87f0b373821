"""Which rows of `logs` an incident is about, as SQL: parameterised for the queries loglens runs itself, and as
literal text for the query an alert shows people (which the SQL guard checks, so it runs on the analyst role).

One description (`RowFilter`) feeds both, so what an alert counts and what its SQL shows are the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loglens.alerts.detectors import ERROR_RATE, LATENCY, NEW_ERROR
from loglens.alerts.hours import ERROR_LEVELS_SQL
from loglens.alerts.incidents import Subject
from loglens.alerts.templates import TEMPLATE_SQL


@dataclass(frozen=True)
class RowFilter:
    service: str
    environment: str | None = None
    errors_only: bool = False
    error_type: str | None = None
    template: str | None = None
    endpoint: str | None = None
    method: str | None = None
    slower_than_ms: float | None = None

    @classmethod
    def for_subject(cls, subject: Subject) -> RowFilter:
        environment = subject.environment or None
        detail = subject.detail
        if subject.kind == LATENCY:
            usual = detail.get("usual_ms")
            return cls(
                subject.service,
                endpoint=str(detail.get("endpoint", "")),
                method=str(detail.get("method", "")) or None,
                slower_than_ms=float(usual) if usual is not None else None,
            )
        if subject.kind == NEW_ERROR:
            template = detail.get("template")
            return cls(
                subject.service,
                environment,
                errors_only=True,
                error_type=str(detail.get("error_type", "")) or None,
                template=str(template) if template is not None else None,
            )
        if subject.kind == ERROR_RATE:
            return cls(subject.service, environment, errors_only=True)
        return cls(subject.service, environment)

    def conditions(self) -> list[tuple[str, Any]]:
        """(SQL with one %s or none, its value) pairs; the SQL parts are fixed text, never data."""
        parts: list[tuple[str, Any]] = [("service = %s", self.service)]
        if self.environment is not None:
            parts.append(("environment = %s", self.environment))
        if self.errors_only:
            parts.append((ERROR_LEVELS_SQL, None))
        if self.error_type is not None:
            parts.append(("error_type = %s", self.error_type))
        if self.template is not None:
            parts.append((f"{TEMPLATE_SQL} = %s", self.template))
        if self.endpoint is not None:
            parts.append(("endpoint = %s", self.endpoint))
        if self.method is not None:
            parts.append(("method = %s", self.method))
        if self.slower_than_ms is not None:
            parts.append(("duration_ms > %s", self.slower_than_ms))
        return parts

    def where(self, start: datetime, until: datetime) -> tuple[str, list[Any]]:
        """`created_at >= %s AND created_at < %s AND ...` (fixed text) with its parameters."""
        texts = ["created_at >= %s", "created_at < %s"]
        values: list[Any] = [start, until]
        for text, value in self.conditions():
            texts.append(text)
            if value is not None:
                values.append(value)
        return " AND ".join(texts), values

    def literal_where(self, start: datetime, until: datetime) -> str:
        """The same condition with its values written in, for SQL shown to people."""
        texts = [f"created_at >= {literal(start)}", f"created_at < {literal(until)}"]
        for text, value in self.conditions():
            texts.append(text if value is None else text.replace("%s", literal(value)))
        return " AND ".join(texts)


def literal(value: Any) -> str:
    """A SQL literal for text, numbers and times (standard_conforming_strings: only quotes are doubled)."""
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(float(value)) if isinstance(value, float) else str(value)
    text = str(value)
    if "\x00" in text:
        raise ValueError("a SQL literal cannot hold NUL")
    return "'" + text.replace("'", "''") + "'"


def any_of(filters: Sequence[RowFilter], start: datetime, until: datetime) -> tuple[str, list[Any]]:
    """Rows matching any of `filters` in the window."""
    if not filters:
        raise ValueError("any_of needs at least one filter")
    parts: list[str] = []
    values: list[Any] = []
    for row_filter in filters:
        where, params = row_filter.where(start, until)
        parts.append(f"({where})")
        values.extend(params)
    return " OR ".join(parts), values
