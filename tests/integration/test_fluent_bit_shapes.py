"""The records clients/fluent-bit produces, through the real load path into PostgreSQL.

No Fluent Bit runs here. `ship` follows one container line through each step of that
configuration, reading the options from the files themselves so that the config and this test
cannot drift apart: the container runtime's fluentd log driver (which splits lines over 16 KiB),
FireLens's ECS metadata, our parser filter (fluent-bit.conf, parsers.conf), the kinesis_firehose
output from the task definition (task-definition.json), and Firehose writing gzip NDJSON under
raw/. Each step does what the Fluent Bit sources do (plugins/filter_parser/filter_parser.c:
parsed fields first, then the original ones; plugins/out_kinesis_firehose/firehose_api.c: the
time key appended to the serialised record, even when the record already has that key).
"""

from __future__ import annotations

import fnmatch
import gzip
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from loglens.db.connect import ConnectionProvider, connect
from loglens.ingest.load import LoadResult
from loglens.ingest.notifications import Loader, ObjectRef
from loglens.ingest.objects import S3ObjectStore
from loglens.settings import Settings
from tests.aws_fakes import BUCKET, FakeAws

CONFIG_DIR = Path(__file__).resolve().parents[2] / "clients" / "fluent-bit"
DOCKER_PARTIAL_BYTES = 16 * 1024  # the container runtime splits longer lines into pieces of this size
TASK_ID = "0f6c1e0b8a6a4c3e9d5b7a2f1e0d9c8b"
CONTAINER_ID = "5d3c8e0a" * 8
Pairs = list[tuple[str, Any]]
Ship = Callable[..., list[dict[str, Any]]]


def classic_sections(path: Path) -> list[tuple[str, dict[str, str]]]:
    """A classic-format Fluent Bit file as (SECTION, {lower-case key: value}) in file order."""
    sections: list[tuple[str, dict[str, str]]] = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            sections.append((line[1:-1].strip().upper(), {}))
            continue
        assert sections, f"{path.name}: {line!r} is outside a section"
        key, _, value = line.partition(" ")
        sections[-1][1][key.lower()] = value.strip()
    return sections


@dataclass(frozen=True)
class Pipeline:
    family: str
    config_path_in_image: str
    parsers_path_in_image: str
    service: dict[str, str]
    parser_filter: dict[str, str]
    parsers: dict[str, dict[str, str]]
    outputs_in_config: list[dict[str, str]]
    log_router: dict[str, Any]
    app_log_options: dict[str, str]

    @property
    def output(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.app_log_options.items()}


