"""`loglens dev` killed with SIGKILL while clients send, then started again: every record it
acknowledged is stored exactly once (the spool's fsync before 200, its crash recovery, and the
load ledger with event ids); records it never acknowledged are stored at most once."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from loglens.db.connect import connect
from tests.e2e.conftest import API_KEY, free_port, start_dev, stop_dev


def sender(port: int, service: str, batch: int, acked: list[str], sent: list[str], stop: threading.Event) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while not stop.is_set():
        records = [
            {
                "event_id": str(uuid.uuid4()),
                "timestamp": datetime.now(UTC).isoformat(),
                "level": "INFO",
                "service": service,
                "message": "crash test",
            }
            for _ in range(batch)
        ]
        ids = [r["event_id"] for r in records]
        sent.extend(ids)
        path, body = ("/api/v1/logs", records[0]) if batch == 1 else ("/api/v1/logs/batch", {"logs": records})
        try:
            conn.request(
                "POST", path, json.dumps(body), {"content-type": "application/json", "x-api-key": API_KEY}
            )
            answer = conn.getresponse()
            answer.read()
            if answer.status == 200:
                acked.extend(ids)
        except (OSError, http.client.HTTPException):
            conn.close()
            time.sleep(0.05)  # the server is gone (or not back yet)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def test_kill_9_loses_nothing_acknowledged_and_duplicates_nothing(db_url: str) -> None:
    home = Path(tempfile.mkdtemp(prefix="loglens-crash-"))
    port = free_port()
    service = f"crash-{os.urandom(3).hex()}"
    acked: list[str] = []
    sent: list[str] = []
    stop = threading.Event()
    process = start_dev(db_url, home, port)
    try:
        threads = [
            threading.Thread(target=sender, args=(port, service, size, acked, sent, stop)) for size in (1, 1, 1, 50)
        ]
        for thread in threads:
            thread.start()
        time.sleep(2.0)
        children = children_of(process.pid)  # the loader process
        process.send_signal(signal.SIGKILL)  # mid-stream: appends in flight, a segment open
        process.wait(10)
        acknowledged = set(acked)
        stop.set()
        for thread in threads:
            thread.join(15)
        assert len(acknowledged) > 100, "the clients got too few answers before the kill to test anything"
        with connect(db_url) as conn:
            loaded = {str(r[0]) for r in conn.execute("SELECT event_id FROM logs WHERE service = %s", (service,))}
        assert acknowledged - loaded, "everything was loaded before the kill: recovery was not tested"
        deadline = time.monotonic() + 10
        while children and any(Path(f"/proc/{pid}").exists() for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(Path(f"/proc/{pid}").exists() for pid in children), "the loader outlived its server"
        process = start_dev(db_url, home, port)  # recovers the dead writer's segments and loads them
        deadline = time.monotonic() + 180  # generous: this machine's cores are shared with other work
        while time.monotonic() < deadline:
            with connect(db_url) as conn:
                stored = [str(r[0]) for r in conn.execute("SELECT event_id FROM logs WHERE service = %s", (service,))]
            if acknowledged <= set(stored):
                break
            time.sleep(0.3)
        time.sleep(1.0)  # anything duplicated would have landed by now
        with connect(db_url) as conn:
            stored = [str(r[0]) for r in conn.execute("SELECT event_id FROM logs WHERE service = %s", (service,))]
        missing = acknowledged - set(stored)
        waiting = sorted(p.name for p in (home / "spool").rglob("*") if p.is_file())
        assert missing == set(), f"{len(missing)} of {len(acknowledged)} acknowledged records missing; spool: {waiting}"
        assert len(stored) == len(set(stored)), "records were stored twice"
        assert set(stored) <= set(sent)
    finally:
        stop.set()
        stop_dev(process)
        shutil.rmtree(home, ignore_errors=True)
