"""Freshness benchmark: how long after collect answers a record can be queried, locally, and where a load's
fixed cost per object goes.

1. Per-object fixed cost: raw objects of 1, 10 and 100 sealed records loaded one by one (the local object
   store, the embedded PostgreSQL with default durability), the time per object split into the loader's
   steps: the claim in load_ledger, the COPY (reading, decoding and writing the rows), the closing statement
   (the counts and the hours for the rollups) and the commit. The S3 round trips of AWS (GET; the HEAD the
   loader no longer makes) are not in these numbers: the README's freshness model adds them.
2. Collect to queryable: the local stack's own pieces, wired as `loglens dev` wires them (collect's handler
   writing to the spool, which closes a segment at 1 MiB or 200 ms and wakes the spool consumer, loading
   with the same Loader), with a client sending a small batch every
   100 ms and a reader polling PostgreSQL for each batch's event ids: p50, p95 and max, seconds from the
   answer to the rows being visible.

    python bench/freshness.py [--objects N] [--batches N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from loglens.db.connect import ConnectionProvider, connect, with_database
from loglens.db.partitions import ensure_partitions
from loglens.db.prepare import prepare
from loglens.devtools.embedded import EmbeddedPostgres
from loglens.devtools.local.config import LocalSettings
from loglens.devtools.local.spool import SpoolConsumer
from loglens.ingest import load
from loglens.ingest.collect import CollectApi, CollectService
from loglens.ingest.envelope import Sealer
from loglens.ingest.notifications import Loader
from loglens.ingest.objects import LocalObjectStore
from loglens.ingest.sinks import SpoolSink
from loglens.lifecycle.maintenance import owner_connection
from loglens.settings import Settings

console = Console(width=150)
STEPS = ("claim", "copy", "counts and hours", "commit")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def record(i: int) -> dict[str, Any]:
    return {
        "timestamp": datetime.now(UTC).isoformat(),
        "level": "ERROR" if i % 9 == 0 else "INFO",
        "service": "checkout-api",
        "message": f"order {i} handled in {i % 700} ms",
        "event_id": str(uuid.uuid4()),
        "user_id": f"u-{i % 500}",
        "endpoint": "/api/v1/checkout",
        "method": "POST",
        "duration_ms": float(i % 700),
        "metadata": {"region": "us-east-1", "attempt": i % 3},
    }


def api_event(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "httpMethod": "POST",
        "resource": "/api/v1/logs/batch",
        "path": "/api/v1/logs/batch",
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"logs": records}),
        "isBase64Encoded": False,
        "requestContext": {"identity": {"apiKeyId": "bench", "sourceIp": "127.0.0.1"}},
    }


class _Timed:
    """The loader's connection, timing what load_object asks of it (by statement) and its commit."""

    def __init__(self, conn: Any, timings: dict[str, list[float]]) -> None:
        self._conn = conn
        self._timings = timings

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def execute(self, query: Any, params: Any = None) -> Any:
        step = "claim" if "INSERT INTO load_ledger" in str(query) else "counts and hours"
        started = time.perf_counter()
        try:
            return self._conn.execute(query, params)
        finally:
            self._timings[step].append(time.perf_counter() - started)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        outer = self._conn.transaction()
        outer.__enter__()
        try:
            yield self
        except BaseException as exc:
            outer.__exit__(type(exc), exc, exc.__traceback__)
            raise
        started = time.perf_counter()
        outer.__exit__(None, None, None)
        if not self._conn.info.transaction_status:  # the outermost block: its exit was the commit
            self._timings["commit"].append(time.perf_counter() - started)


def per_object_cost(
    url: str, store: LocalObjectStore, sealer: Sealer, objects: int
) -> list[tuple[int, dict[str, float]]]:
    settings = Settings.from_env({})
    real_copy_all = getattr(load, "copy_all")  # noqa: B009 - replaced below by a timing wrapper
    timings: dict[str, list[float]] = defaultdict(list)

    def timed_copy(conn: Any, pieces: Any) -> None:
        started = time.perf_counter()
        try:
            real_copy_all(conn._conn if isinstance(conn, _Timed) else conn, pieces)
        finally:
            timings["copy"].append(time.perf_counter() - started)

    out: list[tuple[int, dict[str, float]]] = []
    setattr(load, "copy_all", timed_copy)  # noqa: B010 - the bench times the loader's COPY step in place
    try:
        for size in (1, 10, 100):
            keys = [write_object(store, sealer, size, n) for n in range(objects)]
            timings.clear()
            totals = []
            with connect(url) as conn:
                timed = _Timed(conn, timings)
                for key in keys:
                    started = time.perf_counter()
                    result = load.load_object(timed, store, store.head(key), settings, sealer=sealer)  # type: ignore[arg-type]
                    totals.append(time.perf_counter() - started)
                    assert result.loaded == size, result
            medians = {step: statistics.median(timings[step]) for step in STEPS}
            medians["total"] = statistics.median(totals)
            out.append((size, medians))
    finally:
        setattr(load, "copy_all", real_copy_all)  # noqa: B010
    return out


