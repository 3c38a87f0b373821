"""Forwarding validated rows to the lake: the load path hands every row it validated to a LakeSink.

The load path adds each batch of rows it read from a raw object, after validating and redacting them,
and flushes the sink just before its PostgreSQL transaction commits: so the lake never lacks a row
PostgreSQL has. When the commit fails the object is loaded and forwarded again, and the lake's dedup on
(created_at, event_id) stores the row once. In AWS the sink puts rows to the lake's Firehose stream (the
lakeaws side of this package); under `loglens dev` it is the local lake's buffer
(loglens.devtools.lake.buffer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class LakeSink(Protocol):
    """Where the load path hands the rows it validated (LOG_COLUMNS order): the lake stream in AWS,
    the local lake's buffer under `loglens dev`. `flush` runs before the load commits."""

    def add(self, rows: Sequence[Sequence[Any]]) -> None: ...

    def flush(self) -> None: ...
