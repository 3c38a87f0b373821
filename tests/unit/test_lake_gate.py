"""The lake stream's gate (Firehose transformation): sealed rows pass, FireLens is validated, the rest fails visibly."""

from __future__ import annotations

import base64
import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from loglens.ingest.blocks import decode_block
from loglens.ingest.envelope import Sealer, pack_records, to_line
from loglens.ingest.privacy import redactor_from_env
from loglens.lake.gate import DROPPED, FAILED, OK, Destination, LakeGate, rows_of
from loglens.lake.rows import from_micros, lake_line, lake_records
from loglens.record import LOG_COLUMNS, AcceptanceWindow
from tests.factories import make_record

KEY = Sealer(b"k" * 32)
NOW = datetime.now(UTC)
NOW_MS = int(NOW.timestamp() * 1000)


def gate(**kwargs: Any) -> LakeGate:
    return LakeGate(
        sealer=KEY,
        destination=Destination("loglens_test", "logs"),
        window=AcceptanceWindow(),
        redactor=redactor_from_env({}),
        **kwargs,
    )


def event(*payloads: bytes, ids: list[str] | None = None) -> dict[str, Any]:
    ids = ids or [f"r{i}" for i in range(len(payloads))]
    return {
        "invocationId": "inv-1",
        "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/lake",
        "region": "us-east-1",
        "records": [
            {"recordId": rid, "approximateArrivalTimestamp": NOW_MS, "data": base64.b64encode(p).decode()}
            for rid, p in zip(ids, payloads, strict=True)
        ],
    }


def firelens(log: str, **extra: Any) -> bytes:
    record = {
        "log": log,
        "source": "stdout",
        "container_name": "app",
        "ecs_task_definition": "checkout:7",
        "ecs_cluster": "prod",
        **extra,
    }
    return json.dumps(record).encode() + b"\n"


def test_a_sealed_row_passes_through_unchanged_with_routing_metadata() -> None:
    # Given a row collect validated, as the lake stream receives it
    record = make_record(service="checkout", message="paid", user_id="u-1")
    [sealed] = lake_records([record.db_row()], KEY)
    # When the gate sees it
    response, report = gate().transform(event(sealed))
    # Then the row is handed to Firehose as it was sealed, routed to the table with an upsert
    [answer] = response["records"]
    assert answer["result"] == OK and answer["recordId"] == "r0"
    assert base64.b64decode(answer["data"]) == lake_line(record.db_row()).rstrip(b"\n")
    assert answer["metadata"]["otfMetadata"] == {
        "destinationDatabaseName": "loglens_test",
        "destinationTableName": "logs",
        "operation": "update",
    }
    assert report.passed == 1 and report.validated == 0 and not report.failed


def test_a_lake_row_keeps_identity_types_and_every_column() -> None:
    record = make_record(service="checkout", duration_ms=12.5, http_status_code=502, metadata={"order": "o-1"})
    [row] = rows_of(gate().transform(event(*lake_records([record.db_row()], KEY)))[0])
    assert set(row) <= set(LOG_COLUMNS)
    assert row["event_id"] == str(record.event_id)
    assert from_micros(row["created_at"]) == record.created_at  # microseconds, nothing lost
    assert isinstance(row["created_at"], int) and isinstance(row["received_at"], int)
    assert row["http_status_code"] == 502 and row["duration_ms"] == 12.5
    assert json.loads(row["metadata"]) == {"order": "o-1"}
    assert row["level"] == "INFO" and row["source"] == "api"


def test_a_firelens_line_is_mapped_validated_and_redacted() -> None:
    response, report = gate().transform(event(firelens("ERROR card declined for jane@example.com")))
    [row] = rows_of(response)
    assert row["level"] == "ERROR" and row["service"] == "checkout" and row["source"] == "firelens"
    assert "jane@example.com" not in row["message"] and "[REDACTED:email]" in row["message"]
    assert json.loads(row["metadata"])["ecs"]["ecs_cluster"] == "prod"
    # FireLens sent no time: it is the moment Firehose received the record
    assert abs(from_micros(row["created_at"]) - NOW) < timedelta(milliseconds=2)
    assert report.validated == 1 and report.redactions == Counter({"email": 1})


