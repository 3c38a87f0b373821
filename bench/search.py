"""Search benchmark: the query API's structured searches and live tail on N generated rows over D days.

The table is filled with bench/queries.py's demo rows (binary COPY, same generator). Each case runs as the
query API runs it (`loglens.query`: validation, the SQL guard twice, a read-only analyst transaction with the
statement timeout) and, as the baseline, the exact SQL that ran sent straight to PostgreSQL as the owner,
in the same run, on the same rows, warm cache: median of --repeat after one warm-up. "server ms" is what a
request spends in loglens.query; the ratio to the baseline is the price of the guard and the analyst path.
The goal from issue 18: structured search <= 100 ms median server time on 10M rows.

Tail needs the id of the storing transaction on every row (stored_xid and its index, migration 0012), so the
write path pays for it: the second table loads the same rows with binary COPY into a database with that column
and one without (dropped), alternating, each round on fresh databases.

    python bench/search.py [--rows N] [--days D] [--repeat R] [--write-rows N] [--write-rounds N]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from queries import fill, free_port  # bench/queries.py's filler: one for both

from loglens.db.connect import ConnectionProvider, connect, with_database, with_user
from loglens.db.partitions import ensure_partitions
from loglens.db.prepare import prepare
from loglens.db.roles import set_role_passwords
from loglens.devtools.demo import DemoPlan, generate_rows
from loglens.devtools.embedded import EmbeddedPostgres
from loglens.query.runner import QueryLimits, QueryRunner
from loglens.query.search import SearchResult, parse_search, run_search
from loglens.query.tail import TailResult, parse_tail, run_tail
from loglens.settings import Settings

console = Console(width=170)
GOAL_MS = 100.0


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[], SearchResult | TailResult]


def timed(call: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    call()  # warm-up
    timings, last = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        last = call()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), last


def direct(url: str, statements: list[str], repeat: int) -> float:
    """The baseline: the same statements over one plain connection as the owner, no guard, no transaction setup."""
    with connect(url, autocommit=True) as conn:

        def run() -> None:
            for statement in statements:
                conn.execute(statement).fetchall()

        return timed(run, repeat)[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--write-rows", type=int, default=200_000)
    parser.add_argument("--write-rounds", type=int, default=3)
    args = parser.parse_args(argv)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    plan = DemoPlan(end=end, days=args.days, records=args.rows)
    work = Path(tempfile.mkdtemp(prefix="loglens-bench-search-"))
    server = EmbeddedPostgres(work, free_port())  # PostgreSQL defaults, as bench/queries.py
    admin = server.start().rsplit("/", 1)[0] + "/postgres"
    try:
        with connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench_search")
        url = with_database(admin, "bench_search")
        prepare(url, Settings.from_env({}))
        password = secrets.token_urlsafe(16)
        set_role_passwords(url, password)
        with connect(url, autocommit=True) as conn:
            conn.execute("SET ROLE loglens_owner")
            ensure_partitions(conn, (end - timedelta(days=args.days + 1)).date(), end.date())
        fill(url, plan)
        with connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE logs")
            trace = conn.execute(
                "SELECT trace_id FROM logs WHERE trace_id IS NOT NULL AND created_at >= %s LIMIT 1",
                (end - timedelta(hours=3),),
            ).fetchone()
        analyst = ConnectionProvider(lambda: with_user(url, "loglens_analyst", password))
        runner = QueryRunner(analyst, QueryLimits(statement_timeout_ms=30_000))
        rows = measure(url, runner, trace[0] if trace else "", args.repeat, end)
        analyst.discard()
        writes = write_cost(admin, args.write_rows, args.write_rounds)
    finally:
        server.destroy()
    report(rows, args)
    report_writes(writes, args)


def write_cost(admin: str, rows: int, rounds: int) -> dict[str, list[float]]:
    """Seconds to COPY `rows` demo rows into logs with and without the tail's stored_xid (column and index)."""
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    plan = DemoPlan(end=end, days=3, records=rows)
    generated = list(generate_rows(plan))  # generated once, outside the timing
    timings: dict[str, list[float]] = {"with stored_xid": [], "without": []}
    for round_ in range(rounds):
        for label in ("without", "with stored_xid") if round_ % 2 else ("with stored_xid", "without"):
            name = f"bench_write_{round_}_{'x' if label == 'without' else 'tail'}"
            with connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            url = with_database(admin, name)
            prepare(url, Settings.from_env({}))
            with connect(url, autocommit=True) as conn:
                conn.execute("SET ROLE loglens_owner")
                ensure_partitions(conn, (end - timedelta(days=4)).date(), end.date())
                if label == "without":
                    conn.execute("ALTER TABLE logs DROP COLUMN stored_xid")  # drops its index too
                conn.execute("RESET ROLE")
                conn.execute("CHECKPOINT")  # each load starts with the previous one's writes flushed
            console.print(f"writing {rows:,} rows {label} (round {round_ + 1}) …")
            started = time.perf_counter()
            fill(url, plan, generated)
            timings[label].append(time.perf_counter() - started)
            with connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{name}"')
    return timings


