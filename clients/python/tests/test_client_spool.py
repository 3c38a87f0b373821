"""Nothing lost: the disk spool during outages, replay, restarts, and the bounded cap."""

from __future__ import annotations

import gzip
import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

from log_collector.diagnostics import Reporter
from log_collector.spool import Spool


def spool_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.batch.gz")) if directory.exists() else []


def spooled_messages(directory: Path) -> list[str]:
    # Includes batches claimed by a probe that is in flight right now (`*.batch.gz.<owner>.sending`).
    out = []
    for path in sorted(directory.glob("*.batch.gz*")):
        out.extend(r["message"] for r in json.loads(gzip.decompress(path.read_bytes()))["logs"])
    return out


def test_outage_spools_then_replays_oldest_first_exactly_once(down_server, make_collector, spool_dir):
    # Given a server that refuses connections
    collector = make_collector(down_server.url, batch_size=10, max_retries=1)
    # When 50 records are logged during the outage
    for i in range(50):
        collector.info(f"m{i:02d}")
    assert collector.flush(timeout=5)
    # Then they are all on disk, in files whose names sort by time
    files = spool_files(spool_dir)
    assert files and not list(spool_dir.glob(".tmp-*"))
    assert spooled_messages(spool_dir) == [f"m{i:02d}" for i in range(50)]
    # When the server comes back
    down_server.start()
    collector.info("after")
    records = down_server.wait_for(51, timeout=10)
    # Then every record arrives once, oldest first, and the spool is empty
    assert [r["message"] for r in records] == [f"m{i:02d}" for i in range(50)] + ["after"]
    assert len(set(r["event_id"] for r in records)) == 51
    assert not spool_files(spool_dir)
    assert collector.stats()["replayed"] == 50


def test_records_logged_during_an_outage_survive_a_process_restart(down_server, make_collector, spool_dir):
    # Given a process that logs 30 records while the server is down and exits without close()
    script = textwrap.dedent(
        f"""
        from log_collector import LogCollector
        c = LogCollector({down_server.url!r}, "checkout", "test", batch_size=7, flush_interval=0.2,
                         spool_dir={str(spool_dir)!r}, backoff_base=0.01, backoff_max=0.05,
                         max_retries=1, timeout=1.0, close_timeout=3.0)
        for i in range(30):
            c.info(f"restart {{i:02d}}")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=30, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # atexit closed the collector: everything is on disk
    assert sorted(spooled_messages(spool_dir)) == [f"restart {i:02d}" for i in range(30)]
    # When a new collector starts with the same spool and the server is up
    down_server.start()
    make_collector(down_server.url)
    records = down_server.wait_for(30, timeout=10)
    time.sleep(0.3)  # anything sent twice would show up now
    messages = [r["message"] for r in down_server.accepted()]
    assert sorted(messages) == [f"restart {i:02d}" for i in range(30)]
    assert len({r["event_id"] for r in records}) == 30
    assert not spool_files(spool_dir)


def test_a_full_spool_drops_the_oldest_and_reports_the_count(down_server, make_collector, spool_dir, caplog):
    # A cap that holds only a few batches
    collector = make_collector(
        down_server.url, batch_size=10, max_batch_bytes=2048, max_retries=0, spool_max_bytes=2500,
        flush_interval=30.0,
    )
    with caplog.at_level(logging.WARNING, logger="log_collector"):
        for i in range(100):
            collector.info(f"full {i:03d} " + os.urandom(24).hex())  # incompressible
        assert collector.flush(timeout=5)
        kept = spooled_messages(spool_dir)
        assert 0 < len(kept) < 100
        assert sum(p.stat().st_size for p in spool_files(spool_dir)) <= 2500
        # The newest records are the ones kept
        assert kept[-1].startswith("full 099")
        # When the server is back, the spool is replayed, and a new record follows
        down_server.start()
        down_server.wait_for(len(kept), timeout=10)
        collector.info("back")
        assert collector.flush(timeout=5)
    # Then the server got the kept records, and every lost one was counted exactly once
    records = down_server.accepted()
    assert [r["message"] for r in records] == [*kept, "back"]
    dropped = sum(r.get("metadata", {}).get("loglens_client_dropped", 0) for r in records)
    assert dropped == 100 - len(kept)
    assert any("dropped" in r.getMessage() for r in caplog.records if r.name == "log_collector")


def test_a_full_memory_queue_drops_the_oldest_and_counts_them(down_server, make_collector):
    # No spool at all, a tiny queue: memory is the only buffer and it keeps the newest records.
    collector = make_collector(
        down_server.url, max_queue=20, batch_size=5, spool_max_bytes=0, flush_interval=30.0,
        timeout=0.3, max_retries=0,
    )
    for i in range(100):
        collector.info(f"q{i:03d}")
    down_server.start()
    assert collector.flush(timeout=10)
    collector.info("last")
    assert collector.flush(timeout=10)
    records = down_server.accepted()
    received = [r["message"] for r in records]
    dropped = sum(r.get("metadata", {}).get("loglens_client_dropped", 0) for r in records)
    assert received[-1] == "last"
    assert len(received) - 1 + dropped == 100
    assert "q099" in received


def test_a_claim_left_by_a_dead_process_is_recovered(down_server, make_collector, spool_dir):
    # Given a batch claimed by a process that died mid-send
    spool = Spool(spool_dir, 1 << 20, Reporter())
    body = gzip.compress(json.dumps({"logs": [_record("orphan")]}).encode())
    assert spool.write(body, 1).stored
    (name,) = [p.name for p in spool_files(spool_dir)]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    dead_pid = int(dead.stdout)
    os.rename(spool_dir / name, spool_dir / f"{name}.{dead_pid}-deadbeef.sending")
    # When a collector starts on that spool with the server up
    down_server.start()
    make_collector(down_server.url)
    # Then the batch is sent
    records = down_server.wait_for(1, timeout=10)
    assert [r["message"] for r in records] == ["orphan"]


def test_concurrent_collectors_on_one_spool_never_send_a_batch_twice(down_server, make_collector, spool_dir):
    writer = make_collector(down_server.url, batch_size=5, max_retries=0)
    for i in range(60):
        writer.info(f"shared {i}")
    assert writer.flush(timeout=5)
    writer.close(timeout=1)
    down_server.start()
    for _ in range(4):  # gunicorn-style: several workers share the spool directory
        make_collector(down_server.url)
    records = down_server.wait_for(60, timeout=10)
    time.sleep(0.5)
    counts = Counter(r["event_id"] for r in down_server.accepted())
    assert len(counts) == 60 and set(counts.values()) == {1}
    assert len(records) >= 60


def _record(message: str) -> dict[str, str]:
    return {
        "timestamp": "2024-01-01T00:00:00+00:00",
        "level": "INFO",
        "log_type": "BACKEND",
        "service": "checkout",
        "environment": "test",
        "message": message,
        "event_id": "6f1c1d1e-0000-4000-8000-000000000001",
    }
