"""The records clients/fluent-bit produces, through the real load path into PostgreSQL.

No Fluent Bit runs here. `ship` follows container lines through each step of that
configuration, reading the options from the files themselves so that the config and this test
cannot drift apart: the container runtime's fluentd log driver (which splits lines over 16 KiB),
FireLens's ECS metadata, our multiline filter (Fluent Bit's built-in python and java rules,
src/multiline/flb_ml_parser_python.c and _java.c, run by the same state machine), our parser
filter (fluent-bit.conf, parsers.conf), the `firehose` output with simple_aggregation from the
task definition (task-definition.json), and Firehose writing gzip NDJSON under raw/. Each step
does what the sources do (plugins/filter_parser/filter_parser.c: parsed fields first, then the
original ones; amazon-kinesis-firehose-for-fluent-bit's firehose.go: the record marshalled as a
Go map, so keys sorted and the time key replacing one of the same name, a newline appended, and
with simple_aggregation as many lines per Firehose record as fit in 1,000 KiB).
"""

from __future__ import annotations

import fnmatch
import gzip
import json
import math
import re
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
FIREHOSE_MAX_RECORD = 1_024_000  # firehose.go's maximumRecordSize (1000 KiB)
FIREHOSE_BILLING_UNIT = 5 * 1024  # Firehose bills each record rounded up to the next 5 KB
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
    base_image: str
    config_path_in_image: str
    parsers_path_in_image: str
    service: dict[str, str]
    filters: list[dict[str, str]]
    parser_filter: dict[str, str]
    multiline_filter: dict[str, str]
    parsers: dict[str, dict[str, str]]
    outputs_in_config: list[dict[str, str]]
    log_router: dict[str, Any]
    app: dict[str, Any]
    app_log_options: dict[str, str]

    @property
    def output(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.app_log_options.items()}


