"""The record model, table-driven: each input case with its exact outcome and message."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from typing import Any

import pytest

from loglens.record import (
    LOG_COLUMNS,
    METADATA_MAX_BYTES,
    TEXT_LIMITS,
    AcceptanceWindow,
    IngestContext,
    Level,
    Source,
    column_sql_types,
    uuid7,
)
from loglens.text import TRUNCATION_MARKER
from loglens.validate import validate_batch

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
CTX = IngestContext(source=Source.API, received_at=NOW, api_key_id="key-1", source_ip="203.0.113.9")
BASE: dict[str, Any] = {"level": "INFO", "service": "payment-api", "message": "paid"}
EPOCH_NOW = int(NOW.timestamp())
UUID_A = "0b7f9a9e-3c7a-4a54-9f4c-1b2e3d4c5a6b"
DEEP: dict[str, Any] = {"x": 1}
for _ in range(8):
    DEEP = {"d": DEEP}


def rec(**fields: Any) -> dict[str, Any]:
    return {**BASE, **fields}


OK = "ok"
# (id, input, expected) — expected is ("ok", {field: value}) or ("rejected", [reasons]).
CASES: list[tuple[str, Any, tuple[str, Any]]] = [
    # good records and defaults
    (
        "minimal",
        rec(),
        (
            OK,
            {
                "level": Level.INFO,
                "service": "payment-api",
                "log_type": "BACKEND",
                "environment": "development",
                "created_at": NOW,
                "metadata": {},
            },
        ),
    ),
    (
        "full-origin-fields",
        rec(
            user_id="u1",
            session_id="s1",
            trace_id="t" * 32,
            span_id="s" * 16,
            error_type="DatabaseConnectionTimeout",
            application_error_code="PAY-17",
            http_status_code=503,
            stack_trace="Traceback...",
            module="pay.db",
            component="pool",
            endpoint="/api/v1/payment",
            method="post",
            duration_ms=1234.5,
            page_path="/checkout",
            page_url="https://shop.example/checkout",
            browser_name="Chrome",
            device_type="desktop",
            screen_width=1920,
            screen_height=1080,
            action_type="button_click",
            action_target="pay",
        ),
        (
            OK,
            {
                "method": "POST",
                "duration_ms": 1234.5,
                "http_status_code": 503,
                "screen_width": 1920,
                "error_type": "DatabaseConnectionTimeout",
                "action_target": "pay",
            },
        ),
    ),
    (
        "server-fields-from-context",
        rec(),
        (
            OK,
            {"source": Source.API, "api_key_id": "key-1", "source_ip": IPv4Address("203.0.113.9"), "received_at": NOW},
        ),
    ),
    ("log-type-upper", rec(log_type="frontend"), (OK, {"log_type": "FRONTEND"})),
    ("environment-kept", rec(environment="production"), (OK, {"environment": "production"})),
    # level spellings
    ("level-lower", rec(level="info"), (OK, {"level": Level.INFO})),
    ("level-warning", rec(level="warning"), (OK, {"level": Level.WARN})),
    ("level-Warning-mixed", rec(level="Warning"), (OK, {"level": Level.WARN})),
    ("level-err", rec(level="err"), (OK, {"level": Level.ERROR})),
    ("level-error-padded", rec(level="  ERROR "), (OK, {"level": Level.ERROR})),
    ("level-critical", rec(level="critical"), (OK, {"level": Level.FATAL})),
    ("level-fatal-lower", rec(level="fatal"), (OK, {"level": Level.FATAL})),
    ("level-panic", rec(level="panic"), (OK, {"level": Level.FATAL})),
    ("level-notice", rec(level="notice"), (OK, {"level": Level.INFO})),
    ("level-dbg", rec(level="dbg"), (OK, {"level": Level.DEBUG})),
    ("level-trace", rec(level="TRACE"), (OK, {"level": Level.TRACE})),
    (
        "level-unknown",
        rec(level="loud"),
        ("rejected", ["level: 'loud' is not a level; expected one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL"]),
    ),
    (
        "level-number-below-pino-scale",
        rec(level=3),
        ("rejected", ["level: 3 is not a level; expected a level name or a pino/bunyan number from 10 to 60"]),
    ),
    ("level-pino-number", rec(level=50), (OK, {"level": Level.ERROR})),
    ("level-pino-custom-number-rounds-down", rec(level=35), (OK, {"level": Level.INFO})),
    ("level-pino-above-fatal", rec(level=100), (OK, {"level": Level.FATAL})),
    ("level-winston-silly", rec(level="silly"), (OK, {"level": Level.TRACE})),
    ("level-winston-verbose", rec(level="verbose"), (OK, {"level": Level.DEBUG})),
    ("level-winston-http", rec(level="http"), (OK, {"level": Level.INFO})),
    ("level-loguru-success", rec(level="SUCCESS"), (OK, {"level": Level.INFO})),
    ("level-winston-colorized", rec(level="\u001b[31merror\u001b[39m"), (OK, {"level": Level.ERROR})),
    (
        "level-bool",
        rec(level=True),
        ("rejected", ["level: expected one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL, got a boolean"]),
    ),
    # event times
    ("time-iso-z", rec(timestamp="2026-11-29T11:00:00Z"), (OK, {"created_at": NOW - timedelta(hours=1)})),
    ("time-iso-offset", rec(timestamp="2026-11-29T20:00:00+09:00"), (OK, {"created_at": NOW - timedelta(hours=1)})),
    ("time-iso-naive-is-utc", rec(timestamp="2026-11-29T11:00:00"), (OK, {"created_at": NOW - timedelta(hours=1)})),
    (
        "time-iso-space-fraction",
        rec(timestamp="2026-11-29 11:00:00.123456"),
        (OK, {"created_at": NOW - timedelta(hours=1) + timedelta(microseconds=123456)}),
    ),
    ("time-epoch-seconds", rec(timestamp=EPOCH_NOW - 60), (OK, {"created_at": NOW - timedelta(minutes=1)})),
    (
        "time-epoch-seconds-float",
        rec(timestamp=EPOCH_NOW - 0.5),
        (OK, {"created_at": NOW - timedelta(milliseconds=500)}),
    ),
    ("time-epoch-millis", rec(timestamp=(EPOCH_NOW - 60) * 1000), (OK, {"created_at": NOW - timedelta(minutes=1)})),
    (
        "time-epoch-micros",
        rec(timestamp=(EPOCH_NOW - 60) * 1_000_000),
        (OK, {"created_at": NOW - timedelta(minutes=1)}),
    ),
    (
        "time-epoch-nanos",
        rec(timestamp=(EPOCH_NOW - 60) * 1_000_000_000),
        (OK, {"created_at": NOW - timedelta(minutes=1)}),
    ),
    (
        "time-epoch-millis-string",
        rec(timestamp=str((EPOCH_NOW - 60) * 1000)),
        (OK, {"created_at": NOW - timedelta(minutes=1)}),
    ),
    ("time-created-at-alias", rec(created_at="2026-11-29T11:00:00Z"), (OK, {"created_at": NOW - timedelta(hours=1)})),
    ("time-missing-means-now", rec(), (OK, {"created_at": NOW})),
    ("time-null-means-now", rec(timestamp=None), (OK, {"created_at": NOW})),
    ("time-29-days-back-ok", rec(timestamp="2026-10-31T12:00:00Z"), (OK, {"created_at": NOW - timedelta(days=29)})),
    (
        "time-too-old",
        rec(timestamp="2026-10-29T11:59:59Z"),
        (
            "rejected",
            [
                "timestamp: 2026-10-29T11:59:59+00:00 is outside the accepted window "
                "(30 days back, 1 hour ahead of 2026-11-29T12:00:00+00:00)"
            ],
        ),
    ),
    (
        "time-too-far-ahead",
        rec(timestamp="2026-11-29T13:00:01Z"),
        (
            "rejected",
            [
                "timestamp: 2026-11-29T13:00:01+00:00 is outside the accepted window "
                "(30 days back, 1 hour ahead of 2026-11-29T12:00:00+00:00)"
            ],
        ),
    ),
    (
        "time-garbage",
        rec(timestamp="yesterday"),
        ("rejected", ["timestamp: 'yesterday' is not an ISO 8601 time or epoch number"]),
    ),
    (
        "time-bool",
        rec(timestamp=True),
        ("rejected", ["timestamp: expected an ISO 8601 string or epoch number, got a boolean"]),
    ),
    (
        "time-negative-epoch",
        rec(timestamp=-5),
        ("rejected", ["timestamp: epoch value -5.0 is not a positive finite number"]),
    ),
    (
        "time-object",
        rec(timestamp={"s": 1}),
        ("rejected", ["timestamp: expected an ISO 8601 string or epoch number, got dict"]),
    ),
    (
        "time-empty-string",
        rec(timestamp=""),
        ("rejected", ["timestamp: expected an ISO 8601 string or epoch number, got an empty string"]),
    ),
    # text hygiene
    ("nul-removed-message", rec(message="pa\x00id"), (OK, {"message": "paid"})),
    ("nul-removed-service", rec(service="pay\x00ment"), (OK, {"service": "payment"})),
    ("lone-surrogate-replaced", rec(message="bad \ud800 byte"), (OK, {"message": "bad \ufffd byte"})),
    ("unicode-kept", rec(message="결제 실패 💳"), (OK, {"message": "결제 실패 💳"})),
    (
        "message-truncated",
        rec(message="x" * (TEXT_LIMITS["message"] + 10)),
        (OK, {"message": "x" * (TEXT_LIMITS["message"] - len(TRUNCATION_MARKER)) + TRUNCATION_MARKER}),
    ),
    (
        "stack-trace-truncated",
        rec(stack_trace="y" * 70_000),
        (OK, {"stack_trace": "y" * (TEXT_LIMITS["stack_trace"] - len(TRUNCATION_MARKER)) + TRUNCATION_MARKER}),
    ),
    (
        "service-truncated",
        rec(service="s" * 200),
        (OK, {"service": "s" * (TEXT_LIMITS["service"] - len(TRUNCATION_MARKER)) + TRUNCATION_MARKER}),
    ),
    (
        "message-at-limit-kept",
        rec(message="z" * TEXT_LIMITS["message"]),
        (OK, {"message": "z" * TEXT_LIMITS["message"]}),
    ),
    ("numeric-user-id", rec(user_id=12345), (OK, {"user_id": "12345"})),
    ("status-code-string", rec(http_status_code="404"), (OK, {"http_status_code": 404})),
    ("status-code-float-integral", rec(http_status_code=500.0), (OK, {"http_status_code": 500})),
    ("duration-string", rec(duration_ms="12.5"), (OK, {"duration_ms": 12.5})),
    ("duration-int", rec(duration_ms=7), (OK, {"duration_ms": 7.0})),
    # unknown fields and metadata
    ("unknown-field-to-metadata", rec(order_id="o-1"), (OK, {"metadata": {"order_id": "o-1"}})),
    ("unknown-merged-with-metadata", rec(metadata={"a": 1}, b=2), (OK, {"metadata": {"a": 1, "b": 2}})),
    ("unknown-conflicting-key-kept", rec(metadata={"a": 1}, a=2), (OK, {"metadata": {"a": 1, "_extra_a": 2}})),
    (
        "extra-key-never-overwritten",
        rec(metadata={"a": 1, "_extra_a": 2}, a=3),
        (OK, {"metadata": {"a": 1, "_extra_a": 2, "_extra2_a": 3}}),
    ),
    (
        "extra-key-sent-alongside-its-clash",
        {**rec(metadata={"a": 1}, a=2), "_extra_a": 3},
        (OK, {"metadata": {"a": 1, "_extra_a": 2, "_extra__extra_a": 3}}),
    ),
    (
        "client-source-kept-in-metadata",
        rec(source="stdout"),
        (OK, {"source": Source.API, "metadata": {"source": "stdout"}}),
    ),
    (
        "client-received-at-not-trusted",
        rec(received_at="2020-01-01T00:00:00Z"),
        (OK, {"received_at": NOW, "metadata": {"received_at": "2020-01-01T00:00:00Z"}}),
    ),
    ("metadata-null-is-empty", rec(metadata=None), (OK, {"metadata": {}})),
    (
        "metadata-nul-in-nested-string",
        rec(metadata={"k": ["a\x00b", {"n\x00": "v"}]}),
        (OK, {"metadata": {"k": ["ab", {"n": "v"}]}}),
    ),
    ("metadata-nan-to-null", rec(metadata={"v": float("nan")}), (OK, {"metadata": {"v": None}})),
    (
        "metadata-int-beyond-64-bits-kept-as-text",
        rec(metadata={"big": 10**30, "edge": 2**64 - 1, "low": -(2**63), "lower": -(2**63) - 1}),
        (OK, {"metadata": {"big": str(10**30), "edge": 2**64 - 1, "low": -(2**63), "lower": str(-(2**63) - 1)}}),
    ),
    ("metadata-array", rec(metadata=[1, 2]), ("rejected", ["metadata: expected a JSON object, got an array"])),
    ("metadata-string", rec(metadata="x"), ("rejected", ["metadata: expected a JSON object, got a string"])),
    ("metadata-too-deep", rec(metadata=DEEP), ("rejected", ["metadata: is nested deeper than 8 levels"])),
    (
        "metadata-too-big",
        rec(metadata={"blob": "b" * METADATA_MAX_BYTES}),
        ("rejected", [f"metadata: is {METADATA_MAX_BYTES + 11} bytes serialised; the limit is {METADATA_MAX_BYTES}"]),
    ),
    # event ids
    ("event-id-uuid-kept", rec(event_id=UUID_A), (OK, {"event_id": uuid.UUID(UUID_A)})),
    ("event-id-upper-uuid", rec(event_id=UUID_A.upper()), (OK, {"event_id": uuid.UUID(UUID_A)})),
    (
        "event-id-other-string-stable",
        rec(event_id="req-42"),
        (OK, {"event_id": uuid.uuid5(uuid.UUID("6f1d3c1e-4d0b-5a59-9a57-6c6f676c656e"), "req-42")}),
    ),
    (
        "event-id-number",
        rec(event_id=42),
        ("rejected", ["event_id: expected a string of at most 128 characters, got a number"]),
    ),
    (
        "event-id-too-long",
        rec(event_id="e" * 129),
        ("rejected", ["event_id: expected a non-empty string of at most 128 characters"]),
    ),
    # wrong types and missing fields
    (
        "missing-all-required",
        {},
        ("rejected", ["level: required field is missing", "message: required field is missing"]),
    ),
    ("missing-message", {"level": "INFO", "service": "a"}, ("rejected", ["message: required field is missing"])),
    ("missing-service-is-unknown", {"level": "INFO", "message": "a"}, (OK, {"service": "unknown_service"})),
    ("null-message", rec(message=None), ("rejected", ["message: expected a string, got null"])),
    (
        "no-message-fields-become-it",
        {"level": "INFO", "service": "a", "order_id": "o-1", "n": 2},
        (OK, {"message": '{"order_id":"o-1","n":2}', "metadata": {"order_id": "o-1", "n": 2}}),
    ),
    (
        "blank-message-fields-become-it",
        rec(message="  ", order_id="o-1"),
        (OK, {"message": '{"order_id":"o-1"}', "metadata": {"order_id": "o-1"}}),
    ),
    ("blank-message-alone", rec(message=""), ("rejected", ["message: must not be empty"])),
    ("blank-service", rec(service="   "), ("rejected", ["service: must not be empty"])),
    ("message-object-as-json", rec(message={"text": "hí", "n": 1}), (OK, {"message": '{"text":"hí","n":1}'})),
    ("message-array-as-json", rec(message=["a", 1]), (OK, {"message": '["a",1]'})),
    ("user-id-bool", rec(user_id=True), ("rejected", ["user_id: expected a string, got a boolean"])),
    (
        "status-code-word",
        rec(http_status_code="abc"),
        ("rejected", ["http_status_code: expected an integer from 100 to 599, got 'abc'"]),
    ),
    (
        "status-code-out-of-range",
        rec(http_status_code=700),
        ("rejected", ["http_status_code: expected an integer from 100 to 599, got 700"]),
    ),
    (
        "status-code-bool",
        rec(http_status_code=True),
        ("rejected", ["http_status_code: expected an integer from 100 to 599, got a boolean"]),
    ),
    ("duration-negative", rec(duration_ms=-1), ("rejected", ["duration_ms: expected a non-negative number, got -1"])),
    (
        "duration-word",
        rec(duration_ms="slow"),
        ("rejected", ["duration_ms: expected a non-negative number, got 'slow'"]),
    ),
    (
        "screen-width-fraction",
        rec(screen_width=1.5),
        ("rejected", ["screen_width: expected an integer from 0 to 100000, got a number"]),
    ),
    (
        "two-errors-at-once",
        rec(http_status_code=99, duration_ms=-2),
        (
            "rejected",
            [
                "http_status_code: expected an integer from 100 to 599, got 99",
                "duration_ms: expected a non-negative number, got -2",
            ],
        ),
    ),
    ("record-is-array", [1, 2], ("rejected", ["a log record must be a JSON object, got an array"])),
    ("record-is-string", "hello", ("rejected", ["a log record must be a JSON object, got a string"])),
    ("record-is-null", None, ("rejected", ["a log record must be a JSON object, got null"])),
]


@pytest.mark.parametrize(("raw", "expected"), [pytest.param(c[1], c[2], id=c[0]) for c in CASES])
def test_record_case(raw: Any, expected: tuple[str, Any]) -> None:
    result = validate_batch([raw], CTX)
    outcome, detail = expected
    if outcome == OK:
        assert result.rejected == []
        record = result.accepted[0]
        for name, value in detail.items():
            assert getattr(record, name) == value, name
    else:
        assert result.accepted == []
        assert list(result.rejected[0].errors) == detail


def test_there_are_at_least_sixty_cases() -> None:
    assert len(CASES) >= 60


def test_batch_keeps_good_records_and_indexes_the_bad() -> None:
    result = validate_batch([rec(), rec(level="nope"), rec(message="second")], CTX)
    assert [r.message for r in result.accepted] == ["paid", "second"]
    assert [r.as_dict() for r in result.rejected] == [
        {"index": 1, "errors": ["level: 'nope' is not a level; expected one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL"]}
    ]


def test_generated_event_ids_are_unique_time_ordered_v7() -> None:
    ids = [uuid7() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(i.version == 7 for i in ids)
    assert [i.bytes[:6] for i in ids] == sorted(i.bytes[:6] for i in ids)


def test_custom_window_is_named_in_the_reason() -> None:
    ctx = IngestContext(source=Source.API, received_at=NOW, window=AcceptanceWindow(timedelta(days=2), timedelta(0)))
    result = validate_batch([rec(timestamp="2026-11-26T12:00:00Z")], ctx)
    assert result.rejected[0].errors == (
        "timestamp: 2026-11-26T12:00:00+00:00 is outside the accepted window "
        "(2 days back, 0 days ahead of 2026-11-29T12:00:00+00:00)",
    )


def test_trusted_context_keeps_server_fields_and_checks_window_against_receive_time() -> None:
    """The load path re-reads collect's output weeks later (a replay): its receive time is the reference."""
    old = NOW - timedelta(days=40)
    stored = rec(
        timestamp=old.isoformat(), received_at=old.isoformat(), source="otlp", api_key_id="k9", event_id=UUID_A
    )
    ctx = IngestContext(source=Source.API, received_at=NOW, trusted=True)
    result = validate_batch([stored], ctx)
    assert result.rejected == []
    record = result.accepted[0]
    assert (record.source, record.api_key_id, record.received_at, record.created_at) == (Source.OTLP, "k9", old, old)


def test_db_row_follows_column_order() -> None:
    record = validate_batch([rec(user_id="u")], CTX).accepted[0]
    row = record.db_row()
    assert len(row) == len(LOG_COLUMNS)
    assert row[LOG_COLUMNS.index("user_id")] == "u"
    assert set(column_sql_types()) == set(LOG_COLUMNS)


def test_validation_without_context_is_a_programming_error() -> None:
    from loglens.record import LogRecord

    with pytest.raises(RuntimeError, match="IngestContext"):
        LogRecord.model_validate(rec())
