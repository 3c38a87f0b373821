"""Maintenance benchmark: what the summary views cost per refresh on a small and a large table, and the archive.

Two databases on one embedded PostgreSQL are filled with 30 days of demo rows (1M and 8M; `--quick`: 0.3M
and 2M) and brought up to date. Then, round by round, the same new hour of rows goes into each (binary COPY,
announcing its hour as the load path does) and loglens.lifecycle.rollups.refresh_rollups brings the views
up to date: its time per view is the incremental refresh, which should not grow with the table. In the same
run, on the same data, the baselines it replaced:

- the materialized views as they were (migrations 0003 and 0006, created from those files' own SQL) and
  REFRESH MATERIALIZED VIEW CONCURRENTLY of all five, which the maintain job did every hour;
- rebuild_rollups, the same five recomputed from every row (the repair path), for the same scale.

Last, the archive: two expired daily partitions archived by one worker, then (on an identical copy) by
two workers in separate processes, as two Lambda invocations would: rows/s per worker and together.

The last line is `refresh ratio large/small: X.XX` (median incremental refresh, all views).

    python bench/maintenance.py [--quick] [--small N] [--large N] [--hour-rows N] [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg import sql
from rich.console import Console
from rich.table import Table

from loglens.db.connect import connect, with_database
from loglens.db.migrate import load_migrations
from loglens.db.partitions import ensure_partitions
from loglens.db.prepare import prepare
from loglens.devtools.demo import DemoPlan, generate_rows
from loglens.devtools.embedded import EmbeddedPostgres
from loglens.ingest.objects import LocalObjectStore
from loglens.ingest.write import COPY_TYPES, TouchedHours
from loglens.lifecycle.archive import archive_expired
from loglens.lifecycle.maintenance import owner_connection
from loglens.lifecycle.rollups import REFRESH_PARTS, ROLLUP_VIEWS, rebuild_rollups, refresh_rollups
from loglens.record import LOG_COLUMNS
from loglens.settings import Settings

console = Console(width=170)
CREATED, RECEIVED = LOG_COLUMNS.index("created_at"), LOG_COLUMNS.index("received_at")
COPY_CHUNK = 50_000
FILL_DAYS = 30
OLD_VIEWS = tuple(f"old_{view}" for view in ROLLUP_VIEWS)
SETTINGS = Settings(retention_days=30)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def chunked(rows: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def copy_rows(url: str, rows: Iterable[tuple[Any, ...]], *, announce: bool) -> int:
    """Binary COPY in chunks; with `announce`, each chunk's hours go to the rollups as the load path does."""
    statement = sql.SQL("COPY logs ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.SQL(", ").join(map(sql.Identifier, LOG_COLUMNS))
    )
    written = 0
    with connect(url) as conn:
        for chunk in chunked(rows, COPY_CHUNK):
            with conn.cursor() as cur, cur.copy(statement) as copy:
                copy.set_types(COPY_TYPES)
                for row in chunk:
                    copy.write_row(row)
            if announce:
                touched = TouchedHours()
                touched.add(chunk)
                touched.record(conn)
            conn.commit()
            written += len(chunk)
    return written


def new_database(admin: str, name: str, first: datetime, last: datetime) -> str:
    with connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(admin, name)
    prepare(url, Settings.from_env({}))
    with owner_connection(url) as conn:
        ensure_partitions(conn, first.date(), last.date())
    return url


def old_view_statements() -> list[str]:
    """The materialized views as migrations 0003 and 0006 defined them, renamed old_*, with their unique indexes."""
    names = "|".join(ROLLUP_VIEWS)
    statements: list[str] = []
    for migration in load_migrations():
        if migration.version not in (3, 6):
            continue
        text = "\n".join(line for line in migration.sql_text.splitlines() if not line.lstrip().startswith("--"))
        for statement in text.split(";"):
            statement = statement.strip()
            if statement.startswith(("CREATE MATERIALIZED VIEW", "CREATE UNIQUE INDEX")):
                statements.append(re.sub(rf"\b({names})\b", r"old_\1", statement))
    if len(statements) != 2 * len(ROLLUP_VIEWS):
        raise SystemExit(f"expected five materialized views and their indexes in 0003/0006, found {statements}")
    return statements


