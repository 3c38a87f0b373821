"""The database stops in the middle of a load and comes back: nothing lost, nothing twice.

Uses a PostgreSQL of its own, because stopping the shared test server would fail other modules.
"""

from __future__ import annotations

import gzip
import json
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from loglens.db.connect import ConnectionProvider, connect
from loglens.db.prepare import prepare
from loglens.devtools.embedded import EmbeddedPostgres
from loglens.devtools.local.spool import SpoolConsumer
from loglens.ingest.notifications import Loader, ObjectRef
from loglens.ingest.objects import LocalObjectStore
from loglens.ingest.sinks import SpoolSink
from loglens.settings import Settings

ROWS = 60_000


@pytest.fixture
def own_server() -> Iterator[EmbeddedPostgres]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="loglens-outage-")), port, fast=True)
    prepare(server.start(), Settings.from_env({}))
    yield server
    server.destroy()


def _lines(n: int, service: str) -> bytes:
    now = datetime.now(UTC)
    return b"".join(
        json.dumps(
            {
                "_loglens": 1,
                "event_id": f"00000000-0000-4000-8000-{i:012d}",
                "source": "api",
                "received_at": now.isoformat(),
                "timestamp": (now - timedelta(milliseconds=i)).isoformat(),
                "level": "INFO",
                "service": service,
                "message": f"row {i}",
                "metadata": {"i": i},
            }
        ).encode()
        + b"\n"
        for i in range(n)
    )


def _count(url: str) -> tuple[int, int, int]:
    with connect(url) as conn:
        logs = conn.execute("SELECT count(*), count(DISTINCT event_id) FROM logs").fetchone() or (0, 0)
        ledger = conn.execute("SELECT count(*) FROM load_ledger").fetchone() or (0,)
    return int(logs[0]), int(logs[1]), int(ledger[0])


def test_server_killed_mid_copy_then_restarted(own_server: EmbeddedPostgres) -> None:
    root = Path(tempfile.mkdtemp(prefix="loglens-outage-objects-"))
    store = LocalObjectStore(root)
    store.put("raw/big.gz", gzip.compress(_lines(ROWS, "outage"), compresslevel=1))
    url = own_server.url()
    loader = Loader(store, ConnectionProvider(lambda: url), Settings.from_env({}))
    failures: list[BaseException] = []

    def load() -> None:
        try:
            loader.load(ObjectRef(None, "raw/big.gz", None))
        except BaseException as exc:  # the point of the test: this must fail, not half-succeed
            failures.append(exc)

    worker = threading.Thread(target=load)
    worker.start()
    deadline = time.monotonic() + 60
    copying = False
    while time.monotonic() < deadline and worker.is_alive() and not copying:
        with connect(url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY logs%%' AND state = 'active'"
            ).fetchone()
        copying = bool(row and row[0])
        time.sleep(0.01)
    assert copying, "the load finished before the server could be stopped; make the object bigger"
    own_server._run("pg_ctl", "-D", str(own_server.pgdata), "-m", "immediate", "-w", "stop")  # a crash
    worker.join(60)
    assert failures and isinstance(failures[0], psycopg.OperationalError)

    own_server.start()
    assert _count(url) == (0, 0, 0)  # the interrupted transaction left nothing, not even its ledger row
    result = loader.load(ObjectRef(None, "raw/big.gz", None))
    assert result is not None and (result.loaded, result.duplicates) == (ROWS, 0)
    assert _count(url) == (ROWS, ROWS, 1)
    again = loader.load(ObjectRef(None, "raw/big.gz", None))
    assert again is not None and again.skipped
    assert _count(url) == (ROWS, ROWS, 1)


def test_spool_keeps_accepted_logs_while_the_database_is_down(own_server: EmbeddedPostgres) -> None:
    root = Path(tempfile.mkdtemp(prefix="loglens-outage-spool-"))
    url = own_server.url()
    consumer = SpoolConsumer(
        root, Loader(LocalObjectStore(root), ConnectionProvider(lambda: url), Settings.from_env({}))
    )
    own_server.stop()
    lines = _lines(70, "spooled").splitlines(keepends=True)
    SpoolSink(root).put(lines[:50])  # collect answered 200 for these...
    SpoolSink(root).put(lines[20:])  # ...and these overlap them (a client retry after a lost answer)
    with pytest.raises(psycopg.OperationalError):
        consumer.drain_once()
    assert len(consumer.pending()) == 2  # both notifications kept for the retry
    own_server.start()
    assert consumer.drain_once() == 2
    assert consumer.pending() == []
    assert _count(url) == (70, 70, 2)


def test_buffered_spool_backs_up_while_the_database_is_down_and_drains_after(own_server: EmbeddedPostgres) -> None:
    root = Path(tempfile.mkdtemp(prefix="loglens-outage-buffered-"))
    url = own_server.url()
    consumer = SpoolConsumer(
        root, Loader(LocalObjectStore(root), ConnectionProvider(lambda: url), Settings.from_env({})), poll_seconds=0.05
    )
    sink = SpoolSink(root, max_bytes=4096, max_seconds=0.05, on_closed=consumer.wake)  # loglens dev's, smaller
    consumer.start()
    own_server.stop()
    lines = _lines(400, "buffered").splitlines(keepends=True)
    threads = [
        threading.Thread(target=lambda part=part: [sink.put([line]) for line in part])
        for part in (lines[0::4], lines[1::4], lines[2::4], lines[3::4])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sink.close()
    time.sleep(0.5)  # the loader tries, fails and backs off; nothing is dropped meanwhile
    assert len(consumer.pending()) > 1
    own_server.start()
    deadline = time.monotonic() + 60
    while consumer.pending() and time.monotonic() < deadline:
        time.sleep(0.2)
    consumer.stop()
    assert consumer.pending() == []
    logs, distinct, _ = _count(url)
    assert (logs, distinct) == (400, 400)
