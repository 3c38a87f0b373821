"""Asking the lake: the engine-neutral result, the protocol both engines implement, and what a query costs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, Protocol

# Athena's price (engine 3, per query): $5 per TB scanned, each query rounded up to the next MB with a
# minimum of 10 MB. Binary units, as AWS bills data.
ATHENA_USD_PER_TB: Final = 5.0
_MB: Final = 1 << 20
_TB: Final = 1 << 40
ATHENA_MIN_BYTES: Final = 10 * _MB


def athena_cost_usd(bytes_scanned: int) -> float:
    """What Athena charges for one query that scanned `bytes_scanned` bytes."""
    billed = max(ATHENA_MIN_BYTES, math.ceil(max(bytes_scanned, 0) / _MB) * _MB)
    return billed / _TB * ATHENA_USD_PER_TB


@dataclass(frozen=True)
class LakeResult:
    columns: list[str]
    rows: list[list[Any]]  # JSON values: None, bool, int, float, str (times as ISO 8601 text, UTC)
    bytes_scanned: int
    cost_usd: float
    elapsed_ms: float
    engine: str  # "athena" or "duckdb"


@dataclass(frozen=True)
class LakeExtent:
    """The days the lake holds data for (UTC), and about how many rows."""

    first_day: date | None
    last_day: date | None
    rows: int

    @property
    def empty(self) -> bool:
        return self.first_day is None


class LakeQueryFailed(Exception):
    """The statement failed in the engine; `message` says what to change (it goes back to the model)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # timeout | cutoff | engine
        self.message = message


class LakeUnavailable(RuntimeError):
    """The engine cannot be reached or is not set up; no rewrite of the SQL will help."""


class LakeQuery(Protocol):
    engine: str

    def run(self, sql: str) -> LakeResult:
        """Run one Trino statement the guard allowed (or that loglens wrote); raise LakeQueryFailed."""
        ...

    def extent(self) -> LakeExtent:
        """The days the lake holds, from metadata: no charged scan."""
        ...
