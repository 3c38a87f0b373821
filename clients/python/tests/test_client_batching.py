"""Batching by count, bytes and interval; gzip; the shape of the records on the wire."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timezone

import pytest

from log_collector import LogCollector


def test_full_batches_go_out_without_waiting_for_the_interval(server, make_collector):
    # Given a collector whose interval is far away
    collector = make_collector(server.url, batch_size=10, flush_interval=30.0)
    # When 35 records are logged
    for i in range(35):
        collector.info(f"record {i}")
    # Then the three full batches arrive at once and the rest waits for a flush
    requests = server.wait_requests(3, timeout=5)
    assert [len(r.logs) for r in requests[:3]] == [10, 10, 10]
    time.sleep(0.2)
    assert len(server.requests) == 3
    assert collector.flush(timeout=5)
    assert [len(r.logs) for r in server.requests] == [10, 10, 10, 5]
    assert [r["message"] for r in server.accepted()] == [f"record {i}" for i in range(35)]


def test_batches_are_cut_by_uncompressed_bytes(server, make_collector):
    collector = make_collector(server.url, batch_size=1000, max_batch_bytes=8192, flush_interval=30.0)
    for i in range(40):
        collector.info(f"{i:03d} " + "x" * 1000)
    assert collector.flush(timeout=5)
    sizes = [r.raw_size for r in server.requests]
    assert all(size <= 8192 for size in sizes), sizes
    assert len(sizes) >= 5  # ~1.1 KB records, at most 7 per 8 KiB batch
    assert len(server.accepted()) == 40
    # The byte trigger woke the worker: most batches went out before the explicit flush.
    assert [r["message"][:3] for r in server.accepted()] == [f"{i:03d}" for i in range(40)]


def test_a_partial_batch_goes_out_on_the_interval(server, make_collector):
    collector = make_collector(server.url, batch_size=100, flush_interval=0.2)
    started = time.monotonic()
    collector.info("lonely")
    records = server.wait_for(1, timeout=3)
    assert [r["message"] for r in records] == ["lonely"]
    assert time.monotonic() - started < 2.0


def test_bodies_are_gzipped_unless_disabled(server, make_collector):
    zipped = make_collector(server.url, service="zipped")
    zipped.info("compressed " * 50)
    assert zipped.flush(timeout=5)
    plain = make_collector(server.url, service="plain", compress=False)
    plain.info("plain")
    assert plain.flush(timeout=5)
    by_service = {r.logs[0]["service"]: r.headers for r in server.requests}
    assert by_service["zipped"].get("content-encoding") == "gzip"
    assert "content-encoding" not in by_service["plain"]
    assert by_service["plain"]["content-type"] == "application/json"


def test_record_shape_fields_metadata_and_api_key(server, make_collector):
    collector = make_collector(server.url, api_key="k-123")
    before = datetime.now(timezone.utc)
    collector.log(
        "warning",
        "card declined",
        user_id="u-1",
        trace_id="t-1",
        http_status_code=402,
        duration_ms=12.5,
        metadata={"order_id": "o-9"},
        retry_count=2,  # not a record field: goes to metadata
        ignored=None,
    )
    collector.critical("down", component="payments")
    collector.log(5, "very fine detail")
    collector.log("Error", "odd value", amount=float("nan"), when=before, blob=object())
    assert collector.flush(timeout=5)
    first, second, third, fourth = server.accepted()
    assert first["level"] == "WARN"
    assert (first["service"], first["environment"], first["log_type"]) == ("checkout", "test", "BACKEND")
    assert first["user_id"] == "u-1" and first["trace_id"] == "t-1"
    assert first["http_status_code"] == 402 and first["duration_ms"] == 12.5
    assert first["metadata"] == {"order_id": "o-9", "retry_count": 2}
    assert "ignored" not in first and "ignored" not in first["metadata"]
    stamp = datetime.fromisoformat(first["timestamp"])
    assert stamp.tzinfo is not None and abs((stamp - before).total_seconds()) < 5
    assert uuid.UUID(first["event_id"]).version == 4
    assert (second["level"], second["component"]) == ("FATAL", "payments")
    assert third["level"] == "TRACE"
    # Values JSON cannot carry become strings instead of breaking the batch.
    assert fourth["level"] == "ERROR" and fourth["metadata"]["amount"] == "nan"
    assert isinstance(fourth["metadata"]["blob"], str)
    assert server.requests[0].headers["x-api-key"] == "k-123"
    assert server.requests[0].headers["user-agent"].startswith("loglens-client/")


def test_exception_helper_carries_error_type_and_stack_trace(server, make_collector):
    collector = make_collector(server.url)
    try:
        raise KeyError("missing")
    except KeyError:
        collector.exception("lookup failed", endpoint="/api/v1/payment")
    collector.error("explicit", exc_info=ValueError("bad"))
    assert collector.flush(timeout=5)
    first, second = server.accepted()
    assert first["error_type"] == "KeyError" and "raise KeyError" in first["stack_trace"]
    assert first["endpoint"] == "/api/v1/payment"
    assert second["error_type"] == "ValueError"


def test_origin_document_call_shapes_work_inside_asyncio(server, spool_dir):
    # The origin document's constructor order: url, service, environment, batch_size, flush_interval
    collector = LogCollector(server.url, "payment-api", "production", 10, 0.2, spool_dir=spool_dir)

    async def handle_payment(i: int) -> None:
        await collector.log("INFO", "Payment processed successfully", user_id=f"u{i}", duration_ms=1.5)
        await collector.info("awaiting a helper works too")

    async def main() -> None:
        await asyncio.gather(*(handle_payment(i) for i in range(20)))
        assert await collector.aflush(timeout=5)
        await collector.close()

    asyncio.run(main())
    records = server.accepted()
    assert len(records) == 40
    assert {r["environment"] for r in records} == {"production"}


def test_log_calls_work_without_an_event_loop_and_without_await(server, make_collector):
    collector = make_collector(server.url)
    assert collector.log("INFO", "no loop, no await")  # truthy: queued
    assert collector.log_sync("DEBUG", "the explicit sync spelling")
    assert collector.flush(timeout=5)
    assert [r["message"] for r in server.accepted()] == ["no loop, no await", "the explicit sync spelling"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"log_server_url": "ftp://x"},
        {"service": ""},
        {"batch_size": 0},
        {"batch_size": 10_001},
        {"flush_interval": 0},
    ],
)
def test_bad_configuration_fails_at_construction(kwargs, tmp_path):
    options = {"log_server_url": "http://127.0.0.1:9", "service": "s", "spool_dir": tmp_path}
    options.update(kwargs)
    with pytest.raises(ValueError):
        LogCollector(**options)


def test_endpoint_accepts_base_url_or_full_path(tmp_path):
    a = LogCollector("http://h:8000/", "s", spool_dir=tmp_path, register_atexit=False)
    b = LogCollector("http://h:8000/api/v1/logs/batch", "s", spool_dir=tmp_path, register_atexit=False)
    assert a.endpoint == b.endpoint == "http://h:8000/api/v1/logs/batch"
    a.close(0)
    b.close(0)
