"""The agent's second source: the lake, asked in Trino SQL through the same guard (run_lake_query).

PostgreSQL keeps the hot window; the lake keeps every day. The model gets `run_lake_query` when a lake is
configured, told in the prompt which range each source holds, so a question about a day older than the
oldest partition is answered from the lake, and one that spans both can be asked of the lake in one query.
Each statement passes the guard in the Trino dialect (read-only, allowlisted functions, a constant bound on
the partition column, a LIMIT) before the engine sees it; what runs is the guard's text. Engine failures
and refusals go back to the model as tool errors, with the bytes scanned and the cost of what did run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, Final

from loglens.agent.catalog import lake_catalog
from loglens.agent.rows import json_rows
from loglens.agent.tools import Guard, QueryFailed, QueryResult
from loglens.lake.query import LakeExtent, LakeQueryError, LakeQueryTimeout
from loglens.sqlguard import GuardResult, check_sql
from loglens.sqlguard_functions import TRINO_FUNCTION_NAMES

if TYPE_CHECKING:
    from loglens.db.partitions import Partition
    from loglens.lake.query import LakeQuery

RUN_LAKE_QUERY: Final = "run_lake_query"
LAKE_TOOL: Final[dict[str, Any]] = {
    "name": RUN_LAKE_QUERY,
    "description": (
        "Run one read-only Trino (Athena) SELECT on the lake: the same logs table with every day it holds, "
        "including days older than PostgreSQL keeps. Returns the columns, the first rows, the row count, the "
        "bytes scanned and what the query cost. Refusals by the SQL guard and engine errors come back as errors "
        "that say what to fix."
    ),
    "input_schema": {
        "type": "object",
        "properties": {
            "sql": {"type": "string", "description": "One Trino SELECT on logs, created_at bounded by constants."},
            "purpose": {"type": "string", "description": "What this query is meant to find out."},
        },
        "required": ["sql"],
    },
}
ANSWER_SOURCE: Final[dict[str, Any]] = {
    "type": "string",
    "enum": ["postgres", "lake"],
    "description": "Where the answer's sql runs: postgres (run_query) or lake (run_lake_query). Default postgres.",
}


@dataclass(frozen=True)
class LakeQueryResult(QueryResult):
    bytes_scanned: int = 0
    cost_usd: float = 0.0
    engine: str = ""

    def figures(self) -> dict[str, Any]:
        return {
            "source": "lake",
            "engine": self.engine,
            "bytes_scanned": self.bytes_scanned,
            "cost_usd": self.cost_usd,
        }


class LakeTools:
    """Guarded Trino SQL on the lake, and the lake's extent for the prompt (kept for `extent_ttl` seconds)."""

    def __init__(
        self,
        lake: LakeQuery,
        *,
        max_rows: int,
        guard: Guard = check_sql,
        extent: Callable[[], LakeExtent] | None = None,
        extent_ttl: float = 600.0,
    ) -> None:
        self.lake = lake
        self._read_extent = extent
        self.max_rows = max_rows
        self._guard = guard
        self._extent_ttl = extent_ttl
        self._extent: tuple[float, LakeExtent] | None = None
        self._lock = threading.Lock()

    def check(self, text: str) -> GuardResult:
        verdict = self._guard(text, lake_catalog(), dialect="trino", max_rows=self.max_rows)
        if not verdict.allowed or verdict.sql is None:
            raise QueryFailed(
                "refused", verdict.code, f"refused by the SQL guard (lake, Trino) ({verdict.code}): {verdict.reason}"
            )
        return verdict

    def run(self, text: str) -> LakeQueryResult:
        verdict = self.check(text)
        statement = str(verdict.sql)
        try:
            result = self.lake.run(statement)
        except LakeQueryTimeout as failure:
            raise QueryFailed("timeout", "lake_timeout", str(failure)) from failure
        except LakeQueryError as failure:
            raise QueryFailed("database", "lake_error", str(failure)) from failure
        rows = json_rows(result.rows[: self.max_rows])
        return LakeQueryResult(
            sql=statement,
            columns=list(result.columns),
            rows=rows,
            elapsed_ms=result.elapsed_ms,
            limit_reached=len(result.rows) >= self.max_rows,
            guard_note=verdict.reason,
            bytes_scanned=result.bytes_scanned,
            cost_usd=result.cost_usd,
            engine=result.engine,
        )

    def extent(self) -> LakeExtent | None:
        """The lake's days, or None when they cannot be read now or by this engine (the prompt then says so)."""
        if self._read_extent is None:
            return None
        with self._lock:
            now = time.monotonic()
            if self._extent is None or now - self._extent[0] >= self._extent_ttl:
                try:
                    self._extent = (now, self._read_extent())
                except (OSError, RuntimeError):  # LakeQueryError is a RuntimeError
                    return None
            return self._extent[1]


