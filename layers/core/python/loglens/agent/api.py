"""ask: API Gateway REST events for POST /api/v1/ask and POST /slack/commands, and the asynchronous worker.

/api/v1/ask answers synchronously with the Answer as JSON. /slack/commands must answer Slack within 3
seconds, so it only verifies the signature, reads the form and hands the question to `dispatch_async`
(in AWS the function invokes itself with InvocationType=Event; locally a background thread), then
acknowledges. The worker (`run_async`) claims the request's signature (a copy of a signed request is
answered once: loglens.agent.replays), asks the agent and posts the answer to the command's response_url.
Nothing on the acknowledgement path builds the agent, opens a database connection or calls the model.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field

from loglens.agent.answer import Answer
from loglens.agent.conversations import http_key, new_conversation_id, parse_conversation_id, slack_key
from loglens.agent.replays import MemoryReplayGuard, ReplayGuard
from loglens.agent.service import AskService
from loglens.agent.slack import (
    SIGNATURE_WINDOW_SECONDS,
    ResponsePoster,
    SlackRequestRejected,
    SlashCommand,
    ack_message,
    answer_message,
    error_message,
    usage_message,
    verify_request,
)
from loglens.http import HttpError, HttpResponse, Request, Router, media_type, parse_json

log = logging.getLogger(__name__)
ASK_PATH = "/api/v1/ask"
SLACK_PATH = "/slack/commands"
ASYNC_KEY = "loglens_async"  # an event with this key is the function invoking itself, not API Gateway
MAX_QUESTION_CHARS = 2000
MAX_BODY_BYTES = 64 * 1024
HTTP_CONVERSATION_AGE = timedelta(hours=24)
SLACK_CONVERSATION_AGE = timedelta(minutes=30)


class AskRequest(BaseModel):
    """The body of POST /api/v1/ask (documentation: the handler reads it with the specific messages below)."""

    question: str = Field(
        min_length=1, max_length=MAX_QUESTION_CHARS, pattern=r"\S", description="A question in plain language."
    )
    conversation_id: uuid.UUID | None = Field(
        default=None, description="The conversation_id of an earlier answer, to ask a follow-up."
    )


@dataclass
class AskApi:
    service: Callable[[], AskService]  # built on first use, so the Slack acknowledgement never waits for it
    slack_secret: Callable[[], str]  # raises ConfigError when no signing secret is configured
    dispatch_async: Callable[[dict[str, Any]], None]
    poster: ResponsePoster = field(default_factory=ResponsePoster)
    now: Callable[[], float] = time.time
    cors_origin: str = "*"
    on_answer: Callable[[Answer], None] | None = None  # metrics: steps, tokens, latency
    # Built on first use by the worker, never on the acknowledgement path; in memory unless given.
    replays: Callable[[], ReplayGuard] = field(default_factory=lambda: _in_memory(MemoryReplayGuard()))
    # A link to the answer in the web console for Slack answers (shared_answers), when a console is configured.
    share_link: Callable[[Answer], str] | None = None
    router: Router = field(init=False)

    def handle_invocation(self, event: dict[str, Any]) -> dict[str, Any]:
        """The Lambda entry: the asynchronous self-invocation, or an API Gateway proxy event."""
        if ASYNC_KEY in event:
            self.run_async(event[ASYNC_KEY])
            return {"status": "done"}
        return self.handle(event)

    def __post_init__(self) -> None:
        self.router = Router(self.cors_origin)
        self.router.add("POST", ASK_PATH, self._ask)
        self.router.add("POST", SLACK_PATH, self._slack_command)

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.router.resolve(event)

    def _body(self, request: Request) -> bytes:
        body = request.body
        if len(body) > MAX_BODY_BYTES:
            raise HttpError(413, f"body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")
        return body

    def _ask(self, request: Request) -> HttpResponse:
        body = self._body(request)
        if media_type(request.headers.get("content-type")) != "application/json":
            raise HttpError(415, "send the question as application/json")
        payload = parse_json(body)
        if not isinstance(payload, dict):
            raise HttpError(400, 'body must be {"question": "...", "conversation_id": "..."?}')
        question = _question(payload.get("question"))
        try:
            conversation_id = (
                parse_conversation_id(payload["conversation_id"])
                if payload.get("conversation_id") is not None
                else new_conversation_id()
            )
        except ValueError as error:
            raise HttpError(400, str(error)) from None
        key = http_key(request.api_key_id, conversation_id)
        answer = self._answer(question, key, HTTP_CONVERSATION_AGE)
        answer.conversation_id = conversation_id
        return HttpResponse(200, answer.model_dump_json().encode())

    def _slack_command(self, request: Request) -> HttpResponse:
        return self._slack(self._body(request), dict(request.headers))

    def _slack(self, body: bytes, headers: dict[str, str]) -> HttpResponse:
        from loglens.settings import ConfigError

        try:
            secret = self.slack_secret()
        except ConfigError as error:
            log.error("Slack request refused: %s", error)
            raise HttpError(503, "Slack is not configured on this deployment") from None
        try:
            verify_request(body, headers, secret, now=self.now())
            command = SlashCommand.from_form(body)
        except SlackRequestRejected as error:
            log.warning("Slack request refused: %s", error)
            raise HttpError(401, "invalid Slack request signature") from None
        if command.ssl_check:
            return HttpResponse(200, b"", "text/plain")
        if not command.text or command.text.lower() in ("help", "?"):
            return HttpResponse.json(200, usage_message(command.command))
        if len(command.text) > MAX_QUESTION_CHARS:
            return HttpResponse.json(200, error_message(f"Questions are limited to {MAX_QUESTION_CHARS} characters."))
        try:
            self.poster.check(command.response_url)
        except SlackRequestRejected:
            raise HttpError(400, "response_url is not a Slack URL") from None
        self.dispatch_async(
            {
                "kind": "slack_command",
                "question": command.text,
                "response_url": command.response_url,
                "conversation": slack_key(command.team_id, command.channel_id, command.user_id),
                # verify_request checked both: the signature names this request, the timestamp bounds its copies
                "signature": headers["x-slack-signature"],
                "valid_until": int(headers["x-slack-request-timestamp"]) + SIGNATURE_WINDOW_SECONDS,
            }
        )
        return HttpResponse.json(200, ack_message(command.text))

    def run_async(self, payload: dict[str, Any]) -> None:
        """Answer a slash command and post the result; every failure reaches the user as an ephemeral message."""
        if payload.get("kind") != "slack_command":
            log.error("unknown asynchronous task %r", payload.get("kind"))
            return
        url = str(payload.get("response_url") or "")
        try:
            if not self._first_time(payload):
                log.warning("a copy of an answered Slack request was ignored (same signature within its window)")
                return
        except Exception:
            # Unable to tell a copy from the original: answer neither, and tell the person who asked.
            log.exception("the Slack replay check failed")
            self._post(url, error_message("loglens could not reach its database; please ask again in a minute."))
            return
        try:
            answer = self._answer(str(payload["question"]), str(payload["conversation"]), SLACK_CONVERSATION_AGE)
            message = answer_message(answer, link=self._link(answer))
        except HttpError as error:
            message = error_message(error.message)
        except Exception:
            log.exception("answering a Slack question failed")
            message = error_message("Something went wrong while answering; the error is in the ask function's log.")
        self._post(url, message)

    def _link(self, answer: Answer) -> str | None:
        if self.share_link is None:
            return None
        try:
            return self.share_link(answer)
        except Exception:
            # The answer matters more than its link: post it without one.
            log.exception("sharing the answer for a console link failed")
            return None

    def _first_time(self, payload: dict[str, Any]) -> bool:
        signature = payload.get("signature")
        if not isinstance(signature, str) or not signature:
            raise ValueError("the queued Slack command carries no signature")
        # A copy is refused by the timestamp check once the window is over; keep the claim a minute longer.
        until = datetime.fromtimestamp(int(payload.get("valid_until") or 0) + 60, UTC)
        return self.replays().first_time(signature, until)

    def _post(self, url: str, message: dict[str, Any]) -> None:
        try:
            self.poster.post(url, message)
        except Exception:
            # Raising would make Lambda retry the whole question; a lost post is logged instead.
            log.exception("posting the answer to Slack failed")

    def _answer(self, question: str, conversation: str, max_age: timedelta) -> Answer:
        from loglens.agent.loop import ModelCallFailed
        from loglens.agent.tools import DatabaseUnavailable
        from loglens.settings import ConfigError

        try:
            answer = self.service().ask(question, conversation=conversation, max_age=max_age)
        except ConfigError as error:
            log.error("ask is not configured: %s", error)
            raise HttpError(503, f"asking is not configured here: {error}") from None
        except DatabaseUnavailable as error:
            raise HttpError(503, str(error), {"Retry-After": "30"}) from None
        except ModelCallFailed as error:
            raise HttpError(502, str(error)) from None
        if self.on_answer is not None:
            self.on_answer(answer)
        return answer


def _in_memory(guard: ReplayGuard) -> Callable[[], ReplayGuard]:
    return lambda: guard


def _question(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise HttpError(400, 'question is required: {"question": "how many errors in the last hour?"}')
    text = value.strip()
    if len(text) > MAX_QUESTION_CHARS:
        raise HttpError(400, f"question is {len(text)} characters; the limit is {MAX_QUESTION_CHARS}")
    return text


def self_invoker(lambda_client: Any, function_name: str) -> Callable[[dict[str, Any]], None]:
    """dispatch_async for AWS: the function invokes itself asynchronously with the payload."""

    def dispatch(payload: dict[str, Any]) -> None:
        lambda_client.invoke(
            FunctionName=function_name,
            InvocationType="Event",
            Payload=json.dumps({ASYNC_KEY: payload}).encode(),
        )

    return dispatch
