"""`loglens guard "SQL"`: what the SQL guard thinks of a statement, and the SQL it would run instead.

Exit status 0 when the guard allows the statement, 1 when it refuses it. No database is needed: the
catalog is the record model's columns for `logs` plus the summary views' known columns, or with
`--dialect trino` the lake's Iceberg table as Athena reads it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "guard",
        help="check SQL with the agent's SQL guard (exit 0 allowed, 1 refused)",
        description="Shows whether the guard allows a statement, why, and the SQL that would run.",
    )
    parser.add_argument("sql", help='the statement; "-" reads it from standard input')
    parser.add_argument("--max-rows", type=int, default=1000, help="the row cap to enforce (default 1000)")
    parser.add_argument(
        "--dialect",
        choices=("postgres", "trino"),
        default="postgres",
        help="postgres: the hot store the agent's run_query uses (default); trino: the lake, as Athena runs it",
    )
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from loglens.agent.catalog import lake_catalog, offline_catalog
    from loglens.sqlguard import check_sql

    if args.max_rows < 1:
        print("loglens guard: --max-rows must be at least 1", file=sys.stderr)
        return 2
    text = sys.stdin.read() if args.sql == "-" else args.sql
    catalog = lake_catalog() if args.dialect == "trino" else offline_catalog()
    verdict = check_sql(text, catalog, dialect=args.dialect, max_rows=args.max_rows)
    if args.json:
        print(
            json.dumps(
                {
                    "allowed": verdict.allowed,
                    "code": verdict.code,
                    "reason": verdict.reason,
                    "sql": verdict.sql,
                    "relations": list(verdict.relations),
                    "dialect": verdict.dialect,
                }
            )
        )
    elif verdict.allowed:
        print(f"allowed: {verdict.reason}")
        print(f"reads: {', '.join(verdict.relations) or 'no tables'}")
        print(f"runs as:\n{verdict.sql}")
    else:
        print(f"refused ({verdict.code}): {verdict.reason}")
    return 0 if verdict.allowed else 1
