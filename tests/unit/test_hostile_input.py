"""collect's edge under hostile and careless input: every client mistake is a 4xx that says where, a record
that cannot be stored as sent is rejected alone, and nothing is silently lost or changed.

Handler level (real API Gateway events, Firehose faked by moto); tests/e2e/test_hostile_http.py sends the
same cases over real HTTP to `loglens dev`.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from loglens.ingest.collect import CollectApi, CollectService
from loglens.ingest.sinks import FirehoseSink
from loglens.settings import Settings
from tests.aws_fakes import STREAM, FakeAws
from tests.events import api_event, response_json

BIG = "9" * 5000  # past Python's 4,300-digit int() guard


def good(i: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "timestamp": datetime.now(UTC).isoformat(),
        "level": "INFO",
        "service": "payment-api",
        "message": f"payment {i} ok",
        "event_id": f"00000000-0000-4000-8000-{i:012d}",
        **extra,
    }


def raw_json(record: dict[str, Any], **literals: str) -> bytes:
    """The record as JSON text with some values written as raw literals (numbers json.dumps cannot make)."""
    text = json.dumps(record)[:-1]
    for key, literal in literals.items():
        text += f', "{key}": {literal}'
    return (text + "}").encode()


@pytest.fixture
def api(fake_aws: FakeAws) -> CollectApi:
    return CollectApi(
        CollectService(FirehoseSink(STREAM, fake_aws.firehose, sleep=lambda _: None), Settings.from_env({}))
    )


# --- numbers Python cannot convert -------------------------------------------------------------------


def test_an_integer_of_5000_digits_in_metadata_is_kept_as_text(api: CollectApi, fake_aws: FakeAws) -> None:
    response = api.handle(api_event("/api/v1/logs", raw_json(good(1), order_total=BIG)))
    assert (response["statusCode"], response_json(response)) == (200, {"accepted": 1, "rejected": []})
    [line] = fake_aws.lines()
    assert line["metadata"]["order_total"] == BIG


@pytest.mark.parametrize(
    ("field", "literal", "reason"),
    [
        ("duration_ms", BIG, "duration_ms: expected a non-negative number, got inf"),
        ("duration_ms", "1" + "0" * 400, "duration_ms: expected a non-negative number, got an integer of 401 digits"),
        ("duration_ms", "1e400", "duration_ms: expected a non-negative number, got inf"),
        ("http_status_code", BIG, "http_status_code: expected an integer from 100 to 599, got a number of 5000 digits"),
        ("screen_width", "-" + BIG, "screen_width: expected an integer from 0 to 100000, got a number of 5001 digits"),
        ("timestamp", "1" + "0" * 400, "timestamp: epoch value of 401 digits is out of range"),
        ("timestamp", BIG, "timestamp: epoch value inf is not a positive finite number"),
    ],
)
def test_a_number_too_large_for_its_field_rejects_only_that_record(
    api: CollectApi, fake_aws: FakeAws, field: str, literal: str, reason: str
) -> None:
    bad = raw_json(good(2), **{field: literal}).decode()
    body = f'{{"logs": [{json.dumps(good(1))}, {bad}, {json.dumps(good(3))}]}}'.encode()
    response = api.handle(api_event("/api/v1/logs/batch", body))
    assert response["statusCode"] == 200
    assert response_json(response) == {"accepted": 2, "rejected": [{"index": 1, "errors": [reason]}]}
    assert [line["message"] for line in fake_aws.lines()] == ["payment 1 ok", "payment 3 ok"]


def test_a_5000_digit_number_as_a_text_field_is_kept_as_its_digits(api: CollectApi, fake_aws: FakeAws) -> None:
    response = api.handle(api_event("/api/v1/logs", raw_json(good(1), user_id=BIG)))
    assert response["statusCode"] == 200
    assert fake_aws.lines()[0]["user_id"].startswith("9999")


# --- bodies ------------------------------------------------------------------------------------------


def test_every_gzip_member_is_read(api: CollectApi, fake_aws: FakeAws) -> None:
    body = json.dumps({"logs": [good(1), good(2), good(3)]}).encode()
    # The same JSON text cut in three places, each piece its own gzip member (what `cat a.gz b.gz` gives).
    pieces = [body[:50], body[50:300], body[300:]]
    data = b"".join(gzip.compress(piece) for piece in pieces)
    response = api.handle(api_event("/api/v1/logs/batch", data, headers={"Content-Encoding": "gzip"}))
    assert (response["statusCode"], response_json(response)["accepted"]) == (200, 3)
    assert len(fake_aws.lines()) == 3


@pytest.mark.parametrize(
    ("tail", "message"),
    [
        (b"garbage", "body is not valid gzip: the 7 bytes after gzip member 1 (from byte"),
        (b"\0\0\0\0", "body is not valid gzip: the 4 bytes after gzip member 1 (from byte"),
        (gzip.compress(b"more")[:-4], "body is not valid gzip: member 2 is truncated"),
    ],
)
def test_trailing_bytes_after_gzip_are_refused_not_ignored(
    api: CollectApi, fake_aws: FakeAws, tail: bytes, message: str
) -> None:
    data = gzip.compress(json.dumps(good(1)).encode()) + tail
    response = api.handle(api_event("/api/v1/logs", data, headers={"Content-Encoding": "gzip"}))
    assert response["statusCode"] == 400
    assert response_json(response)["error"].startswith(message)
    assert fake_aws.lines() == []


@pytest.mark.parametrize(
    "content_type", ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded"]
)
def test_a_body_that_is_not_declared_json_is_415(api: CollectApi, fake_aws: FakeAws, content_type: str) -> None:
    response = api.handle(api_event("/api/v1/logs/batch", {"logs": [good(1)]}, content_type=content_type))
    assert response["statusCode"] == 415
    assert "send application/json" in response_json(response)["error"]
    assert fake_aws.lines() == []


# --- duplicates within one request -------------------------------------------------------------------


def test_the_same_key_with_different_content_is_a_reported_conflict(api: CollectApi, fake_aws: FakeAws) -> None:
    first = good(7, message="card declined")
    second = {**first, "message": "card accepted"}
    response = api.handle(api_event("/api/v1/logs/batch", {"logs": [first, second, good(8)]}))
    answer = response_json(response)
    assert (response["statusCode"], answer["accepted"]) == (200, 2)
    [rejection] = answer["rejected"]
    assert rejection["index"] == 1
    assert rejection["errors"][0].startswith(f"event_id: {first['event_id']} with timestamp ")
    assert "already record 0's in this request, with different content" in rejection["errors"][0]
    assert [line["message"] for line in fake_aws.lines()] == ["card declined", "payment 8 ok"]


def test_the_same_record_twice_in_a_request_is_accepted_and_written_once(api: CollectApi, fake_aws: FakeAws) -> None:
    record = good(9)
    response = api.handle(api_event("/api/v1/logs/batch", {"logs": [record, dict(record)]}))
    assert response_json(response) == {"accepted": 2, "rejected": []}
    assert len(fake_aws.lines()) == 1


def test_the_same_event_id_at_different_times_is_two_events(api: CollectApi, fake_aws: FakeAws) -> None:
    now = datetime.now(UTC).timestamp()
    first, second = good(5, timestamp=now - 1), good(5, timestamp=now - 2, message="other")
    response = api.handle(api_event("/api/v1/logs/batch", {"logs": [first, second]}))
    assert response_json(response) == {"accepted": 2, "rejected": []}
    assert len(fake_aws.lines()) == 2
