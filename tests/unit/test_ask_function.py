"""functions/ask.py: the Lambda wiring (secrets from Secrets Manager, asynchronous self-invocation)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from tests.aws_fakes import REGION, FakeAws

SECRET = "slack-signing-secret-from-secrets-manager"


@dataclass
class Context:
    function_name: str = "loglens-dev-ask"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:loglens-dev-ask"
    aws_request_id: str = "req-1"


class RecordingLambda:
    def __init__(self) -> None:
        self.invocations: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.invocations.append(kwargs)
        return {"StatusCode": 202}


@pytest.fixture
def handler(fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch) -> Any:
    secrets = boto3.client("secretsmanager", region_name=REGION)
    slack_arn = secrets.create_secret(Name="slack", SecretString=SECRET)["ARN"]
    anthropic_arn = secrets.create_secret(Name="anthropic", SecretString="sk-ant-test")["ARN"]
    for key, value in {
        "SLACK_SECRET_ARN": slack_arn,
        "ANTHROPIC_SECRET_ARN": anthropic_arn,
        "MODEL_PROVIDER": "anthropic",
        "MODEL_ID": "claude-sonnet-5-5",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "ask",
        "POWERTOOLS_METRICS_NAMESPACE": "loglens",
        # A proxy nobody listens on: the acknowledgement path must never connect to it.
        "DB_HOST": "proxy.invalid",
        "DB_NAME": "loglens",
        "DB_USER": "loglens_analyst",
        "AWS_REGION": REGION,
        "CONVERSATION_DB_USER": "loglens_writer",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    import functions.ask as module

    recorder = RecordingLambda()
    monkeypatch.setattr(module, "_api", None)
    monkeypatch.setattr(module, "client", lambda service: recorder if service == "lambda" else pytest.fail(service))
    return module, recorder


def slack_event(body: bytes) -> dict[str, Any]:
    timestamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "resource": "/slack/commands",
        "httpMethod": "POST",
        "headers": {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest}"},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
        "requestContext": {"requestId": "r1", "identity": {"sourceIp": "3.3.3.3"}},
    }


def test_a_slash_command_is_acknowledged_and_the_function_invokes_itself_asynchronously(handler: Any) -> None:
    module, recorder = handler
    body = urlencode(
        {
            "command": "/logs",
            "text": "errors?",
            "team_id": "T",
            "channel_id": "C",
            "user_id": "U",
            "response_url": "https://hooks.slack.com/commands/T/1/x",
        }
    ).encode()

    response = module.handler(slack_event(body), Context())

    assert response["statusCode"] == 200 and "Looking into it" in response["body"]
    [call] = recorder.invocations
    assert call["FunctionName"] == "loglens-dev-ask" and call["InvocationType"] == "Event"
    payload = json.loads(call["Payload"])["loglens_async"]
    assert payload["question"] == "errors?" and payload["conversation"] == "slack:T:C:U"


def test_a_missing_setting_fails_the_question_loudly_not_the_function(
    handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    module, _ = handler
    monkeypatch.delenv("DB_HOST")
    event = {
        "resource": "/api/v1/ask",
        "httpMethod": "POST",
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"question": "errors?"}),
        "isBase64Encoded": False,
        "requestContext": {"requestId": "r2", "identity": {"apiKeyId": "k1"}},
    }
    response = module.handler(event, Context())
    assert response["statusCode"] == 503
    assert "DB_HOST" in json.loads(response["body"])["error"]
