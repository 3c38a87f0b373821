"""Where alerts go and when: Slack (an incoming webhook, or a bot token that can also edit its message), and SNS
e-mail when Slack is not configured or fails (`loglens dev` also prints them: loglens.devtools.local.alerts).

When: a new incident is sent once; while it lasts, an update goes out only when it gained a subject (another
error type, another endpoint) and at most every `UPDATE_EVERY`; a reopened one is sent again; the resolution is
sent once. Acknowledged incidents get no more updates, only their resolution. A muted service's incidents are
recorded as muted and not sent. What was sent is kept in the incident's `delivery`, so a failed send is tried
again on the next run and a retried run sends nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Protocol

from loglens.alerts import messages
from loglens.alerts.incidents import Incident
from loglens.alerts.store import Mute

log = logging.getLogger(__name__)

UPDATE_EVERY: Final = timedelta(minutes=30)
SLACK_WEBHOOK_PREFIXES: Final = ("https://hooks.slack.com/",)


class DeliveryFailed(RuntimeError):
    """The channel did not take the message; the next run tries again."""


class Channel(Protocol):
    name: str

    def send(self, incident: Incident, action: str, previous: dict[str, Any]) -> dict[str, Any]:
        """Send (or edit) the incident's message; return what to remember (message ids)."""
        ...

    def send_digest(self, title: str, sections: Sequence[tuple[str, str]]) -> None: ...


def due(incident: Incident, *, now: datetime, mutes: Sequence[Mute]) -> str | None:
    """What to send about `incident` now, if anything: opened, reopened, updated or resolved."""
    sent = incident.delivery.get("sent") or {}
    state = sent.get("state")
    if incident.is_open and any(m.covers(incident) for m in mutes):
        return None
    if not incident.is_open:
        if state == "resolved":
            return None
        # Told open, or never told (it began and ended between two runs): say it once, unless it was muted.
        return None if state is None and incident.delivery.get("muted") else "resolved"
    if state is None:
        return "opened"
    if state == "resolved":
        return "reopened"
    if incident.acked_by:
        return None
    known = set(sent.get("subjects") or [])
    current = {"/".join(key) for key in incident.subjects}
    last = sent.get("at")
    if current - known and (last is None or now - datetime.fromisoformat(str(last)) >= UPDATE_EVERY):
        return "updated"
    return None


def deliver(
    incidents: Sequence[Incident],
    channels: Sequence[Channel],
    *,
    now: datetime,
    mutes: Sequence[Mute],
    save: Callable[[Incident], None],
) -> list[tuple[Incident, str, str]]:
    """Send what is due on the first channel that takes it (the next ones are fallbacks). Returns (incident,
    action, channel) for each message sent."""
    sent: list[tuple[Incident, str, str]] = []
    for incident in incidents:
        if incident.is_open and any(m.covers(incident) for m in mutes):
            if incident.delivery.get("muted") is None:
                incident.delivery["muted"] = now.isoformat()
                save(incident)
            continue
        action = due(incident, now=now, mutes=mutes)
        if action is None:
            continue
        previous = dict(incident.delivery.get("receipts") or {})
        for channel in channels:
            try:
                receipt = channel.send(incident, action, previous.get(channel.name) or {})
            except Exception as error:  # the next channel is the fallback; the next run retries the first
                log.warning("sending incident %s to %s failed: %s", incident.id, channel.name, error)
                incident.delivery["last_error"] = f"{channel.name}: {error}"[:500]
                continue
            receipts = dict(incident.delivery.get("receipts") or {})
            receipts[channel.name] = {**previous.get(channel.name, {}), **receipt}
            incident.delivery["receipts"] = receipts
            incident.delivery["sent"] = {
                "state": "resolved" if action == "resolved" else "open",
                "action": action,
                "at": now.isoformat(),
                "subjects": sorted("/".join(key) for key in incident.subjects),
                "channel": channel.name,
            }
            incident.delivery.pop("last_error", None)
            sent.append((incident, action, channel.name))
            break
        save(incident)
    return sent


