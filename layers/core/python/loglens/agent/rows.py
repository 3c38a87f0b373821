"""Query results as JSON values, and the smaller, redacted copy of them that the model is shown."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    from loglens.redact import Redactor

Cell = Any  # a JSON value: None, bool, int, float, str, list or dict of those
_MARK = "…[truncated]"


def json_cell(value: Any) -> Cell:
    """A database value as JSON: times as ISO 8601, numerics as numbers, ids and addresses as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_cell(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_cell(v) for v in value]
    if isinstance(value, bytes | memoryview):
        # Fields of an anonymous row() arrive as raw bytes in binary results; they are text in practice.
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(value).hex()
    return str(value)  # inet, ranges and anything else PostgreSQL returns print readably


def json_rows(rows: Sequence[Sequence[Any]]) -> list[list[Cell]]:
    return [[json_cell(v) for v in row] for row in rows]


class ModelView:
    """Prepares rows for the model: at most `rows` rows, long text cut, text redacted when a redactor is given."""

    def __init__(self, *, rows: int, cell_chars: int, redactor: Redactor | None) -> None:
        self.rows = rows
        self.cell_chars = cell_chars
        self.redactor = redactor

    def rows_for_model(self, rows: Sequence[Sequence[Cell]]) -> list[list[Cell]]:
        return [[self.cell(v) for v in row] for row in rows[: self.rows]]

    def cell(self, value: Cell) -> Cell:
        if isinstance(value, str):
            return self._cut(self._redact(value))
        if isinstance(value, dict | list):
            tree = self._redact_tree(value)
            return tree
        return value

    def text(self, value: str) -> str:
        """Free text bound for the model (a summary in a follow-up, a sample message)."""
        return self._cut(self._redact(value))

    def _redact(self, text: str) -> str:
        if self.redactor is None or not text:
            return text
        return self.redactor.redact_text(text, Counter())

    def _redact_tree(self, value: dict[str, Any] | list[Any]) -> Cell:
        if self.redactor is None:
            return value
        import copy

        # redact_record handles nested metadata (sensitive keys included) in place, so give it a copy.
        holder = {"metadata": copy.deepcopy(value)}
        self.redactor.redact_record(holder)
        return holder["metadata"]

    def _cut(self, text: str) -> str:
        if len(text) <= self.cell_chars:
            return text
        return text[: max(self.cell_chars - len(_MARK), 1)] + _MARK


def model_redactor(environ: Mapping[str, str]) -> Redactor:
    """The ingest redaction settings with every rule that keeps a value switched to masking it.

    Rows were redacted at ingest already; what ingest keeps on purpose (IP addresses, phone numbers by
    default) is still more than a model provider needs to see.
    """
    from loglens.redact import Action, RedactionSettings, Redactor

    settings = RedactionSettings.from_env(environ)
    stricter = {rule: (Action.MASK if action is Action.KEEP else action) for rule, action in settings.rules.items()}
    return Redactor(replace(settings, rules=stricter))
