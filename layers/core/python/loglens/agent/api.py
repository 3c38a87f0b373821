"""ask: API Gateway REST events for /api/v1/ask and /slack/commands, and the asynchronous worker.

POST /api/v1/ask may take longer than API Gateway's 29 seconds (up to `max_steps` model calls), so it
records the ask as running, hands it to `dispatch_async` (in AWS the function invokes itself with
InvocationType=Event; locally a background thread) and waits up to `http_wait_seconds` (20 s) for the
outcome: 200 with the Answer when it arrives in time, else 202 {"id", "status": "running", "poll"}.
GET /api/v1/ask/{id} reads the outcome, for the API key that asked only (another key gets 404).

/slack/commands must answer Slack within 3 seconds, so it only verifies the signature, reads the form and
dispatches the question, then acknowledges. The worker claims the request's signature (a copy of a signed
request is answered once: loglens.agent.replays), asks the agent and posts the answer to response_url.
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
from typing import Any, Literal

from pydantic import BaseModel, Field

from loglens.agent.answer import Answer
from loglens.agent.conversations import (
    AnswerStore,
    StoredAnswer,
    http_key,
    http_requester,
    new_conversation_id,
    parse_conversation_id,
    slack_key,
)
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
ASK_ID_PATH = "/api/v1/ask/{id}"
SLACK_PATH = "/slack/commands"
ASYNC_KEY = "loglens_async"  # an event with this key is the function invoking itself, not API Gateway
MAX_QUESTION_CHARS = 2000
MAX_BODY_BYTES = 64 * 1024
HTTP_CONVERSATION_AGE = timedelta(hours=24)
SLACK_CONVERSATION_AGE = timedelta(minutes=30)
# An ask still 'running' after this has lost its worker (the ask function's timeout is 300 s).
ASK_STALE_AFTER = timedelta(minutes=6)
_POLL_FIRST, _POLL_MAX = 0.05, 0.5  # seconds between reads of the store while POST waits


class AskRequest(BaseModel):
    """The body of POST /api/v1/ask (documentation: the handler reads it with the specific messages below)."""

    question: str = Field(
        min_length=1, max_length=MAX_QUESTION_CHARS, pattern=r"\S", description="A question in plain language."
    )
    conversation_id: uuid.UUID | None = Field(
        default=None, description="The conversation_id of an earlier answer, to ask a follow-up."
    )


class AskPending(BaseModel):
    """202: the answer is not ready yet; GET `poll` until it is (every few seconds: Retry-After)."""

    id: str = Field(description="The ask's id (a UUID).")
    status: Literal["running"] = "running"
    poll: str = Field(description="Where to GET the answer: /api/v1/ask/{id}.")


class AskFailed(BaseModel):
    """A stored ask that ended in an error, answered with that error's status."""

    error: str = Field(description="What went wrong.")
    id: str = Field(description="The ask's id (a UUID).")
    status: Literal["failed"] = "failed"


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
        self.router.add("GET", ASK_ID_PATH, self._ask_status)
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
        key = http_key(request.caller, conversation_id)
        service = self._service()
        store = getattr(service, "answers", None)
        if store is None:  # nowhere to keep it for a later GET: answer within the request
            answer = self._answer(question, key, HTTP_CONVERSATION_AGE)
            answer.conversation_id = conversation_id
            return HttpResponse(200, answer.model_dump_json().encode())
        ask_id, requester = str(uuid.uuid4()), http_requester(request.caller)
        try:
            store.start_answer(ask_id, requester, {"question": question, "conversation_id": conversation_id})
        except Exception as error:
            log.warning("could not record the ask: %s", error)
            raise HttpError(503, "the answer store is unavailable; try again shortly", {"Retry-After": "30"}) from None
        task = {
            "kind": "http_ask",
            "id": ask_id,
            "requester": requester,
            "question": question,
            "conversation_id": conversation_id,
            "conversation": key,
        }
        try:
            self.dispatch_async(task)
        except Exception:
            log.exception("could not start answering an HTTP ask")
            self._finish(store, ask_id, requester, 503, {"error": "the answer could not be started; try again"})
            raise HttpError(503, "the answer could not be started; try again", {"Retry-After": "30"}) from None
        wait = float(getattr(getattr(getattr(service, "agent", None), "settings", None), "http_wait_seconds", 20.0))
        return self._outcome(ask_id, self._wait_for(store, ask_id, requester, wait))

    def _ask_status(self, request: Request) -> HttpResponse:
        raw = request.path_params.get("id", "")
        try:
            ask_id = str(uuid.UUID(raw))
        except ValueError:
            raise HttpError(400, "the id must be the UUID that POST /api/v1/ask answered with") from None
        store = getattr(self._service(), "answers", None)
        if store is None:
            raise HttpError(404, "answers are not kept on this deployment")
        try:
            stored = store.stored_answer(ask_id, http_requester(request.caller))
        except Exception as error:
            log.warning("could not read an ask's answer: %s", error)
            raise HttpError(503, "the answer store is unavailable; try again shortly", {"Retry-After": "30"}) from None
        if stored is None:  # unknown, or asked with another API key: the same answer for both
            raise HttpError(404, "no answer with this id for this API key")
        return self._outcome(ask_id, stored)

    def _wait_for(self, store: AnswerStore, ask_id: str, requester: str, seconds: float) -> StoredAnswer | None:
        """The stored outcome once there is one, or the latest state when `seconds` have passed."""
        deadline = time.monotonic() + seconds
        delay = _POLL_FIRST
        stored: StoredAnswer | None = None
        while True:
            try:
                stored = store.stored_answer(ask_id, requester)
            except Exception as error:  # the worker may still finish; the client can poll for it
                log.warning("could not read an ask's answer while waiting: %s", error)
            if stored is not None and stored.state != "running":
                return stored
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return stored
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, _POLL_MAX)

    def _outcome(self, ask_id: str, stored: StoredAnswer | None) -> HttpResponse:
        """One answer shape for POST and GET: 200 Answer, 202 running, or the failure's status."""
        running = AskPending(id=ask_id, poll=f"{ASK_PATH}/{ask_id}").model_dump()
        if stored is None:  # POST only: the store could not be read while waiting; the worker may still finish
            return HttpResponse.json(202, running, {"Retry-After": "2"})
        if stored.state == "done":
            return HttpResponse.json(stored.http_status or 200, stored.body)
        if stored.state == "failed":
            failed = AskFailed(error=str(stored.body.get("error") or "the answer failed"), id=ask_id)
            return HttpResponse.json(stored.http_status or 500, failed.model_dump())
        if datetime.now(UTC) - stored.created_at > ASK_STALE_AFTER:
            lost = AskFailed(error="the answer never arrived: its worker stopped before finishing", id=ask_id)
            return HttpResponse.json(504, lost.model_dump())
        return HttpResponse.json(202, running, {"Retry-After": "2"})

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
        """The worker: answer an HTTP ask into the store, or a slash command to its response_url."""
        kind = payload.get("kind")
        if kind == "http_ask":
            self._run_http_ask(payload)
        elif kind == "slack_command":
            self._run_slack_command(payload)
        else:
            log.error("unknown asynchronous task %r", kind)

    def _run_http_ask(self, payload: dict[str, Any]) -> None:
        """Every outcome is stored, failures too, so GET never waits for an answer that cannot come."""
        ask_id, requester = str(payload["id"]), str(payload["requester"])
        try:
            store = self._service().answers
            if store is None:
                raise HttpError(503, "answers are not kept on this deployment")
        except HttpError as error:
            log.error("cannot answer HTTP ask %s: %s", ask_id, error.message)
            return
        try:
            answer = self._answer(str(payload["question"]), str(payload["conversation"]), HTTP_CONVERSATION_AGE)
            answer.conversation_id = str(payload["conversation_id"])
            answer.ask_id = ask_id
        except HttpError as error:
            self._finish(store, ask_id, requester, error.status, {"error": error.message})
        except Exception:
            log.exception("answering an HTTP ask failed")
            self._finish(store, ask_id, requester, 500, {"error": "internal error; the function's log has the details"})
        else:
            self._finish(store, ask_id, requester, 200, answer.model_dump(mode="json"))

    @staticmethod
    def _finish(store: AnswerStore, ask_id: str, requester: str, status: int, body: dict[str, Any]) -> None:
        try:
            store.finish_answer(ask_id, requester, done=status == 200, http_status=status, body=body)
        except Exception:
            # Raising would make Lambda retry the whole question; GET reports the ask as lost after a while.
            log.exception("storing the outcome of HTTP ask %s failed", ask_id)

    def _run_slack_command(self, payload: dict[str, Any]) -> None:
        """Answer a slash command and post the result; every failure reaches the user as an ephemeral message."""
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

    def _service(self) -> AskService:
        from loglens.settings import ConfigError

        try:
            return self.service()
        except ConfigError as error:
            log.error("ask is not configured: %s", error)
            raise HttpError(503, f"asking is not configured here: {error}") from None

    def _answer(self, question: str, conversation: str, max_age: timedelta) -> Answer:
        from loglens.agent.loop import ModelCallFailed
        from loglens.agent.tools import DatabaseUnavailable
        from loglens.settings import ConfigError

        try:
            answer = self._service().ask(question, conversation=conversation, max_age=max_age)
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
    # PostgreSQL stores neither (the ask, its conversation turn): say so instead of failing the store.
    if "\x00" in text:
        raise HttpError(400, f"question contains a NUL character at position {text.index(chr(0))}")
    unpaired = next((i for i, char in enumerate(text) if "\ud800" <= char <= "\udfff"), None)
    if unpaired is not None:
        raise HttpError(400, f"question contains an unpaired UTF-16 surrogate (\\u escape) at position {unpaired}")
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
