"""Deploy-time database set-up, run by the migrate custom resource (functions/migrate.py).

Creates the application database if it is missing, applies the migrations, makes sure the
partition window exists, and lets the IAM-authenticated logins in through RDS Proxy by granting
them `rds_iam`. It also closes the server's maintenance databases to PUBLIC (a read role there would
find the functions migration 0010 revokes still open) and reports any escape function a read role may
still execute (an RDS master user does not own pg_catalog, so its REVOKE there may only warn).
Every step is idempotent: a deploy that changes nothing does nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import sql

from loglens.db.connect import connect, with_database
from loglens.db.prepare import prepare
from loglens.db.read_roles import close_maintenance_databases, open_escapes
from loglens.db.roles import LOGIN_ROLES
from loglens.settings import Settings

OWNER_LOGIN = "loglens_owner"


@dataclass(frozen=True)
class DeployResult:
    database_created: bool
    migrations_applied: list[str]
    partitions_created: int
    iam_logins: list[str]
    maintenance_databases_closed: list[str]
    open_escapes: list[str]  # 'role: function' a read role may still execute; empty when all are closed


def deploy_database(admin_url: str, database: str, iam_logins: Sequence[str], settings: Settings) -> DeployResult:
    """`admin_url` is the master user's URL to any database of the server."""
    unknown = set(iam_logins) - {*LOGIN_ROLES, OWNER_LOGIN}
    if unknown:
        raise ValueError(f"unknown logins {sorted(unknown)}: only loglens roles may be given rds_iam")
    created = False
    with connect(with_database(admin_url, "postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            created = True
        closed = close_maintenance_databases(conn)
    url = with_database(admin_url, database)
    prepared = prepare(url, settings)
    granted: list[str] = []
    with connect(url, autocommit=True) as conn:
        has_rds_iam = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam'").fetchone() is not None
        for login in iam_logins:
            if has_rds_iam:  # only RDS has the role; a plain PostgreSQL (tests, local) skips this step
                conn.execute(sql.SQL("GRANT rds_iam TO {}").format(sql.Identifier(login)))
                granted.append(login)
        escapes = open_escapes(conn)
    return DeployResult(
        created,
        [f"{m.version:04d}_{m.name}" for m in prepared.applied],
        len(prepared.partitions.created),
        granted,
        closed,
        escapes,
    )
