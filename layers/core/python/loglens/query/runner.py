"""The one way this package reaches the database: the agent's guarded path on the analyst connection.

`QueryRunner` holds an `AnalystSession` (read-only transactions with the statement timeout) and the agent's
`QueryTools` (the SQL guard, the row cap, the error messages), so search, tail and raw SQL run exactly as the
agent's `run_query` does. The layout the guard checks against (which views the analyst may read) is read
from the live database and cached, as the agent's facts are.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from loglens.agent.catalog import LOGS, Layout, offline_catalog, read_layout
from loglens.agent.tools import AnalystSession, DatabaseUnavailable, QueryFailed, QueryResult, QueryTools
from loglens.sqlguard import Catalog, GuardResult, check_sql

if TYPE_CHECKING:
    import psycopg

    from loglens.agent.settings import AgentSettings
    from loglens.db.connect import ConnectionProvider
    from loglens.settings import Settings

# logs has one column the record model does not: the id of the transaction that stored the row, which only
# the tail's own SQL reads (migration 0012). The agent's catalog leaves it out, so the model never sees it.
STORED_XID = "stored_xid"


@dataclass(frozen=True)
class QueryLimits:
    """The agent's row cap and statement timeout (the same settings), and the windows a query may cover."""

    max_rows: int = 1000
    statement_timeout_ms: int = 10_000
    hot_window: timedelta = timedelta(days=30)  # a search covers at most this much (the retention)
    tail_lookback: timedelta = timedelta(days=31)  # how old a newly stored record's created_at may be

    @classmethod
    def from_settings(cls, settings: Settings, agent: AgentSettings) -> QueryLimits:
        return cls(
            max_rows=agent.max_rows,
            statement_timeout_ms=agent.statement_timeout_ms,
            hot_window=timedelta(days=settings.retention_days),
            tail_lookback=timedelta(days=settings.accept_days_back + 1),
        )


class LayoutCache:
    """The live layout, read through the analyst session at most once per `ttl` seconds."""

    def __init__(self, session: AnalystSession, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._session = session
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._layout: Layout | None = None
        self._read_at = 0.0

    def get(self) -> Layout:
        with self._lock:
            now = self._clock()
            if self._layout is None or now - self._read_at >= self._ttl:
                with self._session.read_only_transaction() as conn:
                    self._layout = read_layout(conn)
                self._read_at = now
            return self._layout


def with_stored_xid(catalog: Catalog) -> Catalog:
    relations = dict(catalog.relations)
    relations[LOGS] = (*relations[LOGS], STORED_XID)
    return replace(catalog, relations=relations)


def _tail_guard(sql: str, catalog: Catalog, *, max_rows: int = 1000) -> GuardResult:
    return check_sql(sql, with_stored_xid(catalog), max_rows=max_rows)


class QueryRunner:
    """Guarded statements on the analyst connection, one at a time (the connection is shared by threads)."""

    def __init__(self, analyst: ConnectionProvider, limits: QueryLimits, *, layout_ttl: float = 600.0) -> None:
        self.limits = limits
        self.session = AnalystSession(analyst, statement_timeout_ms=limits.statement_timeout_ms)
        self.layouts = LayoutCache(self.session, layout_ttl)
        self.tools = QueryTools(self.session, self.layouts.get, max_rows=limits.max_rows)
        self.tail_tools = QueryTools(self.session, self.layouts.get, max_rows=limits.max_rows, guard=_tail_guard)
        self._lock = threading.RLock()

    def run(self, sql: str) -> QueryResult:
        with self._lock:
            return self.tools.run(sql)

    def run_together(self, statements: list[str]) -> list[QueryResult]:
        """Several statements in one read-only transaction (one snapshot, one now()); any failure raises."""
        with self._lock:
            outcomes = self.tools.run_together(statements)
        for outcome in outcomes:
            if isinstance(outcome, QueryFailed):
                raise outcome
        return [outcome for outcome in outcomes if isinstance(outcome, QueryResult)]

    def run_tail(self, sql: str) -> QueryResult:
        with self._lock:
            return self.tail_tools.run(sql)

    def verdict(self, sql: str) -> GuardResult:
        """The guard's verdict on `sql` against the live layout, or the offline one when the database is down."""
        try:
            catalog = self.layouts.get().catalog
        except DatabaseUnavailable:
            catalog = offline_catalog()  # checking as you type should not stop because the database did
        return check_sql(sql, catalog, max_rows=self.limits.max_rows)

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """A read-only transaction for the fixed statements this package runs itself (never request text)."""
        with self._lock, self.session.read_only_transaction() as conn:
            yield conn
