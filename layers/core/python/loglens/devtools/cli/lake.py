"""`loglens lake flush|query|verify`: the local lake under LOGLENS_HOME/lake by hand.

- ``flush`` delivers what the buffer holds now (the flusher of `loglens dev` does it by size or age);
- ``query`` runs one lake statement in Trino SQL, checked by the guard in that dialect first, on DuckDB;
  ``--json`` prints an array of row objects;
- ``verify --day D`` compares a UTC day in PostgreSQL and in the lake (row count and checksum), records the
  comparison in lake_verifications, and when they differ shows the hours where they do.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from typing import TYPE_CHECKING, Any

from loglens.devtools.cli.output import error, table
from loglens.settings import Settings

if TYPE_CHECKING:
    import psycopg

    from loglens.devtools.lake.local import LocalLake


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "lake", help="the local lake: flush its buffer, query it, verify a day against PostgreSQL"
    )
    lake = parser.add_subparsers(dest="lake_command", metavar="LAKE_COMMAND", required=True)

    flush = lake.add_parser("flush", help="deliver what is buffered now into the lake's Parquet files")
    flush.add_argument("--json", action="store_true", help="print the result as JSON")
    flush.set_defaults(handler=flush_command)

    query = lake.add_parser(
        "query",
        help="run guarded lake SQL (Trino dialect) on the local lake",
        description="The statement is checked by the SQL guard in the Trino dialect (as for Athena), then runs on "
        "DuckDB. created_at must be bounded by constants, e.g. created_at >= TIMESTAMP '2026-11-01 00:00:00'.",
    )
    query.add_argument("sql", help='one Trino SELECT on logs; "-" reads it from standard input')
    query.add_argument("--json", action="store_true", help="print the rows as a JSON array of objects")
    query.add_argument("--max-rows", type=int, default=1000, help="the row cap the guard enforces (default 1000)")
    query.set_defaults(handler=query_command)

    verify = lake.add_parser("verify", help="compare a day in PostgreSQL and in the lake (count and checksum)")
    verify.add_argument("--day", required=True, type=date.fromisoformat, metavar="YYYY-MM-DD", help="UTC day")
    verify.add_argument("--no-flush", action="store_true", help="compare without delivering the buffer first")
    verify.set_defaults(handler=verify_command)


def _lake(settings: Settings) -> LocalLake:
    from loglens.devtools.lake.wiring import local_lake

    return local_lake(settings)


def flush_command(args: argparse.Namespace) -> int:
    from loglens.devtools.lake.flush import flush
    from loglens.devtools.lake.wiring import layout_of

    result = flush(layout_of(Settings.from_env()))
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        days = ", ".join(d.isoformat() for d in result.days) or "-"
        rows = [(result.buffer_files, result.rows_read, result.rows_written, result.duplicates, days, result.compacted)]
        table("lake flush", ["buffer files", "rows read", "rows written", "duplicates", "days", "compacted"], rows)
    for name in result.rejected_files:
        error(f"buffer file {name} could not be read; it was moved to lake/buffer/rejected/")
    return 1 if result.rejected_files else 0


def query_command(args: argparse.Namespace) -> int:
    from loglens.agent.catalog import lake_catalog
    from loglens.lake.query import LakeQueryError
    from loglens.sqlguard import check_sql

    if args.max_rows < 1:
        error("--max-rows must be at least 1")
        return 2
    text = sys.stdin.read() if args.sql == "-" else args.sql
    verdict = check_sql(text, lake_catalog(), dialect="trino", max_rows=args.max_rows)
    if not verdict.allowed or verdict.sql is None:
        error(f"refused by the SQL guard ({verdict.code}): {verdict.reason}")
        return 1
    try:
        result = _lake(Settings.from_env()).run(verdict.sql)
    except LakeQueryError as failure:
        error(str(failure))
        return 1
    if args.json:
        print(json.dumps([dict(zip(result.columns, row, strict=True)) for row in result.rows]))
    else:
        table(None, result.columns, result.rows)
    figures = (
        f"{len(result.rows)} rows · {result.elapsed_ms:,.0f} ms · {result.bytes_scanned:,} bytes scanned · "
        f"${result.cost_usd:.6f} at Athena's price ({result.engine})"
    )
    print(figures, file=sys.stderr)
    return 0


def verify_command(args: argparse.Namespace) -> int:
    from loglens.devtools.database import admin_url
    from loglens.devtools.lake.flush import flush
    from loglens.devtools.lake.wiring import layout_of
    from loglens.lake.verify import compare_day
    from loglens.lifecycle.maintenance import owner_connection

    settings = Settings.from_env()
    if not args.no_flush:
        flush(layout_of(settings))
    lake = _lake(settings)
    with owner_connection(admin_url(settings), application="loglens-lake-verify") as conn:
        comparison = compare_day(conn, lake, args.day, purpose="check")
        rows: list[tuple[Any, ...]] = [
            ("PostgreSQL", comparison.postgres.rows, comparison.postgres.value),
            (f"lake ({comparison.engine})", comparison.lake.rows, comparison.lake.value),
        ]
        table(f"{args.day}: {'the same' if comparison.matches else 'DIFFERENT'}", ["source", "rows", "checksum"], rows)
        if not comparison.matches:
            hours = _hours_that_differ(conn, lake, args.day)
            table("hours that differ (UTC)", ["hour", "PostgreSQL rows", "lake rows"], hours)
    return 0 if comparison.matches else 1


def _hours_that_differ(conn: psycopg.Connection[Any], lake: LocalLake, day: date) -> list[tuple[str, int, int]]:
    from loglens.lake.verify import day_range, trino_timestamp

    start, end = day_range(day)
    in_pg = {
        f"{hour:%H}:00": int(n)
        for hour, n in conn.execute(
            "SELECT date_trunc('hour', created_at AT TIME ZONE 'UTC'), count(*) FROM logs "
            "WHERE created_at >= %s AND created_at < %s GROUP BY 1",
            (start, end),
        ).fetchall()
    }
    result = lake.run(
        "SELECT hour(created_at) AS h, count(*) AS n FROM logs "
        f"WHERE created_at >= {trino_timestamp(start)} AND created_at < {trino_timestamp(end)} GROUP BY 1"
    )
    in_lake = {f"{int(h):02d}:00": int(n) for h, n in result.rows}
    return [
        (hour, in_pg.get(hour, 0), in_lake.get(hour, 0))
        for hour in sorted(set(in_pg) | set(in_lake))
        if in_pg.get(hour, 0) != in_lake.get(hour, 0)
    ]
