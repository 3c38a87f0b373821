"""Zero loss with the real server: the clients keep sending while `loglens dev` is down and after it
comes back, and PostgreSQL ends up with exactly the records sent — no gaps, no duplicates."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from loglens.db.connect import connect
from tests.e2e.conftest import API_KEY, REPO, free_port, start_dev, stop_dev


@pytest.fixture
def restartable(db_url: str) -> Iterator[dict[str, object]]:
    """A server we can stop and start again on the same port."""
    home = Path(tempfile.mkdtemp(prefix="loglens-zero-loss-"))
    state: dict[str, object] = {"port": free_port(), "home": home, "db_url": db_url}
    state["process"] = start_dev(db_url, home, int(str(state["port"])))
    yield state
    stop_dev(state["process"])  # type: ignore[arg-type]
    shutil.rmtree(home, ignore_errors=True)


def _rows(db_url: str, service: str) -> tuple[int, int, list[int]]:
    with connect(db_url) as conn:
        total, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM logs WHERE service = %s", (service,)
        ).fetchone() or (0, 0)
        numbers = [
            int(r[0])
            for r in conn.execute(
                "SELECT (metadata->>'n')::int FROM logs WHERE service = %s ORDER BY 1", (service,)
            ).fetchall()
        ]
    return int(total), int(distinct), numbers


def _wait_rows(db_url: str, service: str, expected: int, timeout: float = 60.0) -> tuple[int, int, list[int]]:
    import time

    deadline = time.monotonic() + timeout
    while True:
        found = _rows(db_url, service)
        if found[0] >= expected or time.monotonic() > deadline:
            time.sleep(0.5)
            return _rows(db_url, service)
        time.sleep(0.2)


def test_python_client_across_a_server_outage_and_a_process_restart(restartable: dict[str, object]) -> None:
    from log_collector import LogCollector

    port, db_url = int(str(restartable["port"])), str(restartable["db_url"])
    url = f"http://127.0.0.1:{port}"
    spool = Path(tempfile.mkdtemp(prefix="loglens-client-spool-"))
    service = "zero-loss-python"
    options = {
        "api_key": API_KEY,
        "spool_dir": str(spool),
        "flush_interval": 0.1,
        "batch_size": 25,
        "max_retries": 1,
        "backoff_base": 0.05,
        "backoff_max": 0.5,
        "timeout": 2.0,
    }

    collector = LogCollector(url, service, "test", **options)  # type: ignore[arg-type]
    for n in range(100):
        collector.info(f"before outage {n}", n=n)
    assert collector.flush(30)
    stop_dev(restartable["process"])  # type: ignore[arg-type]
    for n in range(100, 250):
        collector.info(f"during outage {n}", n=n)
    collector.close(10)

    # Another process logs while the server is still down, then exits: its records wait in the spool.
    child = textwrap.dedent(f"""
        from log_collector import LogCollector
        c = LogCollector({url!r}, {service!r}, "test", **{options!r})
        for n in range(250, 300):
            c.info(f"from a process that exited {{n}}", n=n)
        c.close(10)
    """)
    subprocess.run([sys.executable, "-c", child], cwd=REPO, check=True, timeout=120)
    assert _rows(db_url, service)[0] == 100

    restartable["process"] = start_dev(db_url, Path(str(restartable["home"])), port)
    restarted = LogCollector(url, service, "test", **options)  # type: ignore[arg-type]
    for n in range(300, 320):
        restarted.info(f"after restart {n}", n=n)
    assert restarted.flush(60)
    restarted.close(30)
    total, distinct, numbers = _wait_rows(db_url, service, 320)
    assert (total, distinct) == (320, 320)
    assert numbers == list(range(320))


NODE_SCRIPT = """
import LogHelper from '{module}';
const [url, key, service, start, count] = process.argv.slice(2);
const log = new LogHelper({{ logServerUrl: url, service, environment: 'test', apiKey: key,
  batchSize: 20, flushIntervalMs: 100, retryBaseMs: 50, retryMaxMs: 400 }});
for (let n = Number(start); n < Number(start) + Number(count); n++) log.info(`node ${{n}}`, {{ metadata: {{ n }} }});
// A long-running service: its flush timer keeps retrying while the server is away.
const deadline = Date.now() + 60000;
while (log.stats().sent < Number(count) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
await log.destroy({{ timeoutMs: 20000 }});
console.log(JSON.stringify(log.stats()));
"""


def _node_client(url: str, service: str, start: int, count: int) -> dict[str, int]:
    dist = REPO / "clients" / "javascript" / "dist" / "index.js"
    if not dist.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=dist.parents[1], check=True, timeout=300)
        subprocess.run(["npm", "run", "build"], cwd=dist.parents[1], check=True, timeout=300)
    script = Path(tempfile.mkdtemp(prefix="loglens-node-")) / "send.mjs"
    script.write_text(NODE_SCRIPT.format(module=dist.as_uri()))
    result = subprocess.run(
        ["node", str(script), url, API_KEY, service, str(start), str(count)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_node_client_retries_until_the_server_is_back(restartable: dict[str, object]) -> None:
    import threading
    import time

    port, db_url = int(str(restartable["port"])), str(restartable["db_url"])
    url = f"http://127.0.0.1:{port}"
    service = "zero-loss-node"
    _node_client(url, service, 0, 100)
    assert _wait_rows(db_url, service, 100)[:2] == (100, 100)

    stop_dev(restartable["process"])  # type: ignore[arg-type]

    def restart_soon() -> None:
        time.sleep(2.0)
        restartable["process"] = start_dev(db_url, Path(str(restartable["home"])), port)

    restarter = threading.Thread(target=restart_soon)
    restarter.start()
    stats = _node_client(url, service, 100, 150)  # sent while the server is down; retried until it is back
    restarter.join(90)
    total, distinct, numbers = _wait_rows(db_url, service, 250)
    assert (total, distinct) == (250, 250), stats
    assert numbers == list(range(250))
