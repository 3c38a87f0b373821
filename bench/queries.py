"""Query benchmark: the analyst's seven typical questions on N generated rows over D days.

One database is filled once from the demo generator (binary COPY). The questions are timed
first against the baseline — the origin document's indexes only (the trigram index dropped,
questions answered from `logs`) — and then with what loglens adds (the trigram index, the
hourly rollups, questions answered from the rollups where they apply), in the same run, on
the same rows, warm cache: median of 5 after one warm-up. For each: the median ms, the
partitions the plan actually scanned out of the total, and the plan's access path.

    python bench/queries.py [--rows N] [--days D]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg import sql
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from loglens.db.connect import connect, with_database
from loglens.db.partitions import ensure_partitions
from loglens.db.prepare import prepare
from loglens.devtools.demo import DemoPlan, generate_rows
from loglens.devtools.embedded import EmbeddedPostgres
from loglens.ingest.write import COPY_TYPES
from loglens.record import LOG_COLUMNS
from loglens.settings import Settings

console = Console(width=170)
ROLLUPS = ("hourly_log_rollup", "hourly_latency_histogram")


@dataclass(frozen=True)
class Question:
    name: str
    baseline: str
    ours: str  # the same question as loglens answers it (from a rollup where one applies)


def chunked(rows: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def questions() -> list[Question]:
    errors = "level IN ('ERROR', 'FATAL')"
    p95_logs = """SELECT endpoint, percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95_ms
        FROM logs WHERE service = 'search-api' AND duration_ms IS NOT NULL
          AND created_at >= %(t24h)s AND created_at < %(end)s GROUP BY endpoint"""
    p95_rollup = """WITH h AS (
            SELECT endpoint, le_ms, sum(request_count) AS n FROM hourly_latency_histogram
            WHERE service = 'search-api' AND hour >= %(t24h)s AND hour < %(end)s GROUP BY endpoint, le_ms),
        c AS (SELECT endpoint, le_ms, sum(n) OVER (PARTITION BY endpoint ORDER BY le_ms) AS cum,
                     sum(n) OVER (PARTITION BY endpoint) AS total FROM h)
        SELECT endpoint, min(le_ms) AS p95_ms FROM c WHERE cum >= 0.95 * total GROUP BY endpoint"""
    hourly_logs = f"""SELECT date_trunc('hour', created_at, 'UTC') AS hour, service, count(*) AS errors FROM logs
        WHERE {errors} AND created_at >= %(t7d)s AND created_at < %(end)s GROUP BY 1, 2 ORDER BY 1, 2"""
    hourly_rollup = f"""SELECT hour, service, sum(log_count) AS errors FROM hourly_log_rollup
        WHERE {errors} AND hour >= %(t7d)s AND hour < %(end)s GROUP BY 1, 2 ORDER BY 1, 2"""
    same = {
        "errors in the last hour": f"""SELECT count(*) FROM logs
            WHERE {errors} AND created_at >= %(t1h)s AND created_at < %(end)s""",
        "top error types, one service, 24 h": f"""SELECT error_type, count(*) FROM logs
            WHERE service = 'payment-api' AND {errors} AND created_at >= %(t24h)s AND created_at < %(end)s
            GROUP BY error_type ORDER BY 2 DESC LIMIT 10""",
        "all logs of one trace": """SELECT * FROM logs WHERE trace_id = %(trace)s
            AND created_at >= %(t24h)s AND created_at < %(end)s ORDER BY created_at""",
        "metadata containment, 7 days": """SELECT count(*) FROM logs WHERE metadata @> %(meta)s::jsonb
            AND created_at >= %(t7d)s AND created_at < %(end)s""",
        "ILIKE '%timeout%' in messages, 24 h": """SELECT created_at, service, message FROM logs
            WHERE message ILIKE '%%timeout%%' AND created_at >= %(t24h)s AND created_at < %(end)s
            ORDER BY created_at DESC LIMIT 100""",
    }
    listed = [Question(name, query, query) for name, query in same.items()]
    listed.insert(2, Question("p95 duration per endpoint, one service, 24 h", p95_logs, p95_rollup))
    listed.insert(4, Question("hourly error counts per service, 7 days", hourly_logs, hourly_rollup))
    return listed


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fill(url: str, plan: DemoPlan, rows: Iterable[tuple[Any, ...]] | None = None) -> int:
    """COPY the plan's rows (or `rows`, generated beforehand to time the COPY alone) into logs."""
    statement = sql.SQL("COPY logs ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.SQL(", ").join(map(sql.Identifier, LOG_COLUMNS))
    )
    written = 0
    with connect(url) as conn, Progress(console=console) as progress:
        task = progress.add_task(f"filling {plan.records:,} rows", total=plan.records)
        for chunk in chunked(generate_rows(plan) if rows is None else rows, 50_000):
            with conn.cursor() as cur, cur.copy(statement) as copy:
                copy.set_types(COPY_TYPES)
                for row in chunk:
                    copy.write_row(row)
            conn.commit()
            written += len(chunk)
            progress.update(task, completed=written)
    return written


