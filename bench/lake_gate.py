"""The lake gate's cost: what one core validates per second, and what that makes per GB in Lambda dollars.

The lake stream's transformation (loglens.lake.gate) sees two kinds of record: rows collect or
load already validated and sealed (a MAC check each), and FireLens records on a lake-only stage
(mapped, validated, redacted with loglens.ingest's code). Both are timed here on batches the size
of the Firehose processor buffer (1 MB), against a baseline measured in the same run: decoding the
same records' base64 and JSON and nothing else. The dollars assume the deployed function (arm64,
512 MB, which Lambda gives about a third of a vCPU... so one core's rate is divided by 3) at
us-east-1 prices; docs/deploy.md quotes the result.

    python bench/lake_gate.py [--records N]
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from loglens.ingest.envelope import Sealer
from loglens.ingest.privacy import redactor_from_env
from loglens.lake.gate import Destination, LakeGate
from loglens.lake.rows import lake_records
from loglens.record import AcceptanceWindow, IngestContext, LogRecord, Source

LAMBDA_USD_PER_GB_SECOND_ARM = 0.0000133334
LAMBDA_USD_PER_MILLION_REQUESTS = 0.20
MEMORY_GB = 0.5
CPU_SHARE_AT_512MB = 512 / 1769  # Lambda gives a full vCPU at 1,769 MB, proportionally less below
BUFFER_BYTES = 1024 * 1024
KEY = Sealer(b"bench-key-" * 4)


def firelens_record(i: int) -> bytes:
    line = (
        json.dumps(
            {
                "level": "error" if i % 10 == 0 else "info",
                "msg": f"GET /api/orders/{i} 200 in {i % 97} ms user=u-{i % 1000} mail=user{i % 50}@example.com",
                "trace_id": f"{i:032x}",
                "duration_ms": i % 97,
                "endpoint": "/api/orders/:id",
            }
        )
        if i % 2
        else f"2026-01-01T00:00:00Z INFO worker {i} finished job batch-{i % 17} in {i % 300} ms"
    )
    record = {
        "log": line,
        "source": "stdout",
        "container_name": "app",
        "container_id": f"{i:064x}"[:64],
        "ecs_cluster": "prod",
        "ecs_task_arn": f"arn:aws:ecs:us-east-1:123456789012:task/prod/{i:032x}",
        "ecs_task_definition": "orders:42",
    }
    return json.dumps(record).encode() + b"\n"


def sealed_rows(n: int) -> list[bytes]:
    ctx = IngestContext(source=Source.API, received_at=datetime.now(UTC))
    records = [
        LogRecord.model_validate(
            {"level": "INFO", "service": "orders", "message": f"order {i} paid", "user_id": f"u-{i % 1000}"},
            context=ctx,
        )
        for i in range(n)
    ]
    return lake_records([r.db_row() for r in records], KEY)


def batches(payloads: list[bytes]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for i, payload in enumerate(payloads):
        current.append(
            {"recordId": str(i), "approximateArrivalTimestamp": 0, "data": base64.b64encode(payload).decode()}
        )
        size += len(payload)
        if size >= BUFFER_BYTES:
            out.append({"records": current})
            current, size = [], 0
    if current:
        out.append({"records": current})
    return out


def timed(work: Callable[[dict[str, Any]], object], events: list[dict[str, Any]], rounds: int = 3) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for event in events:
            work(event)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def decode_only(event: dict[str, Any]) -> object:
    return [orjson.loads(base64.b64decode(r["data"]).split(b"\n")[-2]) for r in event["records"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()
    window = AcceptanceWindow()
    gate = LakeGate(KEY, Destination("loglens", "logs"), window, redactor=redactor_from_env({}))
    kinds = {
        "FireLens (validated, redacted)": [firelens_record(i) for i in range(args.records)],
        "sealed rows (MAC checked)": sealed_rows(args.records),
    }
    table = Table(title=f"lake gate: {args.records:,} records a kind, 1 MB batches, median of 3")
    for column in ("records", "bytes/record", "baseline rec/s", "gate rec/s", "gate / baseline", "Lambda $/GB"):
        table.add_column(column, justify="right" if column != "records" else "left")
    for name, payloads in kinds.items():
        events = batches(payloads)
        total = sum(len(p) for p in payloads)
        baseline = timed(decode_only, events)
        gated = timed(gate.transform, events)
        per_second = len(payloads) / gated
        gb = total / 1024**3
        # the deployed function's share of a core, billed for every second it runs, plus one request per MB
        seconds_per_gb = gated / CPU_SHARE_AT_512MB / gb
        usd = seconds_per_gb * MEMORY_GB * LAMBDA_USD_PER_GB_SECOND_ARM + 1024 * LAMBDA_USD_PER_MILLION_REQUESTS / 1e6
        table.add_row(
            name,
            f"{total / len(payloads):.0f}",
            f"{len(payloads) / baseline:,.0f}",
            f"{per_second:,.0f}",
            f"{baseline / gated:.2f}",
            f"{usd:.4f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
