"""load: raw objects in (moto) S3 → the load handler → PostgreSQL, exactly once."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from loglens.db.connect import ConnectionProvider, connect
from loglens.ingest.load import rejected_key
from loglens.ingest.notifications import Loader, ObjectRef
from loglens.ingest.objects import S3ObjectStore
from loglens.settings import Settings
from tests.aws_fakes import BUCKET, STREAM, FakeAws
from tests.events import api_event, response_json, s3_event, sqs_event


class _Context:
    function_name = "loglens-test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:loglens-test"
    aws_request_id = "req-1"


@pytest.fixture
def handlers(fake_aws: FakeAws, writer_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The real Lambda modules, configured as in AWS but with moto and the test database."""
    monkeypatch.setenv("FIREHOSE_STREAM_NAME", STREAM)
    monkeypatch.setenv("RAW_BUCKET", BUCKET)
    monkeypatch.setenv("DATABASE_URL", writer_url)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("LOGLENS_ENVELOPE_KEY", "ab" * 32)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "loglens-test")
    from functions import collect, load

    collect._api = None
    load._loader = None
    yield collect, load
    collect._api = None
    load._loader = None


@pytest.fixture(autouse=True)
def _empty_logs(db_url: str) -> None:
    with connect(db_url, autocommit=True) as conn:
        conn.execute("TRUNCATE logs, load_ledger")


def now_record(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "timestamp": (datetime.now(UTC) - timedelta(seconds=i)).isoformat(),
        "level": "INFO",
        "service": "order-api",
        "message": f"order {i}",
        "event_id": f"00000000-0000-4000-8000-{i:012d}",
        **extra,
    }


def count(db_url: str, where: str = "true") -> int:
    with connect(db_url) as conn:
        row = conn.execute(f"SELECT count(*) FROM logs WHERE {where}").fetchone()
    return int(row[0]) if row else 0


def put_raw(aws: FakeAws, key: str, lines: list[bytes | str | dict[str, Any]], *, compress: bool = True) -> str:
    data = b"".join(
        (json.dumps(line).encode() if isinstance(line, dict) else line.encode() if isinstance(line, str) else line)
        + b"\n"
        for line in lines
    )
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(data) if compress else data)
    return key


def test_collect_then_load_through_firehose_and_s3(handlers: Any, fake_aws: FakeAws, db_url: str) -> None:
    collect, load = handlers
    batch = {"logs": [now_record(i, user_id=f"u{i}", metadata={"n": i}) for i in range(50)]}
    response = collect.handler(api_event("/api/v1/logs/batch", batch, gzip_body=True), _Context())
    assert response_json(response) == {"accepted": 50, "rejected": []}
    keys = fake_aws.raw_keys()
    assert keys
    result = load.handler(sqs_event(s3_event(BUCKET, *keys)), _Context())
    assert result == {"batchItemFailures": []}
    with connect(db_url) as conn:
        rows = conn.execute(
            "SELECT count(*), count(DISTINCT event_id), min(api_key_id), min(source) FROM logs"
        ).fetchone()
        sample = conn.execute("SELECT metadata, user_id FROM logs WHERE message = 'order 7'").fetchone()
    assert rows == (50, 50, "key-abc", "api")
    assert sample == ({"n": 7}, "u7")


def test_same_object_delivered_twice_is_stored_once(handlers: Any, fake_aws: FakeAws, db_url: str) -> None:
    _, load = handlers
    key = put_raw(
        fake_aws,
        "raw/2026/11/29/10/a.gz",
        [
            {**now_record(i), "_loglens": 1, "source": "api", "received_at": datetime.now(UTC).isoformat()}
            for i in range(20)
        ],
    )
    event = sqs_event(s3_event(BUCKET, key))
    assert load.handler(event, _Context()) == {"batchItemFailures": []}
    assert load.handler(event, _Context()) == {"batchItemFailures": []}
    assert count(db_url) == 20
    with connect(db_url) as conn:
        assert conn.execute("SELECT rows_loaded, rows_duplicate FROM load_ledger").fetchall() == [(20, 0)]


def _loader(db_url: str, fake_aws: FakeAws) -> Loader:
    return Loader(S3ObjectStore(BUCKET, fake_aws.s3), ConnectionProvider(lambda: db_url), Settings.from_env({}))


def _envelope(i: int, **extra: Any) -> dict[str, Any]:
    return {**now_record(i), "_loglens": 1, "source": "api", "received_at": datetime.now(UTC).isoformat(), **extra}


