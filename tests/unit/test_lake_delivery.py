"""Lake-only collect, the forwarder, and the lake's settings: what reaches the lake stream and who may configure it."""

from __future__ import annotations

import base64
import gzip
from datetime import UTC, datetime
from typing import Any

import pytest

from loglens.environments import CollectEnvironment, LakeGateEnvironment, LoadEnvironment
from loglens.ingest.collect import CollectApi, CollectService
from loglens.ingest.envelope import Sealer
from loglens.ingest.sinks import FirehoseSink
from loglens.lake.forward import LakeForwarder
from loglens.lake.gate import Destination, LakeGate, rows_of
from loglens.lake.rows import lake_object
from loglens.lake.settings import LakeMode, LakeSettings, Tier, tiers
from loglens.record import LOG_COLUMNS, AcceptanceWindow
from loglens.settings import ConfigError, Settings
from tests.aws_fakes import BUCKET, STREAM, FakeAws
from tests.events import api_event, response_json
from tests.factories import make_record

KEY = Sealer(b"s" * 32)


def delivered_records(aws: FakeAws) -> list[bytes]:
    """The Firehose records moto delivered, each a sealed row: header line + row line."""
    out: list[bytes] = []
    for item in aws.s3.list_objects_v2(Bucket=BUCKET, Prefix="raw/").get("Contents", []):
        body = aws.s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        lines = body.splitlines(keepends=True)
        out += [lines[i] + lines[i + 1] for i in range(0, len(lines), 2)]
    return out


def through_gate(records: list[bytes]) -> list[dict[str, Any]]:
    gate = LakeGate(KEY, Destination("db", "logs"), AcceptanceWindow())
    event = {
        "records": [
            {"recordId": str(i), "approximateArrivalTimestamp": 0, "data": base64.b64encode(r).decode()}
            for i, r in enumerate(records)
        ]
    }
    response, report = gate.transform(event)
    assert report.passed == len(records) and not report.failed
    return list(rows_of(response))


def test_lake_only_collect_sends_one_sealed_row_per_record(fake_aws: FakeAws) -> None:
    # Given collect on a lake-only stage (its stream is the Iceberg stream)
    service = CollectService(
        FirehoseSink(STREAM, fake_aws.firehose, sleep=lambda _: None), Settings.from_env({}), sealer=KEY, lake_rows=True
    )
    batch = {
        "logs": [
            {"level": "INFO", "service": "web", "message": f"m{i}", "event_id": f"00000000-0000-4000-8000-{i:012d}"}
            for i in range(3)
        ]
        + [{"level": "INFO", "service": "web", "message": "bad", "http_status_code": "abc"}]
    }
    response = CollectApi(service).handle(api_event("/api/v1/logs/batch", batch))
    # Then the client hears about each record as always, and the stream got one row per accepted record
    assert response_json(response)["accepted"] == 3 and len(response_json(response)["rejected"]) == 1
    records = delivered_records(fake_aws)
    assert len(records) == 3
    rows = through_gate(records)
    assert sorted(r["message"] for r in rows) == ["m0", "m1", "m2"]
    assert all(r["source"] == "api" and r["api_key_id"] == "key-abc" for r in rows)


def test_lake_rows_must_be_sealed() -> None:
    with pytest.raises(ValueError, match="sealed"):
        CollectService(FirehoseSink(STREAM, None), Settings.from_env({}), lake_rows=True)


def test_the_forwarder_puts_sealed_rows_in_batches_of_500(fake_aws: FakeAws) -> None:
    calls: list[int] = []
    sink = FirehoseSink(STREAM, fake_aws.firehose, sleep=lambda _: None)
    original = fake_aws.firehose.put_record_batch

    def counting(**kwargs: Any) -> Any:
        calls.append(len(kwargs["Records"]))
        return original(**kwargs)

    fake_aws.firehose.put_record_batch = counting
    forwarder = LakeForwarder(sink, KEY)
    rows = [make_record(message=f"m{i}").db_row() for i in range(1203)]
    forwarder.add(rows[:700])
    forwarder.add(rows[700:])
    assert forwarder.sent == 1203 - len(forwarder._rows)
    forwarder.flush()
    forwarder.flush()  # nothing left: no empty call
    assert forwarder.sent == 1203 and sum(calls) == 1203 and max(calls) == 500
    assert len(through_gate(delivered_records(fake_aws))) == 1203


def test_a_lake_row_must_have_every_column() -> None:
    with pytest.raises(ValueError, match=f"{len(LOG_COLUMNS)} values"):
        lake_object(("only", "two"))


