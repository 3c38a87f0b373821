"""Local passwords for the writer, analyst and alerter roles.

In AWS these roles log in with IAM auth tokens through RDS Proxy and have no password. On a
laptop or in tests (a cluster we own) they get a local password so the same roles can be used.
"""

from __future__ import annotations

from psycopg import sql

from loglens.db.connect import connect

LOGIN_ROLES = ("loglens_writer", "loglens_analyst", "loglens_alerter")


def set_role_passwords(admin_url: str, password: str) -> None:
    with connect(admin_url, autocommit=True) as conn:
        for role in LOGIN_ROLES:
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
