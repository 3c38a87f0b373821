"""Archive benchmark: throughput and peak memory of archiving one daily partition, at two sizes.

For each size, a database on its own embedded PostgreSQL gets one day of generated rows
(loglens.devtools.demo when present, else a simple generator) in a partition past retention, and is cloned
(CREATE DATABASE ... TEMPLATE) so the archive can be measured twice on identical data:

- once for time: export, re-read and verify, detach, drop; rows/s and MB/s;
- once for memory, under tracemalloc (Python's peak heap) and with ru_maxrss read before and after.

Each measurement runs in a fresh process so ru_maxrss starts from that process's own baseline
instead of the generator's. Memory should be the same at both sizes: the export streams through a
server-side cursor into parts of bounded size, whatever the partition holds.

    python bench/archive.py [--rows 1000000] [--small 250000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg import sql
from rich.console import Console
from rich.table import Table

from loglens.db.connect import connect, with_database
from loglens.db.partitions import ensure_partitions, partition_name
from loglens.db.prepare import prepare
from loglens.devtools.embedded import EmbeddedPostgres
from loglens.ingest.objects import LocalObjectStore
from loglens.ingest.write import COPY_TYPES
from loglens.lifecycle.archive import archive_expired
from loglens.lifecycle.maintenance import owner_connection
from loglens.record import LOG_COLUMNS
from loglens.settings import Granularity, Settings

NOW = datetime.now(UTC)
DAY = NOW.date() - timedelta(days=40)
SETTINGS = Settings(retention_days=30)
console = Console()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def generated_rows(day: date, count: int) -> tuple[str, Iterator[tuple[Any, ...]]]:
    end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
    try:
        from loglens.devtools.demo import DemoPlan, generate_rows
    except ImportError:
        return "simple generator", simple_rows(end - timedelta(days=1), count)
    return "loglens.devtools.demo", generate_rows(DemoPlan(end=end, days=1, records=count))


def simple_rows(start: datetime, count: int) -> Iterator[tuple[Any, ...]]:
    """Rows of a believable size (~500 bytes of JSON) when loglens.devtools.demo is not available."""
    rng = random.Random(7)
    step = timedelta(days=1) / max(count, 1)
    services = ["payment-api", "order-api", "user-api", "search-api", "web-frontend"]
    endpoints = ["/api/v1/payment", "/api/v1/orders", "/api/v1/users/me", "/api/v1/search", "/checkout"]
    for i in range(count):
        created = start + step * i
        error = rng.random() < 0.02
        values: dict[str, Any] = {
            "event_id": uuid.UUID(int=rng.getrandbits(128), version=4),
            "received_at": created + timedelta(milliseconds=rng.randint(50, 900)),
            "created_at": created,
            "level": "ERROR" if error else rng.choice(["INFO", "INFO", "INFO", "DEBUG", "WARN"]),
            "log_type": "BACKEND",
            "service": rng.choice(services),
            "environment": "production",
            "message": f"request handled in {rng.randint(1, 900)} ms for order {rng.getrandbits(40):x}",
            "user_id": f"user-{rng.randint(1, 2000)}",
            "session_id": f"s-{rng.getrandbits(48):x}",
            "trace_id": f"{rng.getrandbits(128):032x}",
            "span_id": f"{rng.getrandbits(64):016x}",
            "error_type": "DatabaseConnectionTimeout" if error else None,
            "http_status_code": 500 if error else 200,
            "stack_trace": "Traceback (most recent call last):\n  File app.py, line 42\n" * 8 if error else None,
            "endpoint": rng.choice(endpoints),
            "method": "POST",
            "duration_ms": rng.lognormvariate(3.5, 0.8),
            "metadata": {"region": rng.choice(["eu-west-1", "us-east-1"]), "version": "2.8.0"},
            "source": "api",
            "api_key_id": "bench",
        }
        yield tuple(values.get(name) for name in LOG_COLUMNS)


def fill_database(admin: str, name: str, count: int) -> str:
    """A migrated database with `count` rows in DAY's partition; returns where the rows came from."""
    with connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(admin, name)
    prepare(url, Settings.from_env({}))
    source, rows = generated_rows(DAY, count)
    statement = sql.SQL("COPY logs ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.SQL(", ").join(map(sql.Identifier, LOG_COLUMNS))
    )
    with owner_connection(url) as conn:
        ensure_partitions(conn, DAY, DAY)
        with conn.transaction(), conn.cursor() as cur, cur.copy(statement) as copy:
            copy.set_types(COPY_TYPES)
            for row in rows:
                copy.write_row(row)
        conn.execute("VACUUM ANALYZE logs")
    return source


def clone(admin: str, template: str, name: str) -> str:
    with connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
    return with_database(admin, name)


