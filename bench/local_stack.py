"""The local stack against the origin design's server, end to end over HTTP, in one run.

The origin design is the origin document's log server (seed/project-architecture.ko.md, 2.2),
built here and never shipped: FastAPI with its pydantic LogEntry, asyncpg (a pool of 10-50 per
worker), one INSERT per record (`execute` for /api/v1/logs, `executemany` for a batch), CORS
middleware, on uvicorn with its standard extras (uvloop, httptools) and 2 workers. Two changes
make it run at all against the same `logs` table: asyncpg is given a jsonb codec (the document
passes a dict), and the INSERT also fills the table's NOT NULL event_id, received_at and source
(gen_random_uuid(), now(), 'api'). loglens is `loglens dev`, the process a developer runs.

Both get a freshly migrated database on one embedded PostgreSQL (same table, same indexes,
today's partition, autovacuum off), the same requests from the same generator over loopback, for
the same time: wrk (Debian's, in C) with 32 connections, cycling through pre-generated bodies, so
the generator costs little; its rate against an empty app on the same machine is printed too.
Measured per run: accepted records/s (2xx answers × records per request), rows/s end to end (the
accepted records / the load's time plus the time until the last of them is visible), and that
time from the end of the load until every accepted record is a row. Every run checks that no
accepted record is missing and none is doubled (requests still in flight when wrk stops are not
counted by it but may be stored: up to one per connection). Runs alternate between the two
designs; the table shows medians and ratios. The machine is shared (2 cores for the server,
PostgreSQL and wrk, and whatever else runs): trust ratios more than absolute numbers.

    python bench/local_stack.py [--seconds 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from loglens.db.connect import connect
from loglens.db.partitions import ensure_partitions
from loglens.db.prepare import prepare
from loglens.devtools.embedded import EmbeddedPostgres
from loglens.settings import Settings

REPO = Path(__file__).resolve().parents[1]
console = Console(width=160)
API_KEY = "bench-key"
CONNECTIONS = 32
BATCH = 500

ORIGIN_APP = '''
"""The origin document's log server (2.2), as written there, plus what it needs to run: a jsonb
codec for asyncpg and the NOT NULL columns of loglens' logs table."""
import json
import os
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Dict, List, Optional

import asyncpg
from fastapi import FastAPI, HTTPException
from fastapi.middleware.cors import CORSMiddleware
from pydantic import BaseModel

db_pool: Optional[asyncpg.Pool] = None


async def _codecs(conn):
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


@asynccontextmanager
async def lifespan(app: FastAPI):
    global db_pool
    db_pool = await asyncpg.create_pool(os.environ["ORIGIN_DSN"], min_size=10, max_size=50, init=_codecs)
    yield
    await db_pool.close()


app = FastAPI(title="Log Collection Server", lifespan=lifespan)
app.add_middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"])


class LogEntry(BaseModel):
    timestamp: datetime
    level: str
    log_type: str
    service: str
    environment: str = "development"
    message: str
    user_id: Optional[str] = None
    session_id: Optional[str] = None
    trace_id: Optional[str] = None
    span_id: Optional[str] = None
    error_type: Optional[str] = None
    application_error_code: Optional[str] = None
    http_status_code: Optional[int] = None
    stack_trace: Optional[str] = None
    module: Optional[str] = None
    component: Optional[str] = None
    endpoint: Optional[str] = None
    method: Optional[str] = None
    duration_ms: Optional[float] = None
    page_path: Optional[str] = None
    browser_name: Optional[str] = None
    device_type: Optional[str] = None
    screen_width: Optional[int] = None
    metadata: Optional[Dict[str, Any]] = None


class LogBatch(BaseModel):
    logs: List[LogEntry]


INSERT = """
    INSERT INTO logs (
        created_at, level, log_type, service, environment, message,
        user_id, session_id, trace_id, span_id,
        error_type, application_error_code, http_status_code, stack_trace,
        module, component, endpoint, method, duration_ms,
        page_path, browser_name, device_type, screen_width,
        metadata, event_id, received_at, source
    ) VALUES (
        $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
        $20, $21, $22, $23, coalesce($24, '{}'::jsonb), gen_random_uuid(), now(), 'api'
    )
"""


