"""OTLP/HTTP logs through the collect handler: strict reading with the JSON path of every problem, records
rejected alone via partialSuccess, identity from content and position, and a fuzz run that never sees a 5xx."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from loglens.ingest.collect import CollectApi, CollectService
from loglens.settings import Settings
from tests.events import api_event, response_json

OTLP = "/otlp/v1/logs"


class ListSink:
    """Firehose stand-in that keeps what it is given (the fuzz run sends thousands of requests)."""

    def __init__(self) -> None:
        self.records: list[bytes] = []

    def put(self, records: list[bytes]) -> None:
        self.records.extend(records)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for record in self.records for line in record.splitlines()]


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


@pytest.fixture
def api(sink: ListSink) -> CollectApi:
    return CollectApi(CollectService(sink, Settings.from_env({})))


def now_ns() -> str:
    return str(time.time_ns())


def log_record(message: str = "payment failed", **extra: Any) -> dict[str, Any]:
    return {
        "timeUnixNano": now_ns(),
        "severityNumber": 17,
        "severityText": "ERROR",
        "body": {"stringValue": message},
        "attributes": [
            {"key": "order_id", "value": {"stringValue": "o-42"}},
            {"key": "http.response.status_code", "value": {"intValue": "502"}},
        ],
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "spanId": "EEE19B7EC3C1B174",
        **extra,
    }


def request(*records: dict[str, Any], resource: Any = None) -> dict[str, Any]:
    return {
        "resourceLogs": [
            {
                "resource": resource
                if resource is not None
                else {"attributes": [{"key": "service.name", "value": {"stringValue": "checkout"}}]},
                "scopeLogs": [{"scope": {"name": "app", "version": "1.2"}, "logRecords": list(records)}],
            }
        ]
    }


def send(api: CollectApi, body: Any, content_type: str = "application/json") -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = api.handle(api_event(OTLP, data, content_type=content_type))
    if response["headers"]["Content-Type"] == "application/x-protobuf":
        import base64

        answer = ExportLogsServiceResponse()
        answer.ParseFromString(base64.b64decode(response["body"]))
        return response["statusCode"], answer
    return response["statusCode"], response_json(response)


def test_a_good_record_maps_onto_the_record_fields(api: CollectApi, sink: ListSink) -> None:
    assert send(api, request(log_record())) == (200, {})
    [line] = sink.lines()
    assert (line["service"], line["level"], line["message"], line["http_status_code"]) == (
        "checkout",
        "ERROR",
        "payment failed",
        502,
    )
    assert (line["trace_id"], line["span_id"]) == ("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174")
    assert line["metadata"] == {"order_id": "o-42", "otel.scope": "app", "otel.scope.version": "1.2"}


def test_two_identical_records_in_one_request_are_two_events(api: CollectApi, sink: ListSink) -> None:
    record = log_record()
    assert send(api, request(record, copy.deepcopy(record))) == (200, {})
    ids = [line["event_id"] for line in sink.lines()]
    assert len(ids) == 2 and ids[0] != ids[1]


def test_a_resent_request_gets_the_same_event_ids(api: CollectApi, sink: ListSink) -> None:
    body = request(log_record("a"), log_record("a"), log_record("b"))
    send(api, body)
    send(api, body)
    ids = [line["event_id"] for line in sink.lines()]
    assert ids[:3] == ids[3:] and len(set(ids)) == 3


def test_a_record_without_a_body_takes_its_event_name(api: CollectApi, sink: ListSink) -> None:
    record = log_record(eventName="browser.page_view")
    del record["body"]
    assert send(api, request(record)) == (200, {})
    [line] = sink.lines()
    assert line["message"] == "browser.page_view" and line["metadata"]["event.name"] == "browser.page_view"


def test_values_json_cannot_hold_are_kept_as_text(api: CollectApi, sink: ListSink) -> None:
    record = log_record(
        attributes=[
            {"key": "ratio", "value": {"doubleValue": "NaN"}},
            {"key": "limit", "value": {"doubleValue": "Infinity"}},
            {"key": "huge", "value": {"doubleValue": 1e400}},
            {"key": "blob", "value": {"bytesValue": "aGVsbG8="}},
        ]
    )
    assert send(api, request(record)) == (200, {})
    metadata = sink.lines()[0]["metadata"]
    assert (metadata["ratio"], metadata["limit"], metadata["huge"], metadata["blob"]) == (
        "NaN",
        "Infinity",
        "Infinity",
        "aGVsbG8=",
    )


LR = "resourceLogs[0].scopeLogs[0].logRecords[0]"
RECORD_PROBLEMS = [
    ({"timeUnixNano": "abc"}, f"{LR}.timeUnixNano: expected an integer from 0 to 18446744073709551615, got 'abc'"),
    ({"timeUnixNano": -5}, f"{LR}.timeUnixNano: expected an integer from 0 to 18446744073709551615, got -5"),
    ({"observedTimeUnixNano": [1]}, f"{LR}.observedTimeUnixNano: expected an integer from 0"),
    ({"severityNumber": 99}, f"{LR}.severityNumber: expected a severity number from 0 to 24"),
    ({"severityNumber": "SEVERITY_NUMBER_LOUD"}, f"{LR}.severityNumber: expected a severity number from 0 to 24"),
    ({"severityNumber": True}, f"{LR}.severityNumber: expected a severity number from 0 to 24"),
    ({"severityText": 3}, f"{LR}.severityText: expected a string, got a number"),
    ({"attributes": {"order_id": "o-1"}}, f"{LR}.attributes: expected a list, got an object"),
    ({"attributes": ["order_id"]}, f"{LR}.attributes[0]: expected a key-value object, got a string"),
    ({"attributes": [{"value": {"stringValue": "x"}}]}, f"{LR}.attributes[0].key: expected a string, got null"),
    (
        {"attributes": [{"key": "a", "value": {"stringValue": "x"}}, {"key": "a", "value": {"intValue": 1}}]},
        f"{LR}.attributes[1].key: 'a' appears twice",
    ),
    ({"attributes": [{"key": "a", "value": "x"}]}, f"{LR}.attributes[0].value: expected an AnyValue object"),
    ({"attributes": [{"key": "a", "value": {"fooValue": 1}}]}, f"{LR}.attributes[0].value: no AnyValue field among"),
    (
        {"attributes": [{"key": "a", "value": {"stringValue": "x", "intValue": 1}}]},
        f"{LR}.attributes[0].value: an AnyValue holds one value, got stringValue and intValue",
    ),
    ({"attributes": [{"key": "a", "value": {"stringValue": 5}}]}, f"{LR}.attributes[0].value.stringValue: expected"),
    ({"attributes": [{"key": "a", "value": {"boolValue": "yes"}}]}, f"{LR}.attributes[0].value.boolValue: expected"),
    (
        {"attributes": [{"key": "a", "value": {"intValue": "9" * 5000}}]},
        f"{LR}.attributes[0].value.intValue: expected an integer from -9223372036854775808",
    ),
    ({"attributes": [{"key": "a", "value": {"intValue": 2**63}}]}, f"{LR}.attributes[0].value.intValue: expected"),
    ({"attributes": [{"key": "a", "value": {"doubleValue": "lots"}}]}, f"{LR}.attributes[0].value.doubleValue: exp"),
    ({"attributes": [{"key": "a", "value": {"bytesValue": "not base64!"}}]}, f"{LR}.attributes[0].value.bytesValue"),
    ({"attributes": [{"key": "a", "value": {"arrayValue": [1, 2]}}]}, f"{LR}.attributes[0].value.arrayValue: exp"),
    ({"attributes": [{"key": "a", "value": {"kvlistValue": {"values": 3}}}]}, f"{LR}.attributes[0].value.kvlistValue"),
    ({"body": "plain text"}, f"{LR}.body: expected an AnyValue object, got a string"),
    ({"traceId": 12}, f"{LR}.traceId: expected a string, got a number"),
    ({"eventName": {"x": 1}}, f"{LR}.eventName: expected a string, got an object"),
]


@pytest.mark.parametrize(("change", "reason"), RECORD_PROBLEMS)
def test_a_malformed_record_is_rejected_alone_with_its_path(
    api: CollectApi, sink: ListSink, change: dict[str, Any], reason: str
) -> None:
    body = request({**log_record("bad"), **change}, log_record("good"))
    status, answer = send(api, body)
    assert status == 200
    assert answer["partialSuccess"]["rejectedLogRecords"] == "1"
    assert answer["partialSuccess"]["errorMessage"].startswith(f"record 0: {reason}")
    assert [line["message"] for line in sink.lines()] == ["good"]


def nested_kvlist(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"stringValue": "bottom"}
    for _ in range(depth):
        value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    return value


def nested_kvlist_text(depth: int) -> str:
    """The same as JSON text, written directly (json.dumps itself gives up at this depth)."""
    opening = '{"kvlistValue": {"values": [{"key": "k", "value": '
    return opening * depth + '{"stringValue": "bottom"}' + "}]}}" * depth


def test_values_nested_1000_deep_are_a_client_error_never_a_crash(api: CollectApi, sink: ListSink) -> None:
    text = json.dumps(request(log_record(attributes=[{"key": "deep", "value": "HERE"}]), log_record("good")))
    status, answer = send(api, text.replace('"HERE"', nested_kvlist_text(1000)).encode())
    # json.loads refuses this many levels before the mapper sees them; either way it is the client's mistake.
    assert (status, answer) == (400, {"error": "body is not valid JSON: nested too deeply"})
    record = log_record(attributes=[{"key": "deep", "value": nested_kvlist(40)}])
    status, answer = send(api, request(record, log_record("good")))
    assert status == 200 and "values nest deeper than 32 levels" in answer["partialSuccess"]["errorMessage"]
    assert [line["message"] for line in sink.lines()] == ["good"]


def test_a_broken_resource_rejects_its_records_only(api: CollectApi, sink: ListSink) -> None:
    body = request(log_record("a"), log_record("b"), resource="checkout")
    body["resourceLogs"].append(request(log_record("good"))["resourceLogs"][0])
    status, answer = send(api, body)
    assert status == 200
    assert answer["partialSuccess"]["rejectedLogRecords"] == "2"
    assert "resourceLogs[0].resource: expected an object, got a string" in answer["partialSuccess"]["errorMessage"]
    assert [line["message"] for line in sink.lines()] == ["good"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"resourceLogs": [1]}, "resourceLogs[0] must be an object, got a number"),
        ({"resourceLogs": {"scopeLogs": []}}, "resourceLogs must be a list, got an object"),
        ({"resourceLogs": [{"scopeLogs": {}}]}, "resourceLogs[0].scopeLogs must be a list, got an object"),
        ({"resourceLogs": [{"scopeLogs": ["x"]}]}, "resourceLogs[0].scopeLogs[0] must be an object, got a string"),
        ({"resourceLogs": [{"scopeLogs": [{"logRecords": 5}]}]}, "resourceLogs[0].scopeLogs[0].logRecords must be"),
        ({"resourceLogs": [{"scopeLogs": [{"logRecords": [None]}]}]}, "logRecords[0] must be an object, got null"),
        ([1, 2], "expected an object with resourceLogs"),
        ("resourceLogs", "expected an object with resourceLogs"),
    ],
)
def test_a_broken_envelope_is_400_naming_the_place(api: CollectApi, sink: ListSink, body: Any, where: str) -> None:
    status, answer = send(api, body)
    assert status == 400
    assert answer["error"].startswith("body is not an OTLP ExportLogsServiceRequest: ")
    assert answer["error"].endswith(where) or where in answer["error"]
    assert sink.records == []


def test_a_5000_digit_number_anywhere_in_otlp_json_is_a_client_error(api: CollectApi, sink: ListSink) -> None:
    text = json.dumps(request(log_record("good"))).replace('"severityNumber": 17', '"severityNumber": ' + "9" * 5000)
    status, answer = send(api, text.encode())
    assert status == 200
    assert "severityNumber: expected a severity number from 0 to 24" in answer["partialSuccess"]["errorMessage"]


def test_protobuf_records_go_through_the_same_mapper(api: CollectApi, sink: ListSink) -> None:
    from google.protobuf.json_format import ParseDict

    message = ExportLogsServiceRequest()
    body = request(log_record("from protobuf"))
    proto_body = copy.deepcopy(body)
    for record in proto_body["resourceLogs"][0]["scopeLogs"][0]["logRecords"]:
        record["traceId"] = "W47/95gDgQPSabYzgT/GDA=="  # protobuf JSON writes bytes as base64
        record["spanId"] = "7uGbfsPBsXQ="
    ParseDict(proto_body, message)
    status, answer = send(api, message.SerializeToString(), "application/x-protobuf")
    assert status == 200 and not answer.HasField("partial_success")
    [line] = sink.lines()
    assert (line["message"], line["trace_id"], line["http_status_code"]) == (
        "from protobuf",
        "5b8efff798038103d269b633813fc60c",
        502,
    )


# --- fuzz ---------------------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["NaN", "Infinity", "abc", "-1", "18446744073709551616", "", "SEVERITY_NUMBER_ERROR"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=12,
)
OTLP_KEYS = [
    "resourceLogs",
    "resource",
    "attributes",
    "scopeLogs",
    "scope",
    "logRecords",
    "timeUnixNano",
    "observedTimeUnixNano",
    "severityNumber",
    "severityText",
    "body",
    "traceId",
    "spanId",
    "eventName",
    "key",
    "value",
    "values",
    *["stringValue", "boolValue", "intValue", "doubleValue", "arrayValue", "kvlistValue", "bytesValue"],
]


def _places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _places(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _places(value, (*path, index))
    return out


def _replace(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node[path[0]] = _replace(node[path[0]], path[1:], value)
    return node


@st.composite
def mutated_requests(draw: st.DrawFn) -> Any:
    """A valid OTLP/JSON request with a few of its values replaced by anything, and keys added or renamed."""
    body: Any = request(log_record("one"), log_record("two", body={"kvlistValue": {"values": []}}))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        places = _places(body)
        place = draw(st.sampled_from(places))
        kind = draw(st.sampled_from(["replace", "add-key", "wrap"]))
        target: Any = body
        for step in place:
            target = target[step]
        if kind == "add-key" and isinstance(target, dict):
            target[draw(st.sampled_from(OTLP_KEYS))] = draw(json_values)
        elif kind == "wrap":
            body = _replace(body, place, draw(st.sampled_from([[target], {"values": [target]}, {"value": target}])))
        else:
            body = _replace(body, place, draw(json_values))
    return body


def _check_answer(status: int, answer: Any) -> None:
    assert status in (200, 400, 413), (status, answer)
    if status == 200:
        partial = answer.get("partialSuccess")
        assert partial is None or (int(partial["rejectedLogRecords"]) > 0 and partial["errorMessage"])
    else:
        assert isinstance(answer["error"], str) and answer["error"]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=mutated_requests())
def test_fuzzed_otlp_json_is_never_a_server_error(api: CollectApi, body: Any) -> None:
    status, answer = send(api, body)
    _check_answer(status, answer)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_otlp_protobuf_is_never_a_server_error(api: CollectApi, data: st.DataObject) -> None:
    from google.protobuf.json_format import ParseDict

    message = ExportLogsServiceRequest()
    ParseDict(request(log_record("one"), log_record("two")), message, ignore_unknown_fields=True)
    raw = bytearray(message.SerializeToString())
    for _ in range(data.draw(st.integers(min_value=1, max_value=6))):
        position = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        raw[position] = data.draw(st.integers(min_value=0, max_value=255))
    status, answer = send(api, bytes(raw), "application/x-protobuf")
    assert status in (200, 400), (status, answer)