@dataclass
class SlackWebhook:
    """An incoming webhook: posts only (an update is a new message in the channel)."""

    url: str
    timeout: int = 10
    allowed_prefixes: tuple[str, ...] = SLACK_WEBHOOK_PREFIXES
    name: str = "slack"

    def __post_init__(self) -> None:
        if not self.url.startswith(self.allowed_prefixes):
            raise ValueError("the Slack webhook URL must start with https://hooks.slack.com/")

    def send(self, incident: Incident, action: str, previous: dict[str, Any]) -> dict[str, Any]:
        self._post(messages.slack_message(incident, action))
        return {"webhook": True}

    def send_digest(self, title: str, sections: Sequence[tuple[str, str]]) -> None:
        self._post({"text": title, "blocks": messages.digest_blocks(title, sections)})

    def _post(self, payload: dict[str, Any]) -> None:
        from slack_sdk.webhook import WebhookClient

        response = WebhookClient(self.url, timeout=self.timeout).send_dict(payload)
        if response.status_code != 200:
            raise DeliveryFailed(f"Slack answered {response.status_code}: {str(response.body)[:200]}")


@dataclass
class SlackBot:
    """A bot token and a channel: the first message is edited as the incident changes; the resolution is also
    posted in its thread, so the channel sees it."""

    token: str
    channel: str
    base_url: str | None = None  # Slack's API; tests point it at a fake
    timeout: int = 10
    name: str = "slack"

    def _client(self) -> Any:
        from slack_sdk import WebClient

        if self.base_url:
            return WebClient(token=self.token, base_url=self.base_url, timeout=self.timeout)
        return WebClient(token=self.token, timeout=self.timeout)

    def send(self, incident: Incident, action: str, previous: dict[str, Any]) -> dict[str, Any]:
        from slack_sdk.errors import SlackApiError

        client = self._client()
        payload = messages.slack_message(incident, action)
        ts, channel = previous.get("ts"), previous.get("channel") or self.channel
        try:
            if ts and action in ("updated", "resolved"):
                client.chat_update(channel=channel, ts=ts, text=payload["text"], blocks=payload["blocks"])
                if action == "resolved":
                    client.chat_postMessage(
                        channel=channel, thread_ts=ts, reply_broadcast=True, text=messages.headline(incident, action)
                    )
                return {"ts": ts, "channel": channel}
            response = client.chat_postMessage(channel=self.channel, text=payload["text"], blocks=payload["blocks"])
        except SlackApiError as error:
            raise DeliveryFailed(f"Slack refused the message: {error.response.get('error')}") from error
        return {"ts": response.get("ts"), "channel": response.get("channel") or self.channel}

    def send_digest(self, title: str, sections: Sequence[tuple[str, str]]) -> None:
        from slack_sdk.errors import SlackApiError

        try:
            self._client().chat_postMessage(
                channel=self.channel, text=title, blocks=messages.digest_blocks(title, sections)
            )
        except SlackApiError as error:
            raise DeliveryFailed(f"Slack refused the digest: {error.response.get('error')}") from error


@dataclass
class SnsEmail:
    """An SNS topic (e-mail subscribers): the plain-text message."""

    topic_arn: str
    client: Any = None
    name: str = "sns"

    def _sns(self) -> Any:
        if self.client is None:
            from loglens.aws import client

            self.client = client("sns")
        return self.client

    def send(self, incident: Incident, action: str, previous: dict[str, Any]) -> dict[str, Any]:
        subject = messages.clip(f"[loglens] {messages.headline(incident, action)}", 99)
        body = messages.text(incident, action)
        response = self._sns().publish(TopicArn=self.topic_arn, Subject=_subject(subject), Message=body[:200_000])
        return {"message_id": response.get("MessageId")}

    def send_digest(self, title: str, sections: Sequence[tuple[str, str]]) -> None:
        body = "\n\n".join(f"{name}\n{text or '(nothing)'}" for name, text in sections)
        self._sns().publish(TopicArn=self.topic_arn, Subject=_subject(f"[loglens] {title}"), Message=body[:200_000])


def _subject(text: str) -> str:
    """SNS e-mail subjects: ASCII-ish, no line breaks, under 100 characters."""
    cleaned = "".join(ch if ch.isprintable() and ord(ch) < 0x2000 else " " for ch in text)
    return " ".join(cleaned.split())[:99] or "[loglens] alert"
