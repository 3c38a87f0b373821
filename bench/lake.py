"""Lake benchmark: rows/s into the local lake, what forwarding costs the load path, and 30-day aggregates
on the local lake against the same questions on PostgreSQL, all in one run on the same generated rows.

1. N demo rows over D days go into PostgreSQL by binary COPY (the baseline) and into the local lake the
   way the loader forwards them (BufferSink: encode and write a buffer file) followed by a flush (DuckDB:
   dedup against the stored days, zstd Parquet per day). Rows/s for each step and end to end.
2. The load path (sealed raw objects → COPY) on a sample, without and with forwarding to the lake,
   interleaved for a few rounds, each into a fresh database: the cost the lake adds to every load.
3. Three aggregates over the last 30 days, warm, median of 5: on PostgreSQL's `logs` (every index, no
   rollup: the lake has none) and on the lake through the guard in the Trino dialect and LocalLake, with
   what Athena would have scanned and charged for the same files. The answers are checked to agree.

    python bench/lake.py [--rows N] [--days D] [--load-rows N] [--rounds N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg import sql
from rich.console import Console
from rich.table import Table

from loglens.agent.catalog import lake_catalog
from loglens.db.connect import ConnectionProvider, connect, with_database
from loglens.db.partitions import ensure_partitions
from loglens.db.prepare import prepare
from loglens.devtools.demo import DemoPlan, generate, generate_rows
from loglens.devtools.embedded import EmbeddedPostgres
from loglens.devtools.lake.buffer import BufferSink
from loglens.devtools.lake.flush import flush
from loglens.devtools.lake.local import LocalLake
from loglens.devtools.lake.snapshot import LakeLayout, read_snapshot
from loglens.ingest.collect import CollectApi, CollectService
from loglens.ingest.envelope import Sealer
from loglens.ingest.notifications import Loader, ObjectRef
from loglens.ingest.objects import LocalObjectStore
from loglens.ingest.write import COPY_TYPES
from loglens.record import LOG_COLUMNS
from loglens.settings import Settings
from loglens.sqlguard import check_sql

console = Console(width=170)
CHUNK = 5000  # rows per forwarded batch, as the loader's chunks
OBJECT_BYTES = 32 * 1024 * 1024  # raw objects as Firehose delivers them under load (cdk.json's buffer)


def chunked(rows: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fresh_database(admin: str, name: str, first_day: datetime, last_day: datetime) -> str:
    with connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(admin, name)
    prepare(url, Settings.from_env({}))
    with connect(url, autocommit=True) as conn:
        conn.execute("SET ROLE loglens_owner")
        ensure_partitions(conn, first_day.date(), last_day.date())
    return url


def copy_rows(url: str, rows: list[tuple[Any, ...]]) -> float:
    """Binary COPY, the fastest way into PostgreSQL: rows/s."""
    statement = sql.SQL("COPY logs ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.SQL(", ").join(map(sql.Identifier, LOG_COLUMNS))
    )
    started = time.perf_counter()
    with connect(url) as conn:
        for chunk in chunked(rows, 50_000):
            with conn.cursor() as cur, cur.copy(statement) as copy:
                copy.set_types(COPY_TYPES)
                for row in chunk:
                    copy.write_row(row)
            conn.commit()
    return len(rows) / (time.perf_counter() - started)


def forward(layout: LakeLayout, rows: list[tuple[Any, ...]], object_rows: int) -> float:
    """The loader's forwarding: one BufferSink per object, batches of CHUNK rows: rows/s."""
    started = time.perf_counter()
    for objekt in chunked(rows, object_rows):
        sink = BufferSink(layout)
        for batch in chunked(objekt, CHUNK):
            sink.add(batch)
        sink.flush()
    return len(rows) / (time.perf_counter() - started)


class _Collected:
    def __init__(self) -> None:
        self.records: list[bytes] = []

    def put(self, records: Sequence[bytes]) -> None:
        self.records.extend(records)


def raw_objects(store: LocalObjectStore, plan: DemoPlan, sealer: Sealer, settings: Settings) -> list[str]:
    """The plan's records through collect (validated, redacted, sealed), in gzip objects as Firehose writes."""
    collected = _Collected()
    api = CollectApi(CollectService(collected, settings, sealer=sealer))
    batch: list[dict[str, Any]] = []
    for record in generate(plan):
        batch.append(record)
        if len(batch) == 500:
            _collect(api, batch)
            batch = []
    if batch:
        _collect(api, batch)
    keys: list[str] = []
    group: list[bytes] = []
    size = 0
    for block in [*collected.records, b""]:
        if (not block or size + len(block) > OBJECT_BYTES) and group:
            keys.append(f"raw/bench/lake/object-{len(keys):04d}.gz")
            store.put(keys[-1], gzip.compress(b"".join(group), compresslevel=6))
            group, size = [], 0
        if block:
            group.append(block)
            size += len(block)
    return keys


