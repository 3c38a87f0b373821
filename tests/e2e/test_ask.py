"""Asking over real HTTP: /api/v1/ask and /slack/commands served like `loglens dev` serves them.

The routes are the local API Gateway (LocalApi + LocalHttpServer) around `local_ask_api`, the handler
`loglens dev` registers; the model is FakeClaude and Slack's response_url a local server, both on 127.0.0.1.
The last test runs a real `loglens dev` process with the routes local/stack.py registers.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from loglens.db.connect import connect
from loglens.devtools.demo import DemoPlan
from loglens.devtools.local.ask import local_ask_api
from loglens.devtools.local.server import LocalApi, LocalHttpServer
from loglens.settings import Settings
from tests.demo_data import load_demo
from tests.e2e.conftest import API_KEY, free_port, start_dev, stop_dev
from tests.fake_claude import FakeClaude, answer, last_user_text, message, run_query, tool_results
from tests.fake_slack import ResponseUrlServer

SECRET = "e2e-signing-secret"
QUERY = (
    "SELECT service, count(*) AS errors FROM logs WHERE created_at >= now() - interval '3 hours' "
    "AND level IN ('ERROR', 'FATAL') GROUP BY service ORDER BY errors DESC"
)


@dataclass
class AskServer:
    url: str
    fake: FakeClaude
    slack: ResponseUrlServer


def two_step_model(request: dict[str, Any]) -> dict[str, Any]:
    if tool_results(request):
        return message(answer(QUERY, "payment-api logged the most errors."))
    return message(run_query(QUERY))


@pytest.fixture(scope="module")
def data(db_url: str) -> str:
    load_demo(db_url, DemoPlan(records=5_000))
    return db_url


def serve(analyst_url: str, writer_url: str, **extra_env: str) -> Iterator[AskServer]:
    fake = FakeClaude(responder=two_step_model).start()
    slack = ResponseUrlServer().start()
    env = {
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": fake.url,
        "SLACK_SIGNING_SECRET": SECRET,
        "LOGLENS_SLACK_RESPONSE_URL_PREFIXES": slack.base + "/",
        **extra_env,
    }
    ask = local_ask_api(Settings.from_env({}), analyst_url=analyst_url, writer_url=writer_url, environ=env)
    api = LocalApi(API_KEY)
    api.add("/api/v1/ask", ask.handle)
    api.add("/api/v1/ask/{id}", ask.handle)
    api.add("/slack/commands", ask.handle, api_key_required=False)
    http = LocalHttpServer(api, 0)
    http.start()
    yield AskServer(http.url, fake, slack)
    http.stop()
    slack.stop()
    fake.stop()


@pytest.fixture
def server(data: str, analyst_url: str, writer_url: str) -> Iterator[AskServer]:
    yield from serve(analyst_url, writer_url)


@pytest.fixture
def impatient(data: str, analyst_url: str, writer_url: str) -> Iterator[AskServer]:
    """POST waits 1 s for an answer (API Gateway allows 29 s; the default wait is 20 s)."""
    yield from serve(analyst_url, writer_url, LOGLENS_ASK_WAIT="1")


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = 30) -> tuple[int, dict[str, Any]]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        connection.request("POST", parts.path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def ask(base: str, payload: dict[str, Any], key: str | None = API_KEY) -> tuple[int, dict[str, Any]]:
    headers = {"content-type": "application/json", **({"x-api-key": key} if key else {})}
    return post(f"{base}/api/v1/ask", json.dumps(payload).encode(), headers)


def get(url: str, key: str | None = API_KEY) -> tuple[int, dict[str, Any], dict[str, str]]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        connection.request("GET", parts.path, headers={"x-api-key": key} if key else {})
        response = connection.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}  # uvicorn sends lower case
        return response.status, json.loads(response.read() or b"{}"), headers
    finally:
        connection.close()


def test_a_slow_answer_answers_202_with_an_id_then_the_answer_on_get(impatient: AskServer) -> None:
    # Given a model that does not answer until the test has had POST's answer (POST waits 1 s)
    released = threading.Event()

    def held(request: dict[str, Any]) -> dict[str, Any]:
        assert released.wait(30), "POST never answered"
        return two_step_model(request)

    impatient.fake.script(held)

    # When a question is asked
    status, pending = ask(impatient.url, {"question": "Which service had the most errors in the last 3 hours?"})
    released.set()

    # Then POST answered 202 while the model was still thinking, with an id and where to poll
    assert status == 202, pending
    assert pending["status"] == "running" and pending["poll"] == f"/api/v1/ask/{pending['id']}"
    # And polling answers 202 until the answer is stored, then the whole answer
    for _ in range(200):
        status, body, headers = get(impatient.url + pending["poll"])
        if status != 202:
            break
        assert body == pending and headers.get("retry-after") == "2"
        time.sleep(0.1)
    assert status == 200, body
    assert body["ask_id"] == pending["id"] and body["conversation_id"]
    assert body["explanation"]["summary"] == "payment-api logged the most errors." and body["rows"]
    assert len(impatient.fake.requests) == 2
    # The same GET again answers the same (the outcome is stored, not consumed)
    assert get(impatient.url + pending["poll"])[:2] == (200, body)


def test_a_fast_answer_still_comes_back_in_the_post(impatient: AskServer) -> None:
    status, body = ask(impatient.url, {"question": "Which service errs most?"})
    assert status == 200 and body["ask_id"] and body["columns"] == ["service", "errors"]


@pytest.mark.parametrize(
    ("path", "status", "message_part"),
    [
        ("/api/v1/ask/not-a-uuid", 400, "must be the UUID"),
        ("/api/v1/ask/1%27%20OR%201%3D1--", 400, "must be the UUID"),
        ("/api/v1/ask/" + "9" * 5000, 400, "must be the UUID"),
        ("/api/v1/ask/5b1f3c3e-7d4e-4a7e-9b8e-3f2d1c0b9a87", 404, "no answer"),
    ],
)
def test_bad_or_unknown_ids_are_refused(server: AskServer, path: str, status: int, message_part: str) -> None:
    got, body, _ = get(server.url + path)
    assert got == status and message_part in body["error"]


def test_get_needs_the_api_key(server: AskServer) -> None:
    status, _, _ = get(server.url + "/api/v1/ask/5b1f3c3e-7d4e-4a7e-9b8e-3f2d1c0b9a87", key=None)
    assert status == 403


def test_ask_needs_the_api_key(server: AskServer) -> None:
    status, _ = ask(server.url, {"question": "errors?"}, key=None)
    assert status == 403 and server.fake.requests == []


def test_ask_answers_over_http_and_follows_up(server: AskServer, data: str) -> None:
    # When a question is asked over HTTP
    status, first = ask(server.url, {"question": "Which service had the most errors in the last 3 hours?"})

    # Then the answer comes back as JSON with a new conversation id
    assert status == 200, first
    assert first["columns"] == ["service", "errors"] and first["rows"]
    assert first["sql"].endswith("LIMIT 1000") and first["steps"] == 2
    assert first["explanation"]["summary"] == "payment-api logged the most errors."
    assert first["performance"]["partitions_total"] > 0
    conversation = first["conversation_id"]

    # And a follow-up in the same conversation shows the model the earlier turn
    status, second = ask(server.url, {"question": "And why?", "conversation_id": conversation})
    assert status == 200 and second["conversation_id"] == conversation
    follow_up = server.fake.requests[2]
    assert (
        follow_up["messages"][0]["content"]
        == "Earlier question: Which service had the most errors in the last 3 hours?"
    )
    assert "Question: And why?" in last_user_text(follow_up)
    with connect(data) as conn:
        turns = conn.execute(
            "SELECT turn FROM conversation_turns WHERE conversation_id = %s ORDER BY turn",
            (f"http:local-dev-key:{conversation}",),
        ).fetchall()
    assert turns == [(1,), (2,)]


@pytest.mark.parametrize(
    ("payload", "status", "message_part"),
    [
        ({}, 400, "question is required"),
        ({"question": "   "}, 400, "question is required"),
        ({"question": "x" * 2001}, 400, "the limit is 2000"),
        ({"question": "q", "conversation_id": "slack:T1:C1:U1"}, 400, "must be a UUID"),
        ({"question": "q", "conversation_id": 5}, 400, "must be a string"),
        # PostgreSQL cannot store these; found by schemathesis as a 503 from the answer store
        ({"question": "errors\u0000?"}, 400, "NUL character at position 6"),
    ],
)
def test_bad_ask_requests_are_refused_before_the_model(
    server: AskServer, payload: dict[str, Any], status: int, message_part: str
) -> None:
    got, body = ask(server.url, payload)
    assert got == status and message_part in body["error"]
    assert server.fake.requests == []


@pytest.mark.parametrize(
    ("body", "message_part"),
    [
        # Python will not make an int of 4,300+ digits: the number is read as its digits, as text
        (b'{"question": ' + b"9" * 5000 + b"}", "question is 5000 characters; the limit is 2000"),
        (b'{"question": "q", "conversation_id": ' + b"9" * 5000 + b"}", "must be a UUID"),
        (b'{"question": "q", "conversation_id": "' + b"9" * 5000 + b'"}', "must be a UUID"),
    ],
)
def test_a_5000_digit_number_in_the_ask_body_is_a_400(server: AskServer, body: bytes, message_part: str) -> None:
    status, answer = post(f"{server.url}/api/v1/ask", body, {"content-type": "application/json", "x-api-key": API_KEY})
    assert status == 400 and message_part in answer["error"]
    assert server.fake.requests == []


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    timestamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": f"v0={digest}",
    }


def test_a_slash_command_is_acknowledged_before_the_model_answers_then_posted(server: AskServer) -> None:
    # Given a model that does not answer until the test has its acknowledgement
    released = threading.Event()

    def held(request: dict[str, Any]) -> dict[str, Any]:
        assert released.wait(20), "the acknowledgement never arrived"
        return two_step_model(request)

    server.fake.script(held)
    body = urlencode(
        {
            "command": "/logs",
            "text": "which service errs most?",
            "team_id": "T1",
            "channel_id": "C1",
            "user_id": "U1",
            "response_url": server.slack.url,
        }
    ).encode()

    # When Slack posts the command (no API key: the signature is the authentication)
    started = time.monotonic()
    status, ack = post(f"{server.url}/slack/commands", body, signed(body), timeout=5)
    acknowledged_in = time.monotonic() - started
    released.set()

    # Then the acknowledgement came back at once, ephemeral, while the model was still held
    assert status == 200 and acknowledged_in < 3.0
    assert ack["response_type"] == "ephemeral" and ack["text"].startswith("Looking into it")
    # And the answer arrives at response_url as Block Kit, in the channel
    [posted] = server.slack.wait_for(1)
    assert posted["response_type"] == "in_channel"
    rendered = json.dumps(posted["blocks"])
    assert "payment-api logged the most errors." in rendered and "```SELECT service" in rendered
    assert len(server.fake.requests) == 2


def test_copies_of_a_signed_slash_command_are_answered_once(server: AskServer, data: str) -> None:
    # Given a signed command that someone captured
    body = urlencode(
        {
            "command": "/logs",
            "text": "which service errs most, once?",
            "team_id": "T1",
            "channel_id": "C2",
            "user_id": "U1",
            "response_url": server.slack.url,
        }
    ).encode()
    headers = signed(body)

    # When it arrives three times within its five-minute window
    statuses = [post(f"{server.url}/slack/commands", body, headers, timeout=5)[0] for _ in range(3)]

    # Then one answer is posted, the model is asked once, and the signature is claimed in PostgreSQL
    assert statuses == [200, 200, 200]
    [posted] = server.slack.wait_for(1)
    assert posted["response_type"] == "in_channel"
    time.sleep(1.0)  # the copies' workers have finished by now
    assert len(server.slack.posts) == 1 and len(server.fake.requests) == 2
    with connect(data) as conn:
        seen = conn.execute(
            "SELECT count(*) FROM slack_requests_seen WHERE signature = %s", (headers["x-slack-signature"],)
        ).fetchone()
    assert seen == (1,)


def test_a_5000_digit_slack_timestamp_is_a_401(server: AskServer) -> None:
    body = urlencode({"command": "/logs", "text": "errors?", "response_url": server.slack.url}).encode()
    headers = {**signed(body), "x-slack-request-timestamp": "9" * 5000}
    status, answer = post(f"{server.url}/slack/commands", body, headers)
    assert (status, answer) == (401, {"error": "invalid Slack request signature"})
    assert server.fake.requests == [] and server.slack.posts == []


def test_a_forged_slash_command_is_refused(server: AskServer) -> None:
    body = urlencode({"command": "/logs", "text": "errors?", "response_url": server.slack.url}).encode()
    status, _ = post(f"{server.url}/slack/commands", body, signed(body, secret="not-the-secret"))
    time.sleep(0.2)
    assert status == 401 and server.fake.requests == [] and server.slack.posts == []


@pytest.mark.slow
def test_loglens_dev_serves_ask(data: str, analyst_url: str, writer_url: str) -> None:
    fake = FakeClaude(responder=two_step_model).start()
    home = Path(tempfile.mkdtemp(prefix="loglens-e2e-ask-"))
    port = free_port()
    env = {
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": fake.url,
        "LOGLENS_ANALYST_DATABASE_URL": analyst_url,
        "LOGLENS_WRITER_DATABASE_URL": writer_url,
    }
    process = start_dev(data, home, port, env)
    try:
        status, body = ask(f"http://127.0.0.1:{port}", {"question": "Which service errs most?"})
        assert status == 200, body
        assert body["columns"] == ["service", "errors"] and body["conversation_id"]
    finally:
        stop_dev(process)
        fake.stop()
