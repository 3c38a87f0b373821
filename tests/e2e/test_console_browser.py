"""The web console in headless Chromium against a real `loglens dev` with demo data and the fake model.

Builds the console (clients/console, `npm run build`), starts `loglens dev` on a database holding the demo's
three days of logs, with ANTHROPIC_BASE_URL pointing the SDK at tests/fake_claude.py, and runs the console's
browser scenario against it (clients/console/test/e2e/real/console.real.test.ts: sign-in, ask with a chart,
share, search, live tail with a record posted during the test, the SQL guard, a saved question reopened).
Screenshots go to clients/console/test-artifacts/real/ (git-ignored); LOGLENS_E2E_README_SCREENSHOT=docs/
console.png refreshes the README's. Debian's chromium is needed (.ci/run installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loglens.db.connect import connect
from loglens.devtools.demo import DemoPlan
from tests.demo_data import load_demo
from tests.e2e.conftest import API_KEY, REPO, free_port, start_dev, stop_dev
from tests.fake_claude import FakeClaude, answer, message, run_query, tool_results

CONSOLE = REPO / "clients" / "console"
HOURLY = (
    "SELECT date_trunc('hour', created_at) AS hour, count(*) AS errors FROM logs "
    "WHERE created_at >= now() - interval '24 hours' AND level IN ('ERROR', 'FATAL') GROUP BY 1 ORDER BY 1"
)

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None or shutil.which("npm") is None,
    reason="needs Debian's chromium and npm (.ci/run installs chromium)",
)


def hourly_errors(request: dict[str, Any]) -> dict[str, Any]:
    """The model: one query for the hourly error counts, then the answer over its result."""
    if tool_results(request):
        return message(answer(HOURLY, "Counted errors per hour over the last day: the busiest hour stands out."))
    return message(run_query(HOURLY))


def _npm(*args: str) -> None:
    subprocess.run(["npm", *args], cwd=CONSOLE, check=True, timeout=600, capture_output=True)


@pytest.fixture(scope="module")
def console_url(db_url: str) -> Iterator[tuple[str, Path]]:
    if not (CONSOLE / "node_modules").exists():
        _npm("ci", "--no-audit", "--no-fund")
    _npm("run", "build")  # the console as shipped: type check, Vite build, the size budget
    load_demo(db_url, DemoPlan(records=6_000))
    fake = FakeClaude(responder=hourly_errors).start()
    home = Path(tempfile.mkdtemp(prefix="loglens-e2e-console-"))
    port = free_port()
    env = {
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": fake.url,
        "LOGLENS_CONSOLE_DIST": str(CONSOLE / "dist"),
    }
    process = start_dev(db_url, home, port, env)
    try:
        yield (home / "console-url").read_text().strip(), home
    finally:
        stop_dev(process)
        fake.stop()


def test_the_console_in_chromium_against_loglens_dev(console_url: tuple[str, Path], db_url: str) -> None:
    url, _home = console_url
    artifacts = CONSOLE / "test-artifacts" / "real"
    env = {
        **os.environ,
        "LOGLENS_E2E_CONSOLE_URL": url,
        "LOGLENS_E2E_API_KEY": API_KEY,
        "LOGLENS_E2E_ARTIFACTS": str(artifacts),
    }
    if os.environ.get("LOGLENS_E2E_README_SCREENSHOT"):
        env["LOGLENS_E2E_README_SCREENSHOT"] = str(REPO / os.environ["LOGLENS_E2E_README_SCREENSHOT"])
    result = subprocess.run(
        ["npx", "vitest", "run", "test/e2e/real"], cwd=CONSOLE, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "8 passed" in result.stdout, result.stdout[-3000:]  # every step ran: none skipped
    for name in ("ask", "search", "tail", "sql", "saved"):
        assert (artifacts / f"{name}.png").stat().st_size > 10_000, name
    # What the browser did reached the database: the saved question and the shared answer
    with connect(db_url) as conn:
        saved = conn.execute("SELECT kind, name, created_by FROM saved_queries").fetchall()
        shared = conn.execute("SELECT count(*) FROM shared_answers").fetchone()
    assert ("question", "errors per hour", "key:local-dev-key") in saved
    assert shared is not None and shared[0] >= 1
