"""Acceptance for the lake tier, locally: a real `loglens dev`, `loglens demo`, and `loglens lake ...` commands.

After the demo, per-service and per-level counts for each day are the same in PostgreSQL and in
`loglens lake query`; they stay the same, with no duplicate, after the demo is sent again (the same records:
a client retrying every request) and after a replay of every raw object; and `loglens lake verify` agrees
for each day (count and checksum).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from loglens.db.connect import connect
from tests.e2e.conftest import API_KEY, REPO, LocalStack, free_port, start_dev, stop_dev

END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
RECORDS = 3000


@pytest.fixture(scope="module")
def stack(db_url: str) -> Iterator[LocalStack]:
    home = Path(tempfile.mkdtemp(prefix="loglens-e2e-lake-"))
    port = free_port()
    # LOGLENS_LAKE unset: `loglens dev` keeps the local lake. Its flusher waits long here, so what each step
    # forwarded is delivered by the test's own `loglens lake flush` and can be counted.
    lazy = {"LOGLENS_LAKE_BUFFER_SECONDS": "900", "LOGLENS_LAKE_BUFFER_MB": "128"}
    process = start_dev(db_url, home, port, extra_env=lazy)
    yield LocalStack(f"http://127.0.0.1:{port}", API_KEY, db_url, home, process)
    stop_dev(process)


def loglens(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": stack.db_url, "LOGLENS_HOME": str(stack.home), "COLUMNS": "200"}
    env.pop("LOGLENS_LAKE", None)  # the home says the lake is on
    return subprocess.run(
        [sys.executable, "-m", "loglens", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=300
    )


def send_demo(stack: LocalStack) -> None:
    sent = loglens(
        stack, "demo", "--url", stack.url, "--api-key", stack.api_key, "--records", str(RECORDS), "--end",
        END.isoformat(),
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr


def wait_until_loaded(stack: LocalStack, objects_before: int) -> int:
    """Wait for the spool to drain and the ledger to move on; return the objects loaded."""
    queue = stack.home / "spool" / "queue"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with connect(stack.db_url) as conn:
            row = conn.execute("SELECT count(*) FROM load_ledger").fetchone()
        loaded = int(row[0]) if row else 0
        if loaded > objects_before and not any(_waiting(note) for note in queue.glob("*.key")):
            return loaded
        time.sleep(0.2)
    raise AssertionError("the local loader did not drain the spool within 120 s")


def _waiting(note: Path) -> bool:
    """A note of an object not loaded yet; the writer's spare (an empty open segment, noted in advance) is not."""
    try:
        segment = note.parent.parent / note.read_text().splitlines()[1]
        return segment.stat().st_size > 0
    except (FileNotFoundError, IndexError):
        return note.exists()  # sealed (the segment moved on) and still noted: not loaded yet


def pg_counts(stack: LocalStack, column: str) -> list[list[Any]]:
    with connect(stack.db_url) as conn:
        rows = conn.execute(
            f"SELECT (created_at AT TIME ZONE 'UTC')::date::text, {column}, count(*) FROM logs GROUP BY 1, 2 "
            "ORDER BY 1, 2"
        ).fetchall()
    return [list(r) for r in rows]


def lake_counts(stack: LocalStack, column: str) -> list[list[Any]]:
    since = (END - timedelta(days=5)).strftime("%Y-%m-%d 00:00:00")
    sql = (
        f"SELECT CAST(CAST(created_at AS date) AS varchar) AS day, {column}, count(*) AS n FROM logs "
        f"WHERE created_at >= TIMESTAMP '{since}' GROUP BY 1, 2 ORDER BY 1, 2"
    )
    answered = loglens(stack, "lake", "query", "--json", sql)
    assert answered.returncode == 0, answered.stderr
    assert "bytes scanned" in answered.stderr and "Athena's price" in answered.stderr
    return [[r["day"], r[column], r["n"]] for r in json.loads(answered.stdout)]


def flush(stack: LocalStack) -> dict[str, Any]:
    flushed = loglens(stack, "lake", "flush", "--json")
    assert flushed.returncode == 0, flushed.stderr
    return dict(json.loads(flushed.stdout))


def assert_same_in_both(stack: LocalStack, *, verify: bool = False) -> None:
    for column in ("service", "level"):
        in_pg, in_lake = pg_counts(stack, column), lake_counts(stack, column)
        assert in_pg == in_lake, column
        assert sum(n for *_, n in in_lake) == RECORDS
    if not verify:
        return
    for day in sorted({day for day, *_ in pg_counts(stack, "level")}):
        verified = loglens(stack, "lake", "verify", "--day", day)
        assert verified.returncode == 0 and "the same" in verified.stdout, verified.stdout + verified.stderr


def test_the_demo_is_counted_the_same_in_postgresql_and_the_lake_after_retries_and_a_replay(
    stack: LocalStack,
) -> None:
    # The demo, once
    send_demo(stack)
    objects = wait_until_loaded(stack, 0)
    first = flush(stack)
    assert (first["rows_read"], first["rows_written"]) == (RECORDS, RECORDS)
    assert_same_in_both(stack)
    assert (stack.home / "lake" / "metadata" / "snapshot.json").is_file()
    assert any((stack.home / "lake" / "data").glob("created_at_day=*/*.parquet"))

    # The same demo again: every request retried with the same records
    send_demo(stack)
    objects = wait_until_loaded(stack, objects)
    again = flush(stack)
    # Every row was forwarded again (twice when the load met the stored copy and read its object a second
    # time: loglens.ingest.load), and none of it was written
    assert again["rows_read"] >= RECORDS and (again["rows_written"], again["duplicates"]) == (0, again["rows_read"])
    assert_same_in_both(stack)

    # A replay of every raw object, forgetting the load ledger
    replayed = loglens(stack, "replay", "--from", (END - timedelta(days=1)).isoformat(), "--force")
    assert replayed.returncode == 0, replayed.stderr
    after_replay = flush(stack)
    assert after_replay["rows_read"] >= 2 * RECORDS and after_replay["rows_written"] == 0  # both sends' objects
    assert_same_in_both(stack, verify=True)
