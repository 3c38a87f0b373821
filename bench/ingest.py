"""Ingest benchmark: the load path against raw binary COPY and the origin design, in one run.

Raw objects are as big as Firehose makes them under sustained load, when the load rate
matters: its buffer size of NDJSON, taken from cdk.json — the default (production) stage's,
and the dev stage's smaller one to show the per-object cost.

All three write the same generated rows into identical, freshly migrated databases (every
index present, partitions covering the data) on one embedded PostgreSQL with default
durability settings and autovacuum off. COPY and the load path alternate for a few rounds,
each on a fresh database after a CHECKPOINT, and their medians are compared. Also measures the
collect handler's records/s and its peak memory for a 500-record batch. Results are ratios
against baselines measured in the same run: these machines are shared and noisy, so absolute
numbers vary between runs.

    python bench/ingest.py [--rows N] [--origin-rows N] [--rounds N]
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from psycopg.types.json import set_json_dumps
from rich.console import Console
from rich.table import Table

from loglens.db.connect import ConnectionProvider, connect, with_database
from loglens.db.partitions import ensure_partitions
from loglens.db.prepare import prepare
from loglens.devtools.demo import DemoPlan, generate
from loglens.devtools.embedded import EmbeddedPostgres
from loglens.ingest.blocks import decode_block
from loglens.ingest.collect import CollectApi, CollectService
from loglens.ingest.envelope import Sealer
from loglens.ingest.notifications import Loader, ObjectRef
from loglens.ingest.objects import LocalObjectStore
from loglens.ingest.write import COPY_TYPES
from loglens.record import LOG_COLUMNS
from loglens.settings import Settings

REPO = Path(__file__).resolve().parents[1]
console = Console(width=170)


class ListSink:
    def __init__(self) -> None:
        self.records: list[bytes] = []

    def put(self, records: Sequence[bytes]) -> None:
        self.records.extend(records)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fresh_database(admin: str, name: str, first_day: datetime, *, origin_indexes_only: bool = False) -> str:
    with connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(admin, name)
    prepare(url, Settings.from_env({}))
    with connect(url, autocommit=True) as conn:
        conn.execute("SET ROLE loglens_owner")
        ensure_partitions(conn, first_day.date(), datetime.now(UTC).date())
        if origin_indexes_only:
            conn.execute("DROP INDEX idx_message_trgm")
    return url


def api_event(batch: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "httpMethod": "POST",
        "resource": "/api/v1/logs/batch",
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"logs": batch}),
        "isBase64Encoded": False,
        "requestContext": {"identity": {"apiKeyId": "bench", "sourceIp": "127.0.0.1"}},
    }


def collect_rate(records: list[dict[str, Any]], settings: Settings, *, redacting: bool, sealer: Sealer) -> float:
    from loglens.ingest.privacy import redactor_from_env

    sink = ListSink()
    redactor = redactor_from_env({}) if redacting else None
    api = CollectApi(CollectService(sink, settings, redactor=redactor, sealer=sealer))
    batches = [api_event(records[i : i + 500]) for i in range(0, len(records), 500)]
    started = time.perf_counter()
    for event in batches:
        response = api.handle(event)
        assert response["statusCode"] == 200, response["body"][:300]
    return len(records) / (time.perf_counter() - started)


def measure_collect(
    records: list[dict[str, Any]], settings: Settings, sealer: Sealer
) -> tuple[list[bytes], dict[str, float], int]:
    """Records/s with and without redaction (best of 3, interleaved, to see through noise), also for
    records whose messages all differ, the peak memory of one 500-record batch, and the Firehose
    records (sealed blocks) collect produced."""
    from loglens.ingest.privacy import redactor_from_env

    sink = ListSink()
    api = CollectApi(CollectService(sink, settings, redactor=redactor_from_env({}), sealer=sealer))
    tracemalloc.start()
    api.handle(api_event(records[:500]))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    sink.records.clear()
    for i in range(0, len(records), 500):
        api.handle(api_event(records[i : i + 500]))
    sample = records[: min(len(records), 20_000)]
    # Demo records repeat their values, which the redactor's cache of clean values absorbs; real log
    # lines mostly differ (an id, a duration), so the same records with every message different too.
    unique = [{**r, "message": f"{r['message']} (request {i:08x}, {i % 997} ms)"} for i, r in enumerate(sample)]
    rates = dict.fromkeys(("with", "without", "unique with", "unique without"), 0.0)
    for _ in range(3):
        for kind, batch in (("", sample), ("unique ", unique)):
            for redacting in (True, False):
                key = kind + ("with" if redacting else "without")
                rates[key] = max(rates[key], collect_rate(batch, settings, redacting=redacting, sealer=sealer))
    return sink.records, rates, peak


def ceiling_rows(blocks: list[bytes]) -> list[tuple[Any, ...]]:
    """The same records as ready-made Python rows (metadata a dict), for the raw COPY ceiling."""
    meta = LOG_COLUMNS.index("metadata")
    rows = [row for block in blocks for row in decode_block(block.split(b"\n", 1)[1])]
    return [(*row[:meta], orjson.loads(bytes(row[meta])), *row[meta + 1 :]) for row in rows]


def buffer_bytes(stage: str) -> int:
    sys.path.insert(0, str(REPO))  # infra.config reads cdk.json without importing the CDK
    from infra.config import load_config_from_cdk_json

    return load_config_from_cdk_json(stage).firehose.buffer_size_mib * 1024 * 1024


def write_objects(
    store: LocalObjectStore, blocks: list[bytes], stage: str, size: int, retry_with: Sealer | None = None
) -> list[str]:
    """The sealed blocks in gzip objects of up to `size` bytes of NDJSON, as Firehose delivers them.
    With `retry_with`, every object after the first also holds one record of the object before
    it, sealed again: a client's retry after a lost answer, which collect accepted a second time."""
    groups: list[list[bytes]] = [[]]
    filled = 0
    for block in blocks:
        if groups[-1] and filled + len(block) > size:
            groups.append([])
            filled = 0
        groups[-1].append(block)
        filled += len(block)
    keys: list[str] = []
    for n, group in enumerate(groups):
        if retry_with is not None and n:
            first_line = groups[n - 1][0].split(b"\n", 2)[1] + b"\n"
            group = [*group, retry_with.seal(first_line)]
        keys.append(f"raw/bench/{stage}{'-retries' if retry_with else ''}/object-{n:04d}.gz")
        store.put(keys[-1], gzip.compress(b"".join(group), compresslevel=6))
    return keys


