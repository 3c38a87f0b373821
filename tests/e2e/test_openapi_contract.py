"""schemathesis against a real `loglens dev`: generated requests for every operation of the OpenAPI
document, over loopback, bounded in examples and time. No answer may be a 5xx, and every answer (status,
content type, headers, body) must be one the document describes.

The ask route runs the real agent loop with Claude faked at the HTTP layer; Slack requests are generated
unsigned, so they meet the signature check.
"""

from __future__ import annotations

import json
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from loglens.openapi import document
from tests.e2e.conftest import API_KEY, free_port, start_dev, stop_dev
from tests.fake_claude import FakeClaude, answer, message, run_query, tool_results

QUERY = "SELECT level, count(*) AS n FROM logs WHERE created_at >= now() - interval '1 hour' GROUP BY level"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
schema = schemathesis.openapi.from_dict(document())


@schemathesis.serializer("application/x-protobuf")
def protobuf_bytes(_ctx: Any, value: Any) -> bytes:
    """Generated protobuf bodies are arbitrary text sent as bytes: the decoder must refuse them with a 400."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")


def any_question(request: dict[str, Any]) -> dict[str, Any]:
    if tool_results(request):
        return message(answer(QUERY, "Counted the last hour's logs by level."))
    return message(run_query(QUERY))


@pytest.fixture(scope="module")
def dev(db_url: str) -> Iterator[str]:
    fake = FakeClaude(responder=any_question).start()
    home = Path(tempfile.mkdtemp(prefix="loglens-e2e-openapi-"))
    port = free_port()
    env = {
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": fake.url,
        "SLACK_SIGNING_SECRET": "contract-secret",
        "LOGLENS_SLACK_ALERTS_SIGNING_SECRET": "contract-alerts-secret",
    }
    process = start_dev(db_url, home, port, env)
    yield f"http://127.0.0.1:{port}"
    stop_dev(process)
    fake.stop()


def test_the_served_document_is_the_generated_one(dev: str) -> None:
    with urllib.request.urlopen(f"{dev}/api/v1/openapi.json", timeout=10) as response:  # noqa: S310 - loopback, no key
        assert response.status == 200
        assert json.loads(response.read()) == document()


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same requests on every run: a failure here is reproducible
)
def test_every_answer_matches_the_document(case: schemathesis.Case, dev: str) -> None:
    case.call_and_validate(base_url=dev, headers={"x-api-key": API_KEY}, checks=CHECKS, timeout=30)