@cache
def pipeline() -> Pipeline:
    sections = classic_sections(CONFIG_DIR / "fluent-bit.conf")
    [service] = [body for name, body in sections if name == "SERVICE"]
    filters = [body for name, body in sections if name == "FILTER"]
    [parser_filter] = [body for body in filters if body["name"] == "parser"]
    [multiline_filter] = [body for body in filters if body["name"] == "multiline"]
    parsers = {body["name"]: body for name, body in classic_sections(CONFIG_DIR / "parsers.conf") if name == "PARSER"}
    task = json.loads((CONFIG_DIR / "task-definition.json").read_text())
    containers = {c["name"]: c for c in task["containerDefinitions"]}
    routers = [c for c in containers.values() if "firelensConfiguration" in c]
    apps = [c for c in containers.values() if c.get("logConfiguration", {}).get("logDriver") == "awsfirelens"]
    assert len(routers) == 1 and len(apps) == 1, "one log router and one app container"
    dockerfile = (CONFIG_DIR / "Dockerfile").read_text().splitlines()
    copy = next(line.split() for line in dockerfile if line.startswith("COPY ") and "fluent-bit.conf" in line)
    destination = copy[-1].rstrip("/")
    base_image = next(line.split("=", 1)[1] for line in dockerfile if line.startswith("ARG FLUENT_BIT_IMAGE="))
    return Pipeline(
        family=task["family"],
        base_image=base_image,
        config_path_in_image=f"{destination}/fluent-bit.conf",
        parsers_path_in_image=f"{destination}/parsers.conf",
        service=service,
        filters=filters,
        parser_filter=parser_filter,
        multiline_filter=multiline_filter,
        parsers=parsers,
        outputs_in_config=[body for name, body in sections if name == "OUTPUT"],
        log_router=routers[0],
        app=apps[0],
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
    assert {"region", "delivery_stream"} <= s.output.keys()
    assert s.output["time_key"] == "timestamp"
    assert "log_key" not in s.output  # the whole record goes: log, source and the ECS keys
    # The Go `firehose` plugin packs many lines into one Firehose record (the C kinesis_firehose
    # sends one record per line, each billed as at least 5 KB); its strftime writes ms with %L.
    assert s.output["name"] == "firehose"
    assert s.output["simple_aggregation"] == "true"
    assert s.output["time_key_format"] == "%Y-%m-%dT%H:%M:%S.%LZ"
    assert s.output["retry_limit"] == "no_limits"


def test_tracebacks_are_joined_first_and_buffered_on_disk_within_a_bound() -> None:
    s = pipeline()
    multiline = s.multiline_filter
    assert s.filters[0] is multiline, "multiline re-emits to the head of the pipeline: it must be the first filter"
    assert multiline["match"] == s.parser_filter["match"]
    assert multiline["multiline.key_content"] == "log"
    assert {p.strip() for p in multiline["multiline.parser"].split(",")} == {"python", "java"}
    assert multiline["buffer"].lower() == "on"  # the only mode that works with FireLens's forward input
    # Every record passes the emitter, whose chunks live on disk under storage.path, bounded per output.
    assert multiline["emitter_storage.type"] == "filesystem"
    assert s.service["storage.path"].startswith("/")
    assert re.fullmatch(r"\d+[KMG]", s.output["storage.total_limit_size"])
    assert int(s.service["storage.max_chunks_up"]) * 2 * 2 * 2 <= s.log_router["memoryReservation"]


def test_the_router_has_a_health_check_and_a_pinned_image() -> None:
    s = pipeline()
    assert s.service["http_server"].lower() == "on" and s.service["http_listen"] == "127.0.0.1"
    check = s.log_router["healthCheck"]
    assert check["command"] == [
        "CMD-SHELL",
        f"curl -sf http://127.0.0.1:{s.service['http_port']}/api/v1/uptime || exit 1",
    ]
    assert {"interval", "timeout", "retries", "startPeriod"} <= check.keys()
    # The app starts once the router answers, so its first lines are not lost.
    assert s.app["dependsOn"] == [{"containerName": "log_router", "condition": "HEALTHY"}]
    # A release tag and a digest (a placeholder the README explains; the build fails until it is set).
    assert re.fullmatch(r"public\.ecr\.aws/aws-observability/aws-for-fluent-bit:\d+\.\d+\.\d+@sha256:\S+", s.base_image)


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


# Fluent Bit's built-in multiline parsers, rule for rule: (from states, regex, next state).
MULTILINE_RULES: dict[str, list[tuple[tuple[str, ...], str, str]]] = {
    "python": [
        (("start_state",), r"^Traceback \(most recent call last\):$", "python"),
        (("python",), r"^[\t ]+File ", "python_code"),
        (("python_code",), r"[^\t ]", "python"),
        (("python",), r"^(?:[^\s.():]+\.)*[^\s.():]+:", "start_state"),
    ],
    "java": [
        (
            ("start_state", "java_start_exception"),
            r"(.)(?:Exception|Error|Throwable|V8 errors stack trace)[:\r\n]",
            "java_after_exception",
        ),
        (("java_after_exception",), r"^[\t ]*nested exception is:[\t ]*", "java_start_exception"),
        (("java_after_exception",), r"^[\r\n]*$", "java_after_exception"),
        (("java_after_exception", "java"), r"^[\t ]+(?:eval )?at ", "java"),
        (("java_after_exception", "java"), r"^[\t ]*(?:Caused by|Suppressed):", "java_after_exception"),
        (("java_after_exception", "java"), r"^[\t ]*... \d+ (?:more|common frames omitted)", "java"),
    ],
}


def _next_state(parser: str, state: str, text: str) -> str | None:
    for states, pattern, to in MULTILINE_RULES[parser]:
        if state in states and re.search(pattern, text):
            return to
    return None


Timed = tuple[Pairs, datetime]


def multiline_filter(records: list[Timed], tag: str) -> list[Timed]:
    """The multiline filter on one tag's records, in order: a record that starts a parser's
    pattern opens a group, records that follow its rules join it (lines joined with newlines,
    the first record's time and keys), the first that does not closes it and is looked at
    afresh; other records pass unchanged."""
    options = pipeline().multiline_filter
    if not fnmatch.fnmatchcase(tag, options["match"]):
        return records
    parsers = [p.strip() for p in options["multiline.parser"].split(",")]
    key = options["multiline.key_content"]
    out: list[Timed] = []
    group: tuple[Timed, list[str], str, str] | None = None  # first record, lines, parser, state

    def close() -> None:
        (first, at), lines, _, _ = group  # type: ignore[misc]
        out.append(([(k, "\n".join(lines) if k == key else v) for k, v in first], at))

    for record in records:
        text = str(dict(record[0]).get(key, ""))
        if group is not None:
            state = _next_state(group[2], group[3], text)
            if state is not None:
                group[1].append(text)
                group = (group[0], group[1], group[2], state)
                continue
            close()
            group = None
        for parser in parsers:
            state = _next_state(parser, "start_state", text)
            if state is not None:
                group = (record, [text], parser, state)
                break
        else:
            out.append(record)
    if group is not None:
        close()
    return out


def fluent_bit_strftime(fmt: str, at: datetime) -> str:
    """strftime with the sub-second extensions: %L milliseconds (the Go plugins), %3N/%9N."""
    nanos = f"{at.microsecond * 1000:09d}"
    return at.astimezone(UTC).strftime(fmt.replace("%3N", nanos[:3]).replace("%9N", nanos).replace("%L", nanos[:3]))


def firehose_event(record: Pairs, at: datetime) -> bytes:
    """firehose.go: the record as a Go map (a later key of the same name wins, keys sorted when
    marshalled), the time key set in it, a newline appended."""
    data = dict(record)
    output = pipeline().output
    if "time_key" in output:
        data[output["time_key"]] = fluent_bit_strftime(output.get("time_key_format", "%Y-%m-%dT%H:%M:%S"), at)
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def firehose_records(events: list[bytes]) -> list[bytes]:
    """simple_aggregation: each event joins the previous Firehose record while it fits."""
    aggregate = pipeline().output.get("simple_aggregation", "false").lower() == "true"
    records: list[bytes] = []
    for event in events:
        if aggregate and records and len(records[-1]) + len(event) <= FIREHOSE_MAX_RECORD:
            records[-1] += event
        else:
            records.append(event)
    return records


@dataclass(frozen=True)
class Line:
    text: str
    at: datetime  # when the container runtime read it: the Fluent Bit record time
    stream: str = "stdout"
    container: str = "app"


def firehose_events(lines: tuple[Line, ...]) -> list[bytes]:
    """Container lines through the runtime, FireLens, the filters (in file order) and the output."""
    by_tag: dict[str, list[Timed]] = {}
    for line in lines:
        tag = f"{line.container}-firelens-{TASK_ID}"
        records = runtime_records(line.text, line.stream, line.container)
        by_tag.setdefault(tag, []).extend((with_ecs_metadata(record), line.at) for record in records)
    return [
        firehose_event(parser_filter(record, tag), at)
        for tag, timed in by_tag.items()
        for record, at in multiline_filter(timed, tag)
    ]


@pytest.fixture(autouse=True)
def _empty_logs(db_url: str) -> None:
    with connect(db_url, autocommit=True) as conn:
        conn.execute("TRUNCATE logs, load_ledger")


@pytest.fixture
def ship(fake_aws: FakeAws, writer_url: str) -> Iterator[Ship]:
    """Lines → Firehose records → one gzip object under raw/ → the real Loader; returns the events
    the output sent (one JSON object per line of the object)."""
    provider = ConnectionProvider(lambda: writer_url)
    loader = Loader(S3ObjectStore(BUCKET, fake_aws.s3), provider, Settings.from_env({}))

    def run(*lines: Line, rows: int | None = None) -> list[dict[str, Any]]:
        events = firehose_events(lines)
        key = f"raw/{lines[0].at:%Y/%m/%d/%H}/loglens-fluent-bit-{uuid.uuid4()}.gz"
        fake_aws.s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(b"".join(firehose_records(events))))
        result = loader.load(ObjectRef(BUCKET, key, None))
        assert isinstance(result, LoadResult)
        assert (result.loaded, result.rejected, result.duplicates) == (len(lines) if rows is None else rows, 0, 0)
        again = loader.load(ObjectRef(BUCKET, key, None))  # a redelivered S3 event stores nothing twice
        assert again is not None and again.skipped
        return [json.loads(event) for event in events]

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
    # The output's time key replaces the `timestamp` the parser lifted from the line; loglens reads
    # the line's own from `log`.
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


