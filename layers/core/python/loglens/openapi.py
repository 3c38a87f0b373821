"""The OpenAPI 3.1 document of the HTTP API, generated from the models the handlers use.

Request bodies come from `loglens.record.LogRecord` (the one log schema: the input form is the
model less its server-owned fields, with `timestamp` for `created_at`), answers from the collect and
ask answer models, errors from `loglens.http.response.ErrorAnswer`. Only OTLP/JSON is written out
here: it is OpenTelemetry's format, not ours. Served at GET /api/v1/openapi.json (no key) and
committed as docs/openapi.json (a test keeps the two equal: `python -m loglens.openapi > docs/openapi.json`);
tests/e2e/test_openapi_contract.py runs schemathesis against `loglens dev` with it.

In AWS the routes live on two APIs, ingest and query (ask, Slack), each with its own base URL
(the IngestApiUrl and QueryApiUrl stack outputs); locally one server has them all.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any, Final

from pydantic import BaseModel

from loglens import __version__
from loglens.ingest.limits import MAX_BATCH_RECORDS, MAX_BODY_BYTES, MAX_DECOMPRESSED_BYTES
from loglens.record import REQUIRED_INPUT_FIELDS, SERVER_FIELDS, LogRecord

API_KEY_HEADER: Final = "x-api-key"
_REF: Final = "#/components/schemas/"


def _schema(model: type[BaseModel], mode: str = "serialization") -> tuple[dict[str, Any], dict[str, Any]]:
    """The model's JSON schema with its $defs lifted into components."""
    schema = model.model_json_schema(mode=mode, ref_template=_REF + "{model}")  # type: ignore[arg-type]
    defs = schema.pop("$defs", {})
    return schema, defs


def _strip_extensions(node: Any, *, names: bool = False) -> Any:
    """Drop the model's storage hints (sql_type) and the titles pydantic derives from field names
    (`names`: this dict maps property names, which are kept whatever they are)."""
    if isinstance(node, dict):
        return {
            k: _strip_extensions(v, names=k in ("properties", "$defs") and not names)
            for k, v in node.items()
            if names or k not in ("sql_type", "title")
        }
    if isinstance(node, list):
        return [_strip_extensions(v) for v in node]
    return node


def record_input_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    """What a client sends for one record: LogRecord without the fields the server sets."""
    schema, defs = _schema(LogRecord, "validation")
    properties: dict[str, Any] = {}
    for name, spec in schema["properties"].items():
        if name in SERVER_FIELDS:
            continue
        if name == "created_at":
            properties["timestamp"] = {
                "anyOf": [{"type": "string"}, {"type": "number", "minimum": 0}],
                "description": "When the event happened: ISO 8601 (no zone means UTC) or epoch seconds, "
                "milliseconds, microseconds or nanoseconds, as a number or numeric string; within 30 days back "
                "and 1 hour ahead of the receive time. Absent: the receive time.",
            }
            continue
        if name == "event_id":
            spec = {
                "type": "string",
                "minLength": 1,
                "maxLength": 128,
                "description": "Deduplication key with the timestamp: a UUID is kept, any other text maps to a "
                "stable UUID. Resend the same event_id and timestamp on a retry. Absent: the server makes one.",
            }
        properties[name] = spec
    out = {
        "type": "object",
        "description": str(schema.get("description", ""))
        + " Common spellings of level are accepted; numbers sent for text fields are kept as their text.",
        "properties": properties,
        "required": list(REQUIRED_INPUT_FIELDS),
        "additionalProperties": True,
    }
    used = {name: spec for name, spec in defs.items() if f'"{_REF}{name}"' in json.dumps(out)}
    return _strip_extensions(out), _strip_extensions(used, names=True)


