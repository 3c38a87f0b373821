"""The alert message's buttons: Slack posts a signed `block_actions` request to POST /slack/actions.

Acknowledge stops updates of an incident (its resolution is still sent); Mute 1h / 24h silences the incident's
service. The request is verified with the alerts app's signing secret (HMAC over the body, five-minute window)
before anything is read from it; the answer is a short confirmation posted back to Slack's response_url.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs

from loglens.agent.slack import ResponsePoster, SlackRequestRejected, escape, verify_request
from loglens.alerts import ACTIONS_MAX_BODY_BYTES, ACTIONS_PATH, store
from loglens.alerts.messages import ACK_ACTION, MUTE_ACTION
from loglens.http import HttpResponse
from loglens.http.request import HttpError
from loglens.http.router import Request, Router

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

MAX_BODY_BYTES: Final = ACTIONS_MAX_BODY_BYTES
MAX_MUTE_HOURS: Final = 24 * 7


@dataclass
class AlertActions:
    signing_secret: Callable[[], str]  # raises ConfigError when the deployment has none
    connection: Callable[[], AbstractContextManager[psycopg.Connection[Any]]]  # as loglens_alerter, autocommit
    poster: ResponsePoster = field(default_factory=ResponsePoster)
    now: Callable[[], float] = time.time
    cors_origin: str = "*"
    router: Router = field(init=False)

    def __post_init__(self) -> None:
        import psycopg

        self.router = Router(self.cors_origin)
        self.router.add("POST", ACTIONS_PATH, self._action)
        # The database is down or unreachable: Slack shows the error; the person presses again later.
        self.router.on_error(
            psycopg.OperationalError,
            lambda _error: HttpResponse.error(503, "the database is unavailable; try again in a minute"),
        )

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.router.resolve(event)

    def _action(self, request: Request) -> HttpResponse:
        from loglens.settings import ConfigError

        body = request.body
        if len(body) > MAX_BODY_BYTES:
            raise HttpError(413, f"body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")
        try:
            secret = self.signing_secret()
        except ConfigError as error:
            log.error("Slack action refused: %s", error)
            raise HttpError(503, "Slack actions are not configured on this deployment") from None
        try:
            verify_request(body, dict(request.headers), secret, now=self.now())
        except SlackRequestRejected as error:
            log.warning("Slack action refused: %s", error)
            raise HttpError(401, "invalid Slack request signature") from None
        action = parse_action(body)
        who = action["user"]
        at = datetime.fromtimestamp(self.now(), UTC)
        with self.connection() as conn:
            reply = self._apply(conn, action, who, at)
        if action["response_url"]:
            try:
                self.poster.post(
                    action["response_url"], {"response_type": "in_channel", "replace_original": False, "text": reply}
                )
            except Exception:  # the action is done; a lost confirmation is logged, not retried
                log.exception("posting the confirmation to Slack failed")
        return HttpResponse.json(200, {"ok": True, "text": reply})

    def _apply(self, conn: psycopg.Connection[Any], action: dict[str, Any], who: str, at: datetime) -> str:
        if action["action_id"] == ACK_ACTION:
            if not store.acknowledge(conn, action["incident"], by=who, at=at):
                raise HttpError(404, f"no incident #{action['incident']}")
            return f"Incident #{action['incident']} acknowledged by {escape(who)}: no more updates, only its end."
        incident = store.get_incident(conn, action["incident"])
        if incident is None:
            raise HttpError(404, f"no incident #{action['incident']}")
        until = at + timedelta(hours=action["hours"])
        store.mute(conn, incident.service, until=until, by=who, reason=f"Slack, incident #{incident.id}")
        return f"{escape(incident.service)} muted until {until:%Y-%m-%d %H:%M} UTC by {escape(who)}."


def parse_action(body: bytes) -> dict[str, Any]:
    """The one button press in a block_actions payload; HttpError 400 for anything else."""
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        payload = json.loads((form.get("payload") or [""])[0])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise HttpError(400, "expected a form with a JSON payload (a Slack block_actions request)") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        raise HttpError(400, "only block_actions payloads are handled here")
    actions = payload.get("actions")
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], dict):
        raise HttpError(400, "expected exactly one action")
    action_id = str(actions[0].get("action_id") or "")
    value = str(actions[0].get("value") or "")
    found = payload.get("user")
    user: dict[str, Any] = found if isinstance(found, dict) else {}
    who = str(user.get("username") or user.get("name") or user.get("id") or "someone in Slack")[:100]
    response_url = str(payload.get("response_url") or "")
    if action_id == ACK_ACTION:
        return {"action_id": action_id, "incident": _incident_id(value), "user": who, "response_url": response_url}
    if action_id.startswith(MUTE_ACTION):
        ident, _, hours = value.partition(":")
        if not hours.isdigit() or not 1 <= int(hours) <= MAX_MUTE_HOURS:
            raise HttpError(400, f"a mute lasts 1 to {MAX_MUTE_HOURS} hours")
        return {
            "action_id": action_id,
            "incident": _incident_id(ident),
            "hours": int(hours),
            "user": who,
            "response_url": response_url,
        }
    raise HttpError(400, f"unknown action {action_id[:60]!r}")


def _incident_id(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise HttpError(400, "the action does not name an incident")
    return int(text)
