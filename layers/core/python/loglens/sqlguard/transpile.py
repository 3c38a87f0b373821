"""Guarded lake SQL (Trino, as Athena runs it) rewritten for DuckDB, which runs the local lake over Parquet."""

from __future__ import annotations

import sqlglot

from loglens.sqlguard.dialects import TRINO
from loglens.sqlguard.guard import GuardResult


def to_duckdb(guarded: GuardResult) -> str:
    """The DuckDB text of a statement the guard allowed in the Trino dialect.

    Only a verdict is accepted, never raw text, so nothing reaches DuckDB that the guard has not checked.
    """
    if not guarded.allowed or guarded.sql is None:
        raise ValueError(f"only SQL the guard allowed can be transpiled; it refused this: {guarded.reason}")
    if guarded.dialect != TRINO.name:
        raise ValueError(f"only lake (trino) SQL is transpiled to DuckDB, not {guarded.dialect}")
    statements = sqlglot.transpile(guarded.sql, read=TRINO.sqlglot, write="duckdb")
    if len(statements) != 1:  # the guard allowed one statement; anything else is a transpiler fault
        raise ValueError(f"transpiling produced {len(statements)} statements")
    return statements[0]
