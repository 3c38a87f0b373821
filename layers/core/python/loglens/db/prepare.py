"""The one place that migrates and prepares a database for use, so `loglens db migrate`, the deploy-time
migration, `loglens dev` and the test session do exactly the same thing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from loglens.db.connect import connect
from loglens.db.migrate import Migration, migrate
from loglens.db.partitions import EnsureResult, ensure_window
from loglens.settings import Settings


@dataclass(frozen=True)
class PreparedDatabase:
    applied: list[Migration]
    partitions: EnsureResult


def prepare(url: str, settings: Settings) -> PreparedDatabase:
    """Apply migrations, then make sure today's and the coming partitions exist."""
    with connect(url, autocommit=True) as conn:
        applied = migrate(conn, analyst_statement_timeout_ms=settings.analyst_statement_timeout_ms)
        conn.execute("SET ROLE loglens_owner")
        today = datetime.now(UTC).date()
        partitions = ensure_window(conn, today, settings.partition_days_ahead, settings.partition_granularity)
    return PreparedDatabase(applied, partitions)