def _args(log: LogEntry):
    return (
        log.timestamp, log.level, log.log_type, log.service, log.environment, log.message,
        log.user_id, log.session_id, log.trace_id, log.span_id,
        log.error_type, log.application_error_code, log.http_status_code, log.stack_trace,
        log.module, log.component, log.endpoint, log.method, log.duration_ms,
        log.page_path, log.browser_name, log.device_type, log.screen_width,
        log.metadata,
    )


@app.post("/api/v1/logs")
async def receive_log(log: LogEntry):
    try:
        async with db_pool.acquire() as conn:
            await conn.execute(INSERT, *_args(log))
        return {"status": "success", "id": "generated_id"}
    except Exception as e:
        raise HTTPException(status_code=500, detail=str(e))


@app.post("/api/v1/logs/batch")
async def receive_log_batch(batch: LogBatch):
    try:
        async with db_pool.acquire() as conn:
            await conn.executemany(INSERT, [_args(log) for log in batch.logs])
        return {"status": "success", "count": len(batch.logs)}
    except Exception as e:
        raise HTTPException(status_code=500, detail=str(e))


@app.get("/health")
async def health_check():
    async with db_pool.acquire() as conn:
        await conn.fetchval("SELECT 1")
    return {"status": "healthy", "database": "connected"}
