"""Hostile and careless input over real HTTP against `loglens dev`: the answer each measured failure of
issue 16 gets now, and exactly what reaches PostgreSQL (tests/unit/test_hostile_input.py and
tests/unit/test_otlp.py hold the same cases at the handler level)."""

from __future__ import annotations

import copy
import gzip
import json
import logging
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from loglens.db.connect import connect
from tests.e2e.conftest import LocalStack
from tests.e2e.test_local_ingest import post, record

BIG = "9" * 5000


def rows(stack: LocalStack, service: str, columns: str = "message") -> list[tuple[Any, ...]]:
    with connect(stack.db_url) as conn:
        return conn.execute(f"SELECT {columns} FROM logs WHERE service = %s ORDER BY 1", (service,)).fetchall()


def with_literal(item: dict[str, Any], key: str, literal: str) -> str:
    return json.dumps(item)[:-1] + f', "{key}": {literal}}}'


def test_a_5000_digit_integer_in_a_single_record_is_stored_as_its_digits(
    stack: LocalStack, unique_service: str
) -> None:
    status, _, body = post(stack, "/api/v1/logs", with_literal(record(unique_service, 1), "order_total", BIG).encode())
    assert (status, json.loads(body)) == (200, {"accepted": 1, "rejected": []})
    assert stack.wait_for_rows(f"service = '{unique_service}'", 1) == 1
    assert rows(stack, unique_service, "metadata->>'order_total'") == [(BIG,)]


@pytest.mark.parametrize(
    ("field", "literal", "reason"),
    [
        ("duration_ms", "1" + "0" * 400, "duration_ms: expected a non-negative number, got an integer of 401 digits"),
        ("duration_ms", "1e400", "duration_ms: expected a non-negative number, got inf"),
        ("http_status_code", BIG, "http_status_code: expected an integer from 100 to 599, got a number of 5000 digits"),
    ],
)
def test_a_number_too_large_for_its_field_rejects_that_record_alone(
    stack: LocalStack, unique_service: str, field: str, literal: str, reason: str
) -> None:
    items = [json.dumps(record(unique_service, 0)), with_literal(record(unique_service, 1), field, literal)]
    items.append(json.dumps(record(unique_service, 2)))
    status, _, body = post(stack, "/api/v1/logs/batch", f'{{"logs": [{", ".join(items)}]}}'.encode())
    assert (status, json.loads(body)) == (200, {"accepted": 2, "rejected": [{"index": 1, "errors": [reason]}]})
    assert stack.wait_for_rows(f"service = '{unique_service}'", 2) == 2
    assert rows(stack, unique_service) == [("event 0",), ("event 2",)]


def test_every_gzip_member_is_stored_and_trailing_garbage_is_refused(stack: LocalStack, unique_service: str) -> None:
    text = json.dumps({"logs": [record(unique_service, i) for i in range(3)]}).encode()
    members = gzip.compress(text[:100]) + gzip.compress(text[100:])
    status, _, body = post(stack, "/api/v1/logs/batch", members, headers={"Content-Encoding": "gzip"})
    assert (status, json.loads(body)["accepted"]) == (200, 3)
    status, _, body = post(
        stack, "/api/v1/logs/batch", gzip.compress(text) + b"garbage", headers={"Content-Encoding": "gzip"}
    )
    assert status == 400 and "are not another gzip member" in json.loads(body)["error"]
    assert stack.wait_for_rows(f"service = '{unique_service}'", 3) == 3


def test_text_plain_is_415_as_documented(stack: LocalStack, unique_service: str) -> None:
    status, _, body = post(
        stack, "/api/v1/logs", record(unique_service, 1), headers={"Content-Type": "text/plain;charset=UTF-8"}
    )
    assert status == 415 and "send application/json" in json.loads(body)["error"]
    assert stack.wait_for_rows(f"service = '{unique_service}'", 0, timeout=0.5) == 0


def test_a_conflicting_duplicate_in_a_batch_is_reported_and_the_first_is_stored(
    stack: LocalStack, unique_service: str
) -> None:
    first = record(unique_service, 1, message="card declined")
    second = {**first, "message": "card accepted"}
    status, _, body = post(stack, "/api/v1/logs/batch", {"logs": [first, second, copy.deepcopy(first)]})
    answer = json.loads(body)
    assert (status, answer["accepted"], [r["index"] for r in answer["rejected"]]) == (200, 2, [1])
    assert "with different content" in answer["rejected"][0]["errors"][0]
    assert stack.wait_for_rows(f"service = '{unique_service}'", 1) == 1
    assert rows(stack, unique_service) == [("card declined",)]


def otlp_body(service: str, *messages: str) -> dict[str, Any]:
    now = str(time.time_ns())
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeLogs": [
                    {
                        "logRecords": [
                            {"timeUnixNano": now, "severityNumber": 9, "body": {"stringValue": m}} for m in messages
                        ]
                    }
                ],
            }
        ]
    }


