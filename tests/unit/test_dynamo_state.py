"""DynamoAskState on moto's DynamoDB: the lake-only ask's conversations, HTTP answers and Slack claims.

The table has the shape infra/components/ask_state.py deploys (pk, sk, TTL on expires_at). Each interface
is held to what its PostgreSQL twin promises: turns newest-last within their age, an answer readable only
by the key that asked and finished once, a signature claimed once within its window; and what DynamoDB
adds: items stop at 400 KB, and TTL deletes late.
"""

from __future__ import annotations

import os
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from loglens.agent.api import AskApi
from loglens.agent.conversations import Turn, http_requester
from loglens.agent.dynamo_state import MAX_BODY_BYTES, DynamoAskState, pack, unpack
from tests.aws_fakes import REGION, FakeAws

TABLE = "loglens-test-ask-state"


def create_table(client: Any, name: str = TABLE) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})


@pytest.fixture
def dynamodb(fake_aws: FakeAws) -> Any:
    client = boto3.client("dynamodb", region_name=REGION)
    create_table(client)
    return client


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def turn(question: str, at: datetime, **more: Any) -> Turn:
    return Turn(question, f"SELECT '{question}'", f"answer to {question}", ["n"], [[1]], created_at=at, **more)


def test_turns_come_back_oldest_first_within_their_age_and_limit(dynamodb: Any) -> None:
    # Given a conversation with six turns a minute apart, and another conversation
    clock = Clock()
    state = DynamoAskState(TABLE, dynamodb, now=clock)
    start = clock.now - timedelta(minutes=10)
    for i in range(6):
        state.append("http:k1:c1", turn(f"q{i}", start + timedelta(minutes=i), key_insight=f"insight {i}"))
    state.append("http:k1:c2", turn("other", start))
    # When the history is read with the default limit
    history = state.history("http:k1:c1", max_age=timedelta(hours=1))
    # Then the five newest turns come back oldest first, with what the model saw
    assert [t.question for t in history] == ["q1", "q2", "q3", "q4", "q5"]
    last = history[-1]
    assert (last.sql, last.summary, last.columns, last.preview) == ("SELECT 'q5'", "answer to q5", ["n"], [[1]])
    assert last.key_insight == "insight 5" and last.created_at == start + timedelta(minutes=5)
    # And turns older than the age are not read, even before TTL deletes them
    assert [t.question for t in state.history("http:k1:c1", max_age=timedelta(minutes=6, seconds=30))] == ["q4", "q5"]
    assert state.history("http:k1:none", max_age=timedelta(hours=1)) == []


def test_two_turns_in_the_same_microsecond_are_both_kept(dynamodb: Any) -> None:
    state = DynamoAskState(TABLE, dynamodb)
    at = datetime.now(UTC)
    state.append("slack:T:C:U", turn("a", at))
    state.append("slack:T:C:U", Turn("b", None, "no sql", created_at=at))
    history = state.history("slack:T:C:U", max_age=timedelta(minutes=30))
    assert sorted(t.question for t in history) == ["a", "b"]
    assert next(t for t in history if t.question == "b").sql is None


def test_a_turn_expires_two_days_after_it_was_asked(dynamodb: Any) -> None:
    state = DynamoAskState(TABLE, dynamodb)
    at = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    state.append("http:k1:c1", turn("q", at))
    [item] = dynamodb.scan(TableName=TABLE)["Items"]
    assert int(item["expires_at"]["N"]) == int((at + timedelta(days=2)).timestamp())


@pytest.mark.parametrize("key", ["", "a b", "x" * 201, "conv\nbreak", "k#' OR 1=1"])
def test_a_malformed_conversation_key_is_refused_before_dynamodb_is_called(dynamodb: Any, key: str) -> None:
    state = DynamoAskState(TABLE, dynamodb)
    with pytest.raises(ValueError, match="invalid conversation key"):
        state.append(key, turn("q", datetime.now(UTC)))
    with pytest.raises(ValueError, match="invalid conversation key"):
        state.history(key, max_age=timedelta(hours=1))
    assert dynamodb.scan(TableName=TABLE)["Items"] == []


def test_an_answer_is_running_then_done_and_only_its_requester_reads_it(dynamodb: Any) -> None:
    state = DynamoAskState(TABLE, dynamodb)
    ask_id, mine, theirs = str(uuid.uuid4()), http_requester("key-1"), http_requester("key-2")
    state.start_answer(ask_id, mine, {"question": "errors?", "conversation_id": "c"})
    running = state.stored_answer(ask_id, mine)
    assert running is not None and running.state == "running" and running.http_status is None
    assert running.body == {"question": "errors?", "conversation_id": "c"}
    state.finish_answer(ask_id, mine, done=True, http_status=200, body={"summary": "3 errors", "rows": [[3]]})
    done = state.stored_answer(ask_id, mine)
    assert done is not None and (done.state, done.http_status, done.body["summary"]) == ("done", 200, "3 errors")
    # Another API key finds nothing, exactly as for an unknown id
    assert state.stored_answer(ask_id, theirs) is None
    assert state.stored_answer(str(uuid.uuid4()), mine) is None


