"""The two read-only roles: loglens_analyst (the agent's own login) and loglens_reader (people's login).

Migration 0010 sets what PostgreSQL lets a migration fix for good (no large objects, no advisory locks,
a superuser-only temp_file_limit, a connection limit). This module keeps the reader's privileges equal to
the analyst's as later migrations grant views, and says which escape functions a server left open (a
managed server's admin may not own pg_catalog, so its REVOKE is only a warning there).
"""

from __future__ import annotations

from typing import Any, Final

import psycopg
from psycopg import sql

ANALYST: Final = "loglens_analyst"
READER: Final = "loglens_reader"
READ_ROLES: Final = (ANALYST, READER)

# Functions neither read role may execute: each one writes or locks something that outlives a statement.
_ESCAPE_FUNCTIONS = r"^(lo_|loread$|lowrite$|pg_(try_)?advisory_)"

_RELATIONS_SQL = """
SELECT c.relname,
       has_table_privilege(%(analyst)s, c.oid, 'SELECT'),
       has_table_privilege(%(reader)s, c.oid, 'SELECT')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
"""


def mirror_reader_grants(conn: psycopg.Connection[Any]) -> list[str]:
    """Give the reader SELECT on exactly the relations the analyst may read; return what changed.

    Runs as loglens_owner inside its own transaction (the owner grants on what it owns). A no-op on a
    database without the reader role (before migration 0010).
    """
    changed: list[str] = []
    with conn.transaction():
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (READER,)).fetchone() is None:
            return changed
        conn.execute("SET LOCAL ROLE loglens_owner")
        rows = conn.execute(_RELATIONS_SQL, {"analyst": ANALYST, "reader": READER}).fetchall()
        for relation, analyst_may, reader_may in rows:
            if analyst_may == reader_may:
                continue
            verb = "GRANT SELECT ON {} TO {}" if analyst_may else "REVOKE SELECT ON {} FROM {}"
            target = sql.Identifier("public", relation)
            conn.execute(sql.SQL(verb).format(target, sql.Identifier(READER)))
            changed.append(f"{'granted' if analyst_may else 'revoked'} SELECT on {relation}")
    return changed


def open_escapes(conn: psycopg.Connection[Any]) -> list[str]:
    """'role: function' for every escape function a read role may still execute (empty when all closed)."""
    rows = conn.execute(
        """SELECT r.rolname, p.oid::regprocedure::text
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           CROSS JOIN pg_roles r
           WHERE n.nspname = 'pg_catalog' AND p.proname ~ %s AND r.rolname = ANY(%s)
             AND has_function_privilege(r.oid, p.oid, 'EXECUTE')
           ORDER BY 1, 2""",
        (_ESCAPE_FUNCTIONS, list(READ_ROLES)),
    ).fetchall()
    return [f"{role}: {function}" for role, function in rows]


# Databases every PostgreSQL server has, which PUBLIC may connect to by default: a read role there would find
# the large-object and advisory-lock functions still open (pg_catalog's ACLs are per database).
MAINTENANCE_DATABASES: Final = ("postgres", "template1")


def close_maintenance_databases(conn: psycopg.Connection[Any]) -> list[str]:
    """Revoke PUBLIC's CONNECT on the server's maintenance databases; return those changed.

    For servers loglens owns (the RDS instance, the embedded one): another application sharing the server
    that relies on PUBLIC's CONNECT to `postgres` would need its own grant.
    """
    changed = []
    for name in MAINTENANCE_DATABASES:
        row = conn.execute(
            "SELECT has_database_privilege('public', oid, 'CONNECT') FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if row and row[0]:
            conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))
            changed.append(name)
    return changed