@dataclass
class Measured:
    rows: int
    incremental: list[dict[str, float]] = field(default_factory=list)  # per round: part of the refresh -> seconds
    rebuild: float = 0.0
    old_refresh: dict[str, float] = field(default_factory=dict)  # view -> seconds
    hours_per_round: list[int] = field(default_factory=list)

    def incremental_median(self, part: str | None = None) -> float:
        return statistics.median(sum(r.values()) if part is None else r[part] for r in self.incremental)


def fill(url: str, rows: int, end: datetime) -> None:
    plan = DemoPlan(end=end, days=FILL_DAYS, records=rows)
    started = time.perf_counter()
    copy_rows(url, generate_rows(plan), announce=False)
    with connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE logs")
    console.log(f"{rows:,} rows over {FILL_DAYS} days in {time.perf_counter() - started:.0f} s")


def measure_baselines(url: str, measured: Measured) -> None:
    with owner_connection(url) as conn:
        started = time.perf_counter()
        for statement in old_view_statements():
            conn.execute(statement)  # the migrations' own SQL
        console.log(f"old materialized views built in {time.perf_counter() - started:.1f} s")
        for view, old in zip(ROLLUP_VIEWS, OLD_VIEWS, strict=True):
            started = time.perf_counter()
            conn.execute(sql.SQL("REFRESH MATERIALIZED VIEW CONCURRENTLY {}").format(sql.Identifier(old)))
            measured.old_refresh[view] = time.perf_counter() - started
        for old in OLD_VIEWS:  # gone before the incremental rounds, as in a migrated database
            conn.execute(sql.SQL("DROP MATERIALIZED VIEW {}").format(sql.Identifier(old)))
        measured.rebuild = rebuild_rollups(conn).seconds


def hour_of_rows(template: Sequence[tuple[Any, ...]], start: datetime, hour: datetime) -> list[tuple[Any, ...]]:
    """The template day's rows squeezed into one hour starting at `hour` (same order, same content)."""
    out = []
    for row in template:
        created = hour + (row[CREATED] - start) / 24
        values = list(row)
        values[CREATED], values[RECEIVED] = created, created + (row[RECEIVED] - row[CREATED])
        out.append(tuple(values))
    return out


def measure_round(url: str, template: list[tuple[Any, ...]], start: datetime, hour: datetime,
                  measured: Measured) -> None:  # fmt: skip
    copy_rows(url, hour_of_rows(template, start, hour), announce=True)
    with owner_connection(url) as conn:
        report = refresh_rollups(conn)
        landed = conn.execute("SELECT sum(log_count) FROM hourly_log_rollup WHERE hour = %s", (hour,)).fetchone()
    if report.pending_hours or not landed or int(landed[0]) != len(template):
        raise SystemExit(f"the refresh did not bring the hour {hour} in ({report.to_dict()})")
    measured.incremental.append(dict(report.seconds_by_part))
    measured.hours_per_round.append(report.hours)


# -- archive ---------------------------------------------------------------------------------------------


def archive_worker(url: str, store: str) -> dict[str, Any]:
    """One archive worker in this process (see --worker): what it archived and how long it took."""
    with owner_connection(url) as conn:
        started = time.perf_counter()
        result = archive_expired(conn, LocalObjectStore(Path(store)), SETTINGS)
        seconds = time.perf_counter() - started
    if result.failed:
        raise SystemExit(f"archive failed: {[o.error for o in result.failed]}")
    return {"rows": sum(o.rows for o in result.outcomes if "dropped" in o.actions), "seconds": seconds}


