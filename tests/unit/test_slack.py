"""Slack: v0 signatures (Slack's published example), the 3-second acknowledgement, Block Kit answers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from loglens.agent.answer import Answer, Explanation, Performance, TokenUsage
from loglens.agent.api import ASYNC_KEY, AskApi
from loglens.agent.service import BuiltOnFirstUse
from loglens.agent.slack import (
    HEADER_CHARS,
    MAX_BLOCKS,
    SECTION_CHARS,
    ResponsePoster,
    SlackRequestRejected,
    SlashCommand,
    answer_message,
    verify_request,
)
from loglens.settings import ConfigError
from tests.fake_claude import FakeClaude
from tests.fake_slack import ResponseUrlServer

# Slack's worked example (api.slack.com/authentication/verifying-requests-from-slack).
EXAMPLE_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
EXAMPLE_TIMESTAMP = 1531420618
EXAMPLE_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&"
    b"channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&"
    b"response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
    b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
EXAMPLE_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
EXAMPLE_HEADERS = {"x-slack-request-timestamp": str(EXAMPLE_TIMESTAMP), "x-slack-signature": EXAMPLE_SIGNATURE}


def sign(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Sign like Slack does, computed here independently of the code under test."""
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


# -- signature verification --------------------------------------------------------------------


def test_slacks_published_example_verifies() -> None:
    verify_request(EXAMPLE_BODY, EXAMPLE_HEADERS, EXAMPLE_SECRET, now=EXAMPLE_TIMESTAMP + 30)


def test_the_independent_signer_agrees_with_slacks_example() -> None:
    assert sign(EXAMPLE_SECRET, EXAMPLE_TIMESTAMP, EXAMPLE_BODY)["X-Slack-Signature"] == EXAMPLE_SIGNATURE


@pytest.mark.parametrize("skew", [301, -301, 86_400])
def test_a_timestamp_outside_five_minutes_is_refused(skew: int) -> None:
    with pytest.raises(SlackRequestRejected, match="5 minutes"):
        verify_request(EXAMPLE_BODY, EXAMPLE_HEADERS, EXAMPLE_SECRET, now=EXAMPLE_TIMESTAMP + skew)


def test_the_window_edge_is_inclusive() -> None:
    verify_request(EXAMPLE_BODY, EXAMPLE_HEADERS, EXAMPLE_SECRET, now=EXAMPLE_TIMESTAMP + 300)


def test_a_wrong_signature_is_refused() -> None:
    wrong = EXAMPLE_SIGNATURE[:-1] + ("0" if EXAMPLE_SIGNATURE[-1] != "0" else "1")
    headers = {**EXAMPLE_HEADERS, "x-slack-signature": wrong}
    with pytest.raises(SlackRequestRejected, match="does not match"):
        verify_request(EXAMPLE_BODY, headers, EXAMPLE_SECRET, now=EXAMPLE_TIMESTAMP)


def test_a_wrong_secret_is_refused() -> None:
    with pytest.raises(SlackRequestRejected, match="does not match"):
        verify_request(EXAMPLE_BODY, EXAMPLE_HEADERS, EXAMPLE_SECRET + "x", now=EXAMPLE_TIMESTAMP)


def test_a_re_encoded_body_is_refused_though_it_is_the_same_form() -> None:
    # A proxy that parses and re-serialises the form changes the bytes Slack signed.
    fields = parse_qsl(EXAMPLE_BODY.decode(), keep_blank_values=True)
    re_encoded = urlencode(fields, safe=":/").encode()
    assert re_encoded != EXAMPLE_BODY
    assert parse_qsl(re_encoded.decode(), keep_blank_values=True) == fields
    with pytest.raises(SlackRequestRejected, match="does not match"):
        verify_request(re_encoded, EXAMPLE_HEADERS, EXAMPLE_SECRET, now=EXAMPLE_TIMESTAMP)


def test_a_body_left_base64_encoded_is_refused() -> None:
    with pytest.raises(SlackRequestRejected):
        verify_request(base64.b64encode(EXAMPLE_BODY), EXAMPLE_HEADERS, EXAMPLE_SECRET, now=EXAMPLE_TIMESTAMP)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-slack-signature": EXAMPLE_SIGNATURE},
        {"x-slack-request-timestamp": str(EXAMPLE_TIMESTAMP)},
        {**EXAMPLE_HEADERS, "x-slack-request-timestamp": "1531420618.5"},
        {**EXAMPLE_HEADERS, "x-slack-request-timestamp": "soon"},
        {**EXAMPLE_HEADERS, "x-slack-request-timestamp": "１５３１４２０６１８"},
    ],
)
def test_missing_or_malformed_headers_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(SlackRequestRejected):
        verify_request(EXAMPLE_BODY, headers, EXAMPLE_SECRET, now=EXAMPLE_TIMESTAMP)


