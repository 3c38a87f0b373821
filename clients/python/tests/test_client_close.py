"""close() and exit: deliver within the budget, spool the rest, never hang the application."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
import time

from fake_ingest import Reply


def spooled_messages(directory) -> list[str]:
    out = []
    for path in sorted(directory.glob("*.batch.gz")):
        out.extend(r["message"] for r in json.loads(gzip.decompress(path.read_bytes()))["logs"])
    return out


def test_close_delivers_what_is_queued(server, make_collector):
    collector = make_collector(server.url, batch_size=100, flush_interval=30.0)
    for i in range(5):
        collector.info(f"c{i}")
    assert collector.close(timeout=5)
    assert [r["message"] for r in server.accepted()] == [f"c{i}" for i in range(5)]


def test_close_keeps_its_budget_while_the_server_hangs(server, make_collector, spool_dir):
    # Given a server that never answers and a request timeout longer than the close budget
    server.rule = lambda received: Reply(hang=10.0)
    collector = make_collector(server.url, batch_size=10, flush_interval=30.0, timeout=30.0)
    for i in range(25):
        collector.info(f"h{i:02d}")
    time.sleep(0.1)  # the worker is now stuck inside a request
    # When the application closes the collector with a one-second budget
    started = time.monotonic()
    ok = collector.close(timeout=1.0)
    elapsed = time.monotonic() - started
    server.release.set()
    # Then close returns on time, and every record is on disk for the next start
    assert elapsed < 1.5, elapsed
    assert ok
    assert sorted(spooled_messages(spool_dir)) == [f"h{i:02d}" for i in range(25)]


def test_log_after_close_is_ignored_and_close_is_idempotent(server, make_collector):
    collector = make_collector(server.url)
    collector.info("before")
    collector.close(timeout=2)
    assert collector.info("after")  # no exception, nothing sent
    assert collector.close(timeout=2)
    time.sleep(0.3)
    assert [r["message"] for r in server.accepted()] == ["before"]


def test_a_process_that_exits_without_close_still_delivers(server, spool_dir):
    script = textwrap.dedent(
        f"""
        import logging
        from log_collector import LogCollector
        c = LogCollector({server.url!r}, "exiting", flush_interval=60.0, spool_dir={str(spool_dir)!r})
        logging.getLogger().addHandler(c.handler())
        logging.getLogger("app").warning("from the handler")
        for i in range(3):
            c.info(f"exit {{i}}")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=30, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    messages = [r["message"] for r in server.wait_for(4, timeout=5)]
    assert messages == ["from the handler", "exit 0", "exit 1", "exit 2"]