def report_writes(timings: dict[str, list[float]], args: argparse.Namespace) -> None:
    table = Table(
        title=f"write cost of the tail column: binary COPY of {args.write_rows:,} rows (median of {args.write_rounds})"
    )
    for column in ("logs", "seconds", "rows/s", "vs without"):
        table.add_column(column, justify="left" if column == "logs" else "right")
    without = statistics.median(timings["without"])
    for label in ("without", "with stored_xid"):
        seconds = statistics.median(timings[label])
        table.add_row(label, f"{seconds:,.2f}", f"{args.write_rows / seconds:,.0f}", f"{seconds / without:,.2f}×")
    console.print(table)


def measure(
    url: str, runner: QueryRunner, trace: str, repeat: int, end: datetime
) -> list[tuple[str, float, float, float, int]]:
    def search(body: dict[str, Any]) -> Callable[[], SearchResult]:
        request = parse_search(body)
        return lambda: run_search(runner, request, now=end)

    errors_7d = {"service": "payment-api", "level": ["ERROR", "FATAL"], "since": "7d"}
    first = search({"filters": errors_7d, "limit": 100})
    second_page = first().cursor
    tail_cursor = run_tail(runner, parse_tail({})).cursor
    cases = [
        Case("contains 'timeout' (rare), 24 h", search({"filters": {"contains": "timeout"}})),
        Case(
            "contains 'timeout', 24 h, with histogram", search({"filters": {"contains": "timeout"}, "histogram": True})
        ),
        Case("contains 'payment' (common), 24 h", search({"filters": {"contains": "payment"}})),
        Case("service + level, 7 days", first),
        Case("service + level, 7 days, with histogram", search({"filters": errors_7d, "histogram": True})),
        Case("one trace, 24 h", search({"filters": {"trace_id": trace}})),
        Case("no filter, 24 h, with histogram", search({"histogram": True})),
        Case("tail: first poll (last 10 min)", lambda: run_tail(runner, parse_tail({}))),
        Case("tail: a poll with nothing new", lambda: run_tail(runner, parse_tail({"cursor": tail_cursor}))),
    ]
    if second_page:
        cases.insert(5, Case("service + level, 7 days, page 2", search({"filters": errors_7d, "cursor": second_page})))
    out = []
    for case in cases:
        console.print(f"measuring {case.name} …")
        server_ms, result = timed(case.run, repeat)
        statements = [result.sql] + ([result.histogram.sql] if getattr(result, "histogram", None) else [])
        baseline_ms = direct(url, statements, repeat)
        database_ms = result.elapsed_ms + (result.histogram.elapsed_ms if getattr(result, "histogram", None) else 0)
        out.append((case.name, server_ms, database_ms, baseline_ms, len(result.rows)))
    return out


def report(rows: list[tuple[str, float, float, float, int]], args: argparse.Namespace) -> None:
    table = Table(
        title=f"structured search on {args.rows:,} rows over {args.days} days (median of {args.repeat}, warm)"
    )
    for column in ("case", "rows", "server ms", "database ms", "baseline ms (same SQL, direct)", "server / baseline",
                   f"goal <= {GOAL_MS:.0f} ms"):  # fmt: skip
        table.add_column(column, justify="left" if column == "case" else "right")
    for name, server_ms, database_ms, baseline_ms, count in rows:
        verdict = "ok" if server_ms <= GOAL_MS else "OVER"
        table.add_row(
            name, f"{count:,}", f"{server_ms:,.1f}", f"{database_ms:,.1f}", f"{baseline_ms:,.1f}",
            f"{server_ms / baseline_ms:,.2f}×" if baseline_ms else "-", verdict,
        )  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    main()