def _otlp_schemas() -> dict[str, Any]:
    """OTLP/JSON logs (opentelemetry-proto's ExportLogsServiceRequest in its JSON mapping)."""
    int64 = {"anyOf": [{"type": "string", "pattern": "^-?[0-9]{1,19}$"}, {"type": "integer"}]}
    uint64 = {"anyOf": [{"type": "string", "pattern": "^[0-9]{1,20}$"}, {"type": "integer", "minimum": 0}]}
    attributes = {"type": "array", "items": {"$ref": _REF + "OtlpKeyValue"}}
    return {
        "OtlpExportLogsRequest": {
            "type": "object",
            "properties": {"resourceLogs": {"type": "array", "items": {"$ref": _REF + "OtlpResourceLogs"}}},
        },
        "OtlpResourceLogs": {
            "type": "object",
            "properties": {
                "resource": {"type": "object", "properties": {"attributes": attributes}},
                "scopeLogs": {"type": "array", "items": {"$ref": _REF + "OtlpScopeLogs"}},
            },
        },
        "OtlpScopeLogs": {
            "type": "object",
            "properties": {
                "scope": {"type": "object", "properties": {"name": {"type": "string"}, "version": {"type": "string"}}},
                "logRecords": {"type": "array", "items": {"$ref": _REF + "OtlpLogRecord"}},
            },
        },
        "OtlpLogRecord": {
            "type": "object",
            "properties": {
                "timeUnixNano": uint64,
                "observedTimeUnixNano": uint64,
                "severityNumber": {"type": "integer", "minimum": 0, "maximum": 24},
                "severityText": {"type": "string"},
                "body": {"$ref": _REF + "OtlpAnyValue"},
                "attributes": attributes,
                "traceId": {"type": "string", "description": "32 hex digits"},
                "spanId": {"type": "string", "description": "16 hex digits"},
                "eventName": {"type": "string"},
            },
        },
        "OtlpKeyValue": {
            "type": "object",
            "properties": {"key": {"type": "string"}, "value": {"$ref": _REF + "OtlpAnyValue"}},
            "required": ["key"],
        },
        "OtlpAnyValue": {
            "description": "One of the value fields (an empty object is an empty value).",
            "oneOf": [
                {"type": "object", "maxProperties": 0},
                *(
                    {"type": "object", "properties": {kind: spec}, "required": [kind], "additionalProperties": False}
                    for kind, spec in (
                        ("stringValue", {"type": "string"}),
                        ("boolValue", {"type": "boolean"}),
                        ("intValue", int64),
                        ("doubleValue", {"type": "number"}),
                        ("bytesValue", {"type": "string", "contentEncoding": "base64"}),
                        (
                            "arrayValue",
                            {
                                "type": "object",
                                "properties": {"values": {"type": "array", "items": {"$ref": _REF + "OtlpAnyValue"}}},
                            },
                        ),
                        ("kvlistValue", {"type": "object", "properties": {"values": attributes}}),
                    )
                ),
            ],
        },
    }


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF + ref}}}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": _json("ErrorAnswer")}
    if headers:
        answer["headers"] = headers
    return answer


_RETRY_AFTER: Final = {
    "Retry-After": {"description": "Seconds to wait before resending.", "schema": {"type": "string"}}
}
_FORBIDDEN: Final = _error("No valid x-api-key header (answered by API Gateway, or locally by `loglens dev`).")
_TOO_LARGE: Final = _error(
    f"Over {MAX_BODY_BYTES} bytes, or over {MAX_DECOMPRESSED_BYTES} after gzip, or too many records."
)
_UNSUPPORTED: Final = _error("A Content-Type or Content-Encoding the route does not read.")
_UNAVAILABLE: Final = _error("The records could not be made durable now; nothing was kept: resend.", _RETRY_AFTER)
_GZIP: Final = {
    "name": "Content-Encoding",
    "in": "header",
    "required": False,
    "description": "gzip (every member is read; trailing bytes are refused) or none.",
    "schema": {"type": "string", "enum": ["gzip", "identity"]},
}