def run_workers(url: str, workers: int, store: Path) -> list[dict[str, Any]]:
    """`workers` archive processes at once on the same database (like Lambda invocations)."""
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", url, str(store)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(workers)
    ]
    results = []
    for process in processes:
        out, err = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"archive worker failed:\n{err.decode()}")
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return results


def measure_archive(admin: str, rows_per_day: int, work: Path) -> dict[int, tuple[float, float]]:
    """workers -> (rows/s per worker, rows/s together) for two expired daily partitions."""
    now = datetime.now(UTC)
    days = [now - timedelta(days=45), now - timedelta(days=44)]
    template = new_database(admin, "bench_archive", days[0], days[1])
    for day in days:
        end = day.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
        copy_rows(template, generate_rows(DemoPlan(end=end, days=1, records=rows_per_day)), announce=False)
    with connect(template, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE logs")
    out: dict[int, tuple[float, float]] = {}
    for workers in (1, 2):
        name = f"bench_archive_{workers}"
        with connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE bench_archive").format(sql.Identifier(name)))
            conn.execute("CHECKPOINT")
        started = time.perf_counter()
        results = run_workers(with_database(admin, name), workers, work / f"archive-{workers}")
        wall = time.perf_counter() - started
        total = sum(r["rows"] for r in results)
        if total != 2 * rows_per_day:
            raise SystemExit(f"{workers} worker(s) archived {total} rows, expected {2 * rows_per_day}")
        per_worker = statistics.mean(r["rows"] / r["seconds"] for r in results if r["rows"])
        out[workers] = (per_worker, total / wall)
        console.log(f"archive with {workers} worker(s): {total:,} rows in {wall:.1f} s")
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="0.3M and 2M rows (and a smaller archive)")
    parser.add_argument("--small", type=int, help="rows in the small table (default 1,000,000)")
    parser.add_argument("--large", type=int, help="rows in the large table (default 8,000,000)")
    parser.add_argument("--hour-rows", type=int, default=30_000, help="rows of the new hour added each round")
    parser.add_argument("--rounds", type=int, default=5, help="new hours added and refreshed (medians reported)")
    parser.add_argument("--archive-rows", type=int, help="rows per expired day (default 400,000; --quick 100,000)")
    parser.add_argument("--worker", nargs=2, metavar=("URL", "STORE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(archive_worker(*args.worker)))
        return
    small = args.small or (300_000 if args.quick else 1_000_000)
    large = args.large or (2_000_000 if args.quick else 8_000_000)
    archive_rows = args.archive_rows or (100_000 if args.quick else 400_000)

    # The fill ends at the start of the current hour; the new hours follow it (within retention).
    first_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=args.rounds)
    template_start = first_hour - timedelta(days=1)
    template = list(generate_rows(DemoPlan(end=first_hour, days=1, records=args.hour_rows, seed=14)))
    work = Path(tempfile.mkdtemp(prefix="loglens-bench-maintenance-"))
    server = EmbeddedPostgres(work / "pg", free_port(), fast=True)  # throwaway data: no fsync
    admin = with_database(server.start(), "postgres")
    results: dict[str, Measured] = {}
    urls: dict[str, str] = {}
    try:
        for label, rows in (("small", small), ("large", large)):
            urls[label] = new_database(admin, f"bench_{label}", first_hour - timedelta(days=FILL_DAYS), first_hour)
            with console.status(f"filling the {label} table ({rows:,} rows) …"):
                fill(urls[label], rows, first_hour)
            results[label] = Measured(rows)
            with console.status(f"{label}: the old full refresh and the rebuild …"):
                measure_baselines(urls[label], results[label])
        # Rounds alternate between the two tables, so both meet the same load on this shared machine.
        with console.status(f"{args.rounds} rounds of a new hour ({args.hour_rows:,} rows) on each …"):
            for number in range(args.rounds):
                hour = first_hour + timedelta(hours=number)
                for label in ("small", "large"):
                    measure_round(urls[label], template, template_start, hour, results[label])
        with connect(admin, autocommit=True) as conn:
            for label in urls:
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(f"bench_{label}")))
        with console.status("archive: one worker, then two …"):
            archive = measure_archive(admin, archive_rows, work)
    finally:
        server.destroy()
    report(results, archive, args.hour_rows, args.rounds, archive_rows)