def _collect(api: CollectApi, batch: list[dict[str, Any]]) -> None:
    event = {
        "httpMethod": "POST",
        "resource": "/api/v1/logs/batch",
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"logs": batch}),
        "isBase64Encoded": False,
        "requestContext": {"identity": {"apiKeyId": "bench", "sourceIp": "127.0.0.1"}},
    }
    response = api.handle(event)
    assert response["statusCode"] == 200, response["body"][:300]


def load(url: str, store: LocalObjectStore, keys: list[str], sealer: Sealer, lake: Callable[[], Any] | None) -> float:
    loader = Loader(store, ConnectionProvider(lambda: url), Settings.from_env({}), sealer=sealer, lake=lake)
    loaded = 0
    started = time.perf_counter()
    for key in keys:
        result = loader.load(ObjectRef(None, key, None))
        assert result is not None and result.rejected == 0
        loaded += result.loaded
    return loaded / (time.perf_counter() - started)


def questions(start: datetime, end: datetime) -> list[tuple[str, str, str]]:
    """(question, PostgreSQL, lake Trino) over [start, end)."""
    lo, hi = f"TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}'", f"TIMESTAMP '{end:%Y-%m-%d %H:%M:%S}'"
    window_pg = f"created_at >= '{start.isoformat()}' AND created_at < '{end.isoformat()}'"
    window_lake = f"created_at >= {lo} AND created_at < {hi}"
    errors = "level IN ('ERROR', 'FATAL')"
    return [
        (
            "errors and logs per service per day",
            f"SELECT (created_at AT TIME ZONE 'UTC')::date AS day, service, count(*) FILTER (WHERE {errors}) AS "
            f"errors, count(*) AS logs FROM logs WHERE {window_pg} GROUP BY 1, 2 ORDER BY 1, 2",
            f"SELECT CAST(created_at AS date) AS day, service, count_if({errors}) AS errors, count(*) AS logs "
            f"FROM logs WHERE {window_lake} GROUP BY 1, 2 ORDER BY 1, 2",
        ),
        (
            "top error types",
            f"SELECT error_type, count(*) AS n FROM logs WHERE {errors} AND {window_pg} "
            "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
            f"SELECT error_type, count(*) AS n FROM logs WHERE {errors} AND {window_lake} "
            "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
        ),
        (
            "p95 duration per service",
            "SELECT service, percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95 FROM logs "
            f"WHERE duration_ms IS NOT NULL AND {window_pg} GROUP BY 1 ORDER BY 1",
            f"SELECT service, approx_percentile(duration_ms, 0.95) AS p95 FROM logs "
            f"WHERE duration_ms IS NOT NULL AND {window_lake} GROUP BY 1 ORDER BY 1",
        ),
    ]


def time_pg(url: str, query: str) -> tuple[float, list[tuple[Any, ...]]]:
    with connect(url) as conn:
        rows = conn.execute(query).fetchall()  # warm-up
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            conn.execute(query).fetchall()
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), rows


def time_lake(lake: LocalLake, query: str) -> tuple[float, list[list[Any]], int, float]:
    verdict = check_sql(query, lake_catalog(), dialect="trino")
    assert verdict.allowed and verdict.sql, verdict.reason
    result = lake.run(verdict.sql)  # warm-up
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        lake.run(verdict.sql)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), result.rows, result.bytes_scanned, result.cost_usd


