"""With PostgreSQL, the lake gets what load validated: same rows, same identities, once, even after crashes and replays.

The real collect and load handlers run against moto (Firehose, S3) and the test database; the lake
stream is a second moto Firehose stream, and what it receives goes through the lake's gate as the
Iceberg stream's transformation would. Firehose's upsert on (created_at, event_id) is modelled by
keeping the last row per key.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from loglens.db.connect import connect
from loglens.ingest.envelope import Sealer
from loglens.lake.gate import Destination, LakeGate, rows_of
from loglens.lake.rows import from_micros
from loglens.record import AcceptanceWindow
from tests.aws_fakes import BUCKET, STREAM, FakeAws
from tests.events import api_event, s3_event

LAKE_STREAM = "loglens-test-lake"


class _Context:
    function_name = "loglens-test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:loglens-test"
    aws_request_id = "req-1"


CTX = _Context()
KEY = "ab" * 32


@pytest.fixture
def handlers(fake_aws: FakeAws, writer_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    fake_aws.firehose.create_delivery_stream(
        DeliveryStreamName=LAKE_STREAM,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{BUCKET}",
            "Prefix": "lake-stream/",
        },
    )
    for name, value in {
        "FIREHOSE_STREAM_NAME": STREAM,
        "RAW_BUCKET": BUCKET,
        "DATABASE_URL": writer_url,
        "LAKE_STREAM_NAME": LAKE_STREAM,
        "LOGLENS_ENVELOPE_KEY": KEY,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "loglens-test",
    }.items():
        monkeypatch.setenv(name, value)
    from functions import collect, load

    collect._api = None
    load._loader = None
    yield collect, load
    collect._api = None
    load._loader = None


@pytest.fixture(autouse=True)
def _empty_logs(db_url: str) -> None:
    with connect(db_url, autocommit=True) as conn:
        conn.execute("TRUNCATE logs, load_ledger")


def record(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "timestamp": (datetime.now(UTC) - timedelta(seconds=i)).isoformat(),
        "level": "ERROR" if i % 3 == 0 else "INFO",
        "service": ["checkout", "search"][i % 2],
        "message": f"order {i} for bob@example.com",
        "event_id": f"00000000-0000-4000-8000-{i:012d}",
        **extra,
    }


def lake_stream_records(aws: FakeAws) -> list[bytes]:
    """What the lake stream received: Firehose records, each a sealed row (header line + row line)."""
    out: list[bytes] = []
    for item in aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="lake-stream/").get("Contents", []):
        body = aws.s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
        lines = body.splitlines(keepends=True)
        out += [lines[i] + lines[i + 1] for i in range(0, len(lines), 2)]
    return out


def lake_table(aws: FakeAws) -> dict[tuple[int, str], dict[str, Any]]:
    """The Iceberg table after the gate and Firehose's upsert on the unique keys."""
    gate = LakeGate(Sealer(KEY.encode()), Destination("loglens_test", "logs"), AcceptanceWindow())
    payloads = lake_stream_records(aws)
    event = {
        "records": [
            {"recordId": str(i), "approximateArrivalTimestamp": 0, "data": base64.b64encode(p).decode()}
            for i, p in enumerate(payloads)
        ]
    }
    response, report = gate.transform(event)
    assert not report.failed and report.passed == len(payloads)  # load's rows are sealed: none re-validated
    return {(row["created_at"], row["event_id"]): row for row in rows_of(response)}


def stored(db_url: str) -> dict[tuple[int, str], tuple[str, str, str]]:
    with connect(db_url) as conn:
        rows = conn.execute("SELECT created_at, event_id::text, service, level::text, message FROM logs").fetchall()
    return {(int((r[0] - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)), r[1]): r[2:] for r in rows}


def collect_and_load(aws: FakeAws, handlers: Any, batch: list[dict[str, Any]]) -> None:
    collect, load = handlers
    assert collect.handler(api_event("/api/v1/logs/batch", {"logs": batch}), CTX)["statusCode"] == 200
    load.handler(s3_event(BUCKET, *aws.raw_keys()), CTX)