def test_the_same_firelens_record_delivered_twice_gets_the_same_identity() -> None:
    # Firehose retries a transformation with the same record ids: the row must upsert onto itself
    first = next(rows_of(gate().transform(event(firelens("hello"), ids=["rec-7"]))[0]))
    again = next(rows_of(gate().transform(event(firelens("hello"), ids=["rec-7"]))[0]))
    other = next(rows_of(gate().transform(event(firelens("hello"), ids=["rec-8"]))[0]))
    assert (first["created_at"], first["event_id"]) == (again["created_at"], again["event_id"])
    assert first["event_id"] != other["event_id"]
    uuid.UUID(first["event_id"])


def test_split_firelens_lines_in_one_batch_become_one_row() -> None:
    parts = [
        firelens("part one ", partial_message="true", partial_id="p1", partial_ordinal="1", partial_last="false"),
        firelens("part two", partial_message="true", partial_id="p1", partial_ordinal="2", partial_last="true"),
    ]
    response, report = gate().transform(event(*parts))
    results = [item["result"] for item in response["records"]]
    assert results == [OK, DROPPED]
    [row] = rows_of(response)
    assert row["message"] == "part one part two"
    assert report.joined == 1


def test_an_unsealed_collect_line_is_client_input_and_its_server_fields_are_not_believed() -> None:
    # Given a line shaped like collect's that claims another API key and source, without a seal
    forged = {
        "_loglens": 1,
        "level": "INFO",
        "service": "billing",
        "message": "forged",
        "api_key_id": "someone-else",
        "source": "otlp",
        "timestamp": NOW.isoformat(),
    }
    response, report = gate().transform(event(json.dumps(forged).encode()))
    [row] = rows_of(response)
    # Then it is validated as a client's record: the claims are kept in metadata, never believed
    assert row["source"] == "api" and "api_key_id" not in row
    assert {"api_key_id", "source"} <= set(json.loads(row["metadata"]))
    assert report.validated == 1 and report.passed == 0


def test_a_seal_made_with_another_key_is_validated_not_trusted() -> None:
    record = make_record(service="billing", api_key_id="victim")
    [sealed] = lake_records([record.db_row()], Sealer(b"x" * 32))
    response, report = gate().transform(event(sealed))
    # The seal's body is a lake row, not a log record a client would send: it does not validate
    assert report.passed == 0
    assert [item["result"] for item in response["records"]] == [FAILED]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty"),
        (b"not json at all\n", "not valid JSON"),
        (b"[1, 2]\n", "not a JSON object"),
        (b'{"hello": "world"}\n', "not a loglens or FireLens record"),
        (firelens("a") + firelens("b"), "one log record per Firehose record"),
        (firelens("x", timestamp="not a time"), "timestamp"),
    ],
)
def test_what_cannot_be_a_row_is_processing_failed_with_its_reason(payload: bytes, reason: str) -> None:
    response, report = gate().transform(event(payload))
    [answer] = response["records"]
    assert answer["result"] == FAILED
    assert base64.b64decode(answer["data"]) == payload  # the bytes as they came, for the error prefix
    [(record_id, reasons)] = report.failed
    assert record_id == "r0" and any(reason in r for r in reasons), reasons


def test_data_that_is_not_base64_fails_alone() -> None:
    bad = {"recordId": "r9", "approximateArrivalTimestamp": NOW_MS, "data": "%%% not base64"}
    good = event(firelens("fine"))
    good["records"].append(bad)
    response, report = gate().transform(good)
    assert [item["result"] for item in response["records"]] == [OK, FAILED]
    assert report.failed[0][0] == "r9"


def test_a_sealed_block_of_many_rows_is_not_passed_through_as_one() -> None:
    # load's raw-object blocks hold many lines; the lake takes exactly one row per record
    records = [make_record(message=f"m{i}") for i in range(3)]
    [block] = pack_records([to_line(r) for r in records], KEY)
    assert len(decode_block(block.split(b"\n", 1)[1])) == 3
    response, report = gate().transform(event(block))
    assert report.passed == 0 and [item["result"] for item in response["records"]] == [FAILED]


def test_every_record_gets_exactly_one_answer_in_order() -> None:
    payloads = [*lake_records([make_record().db_row()], KEY), firelens("x"), b"junk\n", firelens("y")]
    response, _ = gate().transform(event(*payloads, ids=["a", "b", "c", "d"]))
    assert [item["recordId"] for item in response["records"]] == ["a", "b", "c", "d"]
    assert [item["result"] for item in response["records"]] == [OK, OK, FAILED, OK]