def write_object(store: LocalObjectStore, sealer: Sealer, size: int, n: int) -> str:
    """One raw object of `size` sealed records, as collect and Firehose would write it."""
    received = datetime.now(UTC).isoformat()
    lines = [
        json.dumps({**record(n * size + i), "_loglens": 1, "source": "api", "received_at": received}).encode() + b"\n"
        for i in range(size)
    ]
    key = f"raw/bench/freshness/{size}/object-{n:05d}.gz"
    store.put(key, gzip.compress(sealer.seal(b"".join(lines)), compresslevel=1))
    return key


def collect_to_queryable(url: str, home: Path, sealer: Sealer, batches: int) -> list[float]:
    settings = Settings.from_env({})
    local = LocalSettings.from_env({})
    loader = Loader(LocalObjectStore(home), ConnectionProvider(lambda: url), settings, sealer=sealer)
    # Wired as `loglens dev` wires them: the spool buffers like Firehose (LOGLENS_SPOOL_BUFFER_* defaults) and
    # wakes the consumer when a segment closes; the consumer also polls every 0.25 s.
    consumer = SpoolConsumer(home, loader, poll_seconds=0.25)
    sink = SpoolSink(
        home, max_bytes=local.spool_buffer_bytes, max_seconds=local.spool_buffer_ms / 1000, on_closed=consumer.wake
    )
    api = CollectApi(CollectService(sink, settings, sealer=sealer))
    consumer.start()
    latencies: list[float] = []
    try:
        with connect(url, autocommit=True) as reader:
            for n in range(batches):
                sent = [record(n * 10 + i) for i in range(5 + n % 10)]
                response = api.handle(api_event(sent))
                answered = time.perf_counter()
                assert response["statusCode"] == 200, response
                ids = [uuid.UUID(r["event_id"]) for r in sent]
                while True:
                    row = reader.execute("SELECT count(*) FROM logs WHERE event_id = ANY(%s)", (ids,)).fetchone()
                    if row and row[0] == len(ids):
                        latencies.append(time.perf_counter() - answered)
                        break
                    if time.perf_counter() - answered > 30:
                        raise SystemExit(f"batch {n} not visible after 30 s")
                    time.sleep(0.005)
                time.sleep(0.1)
    finally:
        sink.close()
        consumer.stop()
    return latencies


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=200, help="objects of each size for the per-object cost")
    parser.add_argument("--batches", type=int, default=100, help="batches sent for collect-to-queryable")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="loglens-bench-freshness-"))
    sealer = Sealer(os.urandom(32))
    server = EmbeddedPostgres(work / "pg", free_port())  # default durability: each commit is flushed
    admin = with_database(server.start(), "postgres")
    try:
        with connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench_freshness")
        url = with_database(admin, "bench_freshness")
        prepare(url, Settings.from_env({}))
        today = datetime.now(UTC).date()
        with owner_connection(url) as conn:
            ensure_partitions(conn, today - timedelta(days=1), today + timedelta(days=1))
        with console.status("per-object cost …"):
            costs = per_object_cost(url, LocalObjectStore(work / "objects"), sealer, args.objects)
        with console.status("collect to queryable …"):
            latencies = collect_to_queryable(url, work / "spool", sealer, args.batches)
    finally:
        server.destroy()
    report(costs, latencies, args.objects)


def report(costs: list[tuple[int, dict[str, float]]], latencies: list[float], objects: int) -> None:
    table = Table(title=f"load: fixed cost per object (median of {objects} objects each, ms; no S3 round trips)")
    for column in ("records per object", *STEPS, "the rest", "total"):
        table.add_column(column, justify="right")
    for size, medians in costs:
        rest = medians["total"] - sum(medians[step] for step in STEPS)
        figures = [medians[step] for step in STEPS] + [rest, medians["total"]]
        table.add_row(str(size), *(f"{figure * 1000:.2f}" for figure in figures))
    console.print(table)
    console.print(
        "the rest: opening and inflating the object, the parsing thread, verifying the seal (medians of steps need "
        "not add up to the median total)."
    )
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    fresh = Table(title=f"local stack: collect's answer → rows queryable ({len(latencies)} batches of 5-14 records)")
    for column in ("p50", "p95", "max"):
        fresh.add_column(column, justify="right")
    fresh.add_row(f"{statistics.median(latencies):.3f} s", f"{p95:.3f} s", f"{ordered[-1]:.3f} s")
    console.print(fresh)
    console.print(
        "locally the spool buffers a segment up to 200 ms (as `loglens dev`) and wakes the consumer when it closes; "
        "in AWS Firehose's buffer, S3's notification and SQS take that place (README, 'Freshness')."
    )


if __name__ == "__main__":
    main()
