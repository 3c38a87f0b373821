"""Console benchmark: the web console's first load in Chromium, and how soon `loglens tail` shows a new record.

A real `loglens dev` (its own home and embedded PostgreSQL, demo data sent over HTTP) serves the built console
(`npm run build` first when clients/console/dist is missing). bench/console_load.mjs drives Debian's headless
Chromium: bytes on the wire, requests, first contentful paint and the time until the page is usable, median of
--repeat loads, each in a fresh browser context (an empty cache) unless the case says warm (a reload). The
baseline, measured in the same run: a page of one heading, no script, served by the same server.

Tail: records are posted one by one while `loglens tail --json` runs; for each, the time from collect's answer
to the line printed by tail, against the time until the row is visible in PostgreSQL (polled every 10 ms), the
floor set by the local loader.

    python bench/console.py [--repeat N] [--records N] [--tail-records N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from queries import free_port  # bench/queries.py's helper

REPO = Path(__file__).resolve().parents[1]
CONSOLE = REPO / "clients" / "console"
console = Console(width=170)
BASELINE_PAGE = "<!doctype html><html lang=en><meta charset=utf-8><title>baseline</title><h1>baseline</h1></html>"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--records", type=int, default=5_000, help="demo records sent before the loads")
    parser.add_argument("--tail-records", type=int, default=20)
    args = parser.parse_args(argv)
    chromium = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium")
    if chromium is None or shutil.which("npm") is None:
        console.print("[yellow]console benchmark skipped: it needs npm and Debian's chromium[/yellow]")
        return 0
    if not (CONSOLE / "node_modules").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CONSOLE, check=True)
    if not (CONSOLE / "dist" / "index.html").exists():
        subprocess.run(["npm", "run", "build"], cwd=CONSOLE, check=True)
    work = Path(tempfile.mkdtemp(prefix="loglens-bench-console-"))
    dist = work / "dist"
    shutil.copytree(CONSOLE / "dist", dist)
    (dist / "baseline.html").write_text(BASELINE_PAGE)
    home, port = work / "home", free_port()
    env = {
        **os.environ,
        "LOGLENS_HOME": str(home),
        "LOGLENS_PG_PORT": str(free_port()),
        "LOGLENS_API_KEY": "bench-console-key",
        "LOGLENS_CONSOLE_DIST": str(dist),
    }
    env.pop("DATABASE_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "loglens", "dev", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(base)
        console.print(f"sending {args.records:,} demo records …")
        subprocess.run(
            [sys.executable, "-m", "loglens", "demo", "--records", str(args.records), "--days", "1"],
            env=env, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        cookie = _sign_in(base, (home / "console-url").read_text().strip())
        loads = _loads(base, cookie, chromium, args.repeat)
        tail, visible = _tail(base, env, args.tail_records)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)
    _report_loads(loads, args.repeat)
    _report_tail(tail, visible)
    return 0


def _wait(base: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/api/v1/health", timeout=2):  # noqa: S310 - loopback
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("loglens dev did not start within 120 s")


def _sign_in(base: str, link: str) -> str:
    token = link.split("#token=", 1)[1]
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{base}/api/v1/session", data=json.dumps({"token": token}).encode(),
        headers={"content-type": "application/json"}, method="POST",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return str(response.headers["Set-Cookie"]).split(";", 1)[0]


def _loads(base: str, cookie: str, chromium: str, repeat: int) -> dict[str, list[dict[str, float]]]:
    cases = [
        {"name": "baseline: one heading, no script", "url": f"{base}/baseline.html", "ready": "h1", "warm": False},
        {"name": "console, Ask (cold cache)", "url": f"{base}/#/", "ready": "#ask-title", "warm": False},
        {"name": "console, Ask (warm cache, reload)", "url": f"{base}/#/", "ready": "#ask-title", "warm": True},
        {"name": "console, Search with results (cold)", "url": f"{base}/#/search", "ready": "li.record", "warm": False},
    ]  # fmt: skip
    console.print(f"loading the console in Chromium, {repeat} times per case …")
    env = {**os.environ, "BENCH_CASES": json.dumps(cases), "BENCH_REPEAT": str(repeat), "BENCH_COOKIE": cookie,
           "CHROMIUM_BIN": chromium}  # fmt: skip
    out = subprocess.run(
        ["node", str(REPO / "bench" / "console_load.mjs")], env=env, check=True, capture_output=True, text=True
    )
    return dict(json.loads(out.stdout))


def _tail(base: str, env: dict[str, str], count: int) -> tuple[list[float], list[float]]:
    """Seconds from collect's answer to the line `loglens tail` prints, and to the row being in PostgreSQL."""
    from loglens.db.connect import connect

    url = subprocess.run(
        [sys.executable, "-m", "loglens", "db", "url"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    tail = subprocess.Popen(
        [sys.executable, "-m", "loglens", "tail", "--service", "bench-tail", "--json", "-n", "0"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    printed: dict[str, float] = {}
    stored: dict[str, float] = {}
    done = threading.Event()

    def read() -> None:
        for line in tail.stdout or []:
            printed.setdefault(json.loads(line)["message"], time.monotonic())

    def poll() -> None:
        with connect(url, autocommit=True) as conn:
            while not done.is_set():
                rows = conn.execute(
                    "SELECT message FROM logs WHERE service = 'bench-tail' AND created_at > now() - interval '1 hour'"
                ).fetchall()
                for (message,) in rows:
                    stored.setdefault(message, time.monotonic())
                time.sleep(0.01)

    threads = [threading.Thread(target=read, daemon=True), threading.Thread(target=poll, daemon=True)]
    for thread in threads:
        thread.start()
    time.sleep(3)  # tail's first poll is done
    console.print(f"posting {count} records one by one while `loglens tail` runs …")
    accepted: dict[str, float] = {}
    try:
        for i in range(count):
            message = f"bench tail {i}"
            request = urllib.request.Request(  # noqa: S310 - loopback
                f"{base}/api/v1/logs",
                data=json.dumps({"service": "bench-tail", "level": "INFO", "message": message}).encode(),
                headers={"content-type": "application/json", "x-api-key": env["LOGLENS_API_KEY"]},
            )
            with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback
                accepted[message] = time.monotonic()
            time.sleep(0.37)  # off the polls' rhythm, so the delays sample the whole cycle
        deadline = time.monotonic() + 20
        while len(printed) < count and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        done.set()
        tail.terminate()
        tail.wait(timeout=10)
    return (
        [printed[m] - accepted[m] for m in accepted if m in printed],
        [stored[m] - accepted[m] for m in accepted if m in stored],
    )


def _median(results: list[dict[str, float]], key: str) -> float:
    values = [r[key] for r in results if r.get(key) is not None]
    return statistics.median(values) if values else float("nan")


def _report_loads(loads: dict[str, list[dict[str, float]]], repeat: int) -> None:
    table = Table(title=f"the console's first load in headless Chromium (median of {repeat}; from navigation start)")
    columns = ("page", "KB on the wire", "requests", "first paint ms", "ready ms (in the DOM)", "ready vs baseline")
    for column in columns:
        table.add_column(column, justify="left" if column == "page" else "right")
    baseline = _median(next(iter(loads.values())), "ready_ms")
    for name, results in loads.items():
        ready = _median(results, "ready_ms")
        table.add_row(
            name, f"{_median(results, 'bytes') / 1024:,.1f}", f"{_median(results, 'requests'):.0f}",
            f"{_median(results, 'fcp_ms'):,.0f}", f"{ready:,.0f}", f"{ready / baseline:,.1f}×",
        )  # fmt: skip
    console.print(table)


def _report_tail(tail: list[float], visible: list[float]) -> None:
    table = Table(title="a new record in `loglens tail` (seconds from collect's answer; the issue's bound: 2 s)")
    for column in ("seen", "records", "median s", "p95 s", "max s"):
        table.add_column(column, justify="left" if column == "seen" else "right")
    for name, values in (("in PostgreSQL (the loader's floor)", visible), ("printed by loglens tail", tail)):
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] if ordered else float("nan")
        table.add_row(name, str(len(values)), f"{statistics.median(values):.2f}" if values else "-", f"{p95:.2f}",
                      f"{max(values):.2f}" if values else "-")  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    raise SystemExit(main())
