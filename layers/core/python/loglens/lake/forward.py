"""Forwarding validated rows to the lake stream: the load path (with PostgreSQL) and collect (lake-only).

With PostgreSQL, load forwards every row it read from a raw object — after validating and
redacting it, before its transaction commits — so both tiers hold the same rows from the same
validation (a FireLens line's event id and time come from its raw object, and only load knows
them). Forwarding before the commit is what makes a crash harmless: the object is not claimed
yet, so it is loaded and forwarded again, and the stream's upsert on (created_at, event_id)
stores the row once. Forwarding after the commit could lose a day's rows to one crash.

Cost: a PutRecordBatch per 500 rows from load, and Firehose's Iceberg price per GB; no Lambda
validates these rows again (the gate checks one MAC each).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from loglens.ingest.envelope import Sealer
from loglens.ingest.limits import MAX_FIREHOSE_BATCH_RECORDS
from loglens.ingest.sinks import Sink
from loglens.lake.rows import lake_records


class LakeSink(Protocol):
    """Where the load path hands the rows it validated (LOG_COLUMNS order): the lake stream in AWS,
    the local lake's buffer under `loglens dev`. `flush` runs before the load commits."""

    def add(self, rows: Sequence[Sequence[Any]]) -> None: ...

    def flush(self) -> None: ...


@dataclass
class LakeForwarder:
    """Buffers rows and puts them to the lake stream, sealed, a batch at a time."""

    sink: Sink
    sealer: Sealer
    batch_rows: int = MAX_FIREHOSE_BATCH_RECORDS
    sent: int = 0
    _rows: list[Sequence[Any]] = field(default_factory=list)

    def add(self, rows: Sequence[Sequence[Any]]) -> None:
        self._rows.extend(rows)
        if len(self._rows) >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        """Put what is buffered; raises SinkUnavailable when Firehose refuses (the caller retries)."""
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        self.sink.put(lake_records(rows, self.sealer))
        self.sent += len(rows)
