"""The OpenTelemetry JavaScript exporters against `loglens dev`: 100 of 100 records arrive, with level,
service, trace and attributes. They send Transfer-Encoding: chunked, which the old local server read as
nothing (every record lost). The packages are pinned in tests/e2e/otel_js/package-lock.json."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from loglens.db.connect import connect
from tests.e2e.conftest import LocalStack

PROJECT = Path(__file__).parent / "otel_js"


@pytest.fixture(scope="module")
def exporters() -> Path:
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed")
    if not (PROJECT / "node_modules" / ".package-lock.json").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PROJECT, check=True, timeout=300)
    return PROJECT / "send_logs.mjs"


@pytest.mark.parametrize("kind", ["json", "proto"])
def test_every_record_arrives_with_its_fields(
    stack: LocalStack, unique_service: str, exporters: Path, kind: str
) -> None:
    sent = subprocess.run(
        ["node", str(exporters), stack.url, stack.api_key, unique_service, kind, "100"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    outcome = json.loads(sent.stdout.strip().splitlines()[-1])
    assert outcome == {"exported": 100, "failed": 0, "errors": []}, sent.stderr
    assert stack.wait_for_rows(f"service = '{unique_service}'", 100) == 100
    with connect(stack.db_url) as conn:
        rows = conn.execute(
            """SELECT message, level, environment, trace_id, span_id, endpoint, source, metadata
               FROM logs WHERE service = %s ORDER BY (metadata->>'n')::int""",
            (unique_service,),
        ).fetchall()
    assert [r[0] for r in rows] == [f"{kind} record {n}" for n in range(100)]
    assert [r[1] for r in rows] == ["ERROR" if n % 4 == 0 else "INFO" for n in range(100)]
    assert {(r[2], r[5], r[6]) for r in rows} == {("test", "/checkout", "otlp")}
    assert [(r[3], r[4]) for r in rows] == [
        ((n + 1).__format__("x").rjust(32, "a"), (n + 1).__format__("x").rjust(16, "b")) for n in range(100)
    ]
    assert [(r[7]["n"], r[7]["cart.items"], r[7]["otel.scope"]) for r in rows] == [
        (n, n % 7, "loglens-e2e") for n in range(100)
    ]
