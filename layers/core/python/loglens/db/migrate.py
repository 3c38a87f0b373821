"""Versioned SQL migrations: applied in order, recorded, safe to run twice or from two processes at once.

Files are `NNNN_name.sql` in ./migrations. A first-line directive chooses the role:
`-- loglens: run-as=admin` runs as the connecting user (only the roles migration needs it);
anything else runs as loglens_owner, so every object has one owner whoever deploys.
A session advisory lock serialises concurrent runners; each migration commits together with
its row in schema_migrations, so a crash leaves either all of a migration or none of it.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql

from loglens.db.read_roles import mirror_reader_grants

_NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any fixed 64-bit number shared by all runners; advisory locks are scoped to one database.
_LOCK_KEY = 0x6C6F676C656E73
# Longer than any migration takes; a holder past this is stuck (or hostile) and is named in the error.
LOCK_WAIT_SECONDS = 600.0


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql_text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql_text.encode()).hexdigest()

    @property
    def run_as_admin(self) -> bool:
        first = self.sql_text.lstrip().splitlines()[0] if self.sql_text.strip() else ""
        return "run-as=admin" in first


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    name: str
    checksum: str
    applied_at: datetime


def load_migrations() -> list[Migration]:
    found: list[Migration] = []
    folder = resources.files("loglens.db") / "migrations"
    for entry in folder.iterdir():
        match = _NAME_RE.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a version number: {versions}")
    return found


def _ensure_ledger(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version    integer PRIMARY KEY,
               name       text NOT NULL,
               checksum   text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )


def applied(conn: psycopg.Connection[Any]) -> list[AppliedMigration]:
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return []
    rows = conn.execute("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version").fetchall()
    return [AppliedMigration(*row) for row in rows]


def migrate(
    conn: psycopg.Connection[Any],
    *,
    analyst_statement_timeout_ms: int | None = None,
    lock_wait_seconds: float = LOCK_WAIT_SECONDS,
) -> list[Migration]:
    """Apply pending migrations; return those applied by this call. `conn` must be in autocommit mode."""
    if not conn.autocommit:
        raise MigrationError("migrate() needs an autocommit connection: each migration is its own transaction")
    wanted = load_migrations()
    _take_lock(conn, lock_wait_seconds)
    try:
        with conn.transaction():
            _ensure_ledger(conn)
        done = {m.version: m for m in applied(conn)}
        for version, record in done.items():
            match = next((m for m in wanted if m.version == version), None)
            if match is not None and match.checksum != record.checksum:
                raise MigrationError(
                    f"migration {version:04d}_{record.name} was edited after it was applied; "
                    "add a new migration instead of changing an applied one"
                )
        new: list[Migration] = []
        for migration in wanted:
            if migration.version in done:
                continue
            with conn.transaction():
                if not migration.run_as_admin:
                    _grant_database_privileges(conn)  # e.g. CREATE on the database, for trusted extensions
                    conn.execute("SET LOCAL ROLE loglens_owner")
                try:
                    conn.execute(migration.sql_text.encode())
                except psycopg.Error as exc:
                    raise MigrationError(f"migration {migration.version:04d}_{migration.name} failed: {exc}") from exc
                conn.execute("RESET ROLE")
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
            new.append(migration)
        _grant_database_privileges(conn)
        mirror_reader_grants(conn)
        if analyst_statement_timeout_ms is not None:
            conn.execute(
                sql.SQL("ALTER ROLE loglens_analyst SET statement_timeout = {}").format(
                    sql.Literal(f"{int(analyst_statement_timeout_ms)}ms")
                )
            )
        return new
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def _take_lock(conn: psycopg.Connection[Any], wait_seconds: float) -> None:
    """The migration lock, waited for up to `wait_seconds`; past that, an error naming who holds it.

    Polling pg_try_advisory_lock instead of blocking in pg_advisory_lock: a session that took the key and
    went idle would otherwise stall every deploy without a word.
    """
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    while True:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_KEY,)).fetchone()
        if row and row[0]:
            return
        if time.monotonic() >= deadline:
            holders = _lock_holders(conn)
            raise MigrationError(f"the migration lock is still held after {wait_seconds:.0f} s by {holders}")
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def _lock_holders(conn: psycopg.Connection[Any]) -> str:
    rows = conn.execute(
        """SELECT a.pid, a.usename, a.application_name, a.state, a.backend_start
           FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
           WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database
                 WHERE datname = current_database())
             AND (l.classid::bigint << 32 | l.objid::bigint) = %s""",
        (_LOCK_KEY,),
    ).fetchall()
    if not rows:
        return "a session that has just released it"
    return "; ".join(
        f"pid {pid} ({user}, application {app or '-'}, {state or 'unknown state'}, "
        f"connected {started:%Y-%m-%d %H:%M} UTC)"
        for pid, user, app, state, started in rows
    )


def _grant_database_privileges(conn: psycopg.Connection[Any]) -> None:
    """Nobody but the owner and the writer gets temp tables: a read-only transaction still lets
    its user write temp tables, so the read roles must not have them."""
    db = sql.Identifier(str(conn.info.dbname))
    reader = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'loglens_reader'").fetchone() is not None
    for statement in (
        "REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC",
        "GRANT CONNECT ON DATABASE {} TO loglens_writer, loglens_analyst",
        *(["GRANT CONNECT ON DATABASE {} TO loglens_reader"] if reader else []),
        "GRANT TEMPORARY, CREATE ON DATABASE {} TO loglens_owner",
        "GRANT TEMPORARY ON DATABASE {} TO loglens_writer",
    ):
        conn.execute(sql.SQL(statement).format(db))
    # The alerts login exists from migration 0014 on (roles are per cluster, so maybe from another database's).
    if conn.execute("SELECT to_regrole('loglens_alerter') IS NOT NULL").fetchone() == (True,):
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO loglens_alerter").format(db))


def pending(conn: psycopg.Connection[Any]) -> list[Migration]:
    done = {m.version for m in applied(conn)}
    return [m for m in load_migrations() if m.version not in done]
