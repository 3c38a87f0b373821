"""Asks that outlive their request, at the handler: stored as the writer, read back by the asking key only.

The real agent answers through FakeClaude; the answers live in PostgreSQL (`ask_answers`, migration 0010)
through the conversation store on the writer connection, as in AWS; the worker runs on a thread, as
`loglens dev` runs it (in AWS it is the function's own asynchronous invocation).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anthropic
import pytest

from loglens.agent.api import AskApi
from loglens.agent.conversations import MemoryConversations, PostgresConversations, StoredAnswer
from loglens.agent.service import AskService, build_agent
from loglens.agent.settings import AgentSettings
from loglens.db.connect import ConnectionProvider, connect
from loglens.devtools.demo import DemoPlan
from tests.demo_data import load_demo
from tests.fake_claude import FakeClaude, answer, message, run_query, tool_results

QUERY = (
    "SELECT service, count(*) AS errors FROM logs WHERE created_at >= now() - interval '3 hours' "
    "AND level IN ('ERROR', 'FATAL') GROUP BY service ORDER BY errors DESC"
)


def two_steps(request: dict[str, Any]) -> dict[str, Any]:
    if tool_results(request):
        return message(answer(QUERY, "payment-api logged the most errors.", key_insight="Pool exhaustion."))
    return message(run_query(QUERY))


@pytest.fixture(scope="module")
def data(db_url: str) -> str:
    load_demo(db_url, DemoPlan(records=3_000))
    return db_url


@pytest.fixture
def fake() -> Iterator[FakeClaude]:
    server = FakeClaude(responder=two_steps).start()
    yield server
    server.stop()


def make_api(fake: FakeClaude, analyst_url: str, writer_url: str, *, wait: float = 5.0) -> AskApi:
    client = anthropic.Anthropic(api_key="k", base_url=fake.url, max_retries=0)
    agent = build_agent(
        analyst=ConnectionProvider(lambda: analyst_url),
        client=client,
        settings=AgentSettings.from_env({}, http_wait_seconds=wait),
        environ={},
    )
    store = PostgresConversations(ConnectionProvider(lambda: writer_url))
    service = AskService(agent, store, answers=store)

    def in_background(task: dict[str, Any]) -> None:
        threading.Thread(target=api.run_async, args=(task,), daemon=True).start()

    api = AskApi(service=lambda: service, slack_secret=lambda: "", dispatch_async=in_background)
    return api


def post(api: AskApi, body: dict[str, Any], key: str = "key-a") -> tuple[int, dict[str, Any]]:
    response = api.handle(
        {
            "resource": "/api/v1/ask",
            "path": "/api/v1/ask",
            "httpMethod": "POST",
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps(body),
            "isBase64Encoded": False,
            "requestContext": {"identity": {"apiKeyId": key}},
        }
    )
    return response["statusCode"], json.loads(response["body"])


def get(api: AskApi, ask_id: str, key: str = "key-a") -> tuple[int, dict[str, Any]]:
    response = api.handle(
        {
            "resource": "/api/v1/ask/{id}",
            "path": f"/api/v1/ask/{ask_id}",
            "httpMethod": "GET",
            "headers": {},
            "pathParameters": {"id": ask_id},
            "requestContext": {"identity": {"apiKeyId": key}},
        }
    )
    return response["statusCode"], json.loads(response["body"])


def until_done(api: AskApi, ask_id: str, key: str = "key-a") -> tuple[int, dict[str, Any]]:
    for _ in range(300):
        status, body = get(api, ask_id, key)
        if status != 202:
            return status, body
        threading.Event().wait(0.05)
    raise AssertionError("the answer never arrived")


def held_model(released: threading.Event, reply: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
    def respond(request: dict[str, Any]) -> dict[str, Any]:
        assert released.wait(30)
        return reply(request)

    return respond


def test_only_the_key_that_asked_can_read_the_answer(
    data: str, fake: FakeClaude, analyst_url: str, writer_url: str
) -> None:
    # Given an ask that POST could not wait for
    released = threading.Event()
    fake.script(held_model(released, two_steps))
    api = make_api(fake, analyst_url, writer_url, wait=0.2)
    status, pending = post(api, {"question": "Which service errs most?"})
    assert status == 202
    # When another API key asks for it, before and after it is answered
    assert get(api, pending["id"], key="key-b") == (404, {"error": "no answer with this id for this API key"})
    released.set()
    status, body = until_done(api, pending["id"])
    # Then the asking key gets the answer and the other key still gets the same 404 as for an unknown id
    assert status == 200 and body["ask_id"] == pending["id"]
    assert get(api, pending["id"], key="key-b")[0] == 404
    with connect(data) as conn:  # stored as the writer, append-only: one running row and one outcome
        rows = conn.execute(
            "SELECT state, http_status, requester FROM ask_answers WHERE ask_id = %s ORDER BY created_at",
            (pending["id"],),
        ).fetchall()
    assert rows == [("running", None, "http:key-a"), ("done", 200, "http:key-a")]


def test_a_failed_model_call_is_stored_and_polled_as_its_error(
    data: str, fake: FakeClaude, analyst_url: str, writer_url: str
) -> None:
    released = threading.Event()
    overloaded = {
        "__status__": 529,
        "body": {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
    }
    fake.script(held_model(released, lambda request: overloaded))
    api = make_api(fake, analyst_url, writer_url, wait=0.2)
    status, pending = post(api, {"question": "errors?"})
    released.set()
    assert status == 202
    status, body = until_done(api, pending["id"])
    assert status == 502 and body["status"] == "failed" and body["id"] == pending["id"]
    assert "model call failed" in body["error"]


def test_the_answer_store_being_down_answers_503_and_asks_nothing(
    data: str, fake: FakeClaude, analyst_url: str
) -> None:
    # Given a writer connection that cannot be opened
    api = make_api(fake, analyst_url, "postgresql://loglens_writer:x@127.0.0.1:9/none?connect_timeout=2")
    status, body = post(api, {"question": "errors?"})
    assert status == 503 and "answer store is unavailable" in body["error"]
    assert fake.requests == []
    status, body = get(api, "5b1f3c3e-7d4e-4a7e-9b8e-3f2d1c0b9a87")
    assert status == 503


def test_a_worker_that_never_finished_is_reported_after_a_while() -> None:
    # Given an ask whose running row is older than any worker lives (the function times out at 300 s)
    store = MemoryConversations()
    store.start_answer("5b1f3c3e-7d4e-4a7e-9b8e-3f2d1c0b9a87", "http:key-a", {"question": "q"})
    stale = datetime.now(UTC) - timedelta(minutes=10)
    store._answers[("5b1f3c3e-7d4e-4a7e-9b8e-3f2d1c0b9a87", "http:key-a")][0] = StoredAnswer("running", None, {}, stale)
    service = type("S", (), {"answers": store})()
    api = AskApi(service=lambda: service, slack_secret=lambda: "", dispatch_async=pytest.fail)  # type: ignore[arg-type]
    status, body = get(api, "5b1f3c3e-7d4e-4a7e-9b8e-3f2d1c0b9a87")
    assert status == 504 and body["status"] == "failed" and "never arrived" in body["error"]


def test_a_second_outcome_for_one_ask_is_refused_by_the_database(writer_url: str, data: str) -> None:
    store = PostgresConversations(ConnectionProvider(lambda: writer_url))
    ask_id = "0b1f3c3e-7d4e-4a7e-9b8e-3f2d1c0b9a80"
    store.start_answer(ask_id, "http:key-a", {"question": "q"})
    store.finish_answer(ask_id, "http:key-a", done=True, http_status=200, body={"question": "q"})
    import psycopg

    with pytest.raises(psycopg.errors.UniqueViolation):
        store.finish_answer(ask_id, "http:key-a", done=False, http_status=500, body={"error": "x"})
    with connect(writer_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE ask_answers SET state = 'failed'")
    stored = store.stored_answer(ask_id, "http:key-a")
    assert stored is not None and (stored.state, stored.http_status) == ("done", 200)


def test_a_follow_up_carries_the_earlier_answers_key_insight(
    data: str, fake: FakeClaude, analyst_url: str, writer_url: str
) -> None:
    api = make_api(fake, analyst_url, writer_url)
    status, first = post(api, {"question": "Which service errs most?"})
    assert status == 200 and first["explanation"]["key_insight"] == "Pool exhaustion."
    status, _ = post(api, {"question": "And why?", "conversation_id": first["conversation_id"]})
    assert status == 200
    earlier = fake.requests[2]["messages"][1]
    assert earlier["role"] == "assistant" and "Key insight: Pool exhaustion." in earlier["content"]
    with connect(data) as conn:
        stored = conn.execute(
            "SELECT key_insight FROM conversation_turns WHERE conversation_id = %s ORDER BY turn",
            (f"http:key-a:{first['conversation_id']}",),
        ).fetchall()
    assert stored == [("Pool exhaustion.",), ("Pool exhaustion.",)]


def test_a_question_postgresql_cannot_store_is_a_400_not_a_503(
    data: str, fake: FakeClaude, analyst_url: str, writer_url: str
) -> None:
    api = make_api(fake, analyst_url, writer_url)
    response = api.handle(
        {
            "resource": "/api/v1/ask",
            "path": "/api/v1/ask",
            "httpMethod": "POST",
            "headers": {"Content-Type": "application/json"},
            "body": '{"question": "why \\udc80 here?"}',  # an unpaired surrogate, as JSON allows it
            "isBase64Encoded": False,
            "requestContext": {"identity": {"apiKeyId": "key-a"}},
        }
    )
    assert response["statusCode"] == 400 and "unpaired UTF-16 surrogate" in response["body"]
    assert fake.requests == []


def test_a_reply_postgresql_could_not_store_is_stored_with_replacement_characters(writer_url: str, data: str) -> None:
    # A model may write a NUL or a lone surrogate in its summary; jsonb refuses both, and GET would wait forever
    store = PostgresConversations(ConnectionProvider(lambda: writer_url))
    ask_id = "0b1f3c3e-7d4e-4a7e-9b8e-3f2d1c0b9a81"
    store.start_answer(ask_id, "http:key-a", {"question": "q"})
    body = {"explanation": {"summary": "a\x00b\ud800c"}, "rows": [["x\x00"]], "bad\x00key": 1}
    store.finish_answer(ask_id, "http:key-a", done=True, http_status=200, body=body)
    stored = store.stored_answer(ask_id, "http:key-a")
    assert stored is not None and stored.body == {
        "explanation": {"summary": "a\ufffdb\ufffdc"},
        "rows": [["x\ufffd"]],
        "bad\ufffdkey": 1,
    }


def test_console_users_signed_in_with_cognito_are_told_apart_like_keys(
    data: str, fake: FakeClaude, analyst_url: str, writer_url: str
) -> None:
    # The console's API has no keys: the Cognito authorizer's claims say who asks (loglens.http.Request.caller)
    def as_user(event: dict[str, Any], subject: str) -> dict[str, Any]:
        event["requestContext"] = {"identity": {"apiKeyId": None}, "authorizer": {"claims": {"sub": subject}}}
        return event

    released = threading.Event()
    fake.script(held_model(released, two_steps))
    api = make_api(fake, analyst_url, writer_url, wait=0.2)
    asked = api.handle(as_user({"resource": "/api/v1/ask", "path": "/api/v1/ask", "httpMethod": "POST",
                                "headers": {"Content-Type": "application/json"},
                                "body": json.dumps({"question": "Which service errs most?"})}, "ana"))  # fmt: skip
    assert asked["statusCode"] == 202
    ask_id = json.loads(asked["body"])["id"]
    released.set()

    def read(subject: str) -> int:
        event = {"resource": "/api/v1/ask/{id}", "path": f"/api/v1/ask/{ask_id}", "httpMethod": "GET",
                 "headers": {}, "pathParameters": {"id": ask_id}}  # fmt: skip
        return int(api.handle(as_user(event, subject))["statusCode"])

    for _ in range(300):
        if read("ana") != 202:
            break
        threading.Event().wait(0.05)
    assert (read("ana"), read("bob")) == (200, 404)
    with connect(data) as conn:
        requesters = {r[0] for r in conn.execute("SELECT requester FROM ask_answers WHERE ask_id = %s", (ask_id,))}
    assert requesters == {"http:user:ana"}
