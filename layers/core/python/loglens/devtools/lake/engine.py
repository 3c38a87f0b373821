"""DuckDB as the local lake uses it: one in-memory connection per task, UTC, and SQL text quoting for paths."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def connect_duckdb(*, threads: int | None = None, memory_limit: str | None = None) -> Any:
    """An in-memory DuckDB connection whose session time zone is UTC, as Athena's is."""
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit is not None:
        con.execute(f"SET memory_limit = {sql_text(memory_limit)}")
    return con


def sql_text(value: str) -> str:
    """A SQL string literal (paths are loglens's own, but a home folder may contain a quote)."""
    return "'" + value.replace("'", "''") + "'"


def sql_list(paths: Sequence[Path | str]) -> str:
    return "[" + ", ".join(sql_text(str(p)) for p in paths) + "]"
