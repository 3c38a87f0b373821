"""collect: real API Gateway event shapes through the handler, Firehose faked by moto (or scripted to fail)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from loglens.ingest.collect import CollectApi, CollectService
from loglens.ingest.envelope import pack_records
from loglens.ingest.limits import MAX_BODY_BYTES, MAX_FIREHOSE_BATCH_RECORDS
from loglens.ingest.sinks import FirehoseSink
from loglens.settings import Settings
from tests.aws_fakes import STREAM, FakeAws
from tests.events import api_event, response_json


def good(i: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "timestamp": datetime.now(UTC).isoformat(),
        "level": "INFO",
        "service": "payment-api",
        "message": f"payment {i} ok",
        "event_id": f"00000000-0000-4000-8000-{i:012d}",
        **extra,
    }


def delivered(aws: FakeAws) -> list[dict[str, Any]]:
    """Every NDJSON line Firehose delivered to the bucket."""
    return aws.lines()


@pytest.fixture
def aws(fake_aws: FakeAws) -> FakeAws:
    return fake_aws


@pytest.fixture
def api(aws: FakeAws) -> CollectApi:
    return CollectApi(CollectService(FirehoseSink(STREAM, aws.firehose, sleep=lambda _: None), Settings.from_env({})))


def test_single_record_is_accepted_and_delivered(api: CollectApi, aws: FakeAws) -> None:
    response = api.handle(api_event("/api/v1/logs", good(1, order_id="o-9")))
    assert response["statusCode"] == 200
    assert response_json(response) == {"accepted": 1, "rejected": []}
    [line] = delivered(aws)
    assert line["message"] == "payment 1 ok"
    assert line["api_key_id"] == "key-abc" and line["source"] == "api" and line["_loglens"] == 1
    assert line["metadata"] == {"order_id": "o-9"}
    assert "source_ip" not in line  # not recorded unless LOGLENS_RECORD_SOURCE_IP is on


def test_batch_keeps_good_records_and_reports_bad_ones(api: CollectApi, aws: FakeAws) -> None:
    batch = {"logs": [good(1), {"level": "INFO", "service": "no message"}, good(2, http_status_code="abc")]}
    response = api.handle(api_event("/api/v1/logs/batch", batch))
    assert response["statusCode"] == 200
    assert response_json(response) == {
        "accepted": 1,
        "rejected": [
            {"index": 1, "errors": ["message: required field is missing"]},
            {"index": 2, "errors": ["http_status_code: expected an integer from 100 to 599, got 'abc'"]},
        ],
    }
    assert [line["message"] for line in delivered(aws)] == ["payment 1 ok"]


def test_all_rejected_is_400_and_nothing_is_sent(api: CollectApi, aws: FakeAws) -> None:
    response = api.handle(api_event("/api/v1/logs/batch", {"logs": [{"level": "nope"}]}))
    assert response["statusCode"] == 400
    assert response_json(response)["accepted"] == 0
    assert delivered(aws) == []


def test_gzip_body_and_plain_body_are_both_read(api: CollectApi, aws: FakeAws) -> None:
    assert api.handle(api_event("/api/v1/logs/batch", {"logs": [good(1)]}, gzip_body=True))["statusCode"] == 200
    assert api.handle(api_event("/api/v1/logs/batch", {"logs": [good(2)]}, base64_body=False))["statusCode"] == 200
    assert sorted(line["message"] for line in delivered(aws)) == ["payment 1 ok", "payment 2 ok"]


def test_ten_thousand_records_are_packed_into_few_firehose_calls(api: CollectApi, aws: FakeAws) -> None:
    batch = {"logs": [good(i) for i in range(10_000)]}
    response = api.handle(api_event("/api/v1/logs/batch", batch, gzip_body=True))
    assert response_json(response) == {"accepted": 10_000, "rejected": []}
    lines = delivered(aws)
    assert len(lines) == 10_000
    assert len({line["event_id"] for line in lines}) == 10_000


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (
            b'{"logs": [ {"level": "INFO",, } ]}',
            "application/json",
            400,
            "body is not valid JSON: Expecting property name enclosed in double quotes "
            "at line 1, column 29 (character 28)",
        ),
        (b"", "application/json", 400, "body is not valid JSON: Expecting value at line 1, column 1 (character 0)"),
        (b'{"logs": []}', "application/json", 400, "logs is empty: send at least one record"),
        (b'{"logs": {"a": 1}}', "application/json", 400, 'body must be {"logs": [ ...records ]}'),
        (
            b'{"logs": [1]}',
            "application/xml",
            415,
            "Content-Type 'application/xml' is not accepted; send application/json",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "body is not valid JSON: nested too deeply"),
    ],
    ids=["broken-json", "empty-body", "empty-batch", "logs-not-array", "wrong-content-type", "deep-nesting"],
)
def test_unreadable_batches_say_why(api: CollectApi, body: bytes, content_type: str, status: int, message: str) -> None:
    response = api.handle(api_event("/api/v1/logs/batch", body, content_type=content_type))
    assert (response["statusCode"], response_json(response)) == (status, {"error": message})


def test_single_route_wants_an_object(api: CollectApi) -> None:
    response = api.handle(api_event("/api/v1/logs", [good(1)]))
    assert response["statusCode"] == 400
    assert "send arrays to /api/v1/logs/batch" in response_json(response)["error"]


def test_twenty_megabyte_body_is_413(api: CollectApi) -> None:
    response = api.handle(api_event("/api/v1/logs/batch", b"x" * (20 * 1024 * 1024)))
    assert response["statusCode"] == 413
    assert response_json(response) == {"error": f"body is {20 * 1024 * 1024} bytes; the limit is {MAX_BODY_BYTES}"}


def test_gzip_bomb_is_413(api: CollectApi) -> None:
    bomb = gzip.compress(b'{"logs": [' + b" " * (64 * 1024 * 1024) + b"]}")
    event = api_event("/api/v1/logs/batch", bomb, headers={"Content-Encoding": "gzip"})
    response = api.handle(event)
    assert response["statusCode"] == 413
    assert "expands past" in response_json(response)["error"]


def test_truncated_gzip_is_400(api: CollectApi) -> None:
    data = gzip.compress(json.dumps({"logs": [good(1)]}).encode())[:-12]
    response = api.handle(api_event("/api/v1/logs/batch", data, headers={"Content-Encoding": "gzip"}))
    assert (response["statusCode"], response_json(response)) == (
        400,
        {"error": "body is not valid gzip: member 1 is truncated"},
    )


def test_too_many_records_is_413(api: CollectApi) -> None:
    response = api.handle(api_event("/api/v1/logs/batch", {"logs": [good(i) for i in range(10_001)]}))
    assert (response["statusCode"], response_json(response)) == (
        413,
        {"error": "batch holds 10001 records; the limit is 10000"},
    )


def test_unknown_encoding_is_415(api: CollectApi) -> None:
    response = api.handle(api_event("/api/v1/logs", good(1), headers={"Content-Encoding": "br"}))
    assert response["statusCode"] == 415


def test_nul_bytes_and_hostile_text_are_cleaned_not_fatal(api: CollectApi, aws: FakeAws) -> None:
    body = (
        '{"logs": [{"level": "ERROR", "service": "pay\\u0000ment", "message": "a\\u0000b \\ud800 c",'
        ' "metadata": {"k\\u0000": ["v\\u0000"]}}]}'
    )
    response = api.handle(api_event("/api/v1/logs/batch", body))
    assert response_json(response)["accepted"] == 1
    [line] = delivered(aws)
    assert (line["service"], line["message"], line["metadata"]) == ("payment", "ab \ufffd c", {"k": ["v"]})


def test_integers_too_big_for_json_serialisers_are_kept_as_text_not_a_500(api: CollectApi, aws: FakeAws) -> None:
    body = '{"logs": [{"level": "INFO", "service": "s", "message": "m", "metadata": {"n": 1%s, "ok": 7}}]}' % ("0" * 30)
    response = api.handle(api_event("/api/v1/logs/batch", body))
    assert (response["statusCode"], response_json(response)["accepted"]) == (200, 1)
    [line] = delivered(aws)
    assert line["metadata"] == {"n": "1" + "0" * 30, "ok": 7}


def test_health_and_unknown_routes(api: CollectApi) -> None:
    health = api.handle(api_event("/api/v1/health", None, method="GET"))
    assert (health["statusCode"], response_json(health)["status"]) == (200, "ok")
    assert api.handle(api_event("/api/v1/nope", good(1)))["statusCode"] == 404
    assert api.handle(api_event("/api/v1/logs", None, method="GET"))["statusCode"] == 405


def test_cors_header_on_every_answer(api: CollectApi) -> None:
    for event in (api_event("/api/v1/logs", good(1)), api_event("/api/v1/logs", b"{", content_type="application/json")):
        assert api.handle(event)["headers"]["Access-Control-Allow-Origin"] == "*"


class _RefusingFirehose:
    """Firehose that refuses every record (a throttled or failing stream), counting attempts."""

    def __init__(self, refuse_first: int | None = None) -> None:
        self.calls: list[int] = []
        self.refuse_first = refuse_first

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict[str, bytes]]) -> dict[str, Any]:
        self.calls.append(len(Records))
        if self.refuse_first is not None and len(self.calls) > self.refuse_first:
            return {"FailedPutCount": 0, "RequestResponses": [{"RecordId": "r"} for _ in Records]}
        return {
            "FailedPutCount": len(Records),
            "RequestResponses": [{"ErrorCode": "ServiceUnavailableException"} for _ in Records],
        }


def test_firehose_refusing_gives_503_with_retry_after() -> None:
    firehose = _RefusingFirehose()
    api = CollectApi(CollectService(FirehoseSink(STREAM, firehose, sleep=lambda _: None), Settings.from_env({})))
    response = api.handle(api_event("/api/v1/logs", good(1)))
    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "5"
    assert "ServiceUnavailableException" in response_json(response)["error"]
    assert len(firehose.calls) == 4  # the first try and three retries


def test_only_failed_entries_are_retried() -> None:
    class HalfFailing:
        def __init__(self) -> None:
            self.sent: list[int] = []

        def put_record_batch(self, DeliveryStreamName: str, Records: list[dict[str, bytes]]) -> dict[str, Any]:
            self.sent.append(len(Records))
            failing = len(self.sent) == 1
            return {
                "FailedPutCount": len(Records) // 2 if failing else 0,
                "RequestResponses": [
                    {"ErrorCode": "ThrottlingException"} if failing and i % 2 else {} for i in range(len(Records))
                ],
            }

    firehose = HalfFailing()
    sink = FirehoseSink(STREAM, firehose, sleep=lambda _: None)
    sink.put([b"x" * 600_000 + b"\n" for _ in range(4)])  # 600 KB lines: one Firehose record each
    assert firehose.sent == [4, 2]


def test_packing_respects_firehose_record_and_batch_limits() -> None:
    lines = [b"y" * 300_000 + b"\n"] * 7
    records = pack_records(lines, None)
    assert [len(r) for r in records] == [900_003, 900_003, 300_001]
    assert sum(len(r) for r in records) == sum(len(line) for line in lines)
    small = pack_records([b"z\n"] * 2000, None)
    assert len(small) == 1


def test_sealed_records_keep_their_header_inside_the_firehose_limit() -> None:
    from loglens.ingest.envelope import HEADER_RESERVE, MAX_LINE_BYTES, Sealer
    from loglens.ingest.limits import MAX_FIREHOSE_RECORD_BYTES

    sealer = Sealer(b"k" * 32)
    longest = b"w" * (MAX_LINE_BYTES - 1) + b"\n"
    records = pack_records([longest[2:], b"v\n", longest], sealer)
    assert len(records) == 2  # the short line rides with the first long one, to the byte
    for record in records:
        assert len(record) <= MAX_FIREHOSE_RECORD_BYTES
        header, body = record.split(b"\n", 1)
        assert len(header) < HEADER_RESERVE and body.endswith(b"\n")
        assert json.loads(header) == {"_loglens_seal": 1, "bytes": len(body), "mac": sealer.mac(body)}
    with pytest.raises(ValueError, match="cannot fit"):
        pack_records([longest + b"x"], sealer)
    assert MAX_FIREHOSE_BATCH_RECORDS == 500