def test_an_ask_has_one_outcome_and_one_start(dynamodb: Any) -> None:
    state = DynamoAskState(TABLE, dynamodb)
    ask_id, requester = str(uuid.uuid4()), http_requester("k")
    state.start_answer(ask_id, requester, {"question": "q"})
    with pytest.raises(ValueError, match="already has its running record"):
        state.start_answer(ask_id, requester, {"question": "again"})
    state.finish_answer(ask_id, requester, done=False, http_status=502, body={"error": "the model call failed"})
    with pytest.raises(ValueError, match="already has its outcome record"):
        state.finish_answer(ask_id, requester, done=True, http_status=200, body={"summary": "late"})
    stored = state.stored_answer(ask_id, requester)
    assert stored is not None and (stored.state, stored.http_status) == ("failed", 502)
    assert stored.body == {"error": "the model call failed"}


def test_an_ask_id_that_is_not_a_uuid_is_refused(dynamodb: Any) -> None:
    state = DynamoAskState(TABLE, dynamodb)
    with pytest.raises(ValueError):
        state.stored_answer("../../etc", http_requester("k"))


def test_an_answer_too_large_for_an_item_keeps_fewer_rows_and_says_so(dynamodb: Any) -> None:
    # Given an answer whose rows compress to far more than an item holds (random text does not compress)
    rows = [[os.urandom(64).hex()] for _ in range(10_000)]
    body = {"summary": "many rows", "rows": rows, "performance": {"rows": len(rows), "row_limit_reached": False}}
    # When it is stored and read back
    state = DynamoAskState(TABLE, dynamodb)
    ask_id, requester = str(uuid.uuid4()), http_requester("k")
    state.finish_answer(ask_id, requester, done=True, http_status=200, body=body)
    stored = state.stored_answer(ask_id, requester)
    # Then the first rows are kept, in order, and the answer says more rows exist
    assert stored is not None and stored.body["summary"] == "many rows"
    kept = stored.body["rows"]
    assert 0 < len(kept) < len(rows) and kept == rows[: len(kept)]
    assert stored.body["performance"]["row_limit_reached"] is True
    assert len(pack(body)) <= MAX_BODY_BYTES


def test_pack_round_trips_what_postgres_would_refuse() -> None:
    # NUL and lone surrogates (which jsonb refuses) survive JSON with ASCII escapes
    body = {"summary": "a\x00b", "key_insight": "\ud800 lone", "rows": [[None, 1.5, "ü"]]}
    assert unpack(pack(body)) == body


def test_a_slack_signature_is_claimed_once_until_its_window_ends(dynamodb: Any) -> None:
    clock = Clock()
    state = DynamoAskState(TABLE, dynamodb, now=clock)
    until = clock.now + timedelta(minutes=6)
    assert state.first_time("v0=abc", until) is True
    assert state.first_time("v0=abc", until) is False
    assert state.first_time("v0=other", until) is True
    # An expired claim that TTL has not deleted yet is no claim
    clock.now = until + timedelta(seconds=1)
    assert state.first_time("v0=abc", until + timedelta(minutes=6)) is True


def test_concurrent_copies_of_one_signature_are_claimed_exactly_once(dynamodb: Any) -> None:
    state = DynamoAskState(TABLE, dynamodb)
    until = datetime.now(UTC) + timedelta(minutes=6)
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        results.append(state.first_time("v0=same", until))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]


@pytest.mark.parametrize("signature", ["", "v0=" + "a" * 600])
def test_a_malformed_signature_is_refused(dynamodb: Any, signature: str) -> None:
    with pytest.raises(ValueError, match="Slack signature"):
        DynamoAskState(TABLE, dynamodb).first_time(signature, datetime.now(UTC))


def test_a_missing_table_fails_loudly_and_the_api_answers_503(dynamodb: Any) -> None:
    # Given a store whose table does not exist (deleted, or the wrong name in the environment)
    state = DynamoAskState("loglens-test-no-such-table", dynamodb)
    with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):
        state.first_time("v0=x", datetime.now(UTC))
    with pytest.raises(dynamodb.exceptions.ResourceNotFoundException):
        state.history("http:k:c", max_age=timedelta(hours=1))

    # When a question is posted to an API that keeps its answers there
    class Service:
        answers = state

    api = AskApi(
        service=lambda: Service(),  # type: ignore[arg-type,return-value]
        slack_secret=lambda: "unused",
        dispatch_async=lambda task: pytest.fail("nothing may be started without a record of it"),
    )
    response = api.handle(
        {
            "resource": "/api/v1/ask",
            "httpMethod": "POST",
            "headers": {"content-type": "application/json"},
            "body": '{"question": "errors?"}',
            "isBase64Encoded": False,
            "requestContext": {"requestId": "r", "identity": {"apiKeyId": "k"}},
        }
    )
    # Then it is a 503 that says to retry, not a 500
    assert response["statusCode"] == 503 and response["headers"]["Retry-After"] == "30"
    assert "answer store is unavailable" in response["body"]
