"""What every lake engine answers: ``LakeQuery.run(sql) -> LakeResult`` (see loglens.lake)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, Protocol

# Athena's price (us-east-1 and most regions): $5 per TB scanned, each query rounded up to the
# megabyte with a 10 MB minimum, cancelled and failed queries included for what they read.
ATHENA_USD_PER_TB: Final = 5.0
ATHENA_MIN_BYTES: Final = 10 * 1024**2
_MB: Final = 1024**2
_TB: Final = 1024**4


class LakeQueryError(RuntimeError):
    """The lake could not answer; the message is for the model and the person asking."""


class LakeQueryRefused(LakeQueryError):
    """The SQL guard refused the statement (its reason is the message)."""


class LakeQueryTimeout(LakeQueryError):
    """The query ran past its deadline and was cancelled."""


@dataclass(frozen=True)
class LakeResult:
    columns: list[str]
    rows: list[list[Any]]
    bytes_scanned: int
    cost_usd: float
    elapsed_ms: int
    engine: str  # "athena" or "duckdb"


class LakeQuery(Protocol):
    def run(self, sql_trino_guarded: str) -> LakeResult: ...


def athena_cost_usd(bytes_scanned: int) -> float:
    """What Athena charges for one query that read `bytes_scanned`."""
    billed = max(ATHENA_MIN_BYTES, math.ceil(max(0, bytes_scanned) / _MB) * _MB)
    return billed / _TB * ATHENA_USD_PER_TB


@dataclass(frozen=True)
class LakeExtent:
    """The days the lake holds (UTC) and about how many rows: for the prompt, read without a charged scan
    (Athena: the table's ``"logs$partitions"`` metadata; locally: the snapshot)."""

    first_day: date | None
    last_day: date | None
    rows: int

    @property
    def empty(self) -> bool:
        return self.first_day is None
