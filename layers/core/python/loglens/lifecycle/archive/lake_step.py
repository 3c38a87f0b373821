"""Retention by tier: with the lake on, a partition past the hot window is verified in the lake, not exported.

The lake already holds every row the load path stored (loglens.lake.forward), so the archive's export step is
replaced by a check: each UTC day of the partition must have the same row count and checksum in PostgreSQL
and in the lake (loglens.lake.verify, recorded in lake_verifications). Only then does the ledger entry reach
``verified`` (with no manifests: the copy is the lake) and the run goes on to detach and drop as before.
Rows that reach the partition after the check are caught by the final check before the drop, which verifies
the detached table against the lake again. A day the lake does not match keeps its partition, and the run
reports which day and by how many rows, so an operator can find what is missing (`loglens lake verify`).

Days restored from an old gzip archive are not in the lake: the run finds them already archived and takes
the archive's path for them, as it does without the lake (loglens.lifecycle.archive.run).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from loglens.lifecycle.archive.format import Checksum, VerificationFailed, total_of

if TYPE_CHECKING:
    import psycopg

    from loglens.lake.query import LakeQuery
    from loglens.lake.verify import DayComparison


@dataclass
class LakeTier:
    """The lake as the archive's copy. `deliver_pending` delivers what is still buffered (locally: a flush)."""

    lake: LakeQuery
    deliver_pending: Callable[[], object] | None = None

    def verify(self, conn: psycopg.Connection[Any], table: str, days: Sequence[date]) -> Checksum:
        """The partition's totals when every day matches the lake; raises VerificationFailed otherwise."""
        from loglens.lake.verify import compare_day

        if self.deliver_pending is not None:
            self.deliver_pending()
        comparisons: list[DayComparison] = [
            compare_day(conn, self.lake, day, pg_table=table, purpose="retire") for day in days
        ]
        different = [c for c in comparisons if not c.matches]
        if different:
            raise VerificationFailed(
                "the lake does not hold the same rows, so the partition is kept: "
                + "; ".join(c.describe() for c in different)
                + " (see `loglens lake verify --day D`)"
            )
        return total_of(c.postgres for c in comparisons)