@cache
def pipeline() -> Pipeline:
    sections = classic_sections(CONFIG_DIR / "fluent-bit.conf")
    [service] = [body for name, body in sections if name == "SERVICE"]
    [parser_filter] = [body for name, body in sections if name == "FILTER" and body["name"] == "parser"]
    parsers = {body["name"]: body for name, body in classic_sections(CONFIG_DIR / "parsers.conf") if name == "PARSER"}
    task = json.loads((CONFIG_DIR / "task-definition.json").read_text())
    containers = {c["name"]: c for c in task["containerDefinitions"]}
    routers = [c for c in containers.values() if "firelensConfiguration" in c]
    apps = [c for c in containers.values() if c.get("logConfiguration", {}).get("logDriver") == "awsfirelens"]
    assert len(routers) == 1 and len(apps) == 1, "one log router and one app container"
    copy = next(
        line.split()
        for line in (CONFIG_DIR / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and "fluent-bit.conf" in line
    )
    destination = copy[-1].rstrip("/")
    return Pipeline(
        family=task["family"],
        config_path_in_image=f"{destination}/fluent-bit.conf",
        parsers_path_in_image=f"{destination}/parsers.conf",
        service=service,
        parser_filter=parser_filter,
        parsers=parsers,
        outputs_in_config=[body for name, body in sections if name == "OUTPUT"],
        log_router=routers[0],
        app_log_options=apps[0]["logConfiguration"]["options"],
    )


def test_the_configuration_keeps_what_the_loader_relies_on() -> None:
    s = pipeline()
    # The parser filter keeps the original line in `log` (firelens.py reads it) and every other key.
    assert s.parser_filter["key_name"] == "log"
    assert s.parser_filter["reserve_data"].lower() == "on"
    assert s.parser_filter["preserve_key"].lower() == "on"
    assert fnmatch.fnmatchcase(f"app-firelens-{TASK_ID}", s.parser_filter["match"])
    assert not fnmatch.fnmatchcase("firelens-healthcheck", s.parser_filter["match"])
    parser = s.parsers[s.parser_filter["parser"]]
    assert parser["format"] == "json"
    assert "time_key" not in parser  # the record keeps the runtime's read time; the line keeps its own
    assert s.service["parsers_file"] == s.parsers_path_in_image
    # The custom file is the one baked into the image, and FireLens adds the ECS metadata.
    assert s.log_router["firelensConfiguration"] == {
        "type": "fluentbit",
        "options": {
            "config-file-type": "file",
            "config-file-value": s.config_path_in_image,
            "enable-ecs-log-metadata": "true",
        },
    }
    # Exactly one Firehose output, with the event time under `timestamp` (ISO 8601, ms, Z).
    assert s.outputs_in_config == [], "an output here and in the task definition ships every line twice"
    assert s.output["name"] == "kinesis_firehose"
    assert {"region", "delivery_stream"} <= s.output.keys()
    assert s.output["time_key"] == "timestamp"
    assert s.output["time_key_format"] == "%Y-%m-%dT%H:%M:%S.%3NZ"
    assert "log_key" not in s.output  # the whole record goes: log, source and the ECS keys


# ---- one container line through the pipeline, as configured -------------------------------------


def runtime_records(line: str, stream: str, container: str) -> list[Pairs]:
    """The fluentd log driver's records for one line written to stdout/stderr."""
    text = line.removesuffix("\n")
    base: Pairs = [
        ("container_id", CONTAINER_ID),
        ("container_name", f"/ecs-{pipeline().family}-7-{container}-d2f8e6b5c8a1b2c3d4e5"),
        ("source", stream),
    ]
    data = text.encode()
    if len(data) <= DOCKER_PARTIAL_BYTES:
        return [[*base, ("log", text)]]
    assert text.isascii(), "pieces are cut at byte offsets; keep split test lines ASCII"
    pieces = [data[i : i + DOCKER_PARTIAL_BYTES].decode() for i in range(0, len(data), DOCKER_PARTIAL_BYTES)]
    partial_id = uuid.uuid4().hex
    return [
        [
            *base,
            ("log", piece),
            ("partial_message", "true"),
            ("partial_id", partial_id),
            ("partial_ordinal", str(n)),
            ("partial_last", "true" if n == len(pieces) else "false"),
        ]
        for n, piece in enumerate(pieces, start=1)
    ]


def with_ecs_metadata(record: Pairs) -> Pairs:
    return [
        *record,
        ("ecs_cluster", "prod"),
        ("ecs_task_arn", f"arn:aws:ecs:us-east-1:123456789012:task/prod/{TASK_ID}"),
        ("ecs_task_definition", f"{pipeline().family}:7"),
    ]


def parser_filter(record: Pairs, tag: str) -> Pairs:
    options = pipeline().parser_filter
    if not fnmatch.fnmatchcase(tag, options["match"]):
        return record
    assert pipeline().parsers[options["parser"]]["format"] == "json"
    value = dict(record).get(options["key_name"])
    try:
        parsed = json.loads(value) if isinstance(value, str) else None
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):  # only a JSON object is parsed; anything else passes unchanged
        return record
    if options["reserve_data"].lower() != "on":
        return list(parsed.items())
    kept = [(k, v) for k, v in record if k != options["key_name"] or options["preserve_key"].lower() == "on"]
    return [*parsed.items(), *kept]


def fluent_bit_strftime(fmt: str, at: datetime) -> str:
    nanos = f"{at.microsecond * 1000:09d}"
    return at.astimezone(UTC).strftime(fmt.replace("%3N", nanos[:3]).replace("%9N", nanos).replace("%L", nanos))


def firehose_record(record: Pairs, at: datetime) -> bytes:
    """kinesis_firehose: the record as compact JSON, the time key appended, one line."""
    text = "{" + ",".join(f"{json.dumps(k)}:{json.dumps(v, separators=(',', ':'))}" for k, v in record) + "}"
    output = pipeline().output
    if "time_key" in output:
        stamp = fluent_bit_strftime(output.get("time_key_format", "%Y-%m-%dT%H:%M:%S"), at)
        text = text[:-1] + f",{json.dumps(output['time_key'])}:{json.dumps(stamp)}" + "}"
    return text.encode() + b"\n"


