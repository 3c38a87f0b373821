"""LocalLake: the LakeQuery of `loglens dev`: Trino SQL, transpiled by sqlglot, run by DuckDB over the snapshot.

Each query opens its own in-memory DuckDB with ``logs`` as a view over exactly the files the snapshot lists
(or an empty table of the lake's columns when there are none yet), then locks it down before the SQL runs:
only those files may be opened, nothing else on disk or the network (no extension installs, no COPY or
ATTACH elsewhere), and the configuration cannot be changed back. That is the local stand-in for Athena's
read-only workgroup; the SQL guard in front of it is the first line. A query that runs past
``timeout_seconds`` is interrupted (Athena's cutoff is in bytes; locally time is what runs out).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from loglens.agent.rows import json_rows
from loglens.devtools.lake.engine import connect_duckdb, sql_list
from loglens.devtools.lake.scanned import scanned_bytes
from loglens.devtools.lake.snapshot import LakeLayout, Snapshot, read_snapshot
from loglens.lake.query import LakeExtent, LakeQueryError, LakeQueryTimeout, LakeResult, athena_cost_usd
from loglens.lake.schema import TABLE, duckdb_types
from loglens.record import LOG_COLUMNS
from loglens.sqlguard.dialects import TRINO

ENGINE = "duckdb"


@dataclass
class LocalLake:
    layout: LakeLayout
    timeout_seconds: float = 30.0
    threads: int = 2
    memory_limit: str = "2GB"
    engine: str = ENGINE

    def run(self, sql_trino_guarded: str) -> LakeResult:
        sql = sql_trino_guarded
        duck = _transpile(sql)
        for attempt in (1, 2):
            snapshot = read_snapshot(self.layout)
            try:
                return self._run(sql, duck, snapshot)
            except _FileGone:
                if attempt == 2:
                    message = "the lake's files changed twice during the query; run it again"
                    raise LakeQueryError(message) from None
        raise AssertionError("unreachable")

    def extent(self) -> LakeExtent:
        return read_snapshot(self.layout).extent()

    def _run(self, trino: str, duck: str, snapshot: Snapshot) -> LakeResult:
        import duckdb

        con = self._open(snapshot)
        timer = threading.Timer(self.timeout_seconds, con.interrupt)
        started = time.perf_counter()
        timer.start()
        try:
            cursor = con.execute(duck)
            columns = [str(d[0]) for d in cursor.description or ()]
            rows = cursor.fetchall() if cursor.description else []
            elapsed = (time.perf_counter() - started) * 1000
            scanned = scanned_bytes(trino, snapshot.files, con)
        except duckdb.InterruptException:
            raise LakeQueryTimeout(
                f"cancelled: the lake query ran longer than {self.timeout_seconds:g} s. Narrow the created_at range "
                "(fewer days to read), select fewer columns, or aggregate in SQL.",
            ) from None
        except duckdb.IOException as exc:
            if "No files found" in str(exc) or "No such file" in str(exc):
                raise _FileGone from exc
            raise LakeQueryError(f"lake engine error: {_first_line(exc)}") from None
        except duckdb.Error as exc:
            raise LakeQueryError(f"lake engine error: {_first_line(exc)}") from None
        finally:
            timer.cancel()
            con.close()
        return LakeResult(columns, json_rows(rows), scanned, athena_cost_usd(scanned), round(elapsed), self.engine)

    def _open(self, snapshot: Snapshot) -> Any:
        con = connect_duckdb(threads=self.threads, memory_limit=self.memory_limit)
        paths = [str(self.layout.path_of(f.path)) for f in snapshot.files]
        if paths:
            columns = ", ".join(LOG_COLUMNS)
            con.execute(f"CREATE VIEW {TABLE} AS SELECT {columns} FROM read_parquet({sql_list(paths)})")
        else:
            types = ", ".join(f"{name} {kind}" for name, kind in duckdb_types().items())
            con.execute(f"CREATE TABLE {TABLE} ({types})")
        con.execute(f"SET allowed_paths = {sql_list(paths)}")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        return con


class _FileGone(Exception):
    """A data file the snapshot listed was removed (a compaction's grace period ended) during the query."""


def _transpile(sql: str) -> str:
    import sqlglot

    try:
        statements = sqlglot.transpile(sql, read=TRINO.sqlglot, write="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise LakeQueryError(f"the lake SQL does not parse as Trino: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise LakeQueryError(f"one statement is run at a time, not {len(statements)}")
    return statements[0]


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