def raw_copy(url: str, rows: list[tuple[Any, ...]]) -> float:
    from psycopg import sql

    statement = sql.SQL("COPY logs ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.SQL(", ").join(map(sql.Identifier, LOG_COLUMNS))
    )
    with connect(url) as conn:
        started = time.perf_counter()
        with conn.cursor() as cur:
            set_json_dumps(orjson.dumps, cur)  # the fastest COPY psycopg can do: the ceiling
            with cur.copy(statement) as copy:
                copy.set_types(COPY_TYPES)
                for row in rows:
                    copy.write_row(row)
        conn.commit()
        return len(rows) / (time.perf_counter() - started)


def load_path(
    url: str, store: LocalObjectStore, keys: list[str], settings: Settings, sealer: Sealer
) -> tuple[float, int]:
    loader = Loader(store, ConnectionProvider(lambda: url), settings, sealer=sealer)
    started = time.perf_counter()
    loaded = 0
    for key in keys:
        result = loader.load(ObjectRef(None, key, None))
        assert result is not None and result.rejected == 0
        loaded += result.loaded
    return loaded / (time.perf_counter() - started), loaded


def origin_design(url: str, rows: list[tuple[Any, ...]]) -> float:
    """The origin document's batch endpoint: executemany INSERT, one transaction per 10-row batch."""
    from psycopg import sql
    from psycopg.types.json import Jsonb

    statement = sql.SQL("INSERT INTO logs ({}) VALUES ({})").format(
        sql.SQL(", ").join(map(sql.Identifier, LOG_COLUMNS)), sql.SQL(", ").join(sql.Placeholder() * len(LOG_COLUMNS))
    )
    meta = LOG_COLUMNS.index("metadata")
    prepared = [
        tuple(Jsonb(v) if i == meta else (str(v) if hasattr(v, "value") else v) for i, v in enumerate(row))
        for row in rows
    ]
    with connect(url) as conn:
        started = time.perf_counter()
        for i in range(0, len(prepared), 10):
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(statement, prepared[i : i + 10])
        return len(rows) / (time.perf_counter() - started)


