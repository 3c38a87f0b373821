"""The shapes loggers really write, table-driven, through both paths that share one alias table.

Each line below was printed by the library named in its id (pino 10, winston 3, bunyan 2,
@elastic/ecs-pino-format and ecs-winston-format, @aws-lambda-powertools/logger 2, structlog 26,
loguru 0.8, python-json-logger 4, ecs-logging 2, aws-lambda-powertools 3); only stack traces were
cut to their first frames and structlog's captured locals left out. Every case runs twice: as a
record POSTed to the API (LogRecord validation) and as the same line printed to stdout on ECS
(FireLens → firelens.to_raw_record → LogRecord), and both must give the same columns.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from loglens.ingest import firelens
from loglens.record import IngestContext, LogRecord, Source
from loglens.shapes import ALIASES, canonical, error_type_from_stack, split_traceback
from loglens.validate import validate_batch

NOW = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
API = IngestContext(source=Source.API, received_at=NOW)
ECS = IngestContext(source=Source.FIRELENS, received_at=NOW)
FAMILY = "checkout-service"
JS_STACK = (
    "Error: boom\n    at Object.<anonymous> (/srv/app.js:7:9)\n"
    "    at Module._compile (node:internal/modules/cjs/loader:1521:14)"
)
PY_TRACE = (
    'Traceback (most recent call last):\n  File "/srv/app.py", line 12, in <module>\n    boom()\n'
    '  File "/srv/app.py", line 3, in boom\n    return 1 / 0\nZeroDivisionError: division by zero'
)
LAMBDA = {
    "cold_start": True,
    "function_name": "collect",
    "function_memory_size": 128,
    "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:collect",
    "function_request_id": "52fdfc07-2182-154f-163f-5f0f9a621d72",
}
XRAY = "1-5759e988-bd862e3fe1be46a994272793"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# (id, the line as the library printed it, expected columns, expected metadata as the API stores it)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    (
        "pino-info",
        {"level": 30, "time": 1796662029023, "pid": 18089, "hostname": "vm", "msg": "hello world"},
        {"level": "INFO", "message": "hello world", "service": None, "created_at": at("2026-12-07T16:47:09.023+00:00")},
        {"pid": 18089, "hostname": "vm"},
    ),
    (
        "pino-child-bindings-and-merge-object",
        {
            "level": 40,
            "time": 1796662029024,
            "pid": 18089,
            "hostname": "vm",
            "user_id": "u-1",
            "order_id": "o-1",
            "msg": "slow order",
        },
        {"level": "WARN", "message": "slow order", "user_id": "u-1"},
        {"pid": 18089, "hostname": "vm", "order_id": "o-1"},
    ),
    (
        "pino-error-object",
        {
            "level": 50,
            "time": 1796662029024,
            "pid": 18089,
            "hostname": "vm",
            "err": {"type": "TypeError", "message": "bad type", "stack": JS_STACK, "code": "E_BAD"},
            "msg": "request failed",
        },
        {
            "level": "ERROR",
            "message": "request failed",
            "error_type": "TypeError",
            "stack_trace": JS_STACK,
            "application_error_code": "E_BAD",
        },
        {"pid": 18089, "hostname": "vm", "err": {"message": "bad type"}},
    ),
    (
        "pino-named-logger-is-the-service",
        {"level": 60, "time": 1796662029024, "pid": 18089, "hostname": "vm", "name": "checkout", "msg": "down"},
        {"level": "FATAL", "message": "down", "service": "checkout"},
        {"pid": 18089, "hostname": "vm"},
    ),
    (
        "pino-object-only-line",
        {"level": 30, "time": 1796662029024, "pid": 18089, "hostname": "vm", "a": 1},
        {"level": "INFO", "message": '{"a":1}'},
        {"pid": 18089, "hostname": "vm", "a": 1},
    ),
    (
        "pino-http-request-and-response",
        {
            "level": 30,
            "time": 1796662029024,
            "pid": 18089,
            "hostname": "vm",
            "req": {"id": 1, "method": "GET", "url": "/api/cart?x=1", "remoteAddress": "::1"},
            "res": {"statusCode": 404},
            "responseTime": 7,
            "msg": "request completed",
        },
        {"method": "GET", "endpoint": "/api/cart?x=1", "http_status_code": 404, "duration_ms": 7.0},
        {"pid": 18089, "hostname": "vm", "req": {"id": 1, "remoteAddress": "::1"}},
    ),
    (
        "winston-json-with-timestamp",
        {"level": "info", "message": "hello", "timestamp": "2026-12-07T16:47:09.056Z", "user_id": "u-1"},
        {"level": "INFO", "message": "hello", "user_id": "u-1", "service": None},
        {},
    ),
    (
        "winston-warn",
        {"level": "warn", "message": "careful", "timestamp": "2026-12-07T16:47:09.057Z"},
        {"level": "WARN"},
        {},
    ),
    ("winston-verbose", {"level": "verbose", "message": "chatty"}, {"level": "DEBUG"}, {}),
    ("winston-silly", {"level": "silly", "message": "sillier"}, {"level": "TRACE"}, {}),
    ("winston-http", {"level": "http", "message": "GET /"}, {"level": "INFO"}, {}),
    (
        "winston-errors-format-stack",
        {
            "level": "error",
            "message": "failed to pay inner",
            "stack": JS_STACK,
            "timestamp": "2026-12-07T16:47:09.058Z",
        },
        {"level": "ERROR", "error_type": "Error", "stack_trace": JS_STACK},
        {},
    ),
    (
        "winston-default-meta-service",
        {"level": "info", "message": "plain", "service": "user-service"},
        {"service": "user-service", "created_at": NOW},
        {},
    ),
    (
        "bunyan-error",
        {
            "name": "myapp",
            "hostname": "vm",
            "pid": 18089,
            "level": 50,
            "err": {"message": "bunyan boom", "name": "Error", "stack": JS_STACK},
            "msg": "oops",
            "time": "2026-12-07T16:47:09.069Z",
            "v": 0,
        },
        {"service": "myapp", "level": "ERROR", "message": "oops", "error_type": "Error", "stack_trace": JS_STACK},
        {"hostname": "vm", "pid": 18089, "err": {"message": "bunyan boom"}, "v": 0},
    ),
    (
        "bunyan-error-alone-message-from-err",
        {
            "name": "myapp",
            "hostname": "vm",
            "pid": 18089,
            "level": 50,
            "err": {"message": "alone", "name": "Error", "stack": JS_STACK},
            "time": "2026-12-07T16:47:09.069Z",
            "v": 0,
        },
        {"message": "alone", "error_type": "Error"},
        {"hostname": "vm", "pid": 18089, "v": 0},
    ),
    (
        "ecs-pino-dotted-keys",
        {
            "log.level": "info",
            "@timestamp": "2026-12-07T16:47:09.070Z",
            "process.pid": 18089,
            "host.hostname": "vm",
            "ecs.version": "8.10.0",
            "service.name": "ecs-svc",
            "event.dataset": "ecs-svc",
            "http.response.status_code": 200,
            "message": "ecs hi",
        },
        {
            "level": "INFO",
            "service": "ecs-svc",
            "http_status_code": 200,
            "created_at": at("2026-12-07T16:47:09.070+00:00"),
        },
        {"process.pid": 18089, "host.hostname": "vm", "ecs.version": "8.10.0", "event.dataset": "ecs-svc"},
    ),
    (
        "ecs-winston-error",
        {
            "@timestamp": "2026-12-07T16:47:09.073Z",
            "ecs.version": "8.10.0",
            "error": {"message": "ew boom", "stack_trace": JS_STACK, "type": "Error"},
            "log.level": "error",
            "message": "ecs winston err",
        },
        {"level": "ERROR", "error_type": "Error", "stack_trace": JS_STACK, "message": "ecs winston err"},
        {"ecs.version": "8.10.0", "error": {"message": "ew boom"}},
    ),
    (
        "ecs-python-nested-objects",
        {
            "@timestamp": "2026-12-07T16:46:37.525Z",
            "log.level": "info",
            "message": "request done",
            "ecs.version": "1.6.0",
            "event": {"duration": 12500000},
            "http": {"request": {"method": "POST"}, "response": {"status_code": 200}},
            "log": {"logger": "shop.ecs", "origin": {"file": {"line": 66, "name": "app.py"}, "function": "<module>"}},
            "service": {"name": "payments", "environment": "production", "version": "1.4.2"},
            "trace": {"id": "4bf92f3577b34da6a3ce929d0e0e4736"},
            "span": {"id": "00f067aa0ba902b7"},
            "url": {"path": "/pay"},
            "user": {"id": "u-1"},
        },
        {
            "level": "INFO",
            "service": "payments",
            "environment": "production",
            "method": "POST",
            "http_status_code": 200,
            "duration_ms": 12.5,
            "module": "shop.ecs",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "span_id": "00f067aa0ba902b7",
            "endpoint": "/pay",
            "user_id": "u-1",
        },
        {
            "ecs.version": "1.6.0",
            "log": {"origin": {"file": {"line": 66, "name": "app.py"}, "function": "<module>"}},
            "service": {"version": "1.4.2"},
        },
    ),
    (
        "powertools-ts-info",
        {
            "level": "INFO",
            "message": "This is an INFO log with some context",
            "timestamp": "2026-12-07T16:47:09.080Z",
            "service": "serverlessAirline",
            "sampling_rate": 0,
            "xray_trace_id": XRAY,
            "foo": "bar",
        },
        {"trace_id": XRAY, "service": "serverlessAirline"},
        {"sampling_rate": 0, "foo": "bar"},
    ),
    (
        "powertools-ts-error",
        {
            "level": "ERROR",
            "message": "This is an ERROR log",
            "timestamp": "2026-12-07T16:47:09.084Z",
            "service": "serverlessAirline",
            "sampling_rate": 0,
            "xray_trace_id": XRAY,
            "error": {
                "name": "Error",
                "location": "/srv/handler.js:42",
                "message": "Unexpected error #1",
                "stack": JS_STACK,
            },
        },
        {"error_type": "Error", "stack_trace": JS_STACK, "trace_id": XRAY},
        {"sampling_rate": 0, "error": {"location": "/srv/handler.js:42", "message": "Unexpected error #1"}},
    ),
    (
        "powertools-python-info",
        {
            "level": "INFO",
            "location": "handler:10",
            "message": "Collecting payment",
            "timestamp": "2026-12-07 16:46:52,256+0000",
            "service": "payment",
            **LAMBDA,
            "order_id": "o-1",
            "xray_trace_id": XRAY,
        },
        {"service": "payment", "trace_id": XRAY, "created_at": at("2026-12-07T16:46:52.256+00:00")},
        {"location": "handler:10", **LAMBDA, "order_id": "o-1"},
    ),
    (
        "powertools-python-dict-message",
        {
            "level": "INFO",
            "location": "handler:11",
            "message": {"operation": "collect_payment", "amount": 12.5},
            "timestamp": "2026-12-07 16:46:52,256+0000",
            "service": "payment",
            "xray_trace_id": XRAY,
        },
        {"message": '{"operation":"collect_payment","amount":12.5}'},
        {"location": "handler:11"},
    ),
    (
        "powertools-python-logger-exception",
        {
            "level": "ERROR",
            "location": "handler:15",
            "message": "Received an exception",
            "timestamp": "2026-12-07 16:46:52,256+0000",
            "service": "payment",
            "exception": PY_TRACE,
            "exception_name": "ZeroDivisionError",
            "stack_trace": {
                "type": "ZeroDivisionError",
                "value": "division by zero",
                "module": "builtins",
                "frames": [{"file": "/srv/app.py", "line": 3, "function": "boom", "statement": "return 1 / 0"}],
            },
            "xray_trace_id": XRAY,
        },
        {"error_type": "ZeroDivisionError", "stack_trace": PY_TRACE, "level": "ERROR"},
        {"location": "handler:15"},
    ),
    (
        "powertools-python-stack-trace-object-only",
        {
            "level": "ERROR",
            "message": "boom",
            "service": "payment",
            "stack_trace": {
                "type": "KeyError",
                "value": "'k'",
                "module": "builtins",
                "frames": [{"file": "/srv/app.py", "line": 21, "function": "f", "statement": 'raise KeyError("k")'}],
            },
        },
        {
            "error_type": "KeyError",
            "stack_trace": 'Traceback (most recent call last):\n  File "/srv/app.py", line 21, in f\n'
            "    raise KeyError(\"k\")\nKeyError: 'k'",
        },
        {},
    ),
    (
        "structlog-json-renderer",
        {"user_id": 42, "event": "user logged in", "level": "info", "timestamp": "2026-12-07T16:46:37.520121Z"},
        {
            "message": "user logged in",
            "user_id": "42",
            "level": "INFO",
            "created_at": at("2026-12-07T16:46:37.520121+00:00"),
        },
        {},
    ),
    (
        "structlog-format-exc-info",
        {
            "event": "payment failed",
            "level": "error",
            "timestamp": "2026-12-07T16:46:37.520238Z",
            "exception": PY_TRACE,
        },
        {"message": "payment failed", "error_type": "ZeroDivisionError", "stack_trace": PY_TRACE},
        {},
    ),
    (
        "structlog-dict-tracebacks",
        {
            "event": "payment failed",
            "level": "error",
            "timestamp": "2026-12-07T16:46:37.520664Z",
            "exception": [
                {
                    "exc_type": "ZeroDivisionError",
                    "exc_value": "division by zero",
                    "exc_notes": [],
                    "syntax_error": None,
                    "is_cause": False,
                    "frames": [
                        {"filename": "/srv/app.py", "lineno": 35, "name": "<module>"},
                        {"filename": "/srv/app.py", "lineno": 3, "name": "boom"},
                    ],
                    "is_group": False,
                    "exceptions": [],
                }
            ],
        },
        {
            "error_type": "ZeroDivisionError",
            "stack_trace": 'Traceback (most recent call last):\n  File "/srv/app.py", line 35, in <module>\n'
            '  File "/srv/app.py", line 3, in boom\nZeroDivisionError: division by zero',
        },
        {},
    ),
    (
        "structlog-stdlib-logger-name",
        {
            "amount": 12,
            "event": "captured",
            "level": "info",
            "logger": "shop.payments",
            "timestamp": "2026-12-07T16:46:37.521096Z",
        },
        {"message": "captured", "module": "shop.payments"},
        {"amount": 12},
    ),
    (
        "loguru-serialize-bound-extras",
        {
            "text": "2026-12-07 16:46:37.487 +00:00 | INFO     | __main__:<module>:10 - payment captured\n",
            "record": {
                "elapsed": {"repr": "0:00:00.009042", "seconds": 0.009042},
                "exception": None,
                "extra": {
                    "service": "checkout",
                    "user_id": "u-42",
                    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                    "order_id": "o-1",
                },
                "file": {"name": "app.py", "path": "/srv/app.py"},
                "function": "<module>",
                "level": {"icon": "ℹ️", "name": "INFO", "no": 20},
                "line": 10,
                "message": "payment captured",
                "module": "app",
                "name": "__main__",
                "process": {"id": 17282, "name": "MainProcess"},
                "template": "payment captured",
                "thread": {"id": 140472104754048, "name": "MainThread"},
                "time": {"repr": "2026-12-07 16:46:37.487669+00:00", "timestamp": 1796661997.487669},
            },
        },
        {
            "level": "INFO",
            "message": "payment captured",
            "service": "checkout",
            "user_id": "u-42",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "module": "__main__",
            "created_at": at("2026-12-07T16:46:37.487669+00:00"),
        },
        {
            "elapsed": {"repr": "0:00:00.009042", "seconds": 0.009042},
            "file": {"name": "app.py", "path": "/srv/app.py"},
            "function": "<module>",
            "line": 10,
            "process": {"id": 17282, "name": "MainProcess"},
            "template": "payment captured",
            "thread": {"id": 140472104754048, "name": "MainThread"},
            "order_id": "o-1",
            "module": "app",
        },
    ),
    (
        "loguru-exception",
        {
            "text": "2026-12-07 16:46:37.487 +00:00 | ERROR    | __main__:<module>:14 - payment failed\n"
            + PY_TRACE
            + "\n",
            "record": {
                "exception": {"type": "ZeroDivisionError", "value": "division by zero", "traceback": True},
                "extra": {"service": "checkout"},
                "level": {"icon": "❌", "name": "ERROR", "no": 40},
                "message": "payment failed",
                "name": "__main__",
                "time": {"repr": "2026-12-07 16:46:37.487929+00:00", "timestamp": 1796661997.487929},
            },
        },
        {"level": "ERROR", "error_type": "ZeroDivisionError", "stack_trace": PY_TRACE, "message": "payment failed"},
        {"exception": {"value": "division by zero", "traceback": True}},
    ),
    (
        "loguru-success-and-custom-level",
        {
            "text": "x | AUDIT | y - done\n",
            "record": {
                "exception": None,
                "extra": {},
                "level": {"icon": "", "name": "AUDIT", "no": 35},
                "message": "done",
                "name": "__main__",
                "time": {"repr": "2026-12-07 16:46:37.493053+00:00", "timestamp": 1796661997.493053},
            },
        },
        {"level": "WARN", "message": "done"},
        {},
    ),
    (
        "python-json-logger",
        {
            "asctime": "2026-12-07 16:46:37,524",
            "levelname": "INFO",
            "name": "shop.api",
            "message": "order placed",
            "order_id": "o-1",
            "user_id": "u-7",
        },
        {"level": "INFO", "module": "shop.api", "user_id": "u-7", "created_at": at("2026-12-07T16:46:37.524+00:00")},
        {"order_id": "o-1"},
    ),
    (
        "python-json-logger-exc-info",
        {
            "asctime": "2026-12-07 16:46:37,524",
            "levelname": "ERROR",
            "name": "shop.api",
            "message": "failed",
            "exc_info": PY_TRACE,
        },
        {"level": "ERROR", "error_type": "ZeroDivisionError", "stack_trace": PY_TRACE},
        {},
    ),
    (
        "python-json-logger-dict-message",
        {
            "asctime": "2026-12-07 16:46:37,524",
            "levelname": "WARNING",
            "name": "shop.api",
            "message": "",
            "dict": "message",
            "n": 1,
        },
        {"level": "WARN", "message": '{"dict":"message","n":1}', "module": "shop.api"},
        {"dict": "message", "n": 1},
    ),
    (
        "otel-semantic-convention-names",
        {
            "level": "ERROR",
            "message": "checkout failed",
            "service.name": "checkout",
            "deployment.environment.name": "staging",
            "exception.type": "PaymentDeclined",
            "exception.message": "card declined",
            "exception.stacktrace": "PaymentDeclined: card declined\n    at pay (pay.js:1:1)",
            "http.route": "/api/pay",
            "http.request.method": "POST",
            "http.response.status_code": 402,
            "enduser.id": "u-9",
            "session.id": "s-9",
        },
        {
            "service": "checkout",
            "environment": "staging",
            "error_type": "PaymentDeclined",
            "stack_trace": "PaymentDeclined: card declined\n    at pay (pay.js:1:1)",
            "endpoint": "/api/pay",
            "method": "POST",
            "http_status_code": 402,
            "user_id": "u-9",
            "session_id": "s-9",
        },
        {"exception.message": "card declined"},
    ),
    (
        "otel-older-environment-name",
        {"level": "INFO", "message": "m", "deployment.environment": "prod"},
        {"environment": "prod"},
        {},
    ),
    (
        "own-names-win-over-aliases",
        {
            "level": "INFO",
            "severity": "ERROR",
            "message": "mine",
            "msg": "theirs",
            "timestamp": "2026-12-07T16:00:00Z",
            "time": 1,
        },
        {"level": "INFO", "message": "mine", "created_at": at("2026-12-07T16:00:00+00:00")},
        {"severity": "ERROR", "msg": "theirs", "time": 1},
    ),
    (
        "alias-that-does-not-fit-stays-in-metadata",
        {
            "level": "INFO",
            "message": "m",
            "time": "12ms",
            "status_code": "n/a",
            "http": {"response": {"status_code": 700}},
            "event": {"duration": -5},
            "severity": 3,
        },
        {"created_at": NOW, "http_status_code": None, "duration_ms": None},
        {
            "time": "12ms",
            "status_code": "n/a",
            "http": {"response": {"status_code": 700}},
            "event": {"duration": -5},
            "severity": 3,
        },
    ),
]


def _columns(record: LogRecord, expected: dict[str, Any]) -> dict[str, Any]:
    return {name: getattr(record, name) for name in expected}


def _expected_columns(expected: dict[str, Any], service_default: str) -> dict[str, Any]:
    out = dict(expected)
    if out.get("service", "") is None:
        out["service"] = service_default
    return out


@pytest.mark.parametrize(("line", "expected", "metadata"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_shape_through_the_api(line: dict[str, Any], expected: dict[str, Any], metadata: dict[str, Any]) -> None:
    result = validate_batch([line], API)
    assert result.rejected == []
    record = result.accepted[0]
    assert _columns(record, expected) == _expected_columns(expected, "unknown_service")
    assert record.metadata == metadata


@pytest.mark.parametrize(("line", "expected", "metadata"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_same_shape_printed_to_stdout_on_ecs(
    line: dict[str, Any], expected: dict[str, Any], metadata: dict[str, Any]
) -> None:
    firelens_record = {
        "container_id": "5d3c8e0a",
        "container_name": f"/ecs-{FAMILY}-7-app",
        "source": "stdout",
        "log": json.dumps(line),
        "ecs_task_definition": f"{FAMILY}:7",
    }
    raw = firelens.to_raw_record(firelens_record, "raw/2026/12/07/16/object.gz", 3)
    record = LogRecord.model_validate(raw, context=ECS)
    assert _columns(record, expected) == _expected_columns(expected, FAMILY)
    ecs = {"container_id": "5d3c8e0a", "container_name": f"/ecs-{FAMILY}-7-app", "ecs_task_definition": f"{FAMILY}:7"}
    assert record.metadata == {**metadata, "ecs": ecs, "stream": "stdout"}


def test_the_input_is_never_modified() -> None:
    line = {"http": {"request": {"method": "GET", "id": "r"}}, "service": {"name": "a", "version": "1"}, "msg": "m"}
    before = json.dumps(line)
    shaped = canonical(line)
    assert json.dumps(line) == before
    assert shaped.fields == {"http": {"request": {"id": "r"}}, "method": "GET", "service": "a", "message": "m"}
    assert shaped.moved == {"service": {"version": "1"}}


def test_huge_numbers_under_alias_names_stay_in_metadata_as_text() -> None:
    big = 10**400
    line = {"level": 30, "msg": "m", "event": {"duration": big}, "status_code": "9" * 5000, "user": {"id": 10**100}}
    [record] = validate_batch([line], API).accepted
    assert (record.duration_ms, record.http_status_code, record.user_id) == (None, None, str(10**100))
    assert record.metadata == {"event": {"duration": str(big)}, "status_code": "9" * 5000}
    [loud] = validate_batch([{"level": big, "message": "m"}], API).accepted
    assert loud.level == "FATAL"  # above pino's 60, as custom levels beyond fatal are


def test_an_object_message_is_kept_even_beside_an_error_message() -> None:
    shaped = canonical({"message": {"op": "pay"}, "error": {"message": "declined", "type": "CardError"}})
    assert shaped.fields == {"message": {"op": "pay"}, "error": {"message": "declined"}, "error_type": "CardError"}
    assert shaped.moved == {}


def test_a_record_already_in_loglens_names_passes_unchanged() -> None:
    line = {"level": "INFO", "service": "s", "message": "m", "user_id": "u", "metadata": {"a": 1}, "order": 1}
    assert canonical(line).fields == line


def test_every_alias_names_a_record_field() -> None:
    fields = set(LogRecord.model_fields) | {"timestamp"}
    assert {a.target for a in ALIASES} <= fields


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        (JS_STACK, "Error"),
        (PY_TRACE, "ZeroDivisionError"),
        (
            "java.lang.IllegalStateException: closed\n\tat com.shop.Pay.run(Pay.java:10)",
            "java.lang.IllegalStateException",
        ),
        (
            'Exception in thread "main" java.lang.RuntimeException: x\n\tat A.main(A.java:1)',
            "java.lang.RuntimeException",
        ),
        ('  File "/srv/app.py", line 3, in boom\n    return 1 / 0\n', None),  # frames only: no exception line
        ("panic: my panic\n\ngoroutine 1 [running]:", None),
        ("Something went wrong: badly", None),
    ],
)
def test_error_type_from_stack(stack: str, expected: str | None) -> None:
    assert error_type_from_stack(stack) == expected


def test_a_joined_traceback_line_on_stdout_becomes_one_error_record() -> None:
    java = (
        "java.lang.IllegalStateException: pool closed\n\tat com.shop.Pay.run(Pay.java:10)\n"
        "\tat java.base/java.lang.Thread.run(Thread.java:1583)"
    )
    assert split_traceback(PY_TRACE) == ("ZeroDivisionError: division by zero", "ZeroDivisionError")
    assert split_traceback(java) == ("java.lang.IllegalStateException: pool closed", "java.lang.IllegalStateException")
    assert split_traceback("one line") is None
    assert split_traceback("two\nplain lines") is None
    for text, message, error_type in ((PY_TRACE, "ZeroDivisionError: division by zero", "ZeroDivisionError"),):
        raw = firelens.to_raw_record(
            {"log": text + "\n", "source": "stderr", "container_name": "app", "ecs_task_definition": f"{FAMILY}:7"},
            "raw/k.gz",
            1,
        )
        record = LogRecord.model_validate(raw, context=ECS)
        assert (record.level, record.message, record.error_type, record.stack_trace) == (
            "ERROR",
            message,
            error_type,
            text,
        )