def lake_prompt(*, only: bool = False) -> str:
    """How to ask the lake; appended to the stable prompt when the agent has one (`only`: a lake-only stage,
    where there is no PostgreSQL to choose between)."""
    functions = ", ".join(sorted(TRINO_FUNCTION_NAMES))
    which = (
        '- The lake holds the table logs as an Apache Iceberg table read with Trino SQL (Athena); "Lake facts" '
        "says which days it holds."
        if only
        else "- The lake holds the same table logs, same columns, as an Apache Iceberg table read with Trino SQL "
        "(Athena). Use it for created_at ranges older than PostgreSQL holds, or for one query over a range that "
        'spans both; "Sources" under Database facts says which range each holds.'
    )
    source = "" if only else '- When the answer\'s sql is lake SQL, give the answer tool source "lake".\n'
    return f"""
The lake (run_lake_query)
{which}
- Write Trino, not PostgreSQL: TIMESTAMP '2024-06-01 00:00:00' literals, current_timestamp - INTERVAL '1' DAY, \
date_trunc('hour', created_at), date_diff('minute', a, b), count_if(level = 'ERROR'), \
approx_percentile(duration_ms, 0.95), json_extract_scalar(metadata, '$.key') (metadata is JSON text there), \
CAST(x AS varchar). No :: casts, no ILIKE (use lower(message) LIKE '%x%'), no jsonb operators, no summary views.
- Every read of logs must bound created_at with constants on the bare column (created_at >= TIMESTAMP '...' \
AND created_at < TIMESTAMP '...', or relative to current_timestamp); no subquery bounds, and a trace_id lookup \
needs a range too. The lake reads whole days: the bytes scanned, and the cost ($5 per TB, 10 MB minimum per \
query), follow the days and the columns a query reads, so name only the columns you need.
- Functions allowed there: {functions}.
{source}"""


def sources_prompt(partitions: list[Partition], extent: LakeExtent | None) -> str:
    """Which range of created_at each source holds (PostgreSQL: from its oldest attached partition)."""
    bounded = [p for p in partitions if p.start is not None]
    lines = ["- Sources:"]
    if bounded:
        oldest = min(p.start for p in bounded if p.start is not None)
        lines.append(
            f"  - PostgreSQL (run_query) holds logs from {oldest:%Y-%m-%d} (its oldest partition) to now: use it "
            "for ranges inside that, it is faster and free."
        )
    else:
        lines.append("  - PostgreSQL (run_query) has no partitions yet.")
    if extent is None:
        lines.append("  - The lake (run_lake_query): its extent could not be read now; it holds every day stored.")
    elif extent.empty or extent.first_day is None or extent.last_day is None:
        lines.append("  - The lake (run_lake_query) holds nothing yet.")
    else:
        lines.append(
            f"  - The lake (run_lake_query) holds logs from {_day(extent.first_day)} to {_day(extent.last_day)} "
            f"(UTC days, about {extent.rows:,} rows); the last minutes may not have reached it yet. Use it for "
            "older ranges, or for one query over a range that spans both."
        )
    return "\n".join(lines) + "\n"


def _day(value: date) -> str:
    return value.isoformat()
