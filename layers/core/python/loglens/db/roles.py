"""Local passwords for the login roles: the writer, the agent's analyst, people's reader and the alerter.

In AWS these roles log in with IAM auth tokens through RDS Proxy and have no password. On a
laptop or in tests (a cluster we own) they get local passwords so the same roles can be used.
Each role has its own: whoever is handed the reader's or the writer's URL must not learn the
agent's password (a role may change its own settings and password; see migration 0010).
"""

from __future__ import annotations

from collections.abc import Mapping

from psycopg import sql

from loglens.db.connect import connect

WRITER = "loglens_writer"
ANALYST = "loglens_analyst"
READER = "loglens_reader"
ALERTER = "loglens_alerter"
LOGIN_ROLES = (WRITER, ANALYST, READER, ALERTER)


def set_role_passwords(admin_url: str, passwords: Mapping[str, str]) -> None:
    unknown = set(passwords) - set(LOGIN_ROLES)
    if unknown:
        raise ValueError(f"not loglens login roles: {sorted(unknown)}")
    with connect(admin_url, autocommit=True) as conn:
        for role, password in passwords.items():
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