class Timings:
    """loglens.lifecycle.archive.Progress that only notes when each step began and ended."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._label = ""
        self._started = 0.0

    def begin(self, label: str, total: int | None) -> None:
        self._label, self._started = label.rsplit(" ", 1)[-1], time.perf_counter()

    def advance(self, rows: int) -> None:
        pass

    def end(self) -> None:
        self.seconds[self._label] = self.seconds.get(self._label, 0.0) + time.perf_counter() - self._started


def measure(url: str, mode: str) -> dict[str, Any]:
    """Run in a fresh process (see --worker): archive the database's one expired partition."""
    name = partition_name(DAY, Granularity.DAY)
    with owner_connection(url) as conn:
        size = conn.execute("SELECT pg_relation_size(%s)", (name,)).fetchone()
        heap_bytes = int(size[0]) if size else 0
        with tempfile.TemporaryDirectory(prefix="loglens-bench-archive-") as folder:
            store = LocalObjectStore(Path(folder))
            timings = Timings()
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            if mode == "memory":
                tracemalloc.start()
            started = time.perf_counter()
            result = archive_expired(conn, store, SETTINGS, now=NOW, progress=timings)
            seconds = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] if mode == "memory" else 0
            tracemalloc.stop()
            rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    (outcome,) = result.outcomes
    if outcome.error or outcome.actions[-1] != "dropped":
        raise SystemExit(f"archive did not finish: {outcome}")
    return {
        "rows": outcome.rows,
        "parts": outcome.parts,
        "archive_bytes": outcome.bytes,
        "heap_bytes": heap_bytes,
        "seconds": seconds,
        "export_seconds": timings.seconds.get("export", 0.0),
        "verify_seconds": timings.seconds.get("verify", 0.0),
        "tracemalloc_peak": peak,
        "maxrss_before_kib": rss_before,
        "maxrss_delta_kib": rss_after - rss_before,
    }


def in_fresh_process(url: str, mode: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", mode, url], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"worker failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the large partition")
    parser.add_argument("--small", type=int, default=250_000, help="rows in the small partition")
    parser.add_argument("--worker", nargs=2, metavar=("MODE", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker[1], args.worker[0])))
        return

    home = Path(tempfile.mkdtemp(prefix="loglens-bench-pg-"))
    server = EmbeddedPostgres(home, free_port(), fast=True)
    admin = with_database(server.start(), "postgres")
    results: list[tuple[int, str, dict[str, Any], dict[str, Any]]] = []
    try:
        for count in (args.small, args.rows):
            with console.status(f"loading {count:,} rows…"):
                started = time.perf_counter()
                source = fill_database(admin, f"bench_{count}", count)
                console.log(f"{count:,} rows loaded in {time.perf_counter() - started:.0f} s ({source})")
            with console.status(f"archiving {count:,} rows (timed)…"):
                timed = in_fresh_process(clone(admin, f"bench_{count}", f"bench_{count}_t"), "time")
            with console.status(f"archiving {count:,} rows (memory)…"):
                memory = in_fresh_process(clone(admin, f"bench_{count}", f"bench_{count}_m"), "memory")
            results.append((count, source, timed, memory))
    finally:
        server.destroy()
    report(results)


def report(results: list[tuple[int, str, dict[str, Any], dict[str, Any]]]) -> None:
    mib = 1024 * 1024
    sources = ", ".join(sorted({source for _, source, _, _ in results}))
    table = Table(title=f"archive of one daily partition ({sources}; embedded PostgreSQL 18)")
    for column in ("rows", "parts", "gzip", "export", "verify", "total", "rows/s", "MB/s", "py peak", "RSS"):
        table.add_column(column, justify="right")
    for count, _, timed, memory in results:
        seconds = timed["seconds"]
        before = memory["maxrss_before_kib"] / 1024
        table.add_row(
            f"{count:,}",
            str(timed["parts"]),
            f"{timed['archive_bytes'] / mib:.0f} MiB",
            f"{timed['export_seconds']:.1f} s",
            f"{timed['verify_seconds']:.1f} s",
            f"{seconds:.1f} s",
            f"{timed['rows'] / seconds:,.0f}",
            f"{timed['heap_bytes'] / 1e6 / seconds:.1f} / {timed['archive_bytes'] / 1e6 / seconds:.1f}",
            f"{memory['tracemalloc_peak'] / mib:.1f} MiB",
            f"{before:.0f} → {before + memory['maxrss_delta_kib'] / 1024:.0f} MiB",
        )
    console.print(table)
    console.print(
        "total = export + re-read and verify + detach + drop. MB/s: the partition's heap (pg_relation_size) / the "
        "gzip archive written, per second of total. py peak: tracemalloc's peak during the archive, RSS: the "
        "process's high-water mark before → after it (both from a second, identical run in a fresh process)."
    )


if __name__ == "__main__":
    main()