def table_size(url: str) -> int:
    with connect(url) as conn:
        row = conn.execute(
            "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = 'logs'::regclass"
        ).fetchone()
    return int(row[0] or 0) if row else 0


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000, help="rows for COPY and the load path")
    parser.add_argument("--origin-rows", type=int, default=20_000, help="rows for the (slow) origin design")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of COPY and load (medians reported)")
    args = parser.parse_args(argv)
    settings = Settings.from_env({})
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    plan = DemoPlan(end=end, days=2, records=args.rows)
    console.print(f"generating {args.rows:,} demo records …")
    records = list(generate(plan))
    gc.freeze()  # the bench's own data is not the measured code's: keep it out of every collection
    console.print("collect handler …")
    sealer = Sealer(os.urandom(32))
    blocks, rates, collect_peak = measure_collect(records, settings, sealer)
    rows = ceiling_rows(blocks)
    gc.freeze()
    work = Path(tempfile.mkdtemp(prefix="loglens-bench-"))
    store = LocalObjectStore(work / "objects")
    sizes = {stage: buffer_bytes(stage) for stage in ("prod", "dev")}
    keys = {stage: write_objects(store, blocks, stage, size) for stage, size in sizes.items()}
    keys["retries"] = write_objects(store, blocks, "prod", sizes["prod"], retry_with=sealer)

    server = EmbeddedPostgres(work / "pg", free_port())  # default durability: fsync on
    admin = server.start().rsplit("/", 1)[0] + "/postgres"
    with connect(admin, autocommit=True) as conn:
        # Autovacuum would pick up one run's 200k fresh rows during the next run, on one of two cores.
        conn.execute("ALTER SYSTEM SET autovacuum = off")
        conn.execute("SELECT pg_reload_conf()")
    first_day = end - timedelta(days=plan.days + 1)
    names = ("copy", "load", "load_small", "load_retries", "copy_plain", "load_plain")
    runs: dict[str, list[float]] = {name: [] for name in names}

    sizes_seen: list[int] = []

    def measure(name: str, plain: bool, run: Callable[[str], float]) -> None:
        url = fresh_database(admin, f"bench_{name}", first_day, origin_indexes_only=plain)
        with connect(admin, autocommit=True) as conn:
            conn.execute("CHECKPOINT")  # every run starts with the previous run's writes flushed
        runs[name].append(run(url))
        if name == "load":
            sizes_seen.append(table_size(url))
        with connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "bench_{name}" WITH (FORCE)')

    def load(stage: str) -> Callable[[str], float]:
        def run(url: str) -> float:
            rps, loaded = load_path(url, store, keys[stage], settings, sealer)
            assert loaded == len(rows)
            return rps

        return run

    try:
        for round_ in range(1, args.rounds + 1):
            console.print(f"round {round_} of {args.rounds}: raw binary COPY, then the load path, with every index …")
            measure("copy", False, lambda url: raw_copy(url, rows))
            measure("load", False, load("prod"))
            measure("load_small", False, load("dev"))
            measure("load_retries", False, load("retries"))
            console.print("… and raw COPY and the load path with the origin document's indexes only (no trigram)")
            measure("copy_plain", True, lambda url: raw_copy(url, rows))
            measure("load_plain", True, load("prod"))
        size = sizes_seen[0]
        console.print("origin design (executemany, 10 rows per transaction) …")
        origin_rps = origin_design(fresh_database(admin, "bench_origin", first_day), rows[: args.origin_rows])
    finally:
        server.destroy()
    copy_rps, load_rps, small_rps, retries_rps, plain_copy_rps, plain_load_rps = (
        statistics.median(runs[n]) for n in names
    )
    ratios = [load / copy for load, copy in zip(runs["load"], runs["copy"], strict=True)]
    mib = {stage: size // (1024 * 1024) for stage, size in sizes.items()}

    out = Table(
        title=f"ingest: {len(rows):,} rows, medians of {args.rounds} rounds (origin design: {args.origin_rows:,} rows)"
    )
    for column in ("path", "rows/s", "vs raw COPY", "vs origin design"):
        out.add_column(column, justify="right" if column != "path" else "left")
    for name, rps in (
        ("raw binary COPY (ceiling), all indexes", copy_rps),
        (f"load path (verify, parse, dedup, COPY), all indexes, {mib['prod']} MiB objects", load_rps),
        (f"load path, all indexes, {mib['dev']} MiB objects (dev stage)", small_rps),
        (f"load path, all indexes, {mib['prod']} MiB objects, one retried record in each", retries_rps),
        ("raw binary COPY, origin indexes only (no trigram)", plain_copy_rps),
        (f"load path, origin indexes only, {mib['prod']} MiB objects", plain_load_rps),
        ("origin design (executemany ×10/txn), all indexes", origin_rps),
    ):
        out.add_row(name, f"{rps:,.0f}", f"{rps / copy_rps:.2f}", f"{rps / origin_rps:.1f}×")
    console.print(out)
    console.print(
        f"load path ({mib['prod']} MiB objects) / raw COPY, round by round: "
        + ", ".join(f"{r:.2f}" for r in ratios)
        + " (target: at least 0.85)"
    )
    extra = Table(title="collect handler (500-record batches)")
    for column in ("measure", "value"):
        extra.add_column(column)
    with_r, without_r = rates["with"], rates["without"]
    extra.add_row("records/s with redaction (best of 3)", f"{with_r:,.0f}")
    extra.add_row("records/s without redaction (best of 3)", f"{without_r:,.0f}")
    # per-record cost is 1/rate; redaction's share is the extra time over the time with it
    share = max(0.0, 1 - with_r / without_r)
    extra.add_row("redaction share of per-record cost (target: at most 20%)", f"{share:.0%}")
    unique_share = max(0.0, 1 - rates["unique with"] / rates["unique without"])
    extra.add_row("redaction share, every message different", f"{unique_share:.0%}")
    extra.add_row("peak memory for one 500-record batch", f"{collect_peak / 1024 / 1024:.1f} MiB")
    extra.add_row("table + indexes per million rows", f"{size / len(rows) * 1e6 / 1024**2:,.0f} MiB")
    console.print(extra)


if __name__ == "__main__":
    main()
