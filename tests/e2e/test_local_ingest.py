"""The local stack over real HTTP: what clients see, and exactly what ends up in PostgreSQL."""

from __future__ import annotations

import gzip
import http.client
import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from loglens.db.connect import connect
from tests.e2e.conftest import LocalStack


def post(
    stack: LocalStack,
    path: str,
    body: bytes | dict[str, Any],
    *,
    key: str | None = "default",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(stack.url)
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if key is not None:
        all_headers["x-api-key"] = stack.api_key if key == "default" else key
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request("POST", path, body=data, headers=all_headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def record(service: str, i: int, **extra: Any) -> dict[str, Any]:
    return {
        "timestamp": datetime.now(UTC).isoformat(),
        "level": "INFO",
        "service": service,
        "message": f"event {i}",
        "event_id": str(uuid.uuid4()),
        **extra,
    }


def test_api_key_is_required(stack: LocalStack, unique_service: str) -> None:
    assert post(stack, "/api/v1/logs", record(unique_service, 1), key=None)[0] == 403
    assert post(stack, "/api/v1/logs", record(unique_service, 1), key="wrong")[0] == 403
    assert stack.wait_for_rows(f"service = '{unique_service}'", 0, timeout=0.5) == 0


def test_single_and_batch_records_arrive_once(stack: LocalStack, unique_service: str) -> None:
    status, _, body = post(stack, "/api/v1/logs", record(unique_service, 0))
    assert (status, json.loads(body)) == (200, {"accepted": 1, "rejected": []})
    batch = {"logs": [record(unique_service, i) for i in range(1, 101)]}
    status, _, body = post(
        stack, "/api/v1/logs/batch", gzip.compress(json.dumps(batch).encode()), headers={"Content-Encoding": "gzip"}
    )
    assert (status, json.loads(body)) == (200, {"accepted": 100, "rejected": []})
    assert stack.wait_for_rows(f"service = '{unique_service}'", 101) == 101
    with connect(stack.db_url) as conn:
        key_ids = conn.execute(
            "SELECT DISTINCT api_key_id, source FROM logs WHERE service = %s", (unique_service,)
        ).fetchall()
    assert key_ids == [("local-dev-key", "api")]


def test_ten_thousand_records_in_one_batch(stack: LocalStack, unique_service: str) -> None:
    batch = {"logs": [record(unique_service, i, user_id=f"u{i % 97}") for i in range(10_000)]}
    status, _, body = post(
        stack, "/api/v1/logs/batch", gzip.compress(json.dumps(batch).encode()), headers={"Content-Encoding": "gzip"}
    )
    assert (status, json.loads(body)["accepted"]) == (200, 10_000)
    assert stack.wait_for_rows(f"service = '{unique_service}'", 10_000, timeout=60) == 10_000


def test_resent_batch_is_stored_once(stack: LocalStack, unique_service: str) -> None:
    batch = {"logs": [record(unique_service, i) for i in range(20)]}
    for _ in range(3):  # a client retrying after a lost answer
        assert post(stack, "/api/v1/logs/batch", batch)[0] == 200
    duplicated = {"logs": [batch["logs"][0]] * 5}
    assert json.loads(post(stack, "/api/v1/logs/batch", duplicated)[2])["accepted"] == 5
    assert stack.wait_for_rows(f"service = '{unique_service}'", 20) == 20


def test_hostile_batch_stores_exactly_the_good_records(stack: LocalStack, unique_service: str) -> None:
    deep: dict[str, Any] = {"leaf": 1}
    for _ in range(20):
        deep = {"d": deep}
    logs = [
        record(unique_service, 0, message="nul\u0000inside"),
        record(unique_service, 1, metadata=deep),
        record(unique_service, 2, http_status_code="two hundred"),
        record(unique_service, 3, level=["INFO"]),
        {"service": unique_service},
        record(unique_service, 5, message="x" * 100_000),
        "not an object",
        record(unique_service, 7, duration_ms=12.5, extra_field={"kept": True}),
    ]
    status, _, body = post(stack, "/api/v1/logs/batch", {"logs": logs})
    answer = json.loads(body)
    assert status == 200
    assert answer["accepted"] == 3
    assert [r["index"] for r in answer["rejected"]] == [1, 2, 3, 4, 6]
    assert answer["rejected"][0]["errors"] == ["metadata: is nested deeper than 8 levels"]
    assert stack.wait_for_rows(f"service = '{unique_service}'", 3) == 3
    with connect(stack.db_url) as conn:
        rows = conn.execute(
            "SELECT message, length(message), metadata FROM logs WHERE service = %s ORDER BY message",
            (unique_service,),
        ).fetchall()
    assert rows[0][0] == "event 7" and rows[0][2] == {"extra_field": {"kept": True}}
    assert rows[1][0] == "nulinside"
    assert rows[2][1] == 32_768 and rows[2][0].endswith("…[truncated]")


def test_broken_bodies_are_refused_with_the_reason(stack: LocalStack, unique_service: str) -> None:
    status, _, body = post(stack, "/api/v1/logs/batch", b'{"logs": [ {"level": ')
    assert status == 400 and "body is not valid JSON" in json.loads(body)["error"]
    truncated = gzip.compress(json.dumps({"logs": [record(unique_service, 1)]}).encode())[:-10]
    status, _, body = post(stack, "/api/v1/logs/batch", truncated, headers={"Content-Encoding": "gzip"})
    assert (status, json.loads(body)) == (400, {"error": "body is not valid gzip: member 1 is truncated"})
    status, _, _ = post(stack, "/api/v1/logs/batch", b"<logs/>", headers={"Content-Type": "application/xml"})
    assert status == 415
    status, _, body = post(stack, "/api/v1/logs/batch", b"x" * (20 * 1024 * 1024))
    assert status == 413
    assert stack.wait_for_rows(f"service = '{unique_service}'", 0, timeout=0.5) == 0


def test_health_needs_no_key(stack: LocalStack) -> None:
    parts = urlsplit(stack.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", "/api/v1/health")
    response = conn.getresponse()
    assert (response.status, json.loads(response.read())["status"]) == (200, "ok")


def test_demo_command_fills_the_local_stack(stack: LocalStack) -> None:
    import os
    import subprocess
    import sys

    from tests.e2e.conftest import REPO

    env = {**os.environ, "LOGLENS_HOME": str(stack.home), "COLUMNS": "200"}
    command = [sys.executable, "-m", "loglens", "demo", "--url", stack.url, "--api-key", stack.api_key,
               "--days", "2", "--records", "3000"]
    result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "payment_db_timeouts" in result.stdout
    services = "'payment-api', 'search-api', 'web-frontend', 'order-api', 'user-api', 'notification-worker'"
    assert stack.wait_for_rows(f"service IN ({services})", 3000, timeout=60) >= 3000
