"""replay: raw objects of a time range and DLQ messages, loaded again without duplicates."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from loglens.db.connect import ConnectionProvider, connect
from loglens.ingest.notifications import Loader
from loglens.ingest.objects import LocalObjectStore, S3ObjectStore
from loglens.ingest.replay import replay_dlq, replay_range
from loglens.settings import Settings
from tests.aws_fakes import BUCKET, REGION, FakeAws
from tests.events import s3_event

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 29, 10, 15, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _empty(db_url: str) -> None:
    with connect(db_url, autocommit=True) as conn:
        conn.execute("TRUNCATE logs, load_ledger")


def _object(n: int, start: int) -> bytes:
    now = datetime.now(UTC)
    lines = [
        json.dumps(
            {
                "_loglens": 1,
                "event_id": f"00000000-0000-4000-8000-{i:012d}",
                "source": "api",
                "received_at": now.isoformat(),
                "timestamp": now.isoformat(),
                "level": "INFO",
                "service": "replayed",
                "message": f"m{i}",
            }
        )
        for i in range(start, start + n)
    ]
    return gzip.compress("\n".join(lines).encode() + b"\n")


def _count(db_url: str) -> int:
    with connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM logs").fetchone()
    return int(row[0]) if row else 0


def test_time_range_replay_loads_once_and_force_does_not_duplicate(
    fake_aws: FakeAws, writer_url: str, db_url: str
) -> None:
    for hour, start in ((9, 0), (10, 10), (11, 20), (13, 30)):
        fake_aws.s3.put_object(Bucket=BUCKET, Key=f"raw/2026/11/29/{hour:02d}/obj-{hour}.gz", Body=_object(10, start))
    loader = Loader(S3ObjectStore(BUCKET, fake_aws.s3), ConnectionProvider(lambda: writer_url), Settings.from_env({}))
    first = replay_range(loader, T0, T0 + timedelta(hours=1, minutes=30))
    assert (first.objects, first.loaded_rows, first.failed) == (2, 20, [])
    assert _count(db_url) == 20
    again = replay_range(loader, T0, T0 + timedelta(hours=1))
    assert (again.objects, again.skipped, again.loaded_rows) == (2, 2, 0)


def test_force_reloads_without_duplicating(fake_aws: FakeAws, db_url: str) -> None:
    fake_aws.s3.put_object(Bucket=BUCKET, Key="raw/2026/11/29/10/a.gz", Body=_object(10, 0))
    loader = Loader(S3ObjectStore(BUCKET, fake_aws.s3), ConnectionProvider(lambda: db_url), Settings.from_env({}))
    replay_range(loader, T0, T0)
    forced = replay_range(loader, T0, T0, force=True)
    assert (forced.objects, forced.skipped, forced.loaded_rows, forced.duplicate_rows) == (1, 0, 0, 10)
    assert _count(db_url) == 10


def test_dlq_messages_are_loaded_then_deleted(fake_aws: FakeAws, writer_url: str, db_url: str) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="loglens-load-dlq")["QueueUrl"]
    fake_aws.s3.put_object(Bucket=BUCKET, Key="raw/2026/11/29/10/x.gz", Body=_object(5, 0))
    fake_aws.s3.put_object(Bucket=BUCKET, Key="raw/2026/11/29/10/y.gz", Body=_object(5, 5))
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(s3_event(BUCKET, "raw/2026/11/29/10/x.gz")))
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(s3_event(BUCKET, "raw/2026/11/29/10/y.gz")))
    loader = Loader(S3ObjectStore(BUCKET, fake_aws.s3), ConnectionProvider(lambda: writer_url), Settings.from_env({}))
    summary = replay_dlq(loader, sqs, queue)
    assert (summary.objects, summary.loaded_rows, summary.failed) == (2, 10, [])
    assert _count(db_url) == 10
    left = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])
    assert left["Attributes"]["ApproximateNumberOfMessages"] == "0"


def test_dlq_message_that_fails_again_stays(fake_aws: FakeAws) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="loglens-load-dlq-2")["QueueUrl"]
    fake_aws.s3.put_object(Bucket=BUCKET, Key="raw/2026/11/29/10/z.gz", Body=_object(5, 0))
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(s3_event(BUCKET, "raw/2026/11/29/10/z.gz")))
    down = Loader(
        S3ObjectStore(BUCKET, fake_aws.s3),
        ConnectionProvider(lambda: "postgresql://x:y@127.0.0.1:1/none?connect_timeout=1"),
        Settings.from_env({}),
    )
    summary = replay_dlq(down, sqs, queue, max_messages=1)
    assert len(summary.failed) == 1


def test_cli_replays_the_local_spool(db_url: str, tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "spool")
    store.put("raw/2026/11/29/10/local.gz", _object(7, 0))
    env = {**os.environ, "DATABASE_URL": db_url, "LOGLENS_HOME": str(tmp_path), "COLUMNS": "200"}
    command = [sys.executable, "-m", "loglens", "replay", "--from", "2026-11-29T10:00", "--to", "2026-11-29T10:59"]
    result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert _count(db_url) == 7
    usage = subprocess.run(
        [sys.executable, "-m", "loglens", "replay"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert usage.returncode == 2 and "give either --from" in usage.stderr
