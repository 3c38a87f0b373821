"""The OpenAPI 3.1 document of the HTTP API, generated from the models the handlers use.

Request bodies come from `loglens.record.LogRecord` (the one log schema: the input form is the
model less its server-owned fields, with `timestamp` for `created_at`), answers from the collect and
ask answer models, errors from `loglens.http.response.ErrorAnswer`. Only OTLP/JSON is written out
here: it is OpenTelemetry's format, not ours. Served at GET /api/v1/openapi.json (no key) and
committed as docs/openapi.json (a test keeps the two equal: `python -m loglens.openapi > docs/openapi.json`);
tests/e2e/test_openapi_contract.py runs schemathesis against `loglens dev` with it.

In AWS the routes live on two APIs, ingest and query (ask, Slack, the query API), each with its own base
URL (the IngestApiUrl and QueryApiUrl stack outputs); the console reaches ask and the query API through its
own origin with a Cognito sign-in instead of a key. Locally one server has them all, and the query and ask
routes also take the console's session cookie.
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


_QUERY_SECURITY: Final[list[dict[str, list[str]]]] = [{"apiKey": []}, {"consoleSession": []}, {"consoleSignIn": []}]


def _query_operation(
    summary: str,
    ok: tuple[str, str, dict[str, Any]],
    *,
    body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    errors: dict[str, str],
) -> dict[str, Any]:
    """An operation of the query API: its own error shape (ErrorBody: error, code, field) for its failures."""
    status, description, schema = ok
    answer: dict[str, Any] = {"description": description}
    if schema:
        answer["content"] = {"application/json": {"schema": schema}}
    responses: dict[str, Any] = {status: answer}
    for code, text in {
        **errors,
        "401": "Not signed in: no x-api-key and no console session.",
        "403": "An x-api-key that is not valid (answered by API Gateway, or locally by `loglens dev`).",
    }.items():
        schema_ref = "ErrorAnswer" if code in ("401", "403", "413", "415") else "ErrorBody"
        if code == "400":  # an unreadable body is the edge's plain error; the rest carry code and field
            content = {"application/json": {"schema": {"anyOf": [_ref("ErrorBody"), _ref("ErrorAnswer")]}}}
            responses[code] = {"description": text, "content": content}
        elif code == "503":
            responses[code] = _error(text, _RETRY_AFTER) | {"content": _json("ErrorBody")}
        else:
            responses[code] = {"description": text, "content": _json(schema_ref)}
    operation: dict[str, Any] = {"tags": ["query"], "summary": summary, "security": _QUERY_SECURITY}
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _query_parameter(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema or {"type": "string", "minLength": 1},
        "description": description,
    }


def _query_paths() -> dict[str, Any]:
    from loglens.query import api, routes
    from loglens.query.tail import MAX_LIMIT as TAIL_LIMIT

    unavailable = (
        "The log database cannot be reached now (retry after `retry_after` seconds), or querying is not "
        "configured here."
    )
    refused = (
        "A request that cannot be turned into a query (`field` names the part), or SQL the guard refuses "
        "(`code` is the guard's)."
    )
    failed = "The database could not finish the query: `code` is timeout or database_error."
    no_parameters = "Query parameters were sent; this route takes none."
    sent = {
        "413": f"A body over {api.MAX_BODY_BYTES:,} bytes (a shared answer: {api.MAX_SHARE_BODY_BYTES:,}).",
        "415": "The body is not application/json.",
    }
    tail_parameters = [
        _query_parameter("cursor", "The previous poll's cursor; without it, the newest records of the last 10 min."),
        _query_parameter(
            "limit", "Records per poll at most (default 100).", {"type": "integer", "minimum": 1, "maximum": TAIL_LIMIT}
        ),
        _query_parameter("level", "A level or several, comma-separated (ERROR,FATAL)."),
        *(_query_parameter(name, f"Exact {name}.") for name in ("service", "environment", "trace_id", "user_id")),
        _query_parameter("contains", "Text the message contains (case-insensitive). Metadata: metadata.<key>=<value>."),
    ]
    kinds = {"type": "string", "enum": ["question", "search", "sql"]}
    item_id = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}]
    return {
        routes.QUERY_PATH: {
            "post": _query_operation(
                "Run one read-only SELECT (guarded), or a structured search",
                (
                    "200",
                    "SqlResult for SQL, SearchResult for a search.",
                    {"anyOf": [_ref("SqlResult"), _ref("SearchResult")]},
                ),
                body={"anyOf": [_ref("SqlRequest"), _ref("SearchRequest")]},
                errors={"400": refused, **sent, "422": failed, "503": unavailable},
            )
        },
        routes.CHECK_PATH: {
            "post": _query_operation(
                "The SQL guard's verdict on a statement (nothing runs)",
                ("200", "The verdict, and the SQL as it would run.", _ref("SqlCheck")),
                body=_ref("SqlRequest"),
                errors={"400": refused, **sent, "503": unavailable},
            )
        },
        routes.TAIL_PATH: {
            "get": _query_operation(
                "Records stored since the last poll, in the order they were stored",
                ("200", "The new records and the cursor for the next poll.", _ref("TailResult")),
                parameters=tail_parameters,
                errors={"400": refused, "422": failed, "503": unavailable},
            )
        },
        routes.FACTS_PATH: {
            "get": _query_operation(
                "What the filters can choose from: services, environments, levels, the data's time range",
                ("200", "The facts.", _ref("Facts")),
                errors={"400": no_parameters, "422": failed, "503": unavailable},
            )
        },
        routes.SAVED_PATH: {
            "get": _query_operation(
                "Saved questions, searches and SQL, newest first",
                ("200", "The saved entries.", _ref("SavedList")),
                parameters=[_query_parameter("kind", "Only entries of this kind.", kinds)],
                errors={"400": "An unknown parameter or kind.", "503": unavailable},
            ),
            "post": _query_operation(
                "Save a question, a search or SQL",
                ("201", "Saved.", _ref("SavedItem")),
                body=_ref("SavedCreate"),
                errors={"400": refused, **sent, "503": unavailable},
            ),
        },
        routes.SAVED_ITEM_PATH: {
            "delete": _query_operation(
                "Delete a saved entry (only who saved it may)",
                ("204", "Deleted.", {}),
                parameters=item_id,
                errors={"400": no_parameters, "404": "No saved entry with this id.", "503": unavailable},
            )
        },
        routes.ANSWERS_PATH: {
            "post": _query_operation(
                "Share an answer: keep it for a link (the console shows it at /#/answers/<id>)",
                ("201", "Kept; the link never changes.", _ref("SharedAnswer")),
                body=_ref("ShareRequest"),
                errors={"400": refused, **sent, "503": unavailable},
            )
        },
        routes.ANSWER_PATH: {
            "get": _query_operation(
                "A shared answer",
                ("200", "The answer as it was shared.", _ref("SharedAnswer")),
                parameters=item_id,
                errors={"400": no_parameters, "404": "No shared answer with this id.", "503": unavailable},
            )
        },
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


def _ask_outcomes() -> dict[str, Any]:
    """What POST /api/v1/ask and GET /api/v1/ask/{id} answer besides the answer itself."""

    def failed(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "description": description,
            "content": {
                "application/json": {
                    "schema": {"anyOf": [{"$ref": _REF + "AskFailed"}, {"$ref": _REF + "ErrorAnswer"}]}
                }
            },
        }
        if headers:
            answer["headers"] = headers
        return answer

    return {
        "202": {
            "description": "Not ready yet: GET `poll` after Retry-After seconds.",
            "content": _json("AskPending"),
            "headers": {"Retry-After": {"schema": {"type": "string"}, "description": "Seconds to wait."}},
        },
        "500": failed("The answer failed inside loglens (the ask function's log has the details)."),
        "502": failed("The model could not be reached or did not answer in time."),
        "503": failed("Asking is not configured here, or the database is unavailable.", _RETRY_AFTER),
        "504": failed("The answer never arrived: its worker stopped before finishing."),
    }


@cache
def _document() -> str:
    from loglens.agent.answer import Answer
    from loglens.agent.api import ASK_ID_PATH, ASK_PATH, SLACK_PATH, AskFailed, AskPending, AskRequest
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
    from loglens.query.errors import ErrorBody
    from loglens.query.facts import Facts
    from loglens.query.saved import SavedCreate, SavedItem, SavedList, SharedAnswer, ShareRequest
    from loglens.query.search import SearchRequest, SearchResult
    from loglens.query.sql import SqlCheck, SqlRequest, SqlResult
    from loglens.query.tail import TailResult

    schemas: dict[str, Any] = {}
    record, record_defs = record_input_schema()
    schemas["LogRecordInput"] = record
    schemas.update(record_defs)
    # Request models first: a model used both ways (Answer) keeps its answer form, where every field is present.
    for model, mode in (
        (SearchRequest, "validation"),
        (SqlRequest, "validation"),
        (SavedCreate, "validation"),
        (ShareRequest, "validation"),
        (SearchResult, "serialization"),
        (SqlResult, "serialization"),
        (SqlCheck, "serialization"),
        (TailResult, "serialization"),
        (Facts, "serialization"),
        (SavedItem, "serialization"),
        (SavedList, "serialization"),
        (SharedAnswer, "serialization"),
        (ErrorBody, "serialization"),
        (CollectAnswer, "serialization"),
        (OtlpAnswer, "serialization"),
        (HealthAnswer, "serialization"),
        (ErrorAnswer, "serialization"),
        (AskRequest, "validation"),
        (Answer, "serialization"),
        (AskPending, "serialization"),
        (AskFailed, "serialization"),
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
                "description": "Answers within about 20 seconds when it can (200); otherwise 202 with the id to "
                "GET the answer by, since a question may take longer than the API gateway waits.",
                "requestBody": {"required": True, "content": _json("AskRequest")},
                "responses": {
                    "200": {"description": "The answer.", "content": _json("Answer")},
                    **_ask_outcomes(),
                    "400": _error("No question, or one that is too long; a conversation_id that is not ours."),
                    "401": _error("Locally, no x-api-key and no console session (the console's sign-in)."),
                    "403": _FORBIDDEN,
                    "413": _error(f"Over {ASK_MAX_BODY_BYTES} bytes."),
                    "415": _UNSUPPORTED,
                },
            }
        },
        ASK_ID_PATH: {
            "get": {
                "tags": ["query"],
                "summary": "The answer to an earlier ask (the API key that asked only)",
                "parameters": [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "description": "The id POST /api/v1/ask answered 202 with.",
                        "schema": {"type": "string", "format": "uuid"},
                    }
                ],
                "responses": {
                    "200": {"description": "The answer.", "content": _json("Answer")},
                    **_ask_outcomes(),
                    "400": _error("The id is not a UUID."),
                    "401": _error("Locally, no x-api-key and no console session (the console's sign-in)."),
                    "403": _FORBIDDEN,
                    "404": _error("No ask with this id for this API key."),
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
        **_query_paths(),
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
            {
                "name": "query",
                "description": "The query API (ask, Slack, search, SQL, tail, saved entries, the alerts' buttons).",
            },
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "apiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": API_KEY_HEADER,
                    "description": "An API Gateway API key (locally: LOGLENS_API_KEY or .loglens/api-key).",
                },
                "consoleSession": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "loglens_session_8000",
                    "description": "Locally: the console's session, from POST /api/v1/session with the one-time "
                    "token in the console URL `loglens dev` prints; the name ends in the server's port.",
                },
                "consoleSignIn": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "In AWS: the console's Cognito ID token, on the console's own origin "
                    "(/api/* of its CloudFront distribution), never with an API key.",
                },
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