def test_a_body_that_is_not_utf8_is_refused() -> None:
    body = EXAMPLE_BODY + b"\xff"
    headers = {k.lower(): v for k, v in sign(EXAMPLE_SECRET, EXAMPLE_TIMESTAMP, body).items()}
    with pytest.raises(SlackRequestRejected):
        verify_request(body, headers, EXAMPLE_SECRET, now=EXAMPLE_TIMESTAMP)


def test_the_slash_command_form_is_read() -> None:
    command = SlashCommand.from_form(EXAMPLE_BODY)
    assert command.command == "/webhook-collect"
    assert command.response_url.startswith("https://hooks.slack.com/commands/T1DC2JH3J/")
    assert (command.team_id, command.channel_id, command.user_id) == ("T1DC2JH3J", "G8PSS9T3V", "U2CERLKJA")


# -- the HTTP route: acknowledgement and asynchronous answer ------------------------------------

SECRET = "test-signing-secret"


def canned_answer(question: str = "Why did checkout fail?") -> Answer:
    return Answer(
        question=question,
        sql="SELECT service, count(*) FROM logs WHERE created_at >= now() - interval '1 hour' GROUP BY 1 LIMIT 1000",
        columns=["service", "errors"],
        rows=[["payment-api", 342], ["order-api", 12]],
        explanation=Explanation(
            summary="342 errors, 230% above the usual rate, mostly DatabaseConnectionTimeout in payment-api.",
            key_insight="The pool is exhausted.",
            recommendation="Check payment-api's database connection pool.",
        ),
        performance=Performance(query_ms=12.5, rows=2, partitions_scanned=1, partitions_total=18, indexes=["idx"]),
        usage=TokenUsage(input_tokens=1000, output_tokens=200, cache_read_input_tokens=3000),
        steps=2,
        model="claude-sonnet-5-5",
        latency_ms=2300,
    )


class StubService:
    """Stands in for AskService where these tests are about Slack, not the agent (see tests/e2e/test_ask.py)."""

    def __init__(self, answer: Answer | Exception) -> None:
        self.answer = answer
        self.questions: list[tuple[str, str | None]] = []

    def ask(self, question: str, *, conversation: str | None = None, **_: Any) -> Answer:
        self.questions.append((question, conversation))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def slack_event(body: bytes, headers: dict[str, str], *, base64_body: bool = True) -> dict[str, Any]:
    # API Gateway delivers form bodies base64-encoded when the API treats the media type as binary.
    return {
        "resource": "/slack/commands",
        "path": "/slack/commands",
        "httpMethod": "POST",
        "headers": {"Content-Type": "application/x-www-form-urlencoded", **headers},
        "body": base64.b64encode(body).decode() if base64_body else body.decode(),
        "isBase64Encoded": base64_body,
        "requestContext": {"identity": {"sourceIp": "127.0.0.1", "apiKeyId": None}},
    }


def command_body(text: str, response_url: str) -> bytes:
    return urlencode(
        {
            "token": "legacy",
            "team_id": "T1",
            "channel_id": "C1",
            "user_id": "U1",
            "user_name": "oncall",
            "command": "/logs",
            "text": text,
            "response_url": response_url,
        }
    ).encode()


def queued(question: str, response_url: str, signature: str | None = None) -> dict[str, Any]:
    """A payload as the acknowledgement queues it."""
    return {
        "kind": "slack_command",
        "question": question,
        "response_url": response_url,
        "conversation": "slack:T1:C1:U1",
        "signature": signature or "v0=" + hashlib.sha256(question.encode() + str(time.time()).encode()).hexdigest(),
        "valid_until": int(time.time()) + 300,
    }


@pytest.fixture
def fake() -> Iterator[FakeClaude]:
    server = FakeClaude().start()
    yield server
    server.stop()


@pytest.fixture
def slack() -> Iterator[ResponseUrlServer]:
    server = ResponseUrlServer().start()
    yield server
    server.stop()


def make_api(
    service: Any, dispatched: list[dict[str, Any]], slack: ResponseUrlServer, now: float | None = None
) -> AskApi:
    return AskApi(
        service=lambda: service,
        slack_secret=lambda: SECRET,
        dispatch_async=dispatched.append,
        poster=ResponsePoster((slack.base + "/",)),
        now=(lambda: now) if now is not None else time.time,
    )