def test_replayed_records_in_another_object_are_not_stored_again(
    fake_aws: FakeAws, writer_url: str, db_url: str
) -> None:
    loader = _loader(writer_url, fake_aws)
    lines: list[bytes | str | dict[str, Any]] = [_envelope(i) for i in range(10)]
    first = loader.load(ObjectRef(BUCKET, put_raw(fake_aws, "raw/x/one.gz", lines), None))
    second = loader.load(ObjectRef(BUCKET, put_raw(fake_aws, "raw/x/two.gz", [*lines, _envelope(99)]), None))
    assert first is not None and second is not None
    assert (first.loaded, second.loaded, second.duplicates) == (10, 1, 10)
    assert count(db_url) == 11


def test_a_conflicting_duplicate_in_a_later_object_keeps_the_first_and_is_counted(
    fake_aws: FakeAws, writer_url: str, db_url: str
) -> None:
    # Collect rejects a conflict within one request; across requests the key (created_at, event_id) is
    # already stored when the second arrives, so the first one stays and the second is counted.
    original = _envelope(7, message="card declined")
    conflicting = {**original, "message": "card accepted"}
    loader = _loader(writer_url, fake_aws)
    loader.load(ObjectRef(BUCKET, put_raw(fake_aws, "raw/c/one.gz", [original]), None))
    second = loader.load(ObjectRef(BUCKET, put_raw(fake_aws, "raw/c/two.gz", [conflicting]), None))
    assert second is not None and (second.loaded, second.duplicates) == (0, 1)
    with connect(db_url) as conn:
        stored = conn.execute("SELECT message FROM logs WHERE event_id = %s", (original["event_id"],)).fetchall()
        ledger = conn.execute("SELECT rows_duplicate FROM load_ledger WHERE object_key = 'raw/c/two.gz'").fetchone()
    assert stored == [("card declined",)] and ledger == (1,)


def test_duplicated_event_ids_inside_one_object(fake_aws: FakeAws, writer_url: str, db_url: str) -> None:
    record = _envelope(5)
    result = _loader(writer_url, fake_aws).load(ObjectRef(BUCKET, put_raw(fake_aws, "raw/d.gz", [record] * 4), None))
    assert result is not None and (result.loaded, result.duplicates) == (1, 3)
    assert count(db_url) == 1


def test_bad_lines_go_to_rejected_with_reasons_and_good_ones_load(
    fake_aws: FakeAws, writer_url: str, db_url: str
) -> None:
    lines: list[bytes | str | dict[str, Any]] = [
        _envelope(1),
        "{not json",
        "[1, 2]",
        {"something": "else"},
        {**_envelope(2), "level": "LOUD"},
        _envelope(3, message="a\u0000b"),
    ]
    key = put_raw(fake_aws, "raw/2026/11/29/11/mixed.gz", lines)
    result = _loader(writer_url, fake_aws).load(ObjectRef(BUCKET, key, None))
    assert result is not None and (result.loaded, result.rejected) == (2, 4)
    assert count(db_url) == 2
    rejected = fake_aws.lines(rejected_key(key))
    assert [(r["line"], r["errors"][0][:40]) for r in rejected] == [
        (2, "not valid JSON: Expecting property name "),
        (3, "not a JSON object"),
        (4, "not a loglens or FireLens record (no _lo"),
        (5, "level: 'LOUD' is not a level; expected o"),
    ]
    assert all(r["object"] == key for r in rejected)


