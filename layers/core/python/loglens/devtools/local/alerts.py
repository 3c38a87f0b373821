"""The alerts on a laptop: the connection as loglens_alerter, the channels and the model from the environment.

`loglens dev` runs `run_and_print` every five minutes (loglens.devtools.local.timers) and `loglens alerts ...`
uses the same pieces. Alerts are always printed; Slack (LOGLENS_SLACK_WEBHOOK_URL, or LOGLENS_SLACK_BOT_TOKEN and
LOGLENS_SLACK_CHANNEL) and SNS (LOGLENS_ALERT_SNS_TOPIC_ARN) get them too when configured. Claude writes the
explanations when a model is configured (ANTHROPIC_API_KEY, or MODEL_PROVIDER=bedrock).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg

from loglens.alerts.run import Explainer, RunReport
from loglens.settings import ConfigError, Settings

log = logging.getLogger(__name__)
ALERTER = "loglens_alerter"


@contextmanager
def alerter_connection(url: str, environ: Mapping[str, str] | None = None) -> Iterator[psycopg.Connection[Any]]:
    """LOGLENS_ALERTER_DATABASE_URL when set; else `url` (the admin) acting as loglens_alerter."""
    from loglens.db.connect import connect

    env = os.environ if environ is None else environ
    own = env.get("LOGLENS_ALERTER_DATABASE_URL")
    with connect(own or url, autocommit=True, application="loglens-alerts") as conn:
        if not own:
            try:
                conn.execute(f"SET ROLE {ALERTER}")
            except psycopg.errors.InvalidParameterValue:
                raise ConfigError(
                    f"this database has no {ALERTER} role yet: migrate it (`loglens db migrate`, or restart dev)"
                ) from None
        yield conn


def local_alert_actions(url: str, environ: Mapping[str, str] | None = None) -> Any:
    """The alert buttons' route for `loglens dev`: verified with LOGLENS_SLACK_ALERTS_SIGNING_SECRET."""
    from loglens.alerts.actions import AlertActions
    from loglens.alerts.channels import SlackSettings

    env = os.environ if environ is None else environ

    def signing_secret() -> str:
        secret = SlackSettings.from_env(env).signing_secret
        if not secret:
            raise ConfigError("LOGLENS_SLACK_ALERTS_SIGNING_SECRET is not set")
        return secret

    prefixes = [p.strip() for p in env.get("LOGLENS_SLACK_RESPONSE_URL_PREFIXES", "").split(",") if p.strip()]
    from loglens.agent.slack import SLACK_RESPONSE_URL_PREFIXES, ResponsePoster

    return AlertActions(
        signing_secret=signing_secret,
        connection=lambda: alerter_connection(url, env),
        poster=ResponsePoster(prefixes or SLACK_RESPONSE_URL_PREFIXES),
    )


def model_explainer(settings: Settings, environ: Mapping[str, str] | None = None) -> Explainer | None:
    """Claude's explanations through the ask agent, when a model is configured here; None otherwise."""
    from loglens.agent.client import has_credentials

    env = os.environ if environ is None else environ
    if not has_credentials(env):
        return None
    from loglens.agent.client import make_client
    from loglens.agent.service import AskService, build_agent
    from loglens.agent.settings import AgentSettings
    from loglens.alerts.explain import with_model
    from loglens.db.connect import ConnectionProvider
    from loglens.devtools.local.ask import role_urls

    agent_settings = AgentSettings.from_env(env)
    analyst = role_urls(settings, env).analyst
    agent = build_agent(
        analyst=ConnectionProvider(lambda: analyst, application="loglens-alerts"),
        client=make_client(agent_settings, environ=env),
        settings=agent_settings,
        environ=env,
    )
    service = AskService(agent)
    return lambda incident: with_model(service, incident, incident.facts)


def channels_from_env(environ: Mapping[str, str] | None = None) -> list[Any]:
    from loglens.alerts.channels import SlackSettings, build_channels

    env = os.environ if environ is None else environ
    return build_channels(SlackSettings.from_env(env), sns_topic_arn=env.get("LOGLENS_ALERT_SNS_TOPIC_ARN") or None)


def run_and_print(
    url: str,
    settings: Settings,
    *,
    write: Callable[[str], None] = print,
    now: datetime | None = None,
    environ: Mapping[str, str] | None = None,
) -> RunReport:
    """One scheduled run; prints each incident that opened, reopened, gained something or resolved."""
    from loglens.alerts import messages
    from loglens.alerts.run import run_once
    from loglens.alerts.settings import AlertSettings

    env = os.environ if environ is None else environ
    alert_settings = AlertSettings.from_env(env)
    with alerter_connection(url, env) as conn:
        report = run_once(
            conn,
            alert_settings,
            now=now or datetime.now(UTC),
            channels=channels_from_env(env),
            explainer=model_explainer(settings, env),
        )
    for incident in report.changed:
        shown = [event for event in incident.events if event in ("opened", "reopened", "resolved")]
        for event in shown[-1:]:
            write(f"loglens alert ({event}):\n" + messages.text(incident, event) + "\n")
    return report
