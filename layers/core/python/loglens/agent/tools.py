"""The agent's hands: run or explain one SQL statement, guarded, on the read-only analyst connection.

Every statement passes the SQL guard first, and what runs is the guard's own regenerated text. It then runs
in a READ ONLY transaction whose limits (statement and lock timeouts, work memory, search path, time zone)
the agent sets on every transaction, so none depends on the analyst role's defaults: PostgreSQL lets a role
ALTER ROLE itself SET ... or RESET ALL, and those reach every later session (migration 0010). Failures come back as
`QueryFailed` with a message precise enough for the model to correct its SQL; a database that cannot be
reached raises `DatabaseUnavailable` instead, because no rewrite of the SQL will fix that.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.pq import TransactionStatus

from loglens.agent.rows import Cell, json_rows
from loglens.sqlguard import Catalog, GuardResult, check_sql

if TYPE_CHECKING:
    from loglens.agent.catalog import Layout
    from loglens.db.connect import ConnectionProvider

Guard = Callable[..., GuardResult]


class QueryFailed(Exception):
    """The statement was refused or failed; `message` tells the model what went wrong and what to change."""

    def __init__(self, kind: str, code: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # refused | timeout | database
        self.code = code  # the guard's code or the SQLSTATE
        self.message = message


class DatabaseUnavailable(RuntimeError):
    """The analyst connection could not be opened or broke; the question cannot be answered now."""


@dataclass(frozen=True)
class QueryResult:
    sql: str  # the statement that ran: the guard's regenerated text
    columns: list[str]
    rows: list[list[Cell]]
    elapsed_ms: float
    limit_reached: bool  # the row cap was hit, so there may be more rows
    guard_note: str


@dataclass(frozen=True)
class PlanFigures:
    estimated_cost: float
    estimated_rows: float
    partitions_scanned: int  # partitions of logs the plan reads (after pruning at plan and executor start)
    partitions_total: int
    indexes: list[str] = field(default_factory=list)  # indexes on logs (or views) the plan uses

    def as_dict(self) -> dict[str, Any]:
        return {
            "estimated_cost": self.estimated_cost,
            "estimated_rows": self.estimated_rows,
            "partitions_scanned": self.partitions_scanned,
            "partitions_total": self.partitions_total,
            "indexes": self.indexes,
        }


class AnalystSession:
    """Read-only transactions on the analyst connection, each with the agent's own limits."""

    def __init__(self, connections: ConnectionProvider, *, statement_timeout_ms: int, work_mem_mb: int = 32) -> None:
        self.connections = connections
        self.statement_timeout_ms = statement_timeout_ms
        self.work_mem_mb = work_mem_mb

    def limits(self) -> dict[str, str]:
        """What every agent transaction sets for itself (SET LOCAL), whatever the role's defaults say."""
        return {
            "statement_timeout": f"{self.statement_timeout_ms}ms",
            "lock_timeout": "2s",
            "idle_in_transaction_session_timeout": "60s",
            "work_mem": f"{self.work_mem_mb}MB",
            "search_path": "public",
            "TimeZone": "UTC",
        }

    @contextmanager
    def read_only_transaction(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            conn = self.connections.get()
            if conn.info.transaction_status != TransactionStatus.IDLE:
                conn.rollback()
            conn.read_only = True  # psycopg then opens every transaction with BEGIN READ ONLY
            with conn.transaction():
                # A SELECT, not SET LOCAL: it takes the transaction's first snapshot, after which PostgreSQL
                # refuses SET TRANSACTION READ WRITE, so no later statement can turn the transaction writable.
                # set_config pins an RDS Proxy session; the ask function holds one connection per container,
                # so the pin costs nothing here.
                limits = self.limits()
                setters = ", ".join("set_config(%s, %s, true)" for _ in limits)
                conn.execute(f"SELECT {setters}", [item for pair in limits.items() for item in pair])
                yield conn
        except psycopg.OperationalError as error:
            if _is_connection_lost(error):
                self.connections.discard()
                raise DatabaseUnavailable(f"the database connection failed: {_first_line(error)}") from error
            raise


class QueryTools:
    """Runs and explains guarded SQL for one agent (not thread-safe: one connection, used in turn)."""

    def __init__(
        self,
        session: AnalystSession,
        layout: Callable[[], Layout],
        *,
        max_rows: int,
        guard: Guard = check_sql,
    ) -> None:
        self.session = session
        self.layout = layout
        self.max_rows = max_rows
        self._guard = guard

    @property
    def statement_timeout_ms(self) -> int:
        return self.session.statement_timeout_ms

    def check(self, text: str) -> GuardResult:
        """The guard's verdict on `text`; raises QueryFailed when it refuses."""
        catalog: Catalog = self.layout().catalog
        verdict = self._guard(text, catalog, max_rows=self.max_rows)
        if not verdict.allowed or verdict.sql is None:
            raise QueryFailed("refused", verdict.code, f"refused by the SQL guard ({verdict.code}): {verdict.reason}")
        return verdict

    def run(self, text: str) -> QueryResult:
        verdict = self.check(text)
        with self.session.read_only_transaction() as conn:
            return self._fetch(conn, verdict)

    def run_together(self, texts: list[str]) -> list[QueryResult | QueryFailed]:
        """Run several statements in one transaction, so now() and the snapshot are the same for all of them.

        Each runs under its own savepoint, so one failing does not stop the others.
        """
        checked: list[GuardResult | QueryFailed] = []
        for text in texts:  # before the transaction: checking may read the layout on the same connection
            try:
                checked.append(self.check(text))
            except QueryFailed as failure:
                checked.append(failure)
        outcomes: list[QueryResult | QueryFailed] = []
        with self.session.read_only_transaction() as conn:
            for verdict in checked:
                if isinstance(verdict, QueryFailed):
                    outcomes.append(verdict)
                    continue
                try:
                    with conn.transaction():
                        outcomes.append(self._fetch(conn, verdict))
                except QueryFailed as failure:
                    outcomes.append(failure)
        return outcomes

    def _fetch(self, conn: psycopg.Connection[Any], verdict: GuardResult) -> QueryResult:
        statement = str(verdict.sql)
        started = time.perf_counter()
        cursor = self._execute(conn, statement)
        fetched = cursor.fetchmany(self.max_rows) if cursor.description else []
        elapsed = (time.perf_counter() - started) * 1000
        return QueryResult(
            sql=statement,
            columns=[column.name for column in cursor.description or ()],
            rows=json_rows(fetched),
            elapsed_ms=round(elapsed, 2),
            limit_reached=len(fetched) >= self.max_rows,
            guard_note=verdict.reason,
        )

    def explain(self, text: str) -> PlanFigures:
        verdict = self.check(text)
        # EXPLAIN without ANALYZE plans but does not run the query; executor-start pruning still shows.
        statement = "EXPLAIN (FORMAT JSON) " + str(verdict.sql)
        with self.session.read_only_transaction() as conn:
            row = self._execute(conn, statement).fetchone()
        if row is None:
            raise QueryFailed("database", "XX000", "EXPLAIN returned no plan")
        return plan_figures(row[0], self.layout())

    def _execute(self, conn: psycopg.Connection[Any], statement: str) -> psycopg.Cursor[Any]:
        try:
            # Binary results make psycopg use the extended query protocol, which carries exactly one statement:
            # even SQL that got past the guard cannot append "; COMMIT; BEGIN READ WRITE; ..." to escape.
            return conn.cursor().execute(statement, binary=True)
        except psycopg.errors.QueryCanceled as error:
            raise QueryFailed(
                "timeout",
                error.sqlstate or "57014",
                f"cancelled: the query ran longer than the {self.statement_timeout_ms} ms statement timeout. "
                "Narrow the created_at range, filter on indexed columns (service, level, error_type, user_id, "
                "trace_id), aggregate in SQL, or read a summary view instead.",
            ) from error
        except psycopg.OperationalError as error:
            if _is_connection_lost(error):
                raise  # read_only_transaction turns it into DatabaseUnavailable
            raise QueryFailed("database", error.sqlstate or "", _database_message(error)) from error
        except psycopg.Error as error:
            raise QueryFailed("database", error.sqlstate or "", _database_message(error)) from error


# The server ended the session: terminated by an administrator or a failover, crashed, or still starting up.
_SESSION_ENDED = frozenset({"57P01", "57P02", "57P03"})


def _is_connection_lost(error: psycopg.OperationalError) -> bool:
    # QueryCanceled and friends are OperationalErrors too, but with a SQLSTATE from the server.
    return error.sqlstate is None or error.sqlstate.startswith("08") or error.sqlstate in _SESSION_ENDED


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _database_message(error: psycopg.Error) -> str:
    diag = error.diag
    message = f"PostgreSQL error {error.sqlstate or ''}: {diag.message_primary or _first_line(error)}"
    if diag.message_detail:
        message += f" Detail: {diag.message_detail}"
    if diag.message_hint:
        message += f" Hint: {diag.message_hint}"
    if diag.statement_position:
        message += f" (at character {diag.statement_position} of the SQL as run)"
    return message


def plan_figures(plan: Any, layout: Layout) -> PlanFigures:
    """Cost, rows, partitions scanned and indexes from EXPLAIN (FORMAT JSON) output."""
    root = plan[0]["Plan"] if isinstance(plan, list) else plan["Plan"]
    partitions = layout.partition_names
    scanned: set[str] = set()
    indexes: list[str] = []
    stack = [root]
    while stack:
        node = stack.pop()
        relation = node.get("Relation Name")
        if relation in partitions:
            scanned.add(str(relation))
        index = node.get("Index Name")
        if index:
            name = layout.index_parents.get(str(index), str(index))
            if name not in indexes:
                indexes.append(name)
        stack.extend(node.get("Plans", ()))
    return PlanFigures(
        estimated_cost=float(root.get("Total Cost", 0.0)),
        estimated_rows=float(root.get("Plan Rows", 0.0)),
        partitions_scanned=len(scanned),
        partitions_total=len(partitions),
        indexes=sorted(indexes),
    )