def test_the_lake_holds_exactly_the_rows_postgresql_stored(fake_aws: FakeAws, handlers: Any, db_url: str) -> None:
    # When records are collected and loaded with the lake on
    collect_and_load(fake_aws, handlers, [record(i) for i in range(25)])
    # Then the lake has the same rows, by identity and by content, redacted as PostgreSQL has them
    table, rows = lake_table(fake_aws), stored(db_url)
    assert len(rows) == 25 and set(table) == set(rows)
    for key, (service, level, message) in rows.items():
        row = table[key]
        assert (row["service"], row["level"], row["message"]) == (service, level, message)
        assert "bob@example.com" not in row["message"]


def test_a_firelens_line_has_the_same_identity_in_both_tiers(fake_aws: FakeAws, handlers: Any, db_url: str) -> None:
    # FireLens lines get their event id and time from the raw object: only load knows them
    line = {
        "log": "ERROR payment gateway timeout",
        "source": "stderr",
        "container_name": "pay",
        "ecs_task_definition": "pay:3",
    }
    key = "raw/2026/01/01/00/firelens-1.gz"
    fake_aws.s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(json.dumps(line).encode() + b"\n"))
    _, load = handlers
    load.handler(s3_event(BUCKET, key), CTX)
    table, rows = lake_table(fake_aws), stored(db_url)
    assert len(rows) == 1 and set(table) == set(rows)
    [row] = table.values()
    assert row["source"] == "firelens" and row["service"] == "pay" and row["level"] == "ERROR"


def test_retries_and_replays_leave_one_row_per_event(fake_aws: FakeAws, handlers: Any, db_url: str) -> None:
    batch = [record(i) for i in range(10)]
    collect_and_load(fake_aws, handlers, batch)
    # a client's retry of the same batch (a new raw object), a redelivered S3 event, a forced replay
    collect_and_load(fake_aws, handlers, batch)
    _, load = handlers
    load.handler(s3_event(BUCKET, *fake_aws.raw_keys()), CTX)  # redelivery: already claimed, skipped
    with connect(db_url, autocommit=True) as conn:
        conn.execute("TRUNCATE load_ledger")  # a forced replay: every object loaded (and forwarded) again
    load.handler(s3_event(BUCKET, *fake_aws.raw_keys()), CTX)
    assert len(lake_stream_records(fake_aws)) >= 20  # the same rows were sent more than once...
    table, rows = lake_table(fake_aws), stored(db_url)
    assert len(rows) == 10 and set(table) == set(rows)  # ...and the upsert keeps one per event


def test_when_the_lake_stream_refuses_nothing_commits_and_the_retry_delivers(
    fake_aws: FakeAws, handlers: Any, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    collect, load = handlers
    assert (
        collect.handler(api_event("/api/v1/logs/batch", {"logs": [record(i) for i in range(5)]}), CTX)["statusCode"]
        == 200
    )
    keys = fake_aws.raw_keys()
    # Given a lake stream that does not exist (deleted, or the wrong name): Firehose refuses every put
    monkeypatch.setenv("LAKE_STREAM_NAME", "no-such-stream")
    load._loader = None
    from loglens.ingest import sinks

    monkeypatch.setattr(sinks.time, "sleep", lambda _: None)
    with pytest.raises(sinks.SinkUnavailable):
        load.handler(s3_event(BUCKET, *keys), CTX)
    # Then PostgreSQL kept nothing and the object is not claimed: the retry is a first load
    assert stored(db_url) == {}
    with connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM load_ledger").fetchone() == (0,)
    monkeypatch.setenv("LAKE_STREAM_NAME", LAKE_STREAM)
    load._loader = None
    load.handler(s3_event(BUCKET, *keys), CTX)
    assert set(lake_table(fake_aws)) == set(stored(db_url)) and len(stored(db_url)) == 5


def test_from_micros_round_trips_what_postgresql_stores(fake_aws: FakeAws, handlers: Any, db_url: str) -> None:
    collect_and_load(fake_aws, handlers, [record(1)])
    [(micros, _)] = stored(db_url)
    with connect(db_url) as conn:
        [(created_at,)] = conn.execute("SELECT created_at FROM logs").fetchall()
    assert from_micros(micros) == created_at