def test_the_ack_answers_at_once_without_building_the_agent_or_calling_the_model(
    fake: FakeClaude, slack: ResponseUrlServer
) -> None:
    # Given an API whose service would reach the fake model, were it ever built
    built: list[str] = []

    def build() -> Any:
        built.append("built")
        raise AssertionError("the acknowledgement must not build the agent")

    dispatched: list[dict[str, Any]] = []
    api = AskApi(
        service=BuiltOnFirstUse(build),
        slack_secret=lambda: SECRET,
        dispatch_async=dispatched.append,
        poster=ResponsePoster((slack.base + "/",)),
    )
    body = command_body("why did checkout fail?", slack.url)
    now = int(time.time())
    headers = sign(SECRET, now, body)

    # When Slack posts a signed command (base64-encoded by API Gateway)
    started = time.monotonic()
    response = api.handle(slack_event(body, headers))
    elapsed = time.monotonic() - started

    # Then it acknowledges ephemerally well within Slack's 3 seconds, having only queued the work
    assert response["statusCode"] == 200 and elapsed < 1.0
    ack = json.loads(response["body"])
    assert ack["response_type"] == "ephemeral" and ack["text"].startswith("Looking into it")
    assert dispatched == [
        {
            "kind": "slack_command",
            "question": "why did checkout fail?",
            "response_url": slack.url,
            "conversation": "slack:T1:C1:U1",
            "signature": headers["X-Slack-Signature"],
            "valid_until": now + 300,
        }
    ]
    assert fake.requests == [] and built == [] and slack.posts == []


def test_a_plain_text_body_verifies_too(slack: ResponseUrlServer) -> None:
    dispatched: list[dict[str, Any]] = []
    body = command_body("errors?", slack.url)
    now = int(time.time())
    response = make_api(None, dispatched, slack).handle(slack_event(body, sign(SECRET, now, body), base64_body=False))
    assert response["statusCode"] == 200 and len(dispatched) == 1


@pytest.mark.parametrize(
    ("case", "expected"),
    [("stale", 401), ("wrong_signature", 401), ("re_encoded", 401), ("foreign_response_url", 400)],
)
def test_refused_commands_are_not_dispatched(slack: ResponseUrlServer, case: str, expected: int) -> None:
    dispatched: list[dict[str, Any]] = []
    now = int(time.time())
    url = "https://evil.example.com/x" if case == "foreign_response_url" else slack.url
    body = command_body("errors?", url)
    headers = sign(SECRET, now - 600 if case == "stale" else now, body)
    if case == "wrong_signature":
        headers = sign(SECRET + "x", now, body)
    if case == "re_encoded":
        body = urlencode(parse_qsl(body.decode()), safe="/:").encode()
    response = make_api(None, dispatched, slack).handle(slack_event(body, headers))
    assert response["statusCode"] == expected
    assert dispatched == [] and slack.posts == []


@pytest.mark.parametrize("text", ["", "help", "  "])
def test_an_empty_command_gets_usage_help(slack: ResponseUrlServer, text: str) -> None:
    dispatched: list[dict[str, Any]] = []
    body = command_body(text, slack.url)
    response = make_api(None, dispatched, slack).handle(slack_event(body, sign(SECRET, int(time.time()), body)))
    message = json.loads(response["body"])
    assert message["response_type"] == "ephemeral" and "/logs" in message["text"]
    assert dispatched == []


def test_no_signing_secret_fails_closed(slack: ResponseUrlServer) -> None:
    def missing() -> str:
        raise ConfigError("SLACK_SIGNING_SECRET is not set")

    api = AskApi(service=lambda: None, slack_secret=missing, dispatch_async=pytest.fail)  # type: ignore[arg-type]
    body = command_body("errors?", slack.url)
    response = api.handle(slack_event(body, sign(SECRET, int(time.time()), body)))
    assert response["statusCode"] == 503