def _collect_operation(summary: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "tags": ["ingest"],
        "summary": summary,
        "parameters": [_GZIP],
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {
            "200": {"description": "At least one record accepted.", "content": _json("CollectAnswer")},
            "400": {
                "description": "No record accepted (each with its reasons), or a body that cannot be read.",
                "content": {
                    "application/json": {
                        "schema": {"anyOf": [{"$ref": _REF + "CollectAnswer"}, {"$ref": _REF + "ErrorAnswer"}]}
                    }
                },
            },
            "403": _FORBIDDEN,
            "413": _TOO_LARGE,
            "415": _UNSUPPORTED,
            "503": _UNAVAILABLE,
        },
    }


@cache
def _document() -> str:
    from loglens.agent.answer import Answer
    from loglens.agent.api import ASK_PATH, SLACK_PATH, AskRequest
    from loglens.agent.api import MAX_BODY_BYTES as ASK_MAX_BODY_BYTES
    from loglens.alerts import ACTIONS_MAX_BODY_BYTES, ACTIONS_PATH
    from loglens.http.response import ErrorAnswer
    from loglens.ingest.collect import (
        BATCH_PATH,
        HEALTH_PATH,
        LOGS_PATH,
        OPENAPI_PATH,
        OTLP_PATH,
        CollectAnswer,
        HealthAnswer,
        OtlpAnswer,
    )

    schemas: dict[str, Any] = {}
    record, record_defs = record_input_schema()
    schemas["LogRecordInput"] = record
    schemas.update(record_defs)
    for model, mode in (
        (CollectAnswer, "serialization"),
        (OtlpAnswer, "serialization"),
        (HealthAnswer, "serialization"),
        (ErrorAnswer, "serialization"),
        (AskRequest, "validation"),
        (Answer, "serialization"),
    ):
        schema, defs = _schema(model, mode)
        schemas[model.__name__] = _strip_extensions(schema)
        schemas.update(_strip_extensions(defs, names=True))
    schemas.update(_otlp_schemas())
    schemas["SlackMessage"] = {
        "type": "object",
        "description": "A Slack message (ephemeral acknowledgement or usage help).",
        "properties": {"response_type": {"type": "string"}, "text": {"type": "string"}},
    }
    schemas["SlackActionAnswer"] = {
        "type": "object",
        "description": "What a button did.",
        "properties": {"ok": {"type": "boolean"}, "text": {"type": "string"}},
        "required": ["ok", "text"],
    }

    records = {
        "type": "array",
        "items": {"$ref": _REF + "LogRecordInput"},
        "minItems": 1,
        "maxItems": MAX_BATCH_RECORDS,
    }
    no_key: list[dict[str, list[str]]] = []
    paths: dict[str, Any] = {
        LOGS_PATH: {"post": _collect_operation("Send one log record", {"$ref": _REF + "LogRecordInput"})},
        BATCH_PATH: {
            "post": _collect_operation(
                f"Send up to {MAX_BATCH_RECORDS} log records",
                {
                    "anyOf": [
                        {"type": "object", "properties": {"logs": records}, "required": ["logs"]},
                        records,
                    ]
                },
            )
        },
        OTLP_PATH: {
            "post": {
                "tags": ["ingest"],
                "summary": "OTLP/HTTP logs (JSON or protobuf)",
                "parameters": [_GZIP],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": _REF + "OtlpExportLogsRequest"}},
                        "application/x-protobuf": {
                            "schema": {"type": "string", "contentMediaType": "application/x-protobuf"}
                        },
                    },
                },
                "responses": {
                    "200": {
                        "description": "Accepted; records that could not be read are counted in partialSuccess.",
                        "content": {
                            **_json("OtlpAnswer"),
                            "application/x-protobuf": {
                                "schema": {"type": "string", "contentMediaType": "application/x-protobuf"}
                            },
                        },
                    },
                    "400": _error("The request is not an ExportLogsServiceRequest; the message names the place."),
                    "403": _FORBIDDEN,
                    "413": _TOO_LARGE,
                    "415": _UNSUPPORTED,
                    "503": _UNAVAILABLE,
                },
            }
        },
        HEALTH_PATH: {
            "get": {
                "tags": ["ingest"],
                "summary": "Liveness",
                "security": no_key,
                "responses": {"200": {"description": "Up.", "content": _json("HealthAnswer")}},
            }
        },
        OPENAPI_PATH: {
            "get": {
                "tags": ["ingest"],
                "summary": "This document",
                "security": no_key,
                "responses": {
                    "200": {
                        "description": "The OpenAPI 3.1 document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        ASK_PATH: {
            "post": {
                "tags": ["query"],
                "summary": "Ask a question about the logs",
                "requestBody": {"required": True, "content": _json("AskRequest")},
                "responses": {
                    "200": {"description": "The answer.", "content": _json("Answer")},
                    "400": _error("No question, or one that is too long; a conversation_id that is not ours."),
                    "403": _FORBIDDEN,
                    "413": _error(f"Over {ASK_MAX_BODY_BYTES} bytes."),
                    "415": _UNSUPPORTED,
                    "502": _error("The model could not be reached."),
                    "503": _error("Asking is not configured here, or the database is unavailable.", _RETRY_AFTER),
                },
            }
        },
        SLACK_PATH: {
            "post": {
                "tags": ["query"],
                "summary": "Slack slash command (signed by Slack; answered at response_url)",
                "security": no_key,
                "parameters": [
                    {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
                    for name in ("X-Slack-Request-Timestamp", "X-Slack-Signature")
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    name: {"type": "string"}
                                    for name in ("command", "text", "response_url", "team_id", "channel_id", "user_id")
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "Acknowledged (the answer follows at response_url), or usage help.",
                        "content": {**_json("SlackMessage"), "text/plain": {"schema": {"type": "string"}}},
                    },
                    "400": _error("response_url is not Slack's."),
                    "401": _error("Not signed by Slack, or outside the five-minute window."),
                    "413": _error(f"Over {ASK_MAX_BODY_BYTES} bytes."),
                    "503": _error("Slack is not configured here."),
                },
            }
        },
        ACTIONS_PATH: {
            "post": {
                "tags": ["query"],
                "summary": "An alert message's button: acknowledge an incident, or mute its service (signed by Slack)",
                "security": no_key,
                "parameters": [
                    {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
                    for name in ("X-Slack-Request-Timestamp", "X-Slack-Signature")
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {"payload": {"type": "string", "description": "block_actions JSON"}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "Done; the confirmation is also posted to the payload's response_url.",
                        "content": _json("SlackActionAnswer"),
                    },
                    "400": _error("Not a block_actions payload with one known action naming an incident."),
                    "401": _error("Not signed by Slack, or outside the five-minute window."),
                    "404": _error("No such incident."),
                    "413": _error(f"Over {ACTIONS_MAX_BODY_BYTES} bytes."),
                    "503": _error("Slack alerts are not configured here, or the database is unavailable."),
                },
            }
        },
    }
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "loglens",
            "version": __version__,
            "description": "Collect application logs and ask questions about them. Every error answer is "
            '{"error": "<what and where>"}. In AWS, ingest and query are two APIs with their own base URLs.',
        },
        "servers": [
            {
                "url": "{base}",
                "variables": {
                    "base": {
                        "default": "http://127.0.0.1:8000",
                        "description": "`loglens dev`, or the IngestApiUrl / QueryApiUrl stack output",
                    }
                },
            }
        ],
        "security": [{"apiKey": []}],
        "tags": [
            {"name": "ingest", "description": "The ingest API (collect)."},
            {"name": "query", "description": "The query API (ask, Slack, the alerts' buttons)."},
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": API_KEY_HEADER,
                    "description": "An API Gateway API key (locally: LOGLENS_API_KEY or .loglens/api-key).",
                }
            },
            "schemas": dict(sorted(schemas.items())),
        },
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def document() -> dict[str, Any]:
    """The document as data (a fresh copy)."""
    return copy.deepcopy(json.loads(_document()))


def document_text() -> str:
    """The document as served and as committed in docs/openapi.json."""
    return _document()


if __name__ == "__main__":
    print(document_text(), end="")