PYTHON_TRACEBACK = [
    "Traceback (most recent call last):",
    '  File "/srv/app/pay.py", line 41, in charge',
    "    gateway.capture(order)",
    '  File "/srv/app/gateway.py", line 12, in capture',
    '    raise TimeoutError("gateway timed out after 30s")',
    "TimeoutError: gateway timed out after 30s",
]
JAVA_TRACE = [
    "java.lang.IllegalStateException: pool closed",
    "\tat com.shop.db.Pool.borrow(Pool.java:88)",
    "\tat com.shop.pay.Charge.run(Charge.java:41)",
    "Caused by: java.net.SocketTimeoutException: connect timed out",
    "\tat java.base/java.net.Socket.connect(Socket.java:633)",
    "\t... 2 more",
]


def test_a_traceback_printed_line_by_line_is_one_error_row(ship: Ship, db_url: str) -> None:
    lines = [
        Line("starting charge", NOW),
        *(Line(text, NOW + SECOND, stream="stderr") for text in PYTHON_TRACEBACK),
        *(Line(text, NOW + 2 * SECOND, stream="stderr") for text in JAVA_TRACE),
        Line(json.dumps({"level": "info", "message": "next request"}), NOW + 3 * SECOND),
    ]
    events = ship(*lines, rows=4)
    assert [event["log"] for event in events[1:3]] == ["\n".join(PYTHON_TRACEBACK), "\n".join(JAVA_TRACE)]
    columns = ("level", "message", "error_type", "stack_trace", "created_at")
    assert stored(db_url, *columns) == [
        ("INFO", "starting charge", None, None, ms(NOW)),
        (
            "ERROR",
            "TimeoutError: gateway timed out after 30s",
            "TimeoutError",
            "\n".join(PYTHON_TRACEBACK),
            ms(NOW) + SECOND,
        ),
        (
            "ERROR",
            "java.lang.IllegalStateException: pool closed",
            "java.lang.IllegalStateException",
            "\n".join(JAVA_TRACE),
            ms(NOW) + 2 * SECOND,
        ),
        ("INFO", "next request", None, None, ms(NOW) + 3 * SECOND),
    ]


