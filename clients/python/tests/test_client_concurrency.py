"""Many threads, a forked child, and an unreliable server at the same time."""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter

import pytest
from fake_ingest import Reply


def test_eight_threads_against_a_flaky_server_deliver_every_record_once(server, make_collector):
    # Given a server that fails about one request in four
    chance = random.Random(7)
    server.rule = lambda received: Reply(500) if chance.random() < 0.25 else None
    collector = make_collector(server.url, batch_size=50, max_retries=5)
    start = threading.Barrier(8)

    def work(worker: int) -> None:
        start.wait()
        for i in range(500):
            collector.info(f"t{worker}-{i}", user_id=f"u{worker}")

    # When eight threads log 500 records each at the same moment
    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert collector.flush(timeout=20)
    server.wait_for(4000, timeout=20)
    # Then each record arrived exactly once (the spool may have carried some of them)
    records = server.accepted()
    assert Counter(r["message"] for r in records) == Counter(
        f"t{w}-{i}" for w in range(8) for i in range(500)
    )
    assert len({r["event_id"] for r in records}) == 4000
    # and per thread, order is kept within each batch stream
    for w in range(8):
        mine = [int(r["message"].split("-")[1]) for r in records if r["message"].startswith(f"t{w}-")]
        assert sorted(mine) == list(range(500))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12 warns about fork with threads
def test_a_forked_child_sends_its_records_and_never_the_parents(server, make_collector):
    # Given a parent with records still queued and a thread logging while it forks (gunicorn-like)
    collector = make_collector(server.url, batch_size=1000, flush_interval=30.0)
    for i in range(20):
        collector.info(f"parent {i}")
    stop = threading.Event()
    background: list[int] = []

    def chatter() -> None:
        while not stop.is_set() and len(background) < 5000:
            collector.info(f"bg {len(background)}")
            background.append(1)

    thread = threading.Thread(target=chatter)
    thread.start()
    time.sleep(0.01)
    # When the process forks and the child logs
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            for i in range(10):
                collector.info(f"child {i}")
            code = 0 if collector.close(timeout=5) else 2
        finally:
            os._exit(code)
    stop.set()
    thread.join()
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert collector.flush(timeout=10)
    expected = 20 + 10 + len(background)
    server.wait_for(expected, timeout=10)
    time.sleep(0.3)  # anything sent twice would show up now
    # Then the child's records arrived, and the parent's exactly once
    counts = Counter(r["message"] for r in server.accepted())
    assert all(counts[f"child {i}"] == 1 for i in range(10))
    assert all(counts[f"parent {i}"] == 1 for i in range(20))
    assert sum(counts.values()) == expected
    assert max(counts.values()) == 1
    assert {r["service"] for r in server.accepted()} == {"checkout"}


def test_a_log_call_does_not_wait_while_the_server_hangs(server, make_collector):
    server.rule = lambda received: Reply(hang=5.0)
    collector = make_collector(server.url, batch_size=5, timeout=3.0)
    for i in range(5):
        collector.info(f"fill {i}")  # wakes the worker, which now hangs in a request
    time.sleep(0.2)
    worst = 0.0
    for i in range(2000):
        started = time.perf_counter()
        collector.info(f"fast {i}")
        worst = max(worst, time.perf_counter() - started)
    # Generous for a loaded CI machine; a network wait would be seconds.
    assert worst < 0.25, worst
    server.release.set()