def _plan_facts(plan_json: Any, partitions: int) -> tuple[str, str]:
    """(partitions scanned / total, the access paths) from EXPLAIN (ANALYZE, FORMAT JSON)."""
    scanned: set[str] = set()
    paths: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        relation = node.get("Relation Name")
        if relation and node.get("Actual Loops", 0) > 0:
            if relation.startswith("logs_"):
                scanned.add(relation)
            kind = node["Node Type"]
            index = node.get("Index Name")
            paths.add(
                f"{kind} ({index})"
                if index and not index.startswith("logs_")
                else kind
                if not index
                else f"{kind} (per-partition {index.split('_', 2)[-1] if '_' in index else index})"
            )
        for child in node.get("Plans", []):
            walk(child)

    walk(plan_json[0]["Plan"])
    used = f"{len(scanned)}/{partitions}" if scanned else "rollup"
    return used, ", ".join(sorted(paths)) or "-"


def measure(
    url: str, question_sql: str, params: dict[str, Any], partitions: int, work_mem: str | None = None
) -> tuple[float, str, str]:
    with connect(url) as conn:
        if work_mem:
            conn.execute(sql.SQL("SET work_mem = {}").format(sql.Literal(work_mem)))
        conn.execute(question_sql, params).fetchall()  # warm-up
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            conn.execute(question_sql, params).fetchall()
            timings.append((time.perf_counter() - started) * 1000)
        (plan,) = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + question_sql, params).fetchone() or (None,)
    used, path = _plan_facts(plan, partitions)
    return statistics.median(timings), used, path