def billed_kb(records: list[bytes]) -> int:
    return sum(math.ceil(len(record) / FIREHOSE_BILLING_UNIT) * 5 for record in records)


def test_aggregation_bills_about_the_bytes_sent_instead_of_5_kb_per_line() -> None:
    """What README's pricing numbers come from: 10,000 JSON lines of 155 bytes."""
    line = json.dumps(
        {
            "level": "info",
            "message": "payment captured",
            "user_id": "u-42",
            "order_id": "o-1",
            "duration_ms": 12.5,
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        }
    )
    events = firehose_events(tuple(Line(line, NOW) for _ in range(10_000)))
    sent_kb = sum(len(event) for event in events) / 1024
    # FireLens's keys, and the parser filter's lifted copy beside `log`, make each event ~700 bytes.
    assert 600 <= sent_kb * 1024 / len(events) <= 800
    one_per_line = billed_kb(events)
    aggregated = firehose_records(events)
    assert b"".join(aggregated) == b"".join(events)  # the same NDJSON lands in S3
    assert len(aggregated) == math.ceil(sent_kb * 1024 / FIREHOSE_MAX_RECORD)
    assert one_per_line == 5 * len(events)  # every record rounds up to 5 KB
    assert one_per_line / sent_kb > 7  # what kinesis_firehose (one record per line) would be billed
    assert billed_kb(aggregated) / sent_kb < 1.01