def test_the_async_path_posts_block_kit_to_the_response_url(slack: ResponseUrlServer) -> None:
    # Given a queued command
    service = StubService(canned_answer())
    api = make_api(service, [], slack)
    payload = {
        "kind": "slack_command",
        "question": "Why did checkout fail?",
        "response_url": slack.url,
        "conversation": "slack:T1:C1:U1",
        "signature": "v0=" + "a" * 64,
        "valid_until": int(time.time()) + 300,
    }

    # When the asynchronous invocation runs it (as the Lambda receives it)
    api.handle_invocation({ASYNC_KEY: payload})

    # Then the answer was posted in the channel as Block Kit, with the conversation key passed along
    [posted] = slack.wait_for(1)
    assert service.questions == [("Why did checkout fail?", "slack:T1:C1:U1")]
    assert posted["response_type"] == "in_channel"
    kinds = [block["type"] for block in posted["blocks"]]
    assert kinds[0] == "header" and "context" in kinds
    everything = json.dumps(posted)
    assert "DatabaseConnectionTimeout" in everything and "```SELECT service" in everything
    assert "payment-api  342" in everything  # the compact table
    assert "partitions 1/18" in everything
    assert slack.paths == ["/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN"]


def test_a_failure_reaches_the_user_as_an_ephemeral_message(slack: ResponseUrlServer) -> None:
    api = make_api(StubService(RuntimeError("boom")), [], slack)
    api.run_async(queued("q", slack.url))
    [posted] = slack.wait_for(1)
    assert posted["response_type"] == "ephemeral"
    assert "went wrong" in posted["text"] and "boom" not in posted["text"]


def test_a_slack_that_refuses_the_post_does_not_raise(slack: ResponseUrlServer) -> None:
    slack.status = 500
    api = make_api(StubService(canned_answer()), [], slack)
    api.run_async(queued("q", slack.url))
    assert len(slack.wait_for(1)) >= 1  # the SDK may retry; none of it escapes as an exception


# -- copies of a signed request ---------------------------------------------------------------------


def test_three_copies_of_one_signed_command_are_answered_once(slack: ResponseUrlServer) -> None:
    # Given one signed command, captured and sent three times within its window
    service = StubService(canned_answer())
    dispatched: list[dict[str, Any]] = []
    api = make_api(service, dispatched, slack)
    body = command_body("why did checkout fail?", slack.url)
    headers = sign(SECRET, int(time.time()), body)

    # When each copy is acknowledged and its queued work runs
    statuses = [api.handle(slack_event(body, headers))["statusCode"] for _ in range(3)]
    for payload in dispatched:
        api.run_async(payload)

    # Then each copy was acknowledged (only its sender sees that), but the agent ran and Slack got one answer
    assert statuses == [200, 200, 200] and len(dispatched) == 3
    assert len(service.questions) == 1
    [posted] = slack.wait_for(1)
    assert posted["response_type"] == "in_channel"
    time.sleep(0.2)
    assert len(slack.posts) == 1


def test_the_same_question_signed_again_is_a_new_command(slack: ResponseUrlServer) -> None:
    service = StubService(canned_answer())
    dispatched: list[dict[str, Any]] = []
    api = make_api(service, dispatched, slack)
    body = command_body("why did checkout fail?", slack.url)
    now = int(time.time())
    for timestamp in (now - 1, now):  # asked twice: Slack signs each with its own timestamp
        api.handle(slack_event(body, sign(SECRET, timestamp, body)))
    for payload in dispatched:
        api.run_async(payload)
    assert len(service.questions) == 2 and len(slack.wait_for(2)) == 2


def test_when_the_replay_check_fails_nothing_is_answered_and_the_user_is_told(slack: ResponseUrlServer) -> None:
    class Down:
        def first_time(self, signature: str, expires_at: Any) -> bool:
            raise OSError("connection refused")

    service = StubService(canned_answer())
    api = make_api(service, [], slack)
    api.replays = lambda: Down()
    api.run_async(queued("q", slack.url))
    [posted] = slack.wait_for(1)
    assert posted["response_type"] == "ephemeral" and "database" in posted["text"]
    assert service.questions == []


def test_a_5000_digit_timestamp_is_refused_as_a_bad_signature_not_a_crash(slack: ResponseUrlServer) -> None:
    dispatched: list[dict[str, Any]] = []
    body = command_body("errors?", slack.url)
    headers = {"X-Slack-Request-Timestamp": "9" * 5000, "X-Slack-Signature": "v0=" + "0" * 64}
    response = make_api(None, dispatched, slack).handle(slack_event(body, headers))
    assert (response["statusCode"], json.loads(response["body"])) == (401, {"error": "invalid Slack request signature"})
    with pytest.raises(SlackRequestRejected, match="not a Unix time"):
        verify_request(body, {k.lower(): v for k, v in headers.items()}, SECRET, now=time.time())
    assert dispatched == []


# -- Block Kit within Slack's limits -------------------------------------------------------------


