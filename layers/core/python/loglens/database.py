"""Where the database is: DATABASE_URL when set, else the embedded server (started on demand).

Also the one place that migrates and prepares a database for use, so `loglens db migrate`,
`loglens dev` and the test session do exactly the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from loglens.db.connect import connect
from loglens.db.migrate import Migration, migrate
from loglens.partitions import EnsureResult, ensure_window
from loglens.settings import Settings

if TYPE_CHECKING:
    from loglens.embedded import EmbeddedPostgres


@dataclass(frozen=True)
class PreparedDatabase:
    applied: list[Migration]
    partitions: EnsureResult


def embedded(settings: Settings, *, fast: bool = False) -> EmbeddedPostgres:
    from loglens.embedded import EmbeddedPostgres

    return EmbeddedPostgres(settings.home, settings.embedded_port, fast=fast)


def admin_url(settings: Settings, *, start: bool = True) -> str:
    """The migrating (admin) URL: DATABASE_URL, or the embedded server's superuser."""
    if settings.database_url:
        return settings.database_url
    server = embedded(settings)
    return server.start() if start else server.url()


def prepare(url: str, settings: Settings) -> PreparedDatabase:
    """Apply migrations, then make sure today's and the coming partitions exist."""
    with connect(url, autocommit=True) as conn:
        applied = migrate(conn, analyst_statement_timeout_ms=settings.analyst_statement_timeout_ms)
        conn.execute("SET ROLE loglens_owner")
        today = datetime.now(UTC).date()
        partitions = ensure_window(conn, today, settings.partition_days_ahead, settings.partition_granularity)
    return PreparedDatabase(applied, partitions)
