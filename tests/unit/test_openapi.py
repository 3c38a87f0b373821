"""The OpenAPI document: generated from the models, served without a key, and committed unchanged."""

from __future__ import annotations

import json
from pathlib import Path

from loglens.ingest.collect import CollectApi, CollectService
from loglens.openapi import document, document_text
from loglens.record import REQUIRED_INPUT_FIELDS, SERVER_FIELDS, LogRecord
from loglens.settings import Settings
from tests.events import api_event

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


class NoSink:
    def put(self, records: list[bytes]) -> None:
        raise AssertionError("the document route must not write anything")


def test_the_committed_document_is_the_generated_one() -> None:
    # Regenerate with: .venv/bin/python -m loglens.openapi > docs/openapi.json
    assert COMMITTED.read_text(encoding="utf-8") == document_text()


def test_the_document_is_served_without_an_api_key() -> None:
    api = CollectApi(CollectService(NoSink(), Settings.from_env({})))
    response = api.handle(api_event("/api/v1/openapi.json", None, method="GET", content_type=None, api_key_id=None))
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == document()


def test_the_api_key_header_is_the_security_scheme() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    assert doc["components"]["securitySchemes"]["apiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": doc["components"]["securitySchemes"]["apiKey"]["description"],
    }
    assert doc["security"] == [{"apiKey": []}]
    open_routes = {
        path for path, item in doc["paths"].items() for operation in item.values() if operation.get("security") == []
    }
    assert open_routes == {"/api/v1/health", "/api/v1/openapi.json", "/slack/commands", "/slack/actions"}


def test_the_record_body_is_the_record_model_less_the_server_fields() -> None:
    schema = document()["components"]["schemas"]["LogRecordInput"]
    client_fields = (set(LogRecord.model_fields) - SERVER_FIELDS - {"created_at"}) | {"timestamp"}
    assert set(schema["properties"]) == client_fields
    assert schema["required"] == list(REQUIRED_INPUT_FIELDS)
    assert schema["additionalProperties"] is True  # unknown fields are kept in metadata
    for name, field in LogRecord.model_fields.items():
        if name in schema["properties"] and field.description and name != "event_id":
            assert schema["properties"][name]["description"] == field.description


def test_the_document_is_valid_openapi_3_1() -> None:
    import schemathesis

    schema = schemathesis.openapi.from_dict(document())
    operations = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    assert ("POST", "/api/v1/logs/batch") in operations and ("POST", "/otlp/v1/logs") in operations
    # ingest 5; ask (with GET /api/v1/ask/{id}) and Slack 3; query 9; the alerts' buttons 1
    assert len(operations) == 18