def report(results: dict[str, Measured], archive: dict[int, tuple[float, float]], hour_rows: int, rounds: int,
           archive_rows: int) -> None:  # fmt: skip
    small, large = results["small"], results["large"]
    table = Table(
        title=f"summary views, incremental: a new hour of {hour_rows:,} rows, then the refresh "
        f"(median of {rounds} rounds, ms)"
    )
    for column in ("part of the refresh", f"{small.rows:,} rows", f"{large.rows:,} rows", "large/small"):
        table.add_column(column, justify="left" if column.startswith("part") else "right")
    for part in (*REFRESH_PARTS, None):
        s_ms, l_ms = small.incremental_median(part) * 1000, large.incremental_median(part) * 1000
        label = "all five views" if part is None else part if part == REFRESH_PARTS[0] else f"{part}: its day"
        table.add_row(label, f"{s_ms:,.0f}", f"{l_ms:,.0f}", f"{l_ms / s_ms:.2f}")
    console.print(table)
    full = Table(title="summary views, in full, in the same run (ms)")
    for column in ("", f"{small.rows:,} rows", f"{large.rows:,} rows", "large/small"):
        full.add_column(column, justify="left" if not column else "right")
    for view in ROLLUP_VIEWS:
        s_ms, l_ms = small.old_refresh[view] * 1000, large.old_refresh[view] * 1000
        full.add_row(f"old REFRESH … CONCURRENTLY {view}", f"{s_ms:,.0f}", f"{l_ms:,.0f}", f"{l_ms / s_ms:.2f}")
    s_old, l_old = sum(small.old_refresh.values()) * 1000, sum(large.old_refresh.values()) * 1000
    full.add_row("old REFRESH, all five (what maintain did every hour)", f"{s_old:,.0f}", f"{l_old:,.0f}",
                 f"{l_old / s_old:.2f}")  # fmt: skip
    s_new, l_new = small.rebuild * 1000, large.rebuild * 1000
    full.add_row("rebuild_rollups, all five from every row", f"{s_new:,.0f}", f"{l_new:,.0f}", f"{l_new / s_new:.2f}")
    console.print(full)
    console.print(
        "incremental: refresh_rollups after the hour's rows were written: one pass over that hour's rows feeds "
        "every hourly table, then each summary view's day is recomputed from its hourly rows, user sets and "
        "histogram. old REFRESH: the five materialized views of migrations 0003/0006. "
        f"Hours recomputed per round: small {small.hours_per_round}, large {large.hours_per_round}. Each round, ms: "
        f"small {[round(sum(r.values()) * 1000) for r in small.incremental]}, "
        f"large {[round(sum(r.values()) * 1000) for r in large.incremental]}."
    )
    per_worker_1, together_1 = archive[1]
    per_worker_2, together_2 = archive[2]
    archived = Table(title=f"archive: two expired days of {archive_rows:,} rows each (export, verify, detach, drop)")
    for column in ("workers", "rows/s per worker", "rows/s together", "vs one worker"):
        archived.add_column(column, justify="right")
    archived.add_row("1", f"{per_worker_1:,.0f}", f"{together_1:,.0f}", "1.00")
    archived.add_row("2 (separate processes)", f"{per_worker_2:,.0f}", f"{together_2:,.0f}",
                     f"{together_2 / together_1:.2f}")  # fmt: skip
    console.print(archived)
    ratio = large.incremental_median() / small.incremental_median()
    print(f"refresh ratio large/small: {ratio:.2f}")


if __name__ == "__main__":
    main()
