"""What the client does with each of the server's answers."""

from __future__ import annotations

import logging
import time

from fake_ingest import Reply


def test_500_is_retried_with_the_same_event_ids(server, make_collector):
    server.script(Reply(500), Reply(503))
    collector = make_collector(server.url)
    for i in range(5):
        collector.info(f"r{i}")
    assert collector.flush(timeout=5)
    statuses = [r.status for r in server.requests]
    assert statuses == [500, 503, 200]
    attempts = [[rec["event_id"] for rec in r.logs] for r in server.requests]
    assert attempts[0] == attempts[1] == attempts[2]  # the same records, never re-identified
    assert len(server.accepted()) == 5
    assert collector.stats()["retries"] == 2


def test_429_waits_at_least_retry_after(server, make_collector):
    server.script(Reply(429, headers={"Retry-After": "0.6"}))
    collector = make_collector(server.url, backoff_max=2.0)
    collector.info("rate limited")
    assert collector.flush(timeout=5)
    first, second = server.requests
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.55


def test_a_long_retry_after_parks_the_batch_on_disk(server, make_collector, spool_dir):
    # A Retry-After beyond backoff_max is not slept through on the worker: the batch goes to the
    # spool and the server is probed again after the advertised delay.
    server.script(Reply(503, headers={"Retry-After": "0.8"}))
    collector = make_collector(server.url, backoff_max=0.3)
    collector.info("later")
    assert collector.flush(timeout=5)
    assert len(server.requests) == 1
    assert list(spool_dir.glob("*.batch.gz"))
    records = server.wait_for(1, timeout=5)
    assert [r["message"] for r in records] == ["later"]
    assert server.requests[1].at - server.requests[0].at >= 0.75


def test_400_is_reported_once_and_not_retried(server, make_collector, caplog):
    server.script(Reply(400, body={"error": "no valid records", "rejected": [{"index": 0, "errors": ["x"]}]}))
    collector = make_collector(server.url)
    with caplog.at_level(logging.WARNING, logger="log_collector"):
        collector.info("bad")
        assert collector.flush(timeout=5)
        time.sleep(0.3)
    assert [r.status for r in server.requests] == [400]
    messages = [r.getMessage() for r in caplog.records if r.name == "log_collector"]
    assert any("HTTP 400" in m for m in messages)


def test_403_is_not_retried_and_reported_once(server, make_collector, caplog):
    server.script(Reply(403), Reply(403))
    collector = make_collector(server.url, api_key="wrong")
    with caplog.at_level(logging.ERROR, logger="log_collector"):
        collector.info("one")
        assert collector.flush(timeout=5)
        collector.info("two")
        assert collector.flush(timeout=5)
        time.sleep(0.3)
    assert [r.status for r in server.requests] == [403, 403]
    complaints = [r for r in caplog.records if "API key" in r.getMessage()]
    assert len(complaints) == 1


def test_individually_rejected_records_are_reported_not_retried(server, make_collector, caplog):
    server.script(Reply(200, reject=(1,)))
    collector = make_collector(server.url)
    with caplog.at_level(logging.WARNING, logger="log_collector"):
        for i in range(3):
            collector.info(f"r{i}")
        assert collector.flush(timeout=5)
        time.sleep(0.3)
    assert len(server.requests) == 1
    assert [r["message"] for r in server.accepted()] == ["r0", "r2"]
    report = [r.getMessage() for r in caplog.records if "rejected 1 of 3" in r.getMessage()]
    assert len(report) == 1 and "level: not a level" in report[0]
    assert collector.stats()["rejected"] == 1


def test_413_splits_in_halves_and_drops_a_single_oversized_record(server, make_collector, caplog):
    # The server refuses any body over 3000 bytes; one record alone is bigger than that.
    server.rule = lambda received: Reply(413) if received.raw_size > 3000 else None
    collector = make_collector(server.url, batch_size=100, flush_interval=30.0)
    with caplog.at_level(logging.WARNING, logger="log_collector"):
        for i in range(8):
            collector.info(f"small {i} " + "y" * 400)
        collector.info("huge " + "z" * 5000)
        assert collector.flush(timeout=5)
    messages = sorted(r["message"].split(" ")[1] for r in server.accepted())
    assert messages == [str(i) for i in range(8)]
    assert any("too large" in r.getMessage() for r in caplog.records)
    # The drop is announced in the next batch, in the metadata of its first record.
    collector.info("after")
    assert collector.flush(timeout=5)
    last = server.accepted()[-1]
    assert last["message"] == "after"
    assert last["metadata"]["loglens_client_dropped"] == 1


def test_a_hanging_connection_times_out_and_is_retried(server, make_collector):
    server.script(Reply(hang=5.0))
    collector = make_collector(server.url, timeout=0.3)
    started = time.monotonic()
    collector.info("patience")
    records = server.wait_for(1, timeout=5)
    assert [r["message"] for r in records] == ["patience"]
    assert time.monotonic() - started < 3.0
