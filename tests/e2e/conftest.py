"""A real `loglens dev` process per test module, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from loglens.db.connect import connect

REPO = Path(__file__).resolve().parents[2]
API_KEY = "e2e-test-key"


@dataclass
class LocalStack:
    url: str
    api_key: str
    db_url: str
    home: Path
    process: subprocess.Popen[str]

    def wait_for_rows(self, where: str, expected: int, timeout: float = 30.0) -> int:
        """Poll until `expected` rows match (the loader runs asynchronously), then return the count."""
        deadline = time.monotonic() + timeout
        found = -1
        while time.monotonic() < deadline:
            with connect(self.db_url) as conn:
                row = conn.execute(f"SELECT count(*) FROM logs WHERE {where}").fetchone()
            found = int(row[0]) if row else 0
            if found >= expected:
                time.sleep(0.3)  # anything extra (a duplicate) would have landed by now
                with connect(self.db_url) as conn:
                    row = conn.execute(f"SELECT count(*) FROM logs WHERE {where}").fetchone()
                return int(row[0]) if row else 0
            time.sleep(0.1)
        return found


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_dev(db_url: str, home: Path, port: int, extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "LOGLENS_HOME": str(home),
        "LOGLENS_API_KEY": API_KEY,
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "loglens", "dev", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"loglens dev exited with {process.returncode}: {output}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2) as response:
                if response.status == 200:
                    return process
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("loglens dev did not answer on /api/v1/health within 60 s")


def stop_dev(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def stack(db_url: str) -> Iterator[LocalStack]:
    home = Path(tempfile.mkdtemp(prefix="loglens-e2e-"))
    port = free_port()
    process = start_dev(db_url, home, port)
    yield LocalStack(f"http://127.0.0.1:{port}", API_KEY, db_url, home, process)
    stop_dev(process)


@pytest.fixture
def unique_service(request: pytest.FixtureRequest) -> str:
    return "e2e-" + request.node.name.replace("[", "-").replace("]", "")[:40] + "-" + os.urandom(3).hex()


PostJson = Callable[..., tuple[int, dict[str, str], bytes]]
