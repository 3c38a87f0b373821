"""functions/query.py as deployed (environment model, lazy wiring), on the test database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.events import api_event


@dataclass
class Context:
    function_name: str = "loglens-dev-query"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:loglens-dev-query"
    aws_request_id: str = "req-query"


@pytest.fixture
def query(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "query")
    from functions import query

    monkeypatch.setattr(query, "_api", None)
    yield query


def test_the_function_answers_the_query_routes_for_keys_and_console_users(
    query: Any, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("SAVED_DB_USER", "loglens_writer")
    search = query.handler(api_event("/api/v1/query", {"filters": {"service": "nothing-here"}}), Context())
    assert search["statusCode"] == 200 and json.loads(search["body"])["rows"] == []
    # A console user, signed in through the Cognito authorizer: no API key, the claims name them
    event = api_event("/api/v1/saved", {"kind": "sql", "name": "n", "body": {"sql": "SELECT 1"}}, api_key_id=None)
    event["requestContext"]["authorizer"] = {"claims": {"sub": "0f3c", "email": "ana@example.com"}}
    saved = query.handler(event, Context())
    assert saved["statusCode"] == 201 and json.loads(saved["body"])["created_by"] == "user:ana@example.com"
    refused = query.handler(api_event("/api/v1/query", {"sql": "SELECT * FROM logs"}), Context())
    assert refused["statusCode"] == 400 and json.loads(refused["body"])["code"] == "unbounded_time"


@pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")  # refused before it counts anything
def test_a_missing_variable_is_a_503_that_names_it(query: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DB_HOST", "proxy.invalid")
    monkeypatch.setenv("DB_NAME", "loglens")
    monkeypatch.setenv("DB_USER", "loglens_analyst")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.delenv("SAVED_DB_USER", raising=False)
    answer = query.handler(api_event("/api/v1/facts", None, method="GET"), Context())
    assert answer["statusCode"] == 503 and "SAVED_DB_USER" in json.loads(answer["body"])["error"]