def test_identical_otlp_records_in_one_request_are_two_rows_and_a_resend_adds_none(
    stack: LocalStack, unique_service: str
) -> None:
    body = otlp_body(unique_service, "same", "same")
    for _ in range(2):  # the exporter resends the whole request after a lost answer
        status, _, answer = post(stack, "/otlp/v1/logs", body)
        assert (status, json.loads(answer)) == (200, {})
    assert stack.wait_for_rows(f"service = '{unique_service}'", 2) == 2
    time.sleep(1.0)  # the resend's object has been loaded by now
    assert rows(stack, unique_service) == [("same",), ("same",)]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"timeUnixNano": "abc"}, "logRecords[0].timeUnixNano: expected an integer"),
        ({"attributes": {"a": 1}}, "logRecords[0].attributes: expected a list, got an object"),
        ({"severityNumber": 99}, "logRecords[0].severityNumber: expected a severity number from 0 to 24"),
        ({"body": {"kvlistValue": {"values": [{"key": "k", "value": {"bytesValue": "%%%"}}]}}}, "bytesValue"),
    ],
)
def test_a_malformed_otlp_record_is_rejected_alone_over_http(
    stack: LocalStack, unique_service: str, change: dict[str, Any], where: str
) -> None:
    body = otlp_body(unique_service, "bad", "good")
    body["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0].update(change)
    status, _, answer = post(stack, "/otlp/v1/logs", body)
    partial = json.loads(answer)["partialSuccess"]
    assert status == 200 and partial["rejectedLogRecords"] == "1" and where in partial["errorMessage"]
    assert stack.wait_for_rows(f"service = '{unique_service}'", 1) == 1
    assert rows(stack, unique_service) == [("good",)]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"resourceLogs":[1]}', 400),
        (b'{"resourceLogs":[{"resource":"x","scopeLogs":[]}]}', 200),
        (b'{"resourceLogs":[{"scopeLogs":{}}]}', 400),
        (
            b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[{"key":"a","value":{"intValue":'
            + BIG.encode()
            + b"}}]}]}]}]}",
            200,
        ),
    ],
)
def test_broken_otlp_shapes_are_never_a_server_error(stack: LocalStack, body: bytes, status: int) -> None:
    got, headers, answer = post(stack, "/otlp/v1/logs", body)
    assert got == status and headers["content-type"] == "application/json"
    assert isinstance(json.loads(answer), dict)


def test_the_python_client_drops_only_the_record_the_server_rejects(stack: LocalStack, unique_service: str) -> None:
    # Measured before the fix: duration_ms=10**400 made collect answer 500, the client retried and spooled
    # the whole 100-record batch, and flush() still returned True.
    from log_collector import LogCollector

    spool = Path(tempfile.mkdtemp(prefix="loglens-client-spool-"))
    collector = LogCollector(
        stack.url, unique_service, api_key=stack.api_key, spool_dir=spool, flush_interval=60, max_retries=1
    )
    warnings: list[str] = []

    class Capture(logging.Handler):
        def emit(self, item: logging.LogRecord) -> None:
            warnings.append(item.getMessage())

    capture = Capture(logging.WARNING)
    logging.getLogger("log_collector").addHandler(capture)
    try:
        for i in range(100):
            collector.info(f"event {i}", duration_ms=10**400 if i == 37 else 1.5, n=i)
        assert collector.flush(timeout=30)
        stats = collector.stats()
    finally:
        logging.getLogger("log_collector").removeHandler(capture)
        collector.close()
    assert (stats["sent"], stats["rejected"], stats["spooled"], stats["spool_records"]) == (99, 1, 0, 0)
    assert any("#37" in w and "duration_ms: expected a non-negative number" in w for w in warnings), warnings
    assert stack.wait_for_rows(f"service = '{unique_service}'", 99) == 99
    stored = {row[0] for row in rows(stack, unique_service, "(metadata->>'n')::int")}
    assert stored == set(range(100)) - {37}


def test_the_openapi_document_and_errors_need_no_key_and_share_one_shape(stack: LocalStack) -> None:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(stack.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        for method, path, expected in (
            ("GET", "/api/v1/openapi.json", 200),
            ("POST", "/api/v1/logs", 403),
            ("GET", "/nowhere", 404),
        ):
            conn.request(method, path, body=b"{}" if method == "POST" else None)
            response = conn.getresponse()
            answer = json.loads(response.read())
            assert response.status == expected, (path, answer)
            if expected != 200:
                assert set(answer) == {"error"}
    finally:
        conn.close()


def test_records_with_the_same_id_at_different_times_are_two_events(stack: LocalStack, unique_service: str) -> None:
    event_id = str(uuid.uuid4())
    now = datetime.now(UTC).timestamp()
    batch = [
        record(unique_service, 1, event_id=event_id, timestamp=now - 5),
        record(unique_service, 2, event_id=event_id),
    ]
    status, _, body = post(stack, "/api/v1/logs/batch", {"logs": batch})
    assert (status, json.loads(body)) == (200, {"accepted": 2, "rejected": []})
    assert stack.wait_for_rows(f"service = '{unique_service}'", 2) == 2