@dataclass(frozen=True)
class Line:
    text: str
    at: datetime  # when the container runtime read it: the Fluent Bit record time
    stream: str = "stdout"
    container: str = "app"


def firehose_lines(line: Line) -> list[bytes]:
    tag = f"{line.container}-firelens-{TASK_ID}"
    return [
        firehose_record(parser_filter(with_ecs_metadata(record), tag), line.at)
        for record in runtime_records(line.text, line.stream, line.container)
    ]


@pytest.fixture(autouse=True)
def _empty_logs(db_url: str) -> None:
    with connect(db_url, autocommit=True) as conn:
        conn.execute("TRUNCATE logs, load_ledger")


@pytest.fixture
def ship(fake_aws: FakeAws, writer_url: str) -> Iterator[Ship]:
    """Lines → one gzip NDJSON object under raw/ → the real Loader; returns the Firehose lines."""
    provider = ConnectionProvider(lambda: writer_url)
    loader = Loader(S3ObjectStore(BUCKET, fake_aws.s3), provider, Settings.from_env({}))

    def run(*lines: Line) -> list[dict[str, Any]]:
        records = [record for line in lines for record in firehose_lines(line)]
        key = f"raw/{lines[0].at:%Y/%m/%d/%H}/loglens-fluent-bit-{uuid.uuid4()}.gz"
        fake_aws.s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(b"".join(records)))
        result = loader.load(ObjectRef(BUCKET, key, None))
        assert isinstance(result, LoadResult)
        assert (result.loaded, result.rejected, result.duplicates) == (len(lines), 0, 0)
        again = loader.load(ObjectRef(BUCKET, key, None))  # a redelivered S3 event stores nothing twice
        assert again is not None and again.skipped
        return [json.loads(record) for record in records]

    yield run
    provider.discard()


def stored(db_url: str, *columns: str) -> list[tuple[Any, ...]]:
    with connect(db_url) as conn:
        sql = f"SELECT {', '.join(columns)} FROM logs ORDER BY created_at, message"
        return conn.execute(sql).fetchall()


def ms(at: datetime) -> datetime:
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def ecs() -> dict[str, str]:
    family = pipeline().family
    return {
        "container_id": CONTAINER_ID,
        "container_name": f"/ecs-{family}-7-app-d2f8e6b5c8a1b2c3d4e5",
        "ecs_cluster": "prod",
        "ecs_task_arn": f"arn:aws:ecs:us-east-1:123456789012:task/prod/{TASK_ID}",
        "ecs_task_definition": f"{family}:7",
    }


NOW = datetime.now(UTC).replace(microsecond=123456) - timedelta(minutes=5)
PLAIN_KEYS = sorted(["log", "source", *ecs(), "timestamp"])  # a line the parser left alone
SECOND = timedelta(seconds=1)


def test_json_line_is_parsed_and_the_original_kept_in_log(ship: Ship, db_url: str) -> None:
    fields = {
        "level": "error",
        "msg": "card declined",
        "user_id": "u-7",
        "error_type": "PaymentDeclined",
        "endpoint": "/api/v1/payment",
        "duration_ms": 12.5,
        "order_id": "o-1",
    }
    line = json.dumps(fields)
    [record] = ship(Line(line, NOW))
    # What Firehose stored: the parsed fields lifted, the line kept, FireLens's keys, the time key.
    assert record == {
        **fields,
        "log": line,
        "source": "stdout",
        **ecs(),
        "timestamp": NOW.strftime("%Y-%m-%dT%H:%M:%S.123Z"),
    }
    columns = ("service", "environment", "level", "message", "user_id", "error_type", "endpoint", "duration_ms")
    assert stored(db_url, *columns, "source", "created_at", "metadata") == [
        (
            "checkout-service",  # the task definition's family
            "development",  # the record model's default: FireLens knows no environment
            "ERROR",
            "card declined",
            "u-7",
            "PaymentDeclined",
            "/api/v1/payment",
            12.5,
            "firelens",
            ms(NOW),
            {"order_id": "o-1", "ecs": ecs(), "stream": "stdout"},
        )
    ]


def test_json_line_naming_its_own_service_and_environment(ship: Ship, db_url: str) -> None:
    line = {"severity": "WARNING", "message": "retrying", "service": "payments", "environment": "prod"}
    ship(Line(json.dumps(line), NOW))
    assert stored(db_url, "service", "environment", "level", "message", "metadata") == [
        ("payments", "prod", "WARN", "retrying", {"ecs": ecs(), "stream": "stdout"})
    ]