def pg_bytes(url: str) -> int:
    with connect(url) as conn:
        row = conn.execute(
            "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = 'logs'::regclass"
        ).fetchone()
    return int(row[0] or 0) if row else 0


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows into PostgreSQL and the lake")
    parser.add_argument("--days", type=int, default=30, help="days the rows span (the aggregates read 30)")
    parser.add_argument("--load-rows", type=int, default=100_000, help="rows through the load path, each round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved load-path rounds (medians reported)")
    args = parser.parse_args(argv)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    first = end - timedelta(days=args.days + 1)
    work = Path(tempfile.mkdtemp(prefix="loglens-bench-lake-"))
    server = EmbeddedPostgres(work / "pg", free_port())
    admin = server.start().rsplit("/", 1)[0] + "/postgres"
    try:
        console.print(f"generating {args.rows:,} rows over {args.days} days …")
        rows = list(generate_rows(DemoPlan(end=end, days=args.days, records=args.rows)))
        url = fresh_database(admin, "bench_lake", first, end)
        copy_rate = copy_rows(url, rows)
        with connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE logs")
        layout = LakeLayout.under(work / "home")
        object_rows = 45_000  # about a 32 MiB raw object's worth of demo rows
        forward_rate = forward(layout, rows, object_rows)
        flushed = flush(layout)
        assert flushed.rows_written == len(rows), flushed.to_dict()
        flush_rate = len(rows) / flushed.seconds
        end_to_end = len(rows) / (len(rows) / forward_rate + flushed.seconds)
        # The same rows again (every client retried): forwarded and flushed, nothing written
        forward(layout, rows[: args.load_rows], object_rows)
        again = flush(layout)
        assert again.rows_written == 0 and again.duplicates == min(args.load_rows, len(rows))
        again_rate = again.rows_read / again.seconds
        lake_bytes = sum(f.bytes for f in read_snapshot(layout).files)

        console.print(f"the load path on {args.load_rows:,} rows, without and with the lake …")
        sealer = Sealer(b"bench-lake-envelope-key-0123456789")
        store = LocalObjectStore(work / "spool")
        sample_plan = DemoPlan(end=end, days=3, records=args.load_rows, seed=3)
        keys = raw_objects(store, sample_plan, sealer, Settings.from_env({}))
        rates: dict[str, list[float]] = {"plain": [], "lake": []}
        for round_ in range(args.rounds):  # interleaved, each on a fresh database: the machine is shared
            for kind in ("plain", "lake"):
                fresh = fresh_database(admin, f"bench_load_{kind}", end - timedelta(days=4), end)
                side = LakeLayout.under(work / f"side-{round_}")
                sinks = (lambda layout=side: BufferSink(layout)) if kind == "lake" else None
                with connect(fresh, autocommit=True) as conn:
                    conn.execute("CHECKPOINT")
                rates[kind].append(load(fresh, store, keys, sealer, sinks))
        plain, with_lake = statistics.median(rates["plain"]), statistics.median(rates["lake"])

        console.print("30-day aggregates …")
        lake = LocalLake(layout, timeout_seconds=600)
        window_start = end - timedelta(days=30)
        answers = []
        for name, pg_query, lake_query in questions(window_start, end):
            pg_ms, pg_rows = time_pg(url, pg_query)
            lake_ms, lake_rows, scanned, cost = time_lake(lake, lake_query)
            if name != "p95 duration per service":  # approx_percentile is approximate by design
                assert [[str(v) for v in r] for r in pg_rows] == [[str(v) for v in r] for r in lake_rows], name
            answers.append((name, pg_ms, lake_ms, scanned, cost))
        postgres_bytes = pg_bytes(url)
    finally:
        server.destroy()
        shutil.rmtree(work, ignore_errors=True)

    ingest = Table(title=f"into the local lake: {args.rows:,} rows over {args.days} days")
    for column in ("step", "rows/s", "vs PostgreSQL binary COPY"):
        ingest.add_column(column, justify="left" if column == "step" else "right")
    ingest.add_row("PostgreSQL binary COPY, all indexes (baseline)", f"{copy_rate:,.0f}", "1.00")
    for step, rate in (
        ("forward (the loader's BufferSink: encode, write, fsync)", forward_rate),
        ("flush (DuckDB: dedup, sort, zstd Parquet per day)", flush_rate),
        ("into the lake end to end (forward + flush)", end_to_end),
        (f"the same {min(args.load_rows, args.rows):,} rows again: flush finds them stored", again_rate),
    ):
        ingest.add_row(step, f"{rate:,.0f}", f"{rate / copy_rate:.2f}")
    console.print(ingest)

    loading = Table(
        title=f"the load path on {args.load_rows:,} rows (sealed 32 MiB objects, all indexes; median of {args.rounds})"
    )
    for column in ("load path", "rows/s", "vs without the lake"):
        loading.add_column(column, justify="left" if column == "load path" else "right")
    loading.add_row("PostgreSQL only", f"{plain:,.0f}", "1.00")
    loading.add_row("PostgreSQL + forwarding to the local lake", f"{with_lake:,.0f}", f"{with_lake / plain:.2f}")
    console.print(loading)

    aggregates = Table(title="30-day aggregates (median of 5, warm): PostgreSQL logs vs the local lake")
    columns = ("question", "PostgreSQL ms", "lake ms", "PostgreSQL ms / lake ms", "scanned (Athena)", "Athena cost")
    for column in columns:
        aggregates.add_column(column, justify="left" if column == "question" else "right")
    for name, pg_ms, lake_ms, scanned, cost in answers:
        aggregates.add_row(
            name, f"{pg_ms:,.0f}", f"{lake_ms:,.0f}", f"{pg_ms / lake_ms:,.2f}", f"{scanned / 2**20:,.1f} MiB",
            f"${cost:.5f}",
        )  # fmt: skip
    console.print(aggregates)
    per_million = 1e6 / max(args.rows, 1) / 2**20
    console.print(
        f"storage per million rows: PostgreSQL (table and indexes) {postgres_bytes * per_million:,.0f} MiB, "
        f"the lake (zstd Parquet) {lake_bytes * per_million:,.0f} MiB"
    )


if __name__ == "__main__":
    main()
