"""Which channels a deployment sends alerts to, from its settings: Slack first, SNS e-mail as the fallback.

Slack is either an incoming webhook (`webhook_url`) or a bot token and a channel (`bot_token`, `channel`; the bot
edits its message as the incident changes). Locally these come from LOGLENS_SLACK_* variables; in AWS from one
Secrets Manager secret holding the same keys as JSON, plus `signing_secret` for the buttons (Slack's
interactivity requests are verified with it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from loglens.alerts.delivery import Channel, SlackBot, SlackWebhook, SnsEmail
from loglens.settings import ConfigError, from_environment


def _env(name: str) -> Any:
    return {"env": name}


class SlackSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    webhook_url: str | None = Field(default=None, json_schema_extra=_env("LOGLENS_SLACK_WEBHOOK_URL"))
    bot_token: str | None = Field(default=None, json_schema_extra=_env("LOGLENS_SLACK_BOT_TOKEN"))
    channel: str | None = Field(default=None, json_schema_extra=_env("LOGLENS_SLACK_CHANNEL"))
    signing_secret: str | None = Field(default=None, json_schema_extra=_env("LOGLENS_SLACK_ALERTS_SIGNING_SECRET"))
    # Slack's Web API base URL; only tests change it (to their fake Slack).
    api_url: str | None = Field(default=None, json_schema_extra=_env("LOGLENS_SLACK_API_URL"))

    @model_validator(mode="after")
    def _complete(self) -> SlackSettings:
        if self.bot_token and not self.channel:
            raise ValueError("a Slack bot token needs a channel (LOGLENS_SLACK_CHANNEL, or 'channel' in the secret)")
        if self.webhook_url and not self.webhook_url.startswith("https://hooks.slack.com/"):
            raise ValueError("the Slack webhook URL must start with https://hooks.slack.com/")
        return self

    @property
    def configured(self) -> bool:
        return bool(self.webhook_url or self.bot_token)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SlackSettings:
        return from_environment(cls, environ, what="Slack alert configuration")

    @classmethod
    def from_secret(cls, text: str) -> SlackSettings:
        """The alerts' Slack secret: a JSON object with webhook_url, or bot_token and channel (and signing_secret)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise ConfigError(
                'the Slack alerts secret must be JSON: {"webhook_url": "..."} or {"bot_token": "...", "channel": "..."}'
            ) from None
        if not isinstance(data, dict):
            raise ConfigError("the Slack alerts secret must be a JSON object")
        try:
            return cls.model_validate({k: v for k, v in data.items() if v not in ("", None)})
        except ValidationError as error:
            problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors())
            raise ConfigError(f"the Slack alerts secret is not usable: {problems}") from None


def build_channels(slack: SlackSettings, *, sns_topic_arn: str | None = None, sns_client: Any = None) -> list[Channel]:
    """Slack (when configured), then SNS (when a topic is given): the first that takes a message wins."""
    channels: list[Channel] = []
    if slack.bot_token and slack.channel:
        channels.append(SlackBot(slack.bot_token, slack.channel, base_url=slack.api_url))
    elif slack.webhook_url:
        channels.append(SlackWebhook(slack.webhook_url))
    if sns_topic_arn:
        channels.append(SnsEmail(sns_topic_arn, client=sns_client))
    return channels
