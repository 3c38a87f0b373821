"""The JavaScript client in headless Chromium against `loglens dev`, checked in PostgreSQL.

Runs the client's own browser scenario (clients/javascript/test/browser-e2e.test.mjs) with its
endpoint pointed at the real local server; the scenario's check hook hands back what it sent,
and this test finds those records, with their browser fields, in the table.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from loglens.db.connect import connect
from tests.e2e.conftest import REPO, LocalStack

JS = REPO / "clients" / "javascript"
CHECK = """
import {{ writeFileSync }} from 'node:fs';
export default async function check(context) {{
  writeFileSync({out!r}, JSON.stringify({{ service: context.service, expected: context.expectedMessages }}));
}}
"""


@pytest.mark.skipif(
    shutil.which("chromium") is None or shutil.which("npm") is None,
    reason="needs Debian's chromium and npm (.ci/run installs chromium)",
)
def test_browser_records_arrive_in_postgresql_with_browser_fields(stack: LocalStack) -> None:
    work = Path(tempfile.mkdtemp(prefix="loglens-browser-"))
    out = work / "sent.json"
    check = work / "check.mjs"
    check.write_text(CHECK.format(out=str(out)))
    if not (JS / "node_modules").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS, check=True, timeout=300)
    env = {
        **os.environ,
        "LOGLENS_E2E_SERVER_URL": stack.url,
        "LOGLENS_E2E_API_KEY": stack.api_key,
        "LOGLENS_E2E_CHECK": str(check),
    }
    subprocess.run(["npx", "tsc", "-p", "tsconfig.json"], cwd=JS, check=True, timeout=300)
    result = subprocess.run(
        ["node", "--test", "test/browser-e2e.test.mjs"], cwd=JS, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    sent = json.loads(out.read_text())
    expected = sent["expected"]
    assert expected
    assert stack.wait_for_rows(f"service = '{sent['service']}'", len(expected)) >= len(expected)
    with connect(stack.db_url) as conn:
        rows = conn.execute(
            """SELECT message, log_type, browser_name, device_type, page_path, screen_width, error_type
               FROM logs WHERE service = %s""",
            (sent["service"],),
        ).fetchall()
    messages = {row[0] for row in rows}
    assert set(expected) <= messages
    assert {row[1] for row in rows} == {"FRONTEND"}
    assert {row[2] for row in rows} == {"Chrome"}
    assert all(row[3] in ("desktop", "mobile", "tablet") and row[4] and row[5] for row in rows)