def test_truncated_gzip_object_keeps_the_lines_before_the_damage(
    fake_aws: FakeAws, writer_url: str, db_url: str
) -> None:
    data = gzip.compress(b"".join(json.dumps(_envelope(i)).encode() + b"\n" for i in range(2000)))
    fake_aws.s3.put_object(Bucket=BUCKET, Key="raw/t.gz", Body=data[: len(data) // 2])
    result = _loader(writer_url, fake_aws).load(ObjectRef(BUCKET, "raw/t.gz", None))
    assert result is not None
    assert 0 < result.loaded < 2000
    assert count(db_url) == result.loaded
    [damage] = fake_aws.lines(rejected_key("raw/t.gz"))
    assert damage["errors"][0].startswith(f"object is damaged after line {result.loaded}")


def test_plain_uncompressed_object_is_read_too(fake_aws: FakeAws, writer_url: str, db_url: str) -> None:
    key = put_raw(fake_aws, "raw/plain", [_envelope(i) for i in range(3)], compress=False)
    result = _loader(writer_url, fake_aws).load(ObjectRef(BUCKET, key, None))
    assert result is not None and result.loaded == 3


def _firelens(log: str, *, source: str = "stdout", **extra: Any) -> dict[str, Any]:
    return {
        "log": log,
        "source": source,
        "container_id": "abc123",
        "container_name": "app",
        "ecs_cluster": "prod",
        "ecs_task_arn": "arn:aws:ecs:us-east-1:123456789012:task/prod/1",
        "ecs_task_definition": "checkout-service:7",
        **extra,
    }


def test_firelens_records_are_mapped(fake_aws: FakeAws, writer_url: str, db_url: str) -> None:
    now = datetime.now(UTC).isoformat()
    lines: list[bytes | str | dict[str, Any]] = [
        _firelens(
            json.dumps(
                {
                    "level": "error",
                    "msg": "card declined",
                    "timestamp": now,
                    "user_id": "u1",
                    "error_type": "PaymentDeclined",
                    "order_id": "o-1",
                }
            )
        ),
        _firelens("2026-11-29 10:00:00 WARN pool nearly exhausted"),
        _firelens("Traceback (most recent call last): boom", source="stderr"),
        _firelens("plain line without a level"),
        _firelens(json.dumps({"level": 50, "msg": "pino style", "service": "named-service", "time": now})),
        _firelens(
            "first half of a long line ",
            partial_message="true",
            partial_id="p1",
            partial_ordinal="1",
            partial_last="false",
        ),
        _firelens(
            "and the second half", partial_message="true", partial_id="p1", partial_ordinal="2", partial_last="true"
        ),
    ]
    key = put_raw(fake_aws, "raw/2026/11/29/12/firelens.gz", lines)
    result = _loader(writer_url, fake_aws).load(ObjectRef(BUCKET, key, None))
    assert result is not None and (result.loaded, result.rejected) == (6, 0)
    with connect(db_url) as conn:
        rows = conn.execute(
            "SELECT message, level, service, source, error_type, user_id, metadata->>'stream', "
            "metadata->'ecs'->>'ecs_cluster', metadata->>'order_id' FROM logs ORDER BY message"
        ).fetchall()
    assert rows == [
        (
            "2026-11-29 10:00:00 WARN pool nearly exhausted",
            "WARN",
            "checkout-service",
            "firelens",
            None,
            None,
            "stdout",
            "prod",
            None,
        ),
        (
            "Traceback (most recent call last): boom",
            "ERROR",
            "checkout-service",
            "firelens",
            None,
            None,
            "stderr",
            "prod",
            None,
        ),
        ("card declined", "ERROR", "checkout-service", "firelens", "PaymentDeclined", "u1", "stdout", "prod", "o-1"),
        (
            "first half of a long line and the second half",
            "INFO",
            "checkout-service",
            "firelens",
            None,
            None,
            "stdout",
            "prod",
            None,
        ),
        ("pino style", "ERROR", "named-service", "firelens", None, None, "stdout", "prod", None),
        ("plain line without a level", "INFO", "checkout-service", "firelens", None, None, "stdout", "prod", None),
    ]
    again = _loader(writer_url, fake_aws)
    fake_aws.s3.copy_object(Bucket=BUCKET, Key="raw/copy.gz", CopySource={"Bucket": BUCKET, "Key": key})
    # a different object with the same lines gets other ids (FireLens has none); the same object never loads twice
    assert again.load(ObjectRef(BUCKET, key, None)).skipped  # type: ignore[union-attr]


def test_database_down_fails_the_message_then_loads_when_back(fake_aws: FakeAws, writer_url: str, db_url: str) -> None:
    key = put_raw(fake_aws, "raw/outage.gz", [_envelope(i) for i in range(5)])
    event = sqs_event(s3_event(BUCKET, key))
    down = Loader(
        S3ObjectStore(BUCKET, fake_aws.s3),
        ConnectionProvider(lambda: "postgresql://x:y@127.0.0.1:1/none?connect_timeout=1"),
        Settings.from_env({}),
    )
    assert down.handle(event) == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert count(db_url) == 0
    assert _loader(writer_url, fake_aws).handle(event) == {"batchItemFailures": []}
    assert count(db_url) == 5


def test_s3_test_event_and_other_prefixes_are_ignored(fake_aws: FakeAws, writer_url: str) -> None:
    loader = _loader(writer_url, fake_aws)
    assert loader.handle(sqs_event({"Event": "s3:TestEvent", "Bucket": BUCKET})) == {"batchItemFailures": []}
    assert loader.handle(s3_event(BUCKET, "errors/x.gz")) == {"loaded": []}


def test_missing_object_is_not_an_error(fake_aws: FakeAws, writer_url: str) -> None:
    assert _loader(writer_url, fake_aws).handle(sqs_event(s3_event(BUCKET, "raw/gone.gz"))) == {"batchItemFailures": []}


def test_broken_connection_is_replaced(fake_aws: FakeAws, writer_url: str, db_url: str) -> None:
    loader = _loader(writer_url, fake_aws)
    loader.load(ObjectRef(BUCKET, put_raw(fake_aws, "raw/b1.gz", [_envelope(1)]), None))
    conn = loader.connections.get()
    with connect(db_url, autocommit=True) as admin:  # the server drops our connection (a proxy restart, say)
        admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
    key = put_raw(fake_aws, "raw/b2.gz", [_envelope(2)])
    with pytest.raises(psycopg.OperationalError):
        loader.load(ObjectRef(BUCKET, key, None))
    assert loader.load(ObjectRef(BUCKET, key, None)) is not None  # the retry opens a new connection
    assert count(db_url) == 2


SEALER_KEY = b"k" * 32


def _sealed_loader(db_url: str, fake_aws: FakeAws) -> Loader:
    from loglens.ingest.envelope import Sealer

    store = S3ObjectStore(BUCKET, fake_aws.s3)
    return Loader(store, ConnectionProvider(lambda: db_url), Settings.from_env({}), sealer=Sealer(SEALER_KEY))


def _collected(i: int, message: str, key: bytes = SEALER_KEY) -> bytes:
    """One Firehose record as collect writes it: a sealed block with one OTLP record."""
    from loglens.ingest.envelope import Sealer, pack_records, to_line
    from loglens.record import IngestContext, LogRecord, Source

    ctx = IngestContext(
        source=Source.OTLP, received_at=datetime.now(UTC), api_key_id="real-key", source_ip="203.0.113.9"
    )
    record = LogRecord.model_validate(now_record(i, message=message), context=ctx)
    [block] = pack_records([to_line(record)], Sealer(key))
    return block


def _stored(db_url: str) -> dict[str, list[Any]]:
    with connect(db_url) as conn:
        return dict(
            conn.execute(
                "SELECT message, jsonb_build_array(source, api_key_id, host(source_ip), metadata->>'api_key_id', "
                "metadata->>'source') FROM logs"
            ).fetchall()
        )


def _put_object(fake_aws: FakeAws, key: str, data: bytes) -> ObjectRef:
    fake_aws.s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(data))
    return ObjectRef(BUCKET, key, None)


def test_sealed_blocks_are_trusted_and_forged_lines_are_not(fake_aws: FakeAws, writer_url: str, db_url: str) -> None:
    genuine = _collected(1, "sealed by collect")
    tampered = genuine.replace(b"sealed by collect", b"sealed by mallory")
    forged = (
        json.dumps(
            {
                **now_record(2, message="forged by a FireLens sender"),
                "_loglens": 1,
                "source": "otlp",
                "api_key_id": "admin-key",
                "received_at": datetime.now(UTC).isoformat(),
            }
        ).encode()
        + b"\n"
    )
    result = _sealed_loader(writer_url, fake_aws).load(
        _put_object(fake_aws, "raw/sealed.gz", genuine + tampered + forged)
    )
    # the tampered block no longer verifies: its header is rejected and its line, validated as client input,
    # carries the genuine line's key, so it is a duplicate and its altered text is never stored
    assert result is not None and (result.loaded, result.duplicates, result.rejected) == (2, 1, 1)
    rows = _stored(db_url)
    assert rows["sealed by collect"] == ["otlp", "real-key", "203.0.113.9", None, None]
    # the forged line is kept as client input: its claimed server fields are metadata, not facts
    assert rows["forged by a FireLens sender"] == ["api", None, None, "admin-key", "otlp"]
    assert "sealed by mallory" not in rows
    [bad_seal] = fake_aws.lines(rejected_key("raw/sealed.gz"))
    assert bad_seal["line"] == 3 and "does not verify" in bad_seal["errors"][0]


def test_a_forged_header_cannot_swallow_the_genuine_blocks_after_it(
    fake_aws: FakeAws, writer_url: str, db_url: str
) -> None:
    genuine = _collected(1, "sealed by collect") + _collected(2, "also sealed")
    forged_header = json.dumps({"_loglens_seal": 1, "bytes": len(genuine), "mac": "0" * 32}).encode() + b"\n"
    result = _sealed_loader(writer_url, fake_aws).load(_put_object(fake_aws, "raw/swallow.gz", forged_header + genuine))
    assert result is not None and (result.loaded, result.rejected) == (2, 1)
    rows = _stored(db_url)  # both blocks were read again after the forged header failed, and verified
    assert rows["sealed by collect"][:3] == rows["also sealed"][:3] == ["otlp", "real-key", "203.0.113.9"]


def test_a_block_from_another_key_or_cut_short_is_validated_as_client_input(
    fake_aws: FakeAws, writer_url: str, db_url: str
) -> None:
    other_key = _collected(1, "sealed with another key", key=b"x" * 32)
    cut = _collected(2, "cut short")
    header, body = cut.split(b"\n", 1)
    cut_short = header + b"\n" + body  # the header claims one byte more than the object holds
    cut_short = cut_short.replace(b'"bytes":' + str(len(body)).encode(), b'"bytes":' + str(len(body) + 1).encode())
    result = _sealed_loader(writer_url, fake_aws).load(_put_object(fake_aws, "raw/cut.gz", other_key + cut_short))
    assert result is not None and (result.loaded, result.rejected) == (2, 2)
    rows = _stored(db_url)
    assert rows["sealed with another key"] == ["api", None, None, "real-key", "otlp"]
    assert rows["cut short"] == ["api", None, None, "real-key", "otlp"]
    reasons = [r["errors"][0] for r in fake_aws.lines(rejected_key("raw/cut.gz"))]
    assert "does not verify" in reasons[0] and "is cut short" in reasons[1]


def test_a_sealed_line_load_cannot_decode_is_validated_in_full_and_still_trusted(
    fake_aws: FakeAws, writer_url: str, db_url: str
) -> None:
    """Version skew: a collect that writes a field this load does not know yet."""
    from loglens.ingest.envelope import Sealer

    plain = (
        _collected(1, "known fields").split(b"\n", 1)[1] + _collected(2, "a field from the future").split(b"\n", 1)[1]
    )
    skewed = plain.replace(b'"message":"a field from the future"', b'"message":"a field from the future","shard":7')
    result = _sealed_loader(writer_url, fake_aws).load(
        _put_object(fake_aws, "raw/skew.gz", Sealer(SEALER_KEY).seal(skewed))
    )
    assert result is not None and (result.loaded, result.rejected) == (2, 0)
    rows = _stored(db_url)
    assert rows["known fields"][:3] == rows["a field from the future"][:3] == ["otlp", "real-key", "203.0.113.9"]
    with connect(db_url) as conn:
        assert conn.execute("SELECT metadata->>'shard' FROM logs WHERE message LIKE 'a field%'").fetchone() == ("7",)


def test_seal_round_trip() -> None:
    from loglens.ingest.envelope import Sealer

    sealer = Sealer(b"0123456789abcdef")
    block = sealer.seal(b'{"a":1}\n')
    header, body = block.split(b"\n", 1)
    mac = json.loads(header)["mac"]
    assert body == b'{"a":1}\n' and sealer.verify(mac, body)
    assert not Sealer(b"another key 1234").verify(mac, body)
    assert not sealer.verify(mac, b'{"a":2}\n')
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Sealer(b"short")


def test_a_load_that_fails_midway_stores_nothing_and_restores_the_garbage_collector(
    fake_aws: FakeAws, writer_url: str, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    from loglens.ingest import load

    real_copy_all = load.copy_all
    sent: list[int] = []

    def copy_then_break(conn: Any, pieces: Iterator[bytes]) -> None:
        def first_then_break() -> Iterator[bytes]:
            for piece in pieces:
                yield piece
                if piece:
                    sent.append(len(piece))
                    raise psycopg.OperationalError("server closed the connection unexpectedly")

        real_copy_all(conn, first_then_break())

    monkeypatch.setattr(load, "copy_all", copy_then_break)
    key = put_raw(fake_aws, "raw/midway.gz", [_envelope(i, message="x" * 2000 + str(i)) for i in range(40)])
    store = S3ObjectStore(BUCKET, fake_aws.s3)
    with connect(writer_url) as conn, pytest.raises(psycopg.OperationalError):
        load.load_object(conn, store, store.head(key), Settings.from_env({}), chunk_rows=10)
    assert gc.isenabled() and len(sent) == 1  # some rows were on the wire when it broke
    assert count(db_url) == 0
    monkeypatch.setattr(load, "copy_all", real_copy_all)
    assert _loader(writer_url, fake_aws).load(ObjectRef(BUCKET, key, None)) is not None
    assert count(db_url) == 40
