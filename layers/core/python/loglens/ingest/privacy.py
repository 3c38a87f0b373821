"""Applying redaction to validated records, the same way on every ingest path.

The record's field dict is redacted in place (no copy of every record on the hot path); how
many values each rule replaced is kept in the record's metadata under `redactions` and added
to `totals` for the Metrics — the counts, never the values.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

from loglens.record import LogRecord


class Redactor(Protocol):
    def redact_record(self, record: dict[str, Any]) -> Counter[str]: ...


def redact(redactor: Redactor | None, record: LogRecord, totals: Counter[str]) -> None:
    if redactor is None:
        return
    counts = redactor.redact_record(record.__dict__)
    if counts:
        record.metadata["redactions"] = dict(sorted(counts.items()))
        totals.update(counts)


def redactor_from_env(environ: Mapping[str, str] | None = None) -> Redactor:
    """The configured redactor (LOGLENS_REDACT_* variables); invalid settings fail loudly."""
    from loglens.redact import RedactionSettings, Redactor

    return Redactor(RedactionSettings.from_env(os.environ if environ is None else environ))


def count_metrics(metrics: Any, totals: Counter[str]) -> None:
    for rule, count in sorted(totals.items()):
        metrics.add_metric(name=f"Redactions_{rule}", unit="Count", value=count)