def test_lake_row_timestamps_are_microseconds_since_the_epoch() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    row = lake_object(make_record(created_at=when).db_row())
    assert row["created_at"] == 1767323045678901


def test_function_environments_name_what_is_missing() -> None:
    env = LakeGateEnvironment.from_env({"LAKE_DATABASE": "db", "LAKE_TABLE": "logs", "LOGLENS_ENVELOPE_KEY": "k" * 32})
    assert (env.lake_database, env.lake_table) == ("db", "logs")
    with pytest.raises(ConfigError, match="LAKE_TABLE is required"):
        LakeGateEnvironment.from_env({"LAKE_DATABASE": "db", "LOGLENS_ENVELOPE_KEY": "k" * 32})
    base = {"FIREHOSE_STREAM_NAME": "s", "LOGLENS_ENVELOPE_KEY": "k" * 32}
    assert CollectEnvironment.from_env(base).delivery == "raw"
    assert CollectEnvironment.from_env({**base, "LOGLENS_DELIVERY": "lake"}).delivery == "lake"
    with pytest.raises(ConfigError, match="LOGLENS_DELIVERY"):
        CollectEnvironment.from_env({**base, "LOGLENS_DELIVERY": "iceberg"})
    load = {"DATABASE_URL": "postgresql://x", "RAW_BUCKET": "b", "LOGLENS_ENVELOPE_KEY": "k" * 32}
    assert LoadEnvironment.from_env(load).lake_stream_name is None
    assert LoadEnvironment.from_env({**load, "LAKE_STREAM_NAME": "lake"}).lake_stream_name == "lake"


def test_lake_settings_and_the_tiers_the_agent_gets() -> None:
    assert LakeSettings.from_env({}).mode is LakeMode.OFF
    athena = {"LOGLENS_LAKE": "athena", "ATHENA_WORKGROUP": "wg", "LAKE_DATABASE": "loglens_prod_lake"}
    assert LakeSettings.from_env(athena).database == "loglens_prod_lake"
    with pytest.raises(ConfigError, match="ATHENA_WORKGROUP must be set"):
        LakeSettings.from_env({"LOGLENS_LAKE": "athena"})
    with pytest.raises(ConfigError, match="LAKE_DATABASE"):
        LakeSettings.from_env({**athena, "LAKE_DATABASE": "x; drop"})
    assert tiers({}, has_database=True) == (Tier.POSTGRES,)
    assert tiers(athena, has_database=True) == (Tier.POSTGRES, Tier.LAKE)
    assert tiers(athena, has_database=False) == (Tier.LAKE,)  # lake-only: the lake tool alone
    with pytest.raises(ValueError, match="nothing to ask"):
        tiers({}, has_database=False)


class _Context:
    function_name = "loglens-lakegate"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:loglens-lakegate"
    aws_request_id = "req-1"


def test_the_lakegate_handler_answers_firehose_record_for_record(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "LAKE_DATABASE": "loglens_test_lake",
        "LAKE_TABLE": "logs",
        "LOGLENS_ENVELOPE_KEY": "s" * 32,
        "POWERTOOLS_SERVICE_NAME": "lakegate",
        "POWERTOOLS_METRICS_NAMESPACE": "loglens",
    }.items():
        monkeypatch.setenv(name, value)
    from functions import lakegate

    lakegate._gate = None
    sealed = KEY.seal(b'{"event_id":"e","created_at":1,"received_at":1,"level":"INFO","service":"s","message":"m"}\n')
    firelens = b'{"log":"ERROR boom","container_name":"app","source":"stderr"}\n'
    event = {
        "records": [
            {"recordId": rid, "approximateArrivalTimestamp": 0, "data": base64.b64encode(data).decode()}
            for rid, data in (("a", sealed), ("b", firelens), ("c", b"junk"))
        ]
    }
    try:
        response = lakegate.handler(event, _Context())
    finally:
        lakegate._gate = None
    assert [(r["recordId"], r["result"]) for r in response["records"]] == [
        ("a", "Ok"),
        ("b", "Ok"),
        ("c", "ProcessingFailed"),
    ]
    assert response["records"][0]["metadata"]["otfMetadata"]["destinationDatabaseName"] == "loglens_test_lake"


def test_a_misconfigured_lakegate_fails_the_batch_so_firehose_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAKE_TABLE", raising=False)
    monkeypatch.setenv("LAKE_DATABASE", "db")
    monkeypatch.setenv("LOGLENS_ENVELOPE_KEY", "s" * 32)
    from functions import lakegate

    lakegate._gate = None
    with pytest.raises(ConfigError, match="LAKE_TABLE"):
        lakegate.handler({"records": []}, _Context())
    lakegate._gate = None