def sizes(url: str) -> dict[str, int]:
    with connect(url) as conn:
        table = conn.execute(
            """SELECT sum(pg_relation_size(inhrelid)), sum(pg_indexes_size(inhrelid))
               FROM pg_inherits WHERE inhparent = 'logs'::regclass"""
        ).fetchone() or (0, 0)
        rollups = conn.execute(
            "SELECT sum(pg_total_relation_size(c::regclass)) FROM unnest(%s::text[]) c", (list(ROLLUPS),)
        ).fetchone() or (0,)
    return {"table": int(table[0] or 0), "indexes": int(table[1] or 0), "rollups": int(rollups[0] or 0)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args(argv)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    plan = DemoPlan(end=end, days=args.days, records=args.rows)
    work = Path(tempfile.mkdtemp(prefix="loglens-bench-queries-"))
    server = EmbeddedPostgres(work, free_port())  # PostgreSQL defaults (shared_buffers 128 MB, work_mem 4 MB)
    admin = server.start().rsplit("/", 1)[0] + "/postgres"
    try:
        with connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench_queries")
        url = with_database(admin, "bench_queries")
        prepare(url, Settings.from_env({}))
        with connect(url, autocommit=True) as conn:
            conn.execute("SET ROLE loglens_owner")
            ensure_partitions(conn, (end - timedelta(days=args.days + 1)).date(), end.date())
            conn.execute("DROP INDEX idx_message_trgm")  # the baseline has the origin document's indexes only
        fill(url, plan)
        with connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE logs")
            (partitions,) = conn.execute(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'logs'::regclass"
            ).fetchone() or (0,)
            trace = conn.execute(
                "SELECT trace_id FROM logs WHERE trace_id IS NOT NULL AND created_at >= %s LIMIT 1",
                (end - timedelta(hours=3),),
            ).fetchone()
            order = conn.execute(
                "SELECT metadata->>'order_id' FROM logs WHERE metadata ? 'order_id' AND created_at >= %s LIMIT 1",
                (end - timedelta(days=2),),
            ).fetchone()
        import json

        params = {
            "end": end,
            "t1h": end - timedelta(hours=1),
            "t24h": end - timedelta(hours=24),
            "t7d": end - timedelta(days=7),
            "trace": trace[0] if trace else "",
            "meta": json.dumps({"order_id": order[0] if order else ""}),
        }
        baseline = {q.name: measure(url, q.baseline, params, int(partitions)) for q in questions()}
        # The reason for the work_mem in the CDK parameter group: the same baseline questions with more of it.
        roomy = {q.name: measure(url, q.baseline, params, int(partitions), "32MB") for q in questions()}
        base_sizes = sizes(url)
        console.print("adding the trigram index and refreshing the rollups …")
        started = time.perf_counter()
        with connect(url, autocommit=True) as conn:
            conn.execute("SET ROLE loglens_owner")
            conn.execute("CREATE INDEX idx_message_trgm ON logs USING gin (message gin_trgm_ops)")
            index_seconds = time.perf_counter() - started
            started = time.perf_counter()
            for view in ROLLUPS:
                conn.execute(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {view}")
            refresh_seconds = time.perf_counter() - started
            conn.execute("ANALYZE")
        ours = {q.name: measure(url, q.ours, params, int(partitions)) for q in questions()}
        our_sizes = sizes(url)
    finally:
        server.destroy()

    out = Table(title=f"typical questions on {args.rows:,} rows over {args.days} days (median of 5, warm)")
    for column in (
        "question",
        "baseline ms",
        "baseline, work_mem 32MB",
        "loglens ms",
        "speed-up",
        "partitions",
        "access path (loglens)",
    ):
        out.add_column(column, justify="left" if column in ("question", "access path (loglens)") else "right")
    for q in questions():
        b_ms, _, _ = baseline[q.name]
        o_ms, used, path = ours[q.name]
        out.add_row(
            q.name, f"{b_ms:,.1f}", f"{roomy[q.name][0]:,.1f}", f"{o_ms:,.1f}", f"{b_ms / o_ms:,.1f}×", used, path
        )
    console.print(out)
    per_million = 1e6 / max(args.rows, 1) / 1024**2
    size_table = Table(title="storage per million rows")
    for column in ("", "origin indexes", "with loglens additions"):
        size_table.add_column(column)
    size_table.add_row(
        "table", f"{base_sizes['table'] * per_million:,.0f} MiB", f"{our_sizes['table'] * per_million:,.0f} MiB"
    )
    size_table.add_row(
        "indexes", f"{base_sizes['indexes'] * per_million:,.0f} MiB", f"{our_sizes['indexes'] * per_million:,.0f} MiB"
    )
    size_table.add_row("rollups", "-", f"{our_sizes['rollups'] * per_million:,.1f} MiB")
    console.print(size_table)
    console.print(f"trigram index build: {index_seconds:,.1f} s; both rollups refreshed in {refresh_seconds:,.1f} s")


if __name__ == "__main__":
    main()