def test_block_kit_stays_within_slacks_limits_and_escapes_mrkdwn() -> None:
    huge = canned_answer("q" * 500)
    huge.sql = "SELECT " + ", ".join(f"col{i}" for i in range(2000)) + " FROM logs"
    huge.columns = [f"column_{i}" for i in range(20)]
    huge.rows = [[f"<!channel> value {r}-{c} " + "x" * 80 for c in range(20)] for r in range(500)]
    huge.explanation.summary = "<!everyone> " + "s" * 5000
    huge.complete = False

    message = answer_message(huge)

    assert len(message["blocks"]) <= MAX_BLOCKS
    assert len(message["blocks"][0]["text"]["text"]) <= HEADER_CHARS
    for block in message["blocks"]:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= SECTION_CHARS
            if "```" in block["text"]["text"]:
                assert block["text"]["text"].count("```") == 2  # the code block is closed
    rendered = json.dumps(message["blocks"])
    assert "<!channel>" not in rendered and "<!everyone>" not in rendered
    assert "&lt;!channel&gt;" in rendered
    assert "490 more rows" in rendered and "14 more columns" in rendered
    assert len(message["text"]) <= 3000


# -- the shape of a time series, and the link to the console ----------------------------------------


def hourly_answer() -> Answer:
    answer = canned_answer("errors per hour today?")
    answer.columns = ["hour", "errors"]
    counts = [3, 4, 2, 5, 3, 4, 28, 31, 6, 4, 3, 2]
    answer.rows = [[f"2026-03-10T{h:02d}:00:00+00:00", n] for h, n in enumerate(counts)]
    return answer


def test_a_time_series_answer_carries_its_shape_as_a_text_chart() -> None:
    message = answer_message(hourly_answer())
    sections = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    [chart] = [text for text in sections if "▁" in text]
    assert "errors  ▂▂▁▂▂▂▇█▂▂▂▁  2 … 31" in chart  # the spike at 06:00-07:00 is visible
    assert "2026-03-10 00:00 → 2026-03-10 11:00 UTC, 12 points" in chart
    assert chart.startswith("```") and chart.endswith("```")
    # A table without a time column gets no chart
    plain = answer_message(canned_answer())
    assert not any("▁" in json.dumps(b) for b in plain["blocks"])


def test_the_answer_links_to_the_console_when_one_is_configured(slack: ResponseUrlServer) -> None:
    shared: list[Answer] = []

    def share(answer: Answer) -> str:
        shared.append(answer)
        return "https://console.example.com/#/answers/AbCdEfGhIjKlMnOpQrStUv"

    api = make_api(StubService(hourly_answer()), [], slack)
    api.share_link = share
    api.run_async(queued("errors per hour today?", slack.url))
    [posted] = slack.wait_for(1)
    context = next(b for b in posted["blocks"] if b["type"] == "context")
    link = "https://console.example.com/#/answers/AbCdEfGhIjKlMnOpQrStUv"
    assert context["elements"][-1]["text"] == f"<{link}|Open in the console>"
    assert [a.question for a in shared] == ["errors per hour today?"]


def test_a_failed_share_still_posts_the_answer_without_a_link(slack: ResponseUrlServer) -> None:
    def share(answer: Answer) -> str:
        raise OSError("the database is away")

    api = make_api(StubService(hourly_answer()), [], slack)
    api.share_link = share
    api.run_async(queued("errors per hour today?", slack.url))
    [posted] = slack.wait_for(1)
    assert posted["response_type"] == "in_channel" and "Open in the console" not in json.dumps(posted)


@pytest.mark.parametrize("link", ["javascript:alert(1)", "https://x.example/<!channel>", "https://a|b", "ftp://x"])
def test_a_link_that_could_break_the_message_is_left_out(link: str) -> None:
    assert "Open in the console" not in json.dumps(answer_message(hourly_answer(), link=link))


def test_a_text_only_answer_is_posted_whole_without_an_hourglass() -> None:
    # A declined request (or one that needed no SQL) is a complete answer: no SQL, no table, no hourglass
    declined = Answer(
        question="delete the logs of u-1",
        explanation=Explanation(summary="I can only read logs; I will not delete them."),
        steps=1,
    )
    message = answer_message(declined)
    rendered = json.dumps(message["blocks"])
    assert "I can only read logs" in rendered
    assert ":hourglass:" not in rendered and "```" not in rendered
    incomplete = declined.model_copy(update={"complete": False})
    assert ":hourglass:" in json.dumps(answer_message(incomplete)["blocks"])