'''

EMPTY_APP = '''
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})
'''

# Cycles through the bodies in args[1] (one per line), from a random start per thread; prints a
# JSON summary line at the end.
WRK_SCRIPT = """
local bodies = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["x-api-key"] = args[2]
  i = math.random(#bodies)
end
function request()
  i = i % #bodies + 1
  return wrk.format("POST", nil, nil, bodies[i])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests": %d, "duration_us": %d, "non2xx": %d, "socket_errors": %d, '
    .. '"p50_ms": %.2f, "p99_ms": %.2f}\\n', summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    records_per_request: int
    bodies: Path


@dataclass
class Run:
    design: str
    scenario: str
    accepted_rps: float  # records accepted per second
    rows_rps: float  # accepted records / (the load's time + the time until the last of them is visible)
    visible_after: float  # seconds from the end of the load to the last row
    requests: int
    non2xx: int
    p50_ms: float
    p99_ms: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def record(n: int, now: datetime) -> dict[str, object]:
    """A backend record as the origin document's clients send it (every one distinct)."""
    status = 500 if n % 50 == 0 else 200
    return {
        "timestamp": now.isoformat(),
        "level": "ERROR" if status == 500 else "INFO",
        "log_type": "BACKEND",
        "service": ("payment-api", "order-api", "user-api")[n % 3],
        "environment": "production",
        "message": f"POST /api/v1/payment answered {status} for order {100000 + n}",
        "user_id": f"u-{n % 997}",
        "trace_id": f"{n:032x}",
        "endpoint": "/api/v1/payment",
        "method": "POST",
        "http_status_code": status,
        "duration_ms": 12.5 + n % 300,
        "metadata": {"order_id": 100000 + n, "amount": (n % 500) + 0.99, "currency": "EUR"},
    }


def write_bodies(folder: Path) -> dict[str, Scenario]:
    now = datetime.now(UTC)
    single = folder / "single.ndjson"
    single.write_text("".join(json.dumps(record(n, now)) + "\n" for n in range(20_000)))
    batch = folder / "batch.ndjson"
    with batch.open("w") as out:
        for b in range(40):
            logs = [record(b * BATCH + n, now) for n in range(BATCH)]
            out.write(json.dumps({"logs": logs}) + "\n")
    return {
        "single": Scenario("single records, 32 clients", "/api/v1/logs", 1, single),
        "batch": Scenario(f"{BATCH}-record batches, 32 clients", "/api/v1/logs/batch", BATCH, batch),
    }


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - http on loopback
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@contextmanager
def running(command: list[str], health: str, env: dict[str, str], cwd: Path) -> Iterator[None]:
    process = subprocess.Popen(command, env={**os.environ, **env}, cwd=cwd, start_new_session=True)
    try:
        wait_http(health, process)
        yield
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wrk(url: str, scenario: Scenario, seconds: float, script: Path) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--timeout", "30s", "-s", str(script)]
    out = subprocess.run(
        [*command, url + scenario.path, "--", str(scenario.bodies), API_KEY],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 120,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    return json.loads(line[4:])  # type: ignore[no-any-return]


def count_rows(url: str) -> int:
    with connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM logs").fetchone()
    return int(row[0]) if row else 0


def fresh_database(server: EmbeddedPostgres, name: str) -> str:
    admin = server.url("postgres")
    with connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
        conn.execute("CHECKPOINT")
    url = server.url(name)  # a URL, which asyncpg needs
    prepare(url, Settings.from_env({}))
    with connect(url, autocommit=True) as conn:
        conn.execute("SET ROLE loglens_owner")
        today = datetime.now(UTC).date()
        ensure_partitions(conn, today, today)
    return url


def settled(db_url: str, at_least: int, timeout: float = 120) -> int:
    """The row count once it is at least `at_least` and has not moved for 1.5 s."""
    deadline = time.monotonic() + timeout
    rows = count_rows(db_url)
    while time.monotonic() < deadline:
        time.sleep(1.5)
        now = count_rows(db_url)
        if now == rows and now >= at_least:
            break
        rows = now
    return rows


def measure(design: str, base: str, db_url: str, scenario: Scenario, seconds: float, script: Path) -> Run:
    warm = wrk(base, scenario, 1, script)  # warm up: connections, pools, caches
    baseline = settled(db_url, (int(warm["requests"]) - int(warm["non2xx"])) * scenario.records_per_request)
    result = wrk(base, scenario, seconds, script)
    stopped = time.monotonic()
    accepted = (int(result["requests"]) - int(result["non2xx"])) * scenario.records_per_request
    duration = result["duration_us"] / 1e6
    # Every acknowledged record must become a row. Requests still in flight when wrk stops were
    # not counted by it, but the server may have stored them: up to one per connection (and as
    # many from the warm-up, if they landed after the baseline was taken).
    expected = baseline + accepted
    visible = stopped
    deadline = stopped + 120
    rows = count_rows(db_url)
    while rows < expected and time.monotonic() < deadline:
        time.sleep(0.02)
        rows = count_rows(db_url)
        visible = time.monotonic()
    final = settled(db_url, expected) - baseline
    if not accepted <= final <= accepted + 2 * CONNECTIONS * scenario.records_per_request:
        console.print(f"[red]{design}, {scenario.name}: {final} rows for {accepted} accepted records[/]")
    return Run(
        design,
        scenario.name,
        accepted_rps=accepted / duration,
        rows_rps=accepted / (duration + visible - stopped),
        visible_after=visible - stopped,
        requests=int(result["requests"]),
        non2xx=int(result["non2xx"]),
        p50_ms=result["p50_ms"],
        p99_ms=result["p99_ms"],
    )


def origin_design(work: Path, db_url: str) -> tuple[list[str], str, dict[str, str], Path]:
    (work / "origin_app.py").write_text(ORIGIN_APP)
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "origin_app:app", "--workers", "2", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning", "--no-access-log", "--loop", "uvloop"]
    command += ["--http", "httptools"]
    return command, f"http://127.0.0.1:{port}", {"ORIGIN_DSN": db_url}, work


def loglens_dev(work: Path, db_url: str) -> tuple[list[str], str, dict[str, str], Path]:
    port = free_port()
    home = Path(tempfile.mkdtemp(prefix="home-", dir=work))
    env = {"DATABASE_URL": db_url, "LOGLENS_HOME": str(home), "LOGLENS_API_KEY": API_KEY}
    return [sys.executable, "-m", "loglens", "dev", "--port", str(port)], f"http://127.0.0.1:{port}", env, REPO


def generator_alone(work: Path, scenarios: dict[str, Scenario], seconds: float, script: Path) -> dict[str, float]:
    (work / "empty_app.py").write_text(EMPTY_APP)
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "empty_app:app", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log", "--workers", "2", "--loop", "uvloop"]
    rates = {}
    with running(command, f"http://127.0.0.1:{port}/", {}, work):
        for key, scenario in scenarios.items():
            result = wrk(f"http://127.0.0.1:{port}", scenario, seconds, script)
            rates[key] = result["requests"] / (result["duration_us"] / 1e6) * scenario.records_per_request
    return rates


Design = Callable[[Path, str], tuple[list[str], str, dict[str, str], Path]]
HEALTH = {"origin": "/health", "loglens": "/api/v1/health"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="load per run (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per design and scenario (medians reported)")
    parser.add_argument("--only", choices=("single", "batch"), help="one scenario")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("bench/local_stack.py needs wrk, the HTTP load generator: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="loglens-bench-stack-"))
    script = work / "bodies.lua"
    script.write_text(WRK_SCRIPT)
    scenarios = write_bodies(work)
    if args.only:
        scenarios = {args.only: scenarios[args.only]}
    designs: dict[str, Design] = {"origin": origin_design, "loglens": loglens_dev}

    server = EmbeddedPostgres(work / "pg", free_port())  # default durability: fsync on
    server.start()
    with connect(server.url("postgres"), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET autovacuum = off")  # no vacuum of one run's rows during the next
        conn.execute("SELECT pg_reload_conf()")
    runs: list[Run] = []
    try:
        console.print("load generator alone (wrk → an empty app on uvicorn, 2 workers) …")
        alone = generator_alone(work, scenarios, min(args.seconds, 5), script)
        for round_ in range(1, args.rounds + 1):
            for scenario in scenarios.values():
                for name, design in designs.items():
                    console.print(f"round {round_}/{args.rounds}: {scenario.name}, {name} …")
                    db_url = fresh_database(server, f"bench_{name}")
                    command, base, env, cwd = design(work, db_url)
                    with running(command, base + HEALTH[name], env, cwd):
                        runs.append(measure(name, base, db_url, scenario, args.seconds, script))
                    last = runs[-1]
                    console.print(
                        f"  {last.accepted_rps:,.0f} records/s accepted, {last.rows_rps:,.0f} rows/s end to end, "
                        f"visible {last.visible_after:.2f} s after the load; p50 {last.p50_ms:.1f} ms, "
                        f"p99 {last.p99_ms:.1f} ms; {last.non2xx} non-2xx of {last.requests}"
                    )
    finally:
        server.destroy()
        shutil.rmtree(work, ignore_errors=True)
    report(runs, scenarios, alone, args)


def report(runs: list[Run], scenarios: dict[str, Scenario], alone: dict[str, float], args: argparse.Namespace) -> None:
    table = Table(
        title=f"local stack vs the origin design: medians of {args.rounds} runs of {args.seconds:g} s, "
        f"{CONNECTIONS} connections, wrk"
    )
    for column in ("scenario", "measure", "origin design", "loglens dev", "ratio"):
        table.add_column(column, justify="left" if column in ("scenario", "measure") else "right")
    for key, scenario in scenarios.items():

        def median(design: str, attribute: str, name: str = scenario.name) -> float:
            return statistics.median(getattr(r, attribute) for r in runs if r.design == design and r.scenario == name)

        for label, attribute, unit in (
            ("accepted records/s", "accepted_rps", "{:,.0f}"),
            ("rows/s end to end", "rows_rps", "{:,.0f}"),
            ("rows visible after the load (s)", "visible_after", "{:.2f}"),
            ("latency p99 (ms)", "p99_ms", "{:.1f}"),
        ):
            origin, ours = median("origin", attribute), median("loglens", attribute)
            ratio = f"{ours / origin:.2f}×" if attribute.endswith("rps") else ""
            table.add_row(scenario.name, label, unit.format(origin), unit.format(ours), ratio)
        table.add_row(scenario.name, "load generator alone, records/s", f"{alone[key]:,.0f}", "", "")
    console.print(table)


if __name__ == "__main__":
    main()
