"""Cost of one log call on the application thread: loglens client vs stdlib logging to a file.

Both run in the same process, one after the other, with the same message. The collector ships to a
local sink server running in a separate process (so its request handling does not compete for this
process's GIL), and once more to a server that accepts connections but never answers, to show that
the application thread does not wait on the network.

    python clients/python/bench_log_call.py [--calls 50000] [--check]

--check exits non-zero when a collector call costs more than the stdlib file handler's.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

from log_collector import LogCollector

CHUNK = 100  # calls per timed sample: keeps timer overhead out of the per-call figure


def sink_main() -> None:
    """Child process: accept every batch with 200 and print the port."""

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = b'{"accepted": 0, "rejected": []}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def measure(call: Callable[[int], object], calls: int) -> tuple[float, float]:
    """Median and p99 of per-call nanoseconds, sampled in chunks of CHUNK calls."""
    for i in range(min(calls // 10, 5000)):  # warm-up: caches, lazy imports, worker start
        call(i)
    samples = []
    clock = time.perf_counter_ns
    for start in range(0, calls, CHUNK):
        t0 = clock()
        for i in range(start, start + CHUNK):
            call(i)
        samples.append((clock() - t0) / CHUNK)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def measure_async(collector: LogCollector, calls: int) -> tuple[float, float]:
    async def run() -> tuple[float, float]:
        for i in range(min(calls // 10, 5000)):
            await collector.log("INFO", "payment processed", user_id="u-1", duration_ms=i)
        samples = []
        clock = time.perf_counter_ns
        for start in range(0, calls, CHUNK):
            t0 = clock()
            for i in range(start, start + CHUNK):
                await collector.log("INFO", "payment processed", user_id="u-1", duration_ms=i)
            samples.append((clock() - t0) / CHUNK)
        samples.sort()
        return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]

    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--check", action="store_true", help="fail if slower than the stdlib file handler")
    args = parser.parse_args()
    calls = args.calls
    # The black-hole collector rightly complains when the socket is closed at the end; not news here.
    logging.getLogger("log_collector").setLevel(logging.ERROR)

    sink = subprocess.Popen(
        [sys.executable, __file__, "--sink"], stdout=subprocess.PIPE, text=True
    )
    # A socket that listens but never accepts: connects succeed, answers never come.
    black_hole = socket.socket()
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen(1024)
    results: dict[str, tuple[float, float]] = {}
    try:
        assert sink.stdout is not None
        port = int(sink.stdout.readline())
        # The never-answering collector may still be spooling when the directory goes away.
        with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
            # stdlib baseline: a FileHandler with a typical format, as most apps configure it.
            file_logger = logging.getLogger("bench.file")
            file_logger.propagate = False
            file_handler = logging.FileHandler(Path(tmp) / "app.log")
            file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
            file_logger.addHandler(file_handler)
            file_logger.setLevel(logging.INFO)
            results["stdlib logging -> FileHandler"] = measure(
                lambda i: file_logger.info("payment %s processed", i), calls
            )
            file_handler.close()

            options: dict[str, Any] = {
                "spool_dir": Path(tmp) / "spool",
                "max_queue": calls * 4,  # room for the whole run: measure the normal path, not drop-oldest
                "register_atexit": False,
            }
            collector = LogCollector(f"http://127.0.0.1:{port}", "bench", **options)
            results["collector.info(msg, user_id=...)"] = measure(
                lambda i: collector.info("payment processed", user_id="u-1", duration_ms=i), calls
            )
            results["await collector.log(...) in asyncio"] = measure_async(collector, calls)
            via_handler = logging.getLogger("bench.collector")
            via_handler.propagate = False
            via_handler.addHandler(collector.handler())
            via_handler.setLevel(logging.INFO)
            results["stdlib logging -> LogCollectorHandler"] = measure(
                lambda i: via_handler.info("payment %s processed", i), calls
            )
            collector.close(timeout=10)
            stats = collector.stats()

            hanging = LogCollector(
                f"http://127.0.0.1:{black_hole.getsockname()[1]}", "bench-hang", timeout=60.0, **options
            )
            results["collector.info, server never answers"] = measure(
                lambda i: hanging.info("payment processed", user_id="u-1", duration_ms=i), calls
            )
            hanging.close(timeout=1.0)
    finally:
        sink.terminate()
        sink.wait()
        black_hole.close()

    baseline = results["stdlib logging -> FileHandler"][0]
    print(f"Python {sys.version.split()[0]}, {calls} calls per case, median (p99) ns per call")
    for name, (median, p99) in results.items():
        print(f"  {name:40s} {median:8.0f} ns  ({p99:8.0f})  ratio {median / baseline:4.2f}")
    print(
        f"  worker meanwhile: {stats['sent']} records sent, {stats['spooled']} parked in the spool during"
        f" the burst, {stats['dropped']} dropped"
    )
    worst = max(
        median for name, (median, _) in results.items() if name.startswith(("collector", "await"))
    )
    if args.check and worst > baseline:
        print(f"FAIL: a collector call ({worst:.0f} ns) costs more than the file handler ({baseline:.0f} ns)")
        return 1
    return 0


if __name__ == "__main__":
    if "--sink" in sys.argv:
        sink_main()
    else:
        sys.exit(main())
