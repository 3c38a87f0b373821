"""functions/alerts.py: the Lambda wiring — its environment model, the Slack secret from Secrets Manager (moto), the
SNS topic, the detect and digest tasks, the buttons' route, and failing loudly when the database is down."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import psycopg
import pytest

from loglens.db.connect import with_user
from loglens.environments import AlertsEnvironment
from loglens.settings import ConfigError
from tests.aws_fakes import REGION, FakeAws
from tests.conftest import ROLE_PASSWORD
from tests.factories import insert_records, make_record


@dataclass
class Context:
    function_name: str = "loglens-dev-alerts"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:loglens-dev-alerts"
    aws_request_id: str = "req-1"


@pytest.fixture
def function(fake_aws: FakeAws, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    secrets = boto3.client("secretsmanager", region_name=REGION)
    slack_arn = secrets.create_secret(Name="slack-alerts", SecretString="placeholder-until-ops-set-it")["ARN"]
    topic = boto3.client("sns", region_name=REGION).create_topic(Name="alerts")["TopicArn"]
    with psycopg.connect(db_url, autocommit=True) as conn:
        now = datetime.now(UTC)
        insert_records(conn, [make_record(service="checkout", created_at=now)])
    for key, value in {
        "DATABASE_URL": with_user(db_url, "loglens_alerter", ROLE_PASSWORD),
        "ANALYST_DB_USER": "loglens_analyst",
        "ALERTS_SLACK_SECRET_ARN": slack_arn,
        "ALERTS_TOPIC_ARN": topic,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "alerts",
        "POWERTOOLS_METRICS_NAMESPACE": "loglens",
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    module = importlib.import_module("functions.alerts")
    module._state.clear()
    yield module
    for provider in ("alerter",):
        if provider in module._state:
            module._state[provider].discard()
    module._state.clear()


def test_the_environment_model_names_what_is_missing() -> None:
    with pytest.raises(ConfigError, match="ANALYST_DB_USER"):
        AlertsEnvironment.from_env({"DATABASE_URL": "postgresql://x@127.0.0.1/x"})
    with pytest.raises(ConfigError, match="LOGLENS_ALERT_EXPLAIN_WITH_MODEL"):
        AlertsEnvironment.from_env(
            {
                "DATABASE_URL": "postgresql://x@127.0.0.1/x",
                "ANALYST_DB_USER": "a",
                "LOGLENS_ALERT_EXPLAIN_WITH_MODEL": "maybe",
            }
        )


def test_detect_runs_with_slack_not_set_up_yet_and_the_digest_goes_to_the_topic(function: Any) -> None:
    summary = function.handler({"task": "detect"}, Context())
    assert summary["skipped"] is None and summary["hours_evaluated"] >= 1 and summary["undelivered"] == []
    again = function.handler({"task": "detect"}, Context())
    assert again["skipped"] is None  # the run lock was released by the first
    digest = function.handler({"task": "digest"}, Context())
    assert digest["sent"] == ["sns"] and digest["built"] is True
    assert function.handler({"task": "digest"}, Context())["skipped"]  # once a day
    with pytest.raises(ValueError, match="unknown task"):
        function.handler({"task": "drop-everything"}, Context())


def test_a_slack_secret_that_is_not_usable_fails_loudly(function: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(Name="slack-broken", SecretString='{"bot_token": "xoxb-1"}')["ARN"]
    monkeypatch.setenv("ALERTS_SLACK_SECRET_ARN", arn)
    function._state.clear()
    with pytest.raises(ConfigError, match="needs a channel"):
        function.handler({"task": "detect"}, Context())


def test_the_buttons_route_answers_unsigned_requests_with_401(function: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = boto3.client("secretsmanager", region_name=REGION)
    secret = {"webhook_url": "https://hooks.slack.com/services/T/B/x", "signing_secret": "s3cret"}
    monkeypatch.setenv(
        "ALERTS_SLACK_SECRET_ARN", secrets.create_secret(Name="s2", SecretString=json.dumps(secret))["ARN"]
    )
    function._state.clear()
    event = {
        "httpMethod": "POST",
        "resource": "/slack/actions",
        "path": "/slack/actions",
        "headers": {"X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=00"},
        "body": "payload=%7B%7D",
        "isBase64Encoded": False,
    }
    answer = function.handler(event, Context())
    assert answer["statusCode"] == 401 and json.loads(answer["body"]) == {"error": "invalid Slack request signature"}
    unknown = function.handler({**event, "resource": "/elsewhere", "path": "/elsewhere"}, Context())
    assert unknown["statusCode"] == 404


def test_the_database_down_fails_the_invocation(function: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://loglens_alerter@127.0.0.1:1/loglens?connect_timeout=1")
    function._state.clear()
    with pytest.raises(psycopg.OperationalError):
        function.handler({"task": "detect"}, Context())