def test_plain_text_lines_take_their_level_from_the_text_else_the_stream(ship: Ship, db_url: str) -> None:
    records = ship(
        Line("GET /health 200 3ms", NOW),
        Line("2026-01-05 10:00:00 WARN pool nearly exhausted", NOW + SECOND),
        Line("Traceback (most recent call last): boom", NOW + 2 * SECOND, stream="stderr"),
        Line("[info] listening on :8080", NOW + 3 * SECOND, stream="stderr"),
    )
    assert [sorted(r) for r in records] == [PLAIN_KEYS] * 4
    at = ms(NOW)
    assert stored(db_url, "service", "level", "message", "created_at", "metadata") == [
        ("checkout-service", "INFO", "GET /health 200 3ms", at, {"ecs": ecs(), "stream": "stdout"}),
        (
            "checkout-service",
            "WARN",
            "2026-01-05 10:00:00 WARN pool nearly exhausted",
            at + SECOND,
            {"ecs": ecs(), "stream": "stdout"},
        ),
        (
            "checkout-service",
            "ERROR",
            "Traceback (most recent call last): boom",
            at + 2 * SECOND,
            {"ecs": ecs(), "stream": "stderr"},
        ),
        ("checkout-service", "INFO", "[info] listening on :8080", at + 3 * SECOND, {"ecs": ecs(), "stream": "stderr"}),
    ]


def test_a_long_line_split_into_three_pieces_is_stored_once_whole(ship: Ship, db_url: str) -> None:
    query = "SELECT " + ", ".join(f"column_{i}" for i in range(3500)) + " FROM orders"
    line = json.dumps({"level": "warn", "message": "slow query", "sql": query, "duration_ms": 2300})
    assert 2 * DOCKER_PARTIAL_BYTES < len(line) <= 3 * DOCKER_PARTIAL_BYTES
    records = ship(Line(line, NOW))
    # No piece is JSON on its own, so the parser passes each unchanged; loglens joins them.
    assert [(r["partial_ordinal"], r["partial_last"], len(r["log"])) for r in records] == [
        ("1", "false", DOCKER_PARTIAL_BYTES),
        ("2", "false", DOCKER_PARTIAL_BYTES),
        ("3", "true", len(line) - 2 * DOCKER_PARTIAL_BYTES),
    ]
    assert all("level" not in r for r in records)
    assert stored(db_url, "service", "level", "message", "duration_ms", "created_at", "metadata") == [
        ("checkout-service", "WARN", "slow query", 2300.0, ms(NOW), {"sql": query, "ecs": ecs(), "stream": "stdout"})
    ]


def test_event_time_is_the_lines_own_else_the_time_the_runtime_read_it(ship: Ship, db_url: str) -> None:
    own = NOW - timedelta(minutes=3)
    records = ship(
        Line(json.dumps({"level": "info", "message": "own timestamp", "timestamp": own.isoformat()}), NOW),
        Line(json.dumps({"level": "info", "message": "own time", "time": int(own.timestamp() * 1000) + 1}), NOW),
        Line(json.dumps({"level": "info", "message": "no time of its own"}), NOW),
    )
    # The output appends its time key after the lifted fields, so the first record holds
    # `timestamp` twice and JSON readers keep the last; loglens reads the line's own from `log`.
    assert records[0]["timestamp"] == NOW.strftime("%Y-%m-%dT%H:%M:%S.123Z")
    assert json.loads(records[0]["log"])["timestamp"] == own.isoformat()
    assert stored(db_url, "message", "created_at") == [
        ("own timestamp", own),
        ("own time", ms(own) + timedelta(milliseconds=1)),
        ("no time of its own", ms(NOW)),
    ]


def test_json_that_is_not_an_object_is_kept_as_text(ship: Ship, db_url: str) -> None:
    records = ship(Line('["not", "an", "object"]', NOW), Line("{broken json", NOW + SECOND, stream="stderr"))
    assert [sorted(r) for r in records] == [PLAIN_KEYS] * 2
    assert stored(db_url, "level", "message", "metadata->>'stream'") == [
        ("INFO", '["not", "an", "object"]', "stdout"),
        ("ERROR", "{broken json", "stderr"),
    ]
