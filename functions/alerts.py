"""alerts Lambda: EventBridge {"task": "detect"} every 5 minutes and {"task": "digest"} daily; POST /slack/actions.

All logic is in loglens.alerts; this module wires AWS to it: the alerter and analyst connections through RDS Proxy
with IAM auth, the Slack settings and the Anthropic key from Secrets Manager (cached for five minutes), SNS for
e-mail, and the model provider from MODEL_PROVIDER/MODEL_ID when LOGLENS_ALERT_EXPLAIN_WITH_MODEL is on. A run
that cannot reach the database or deliver fails the invocation (the error alarm fires; the next run retries).
"""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from loglens.alerts.channels import SlackSettings, build_channels
from loglens.alerts.settings import AlertSettings
from loglens.aws import client, secret_string
from loglens.db.connect import ConnectionProvider
from loglens.environments import AlertsEnvironment
from loglens.settings import ConfigError

logger = Logger()
metrics = Metrics(namespace="loglens")
SECRET_MAX_AGE_SECONDS = 300
_state: dict[str, Any] = {}


def _environment() -> AlertsEnvironment:
    if "env" not in _state:
        _state["env"] = AlertsEnvironment.from_env()
    env: AlertsEnvironment = _state["env"]
    return env


def _connection(env: AlertsEnvironment) -> Any:
    provider = _state.setdefault("alerter", ConnectionProvider(env.conninfo_factory(), application="loglens-alerts"))
    conn = provider.get()
    conn.autocommit = True
    return conn


def _slack(env: AlertsEnvironment) -> SlackSettings:
    if not env.slack_secret_arn:
        return SlackSettings()
    text = secret_string(env.slack_secret_arn, max_age_seconds=SECRET_MAX_AGE_SECONDS).strip()
    # The placeholder CDK creates is not JSON: Slack is simply not set up yet (SNS e-mail still works).
    return SlackSettings.from_secret(text) if text.startswith("{") else SlackSettings()


def _explainer(env: AlertsEnvironment) -> Any:
    if not env.explain_with_model:
        return None
    if "explainer" not in _state:
        from loglens.agent.client import make_client
        from loglens.agent.service import AskService, build_agent
        from loglens.agent.settings import AgentSettings, Provider
        from loglens.alerts.explain import with_model

        settings = AgentSettings.from_env()
        arn = env.anthropic_secret_arn
        api_key = None
        if settings.provider is not Provider.BEDROCK:
            if not arn:
                raise ConfigError("ANTHROPIC_SECRET_ARN is not set on this function")
            api_key = lambda: secret_string(arn, max_age_seconds=SECRET_MAX_AGE_SECONDS).strip()  # noqa: E731
        agent = build_agent(
            analyst=ConnectionProvider(env.conninfo_factory(user=env.analyst_db_user), application="loglens-alerts"),
            client=make_client(settings, api_key=api_key),
            settings=settings,
            environ=os.environ,
        )
        service = AskService(agent)
        _state["explainer"] = lambda incident: with_model(service, incident, incident.facts)
    return _state["explainer"]


def _detect(env: AlertsEnvironment) -> dict[str, Any]:
    from loglens.alerts.run import run_once

    channels = build_channels(_slack(env), sns_topic_arn=env.sns_topic_arn, sns_client=client("sns"))
    report = run_once(
        _connection(env),
        AlertSettings.from_env(),
        now=datetime.now(UTC),
        channels=channels,
        explainer=_explainer(env),
    )
    for event in ("opened", "reopened", "resolved"):
        count = sum(1 for incident in report.changed if event in incident.events)
        metrics.add_metric(name=f"Incidents{event.title()}", unit=MetricUnit.Count, value=count)
    metrics.add_metric(name="AlertsSent", unit=MetricUnit.Count, value=len(report.sent))
    metrics.add_metric(name="DetectorRunTime", unit=MetricUnit.Seconds, value=report.seconds)
    summary = report.to_dict()
    if report.undelivered:
        # Every channel refused: fail the invocation so the error alarm says so (the next run sends again).
        raise RuntimeError(f"{len(report.undelivered)} alert(s) not delivered: {report.undelivered[0]}")
    return summary


def _digest(env: AlertsEnvironment) -> dict[str, Any]:
    from loglens.alerts.digest import run_digest

    channels = build_channels(_slack(env), sns_topic_arn=env.sns_topic_arn, sns_client=client("sns"))
    digest, report = run_digest(_connection(env), now=datetime.now(UTC), channels=channels)
    metrics.add_metric(name="DigestsSent", unit=MetricUnit.Count, value=len(report.sent))
    return {"day": report.day.isoformat(), "sent": report.sent, "skipped": report.skipped, "built": digest is not None}


def _actions(env: AlertsEnvironment) -> Any:
    if "actions" not in _state:
        from loglens.alerts.actions import AlertActions

        def signing_secret() -> str:
            secret = _slack(env).signing_secret
            if not secret:
                raise ConfigError("the Slack alerts secret has no signing_secret")
            return secret

        _state["actions"] = AlertActions(
            signing_secret=signing_secret, connection=lambda: contextlib.nullcontext(_connection(env))
        )
    return _state["actions"]


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    env = _environment()
    if "httpMethod" in event:  # a Slack button, through API Gateway
        metrics.add_metric(name="SlackActions", unit=MetricUnit.Count, value=1)
        answer: dict[str, Any] = _actions(env).handle(event)
        return answer
    task = event.get("task", "detect")
    if task == "detect":
        summary = _detect(env)
    elif task == "digest":
        summary = _digest(env)
    else:
        raise ValueError(f"unknown task {task!r}: expected 'detect' or 'digest'")
    logger.info("alerts done", extra={"alerts": summary})
    return summary
