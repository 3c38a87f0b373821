"""functions/ask.py with the lake: the deployed agent asks Athena, and on a lake-only stage nothing else.

AWS is moto (Athena with its queue of results, DynamoDB, Secrets Manager); the model is FakeClaude over
HTTP, so the real SDK and the real agent loop run. Athena cannot run SQL here: what is checked is that
the question reaches it guarded, in the stage's workgroup and database, and that its rows come back as the
answer (the SQL's meaning is tested on DuckDB, tests/integration/test_agent_lake.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from moto.athena.models import QueryResults, athena_backends

from loglens.agent.lake_tools import RUN_LAKE_QUERY
from loglens.agent.slack import ResponsePoster
from loglens.lake.athena import AthenaLake
from tests.aws_fakes import REGION, FakeAws, athena_json_client
from tests.fake_claude import FakeClaude, answer, message, system_text, tool_results, tool_use
from tests.fake_slack import ResponseUrlServer
from tests.unit.test_dynamo_state import create_table

ACCOUNT = "123456789012"
WORKGROUP = "loglens-test-lake"
DATABASE = "loglens_test_lake"
STATE_TABLE = "loglens-test-ask-state"
SLACK_SECRET = "slack-signing-secret"
TODAY = datetime.now(UTC).date()
DAY = TODAY - timedelta(days=40)
QUESTION_SQL = (
    "SELECT service, count(*) AS errors FROM logs "
    f"WHERE created_at >= TIMESTAMP '{DAY} 00:00:00' AND created_at < TIMESTAMP '{DAY + timedelta(days=1)} 00:00:00' "
    "AND level = 'ERROR' GROUP BY service ORDER BY errors DESC"
)


@dataclass
class Context:
    function_name: str = "loglens-test-ask"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:loglens-test-ask"
    aws_request_id: str = "req-1"


class RecordingLambda:
    def __init__(self) -> None:
        self.invocations: list[dict[str, Any]] = []
        self.clients: list[str] = []  # the AWS clients the function asked for, in order

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.invocations.append(kwargs)
        return {"StatusCode": 202}

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(call["Payload"]) for call in self.invocations]


def queue_athena(columns: list[tuple[str, str]], rows: list[list[str | None]]) -> None:
    """The next query Athena starts answers these rows (moto takes its results from a queue)."""
    info = [{"Name": name, "Label": name, "Type": kind} for name, kind in columns]
    header = {"Data": [{"VarCharValue": name} for name, _ in columns]}
    body = [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in rows]
    athena_backends[ACCOUNT][REGION].query_results_queue.append(QueryResults([header, *body], info))


def queue_extent(first: str, last: str, rows: int) -> None:
    queue_athena([("first_day", "date"), ("last_day", "date"), ("row_count", "bigint")], [[first, last, str(rows)]])


@pytest.fixture
def fake() -> Iterator[FakeClaude]:
    server = FakeClaude().start()
    yield server
    server.stop()


@pytest.fixture
def aws(fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeClaude) -> dict[str, Any]:
    athena = athena_json_client(tmp_path / "botocore-data", monkeypatch)
    fake_aws.s3.create_bucket(Bucket="loglens-test-athena-results")
    athena.create_work_group(
        Name=WORKGROUP,
        Configuration={
            "ResultConfiguration": {"OutputLocation": "s3://loglens-test-athena-results/results/"},
            "EnforceWorkGroupConfiguration": True,
            "BytesScannedCutoffPerQuery": 10 * 1024**3,
        },
    )
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    create_table(dynamodb, STATE_TABLE)
    secrets = boto3.client("secretsmanager", region_name=REGION)
    for key, value in {
        "ANTHROPIC_SECRET_ARN": secrets.create_secret(Name="anthropic", SecretString="sk-ant-test")["ARN"],
        "SLACK_SECRET_ARN": secrets.create_secret(Name="slack", SecretString=SLACK_SECRET)["ARN"],
        "ANTHROPIC_BASE_URL": fake.url,
        "MODEL_PROVIDER": "anthropic",
        "MODEL_ID": "claude-sonnet-5-5",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "ask",
        "POWERTOOLS_METRICS_NAMESPACE": "loglens",
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("DATABASE_URL", "DB_HOST", "DB_NAME", "DB_USER", "CONVERSATION_DB_USER", "LOGLENS_LAKE"):
        monkeypatch.delenv(key, raising=False)
    return {"athena": athena, "dynamodb": dynamodb}


@pytest.fixture
def handler(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, RecordingLambda]:
    import functions.ask as module

    recorder = RecordingLambda()
    clients = {"lambda": recorder, **aws}
    monkeypatch.setattr(module, "_api", None)

    def client(service: str) -> Any:
        recorder.clients.append(service)
        return clients.get(service) or pytest.fail(service)

    monkeypatch.setattr(module, "client", client)
    return module, recorder


def lake_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {"LOGLENS_LAKE": "athena", "ATHENA_WORKGROUP": WORKGROUP, "LAKE_DATABASE": DATABASE}.items():
        monkeypatch.setenv(key, value)


def database_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy nobody listens on: building the agent must not connect to it.
    for key, value in {
        "DB_HOST": "proxy.invalid",
        "DB_NAME": "loglens",
        "DB_USER": "loglens_analyst",
        "CONVERSATION_DB_USER": "loglens_writer",
    }.items():
        monkeypatch.setenv(key, value)


def ask_event(body: dict[str, Any], key: str = "key-1") -> dict[str, Any]:
    return {
        "resource": "/api/v1/ask",
        "httpMethod": "POST",
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
        "requestContext": {"requestId": "r1", "identity": {"apiKeyId": key}},
    }


def poll_event(ask_id: str, key: str = "key-1") -> dict[str, Any]:
    return {
        "resource": "/api/v1/ask/{id}",
        "httpMethod": "GET",
        "headers": {},
        "pathParameters": {"id": ask_id},
        "body": None,
        "isBase64Encoded": False,
        "requestContext": {"requestId": "r2", "identity": {"apiKeyId": key}},
    }


def tool_names(request: dict[str, Any]) -> list[str]:
    return [tool["name"] for tool in request["tools"]]


def test_with_the_lake_on_the_deployed_agent_gets_athena_beside_postgresql(
    handler: tuple[Any, RecordingLambda], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the ask function on a stage with PostgreSQL and the lake
    module, _ = handler
    database_variables(monkeypatch)
    lake_variables(monkeypatch)
    # When it builds its agent
    service = module._build(Context()).service()
    # Then the agent has the lake tool, on Athena in the stage's workgroup and database
    agent = service.agent
    assert agent.tools is not None and agent.lake is not None
    assert isinstance(agent.lake.lake, AthenaLake)
    assert (agent.lake.lake.workgroup, agent.lake.lake.database) == (WORKGROUP, DATABASE)
    assert [t["name"] for t in agent._tools] == ["run_query", "explain_query", RUN_LAKE_QUERY, "answer"]
    # And the prompt's extent comes from Athena (Iceberg's partitions table, no scan)
    queue_extent(str(DAY), str(TODAY), 1234)
    extent = agent.lake.extent()
    assert extent is not None and (extent.first_day, extent.last_day, extent.rows) == (DAY, TODAY, 1234)
    [execution_id] = module.client("athena").list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    execution = module.client("athena").get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
    assert '"logs$partitions"' in execution["Query"]


def test_without_the_lake_the_deployed_agent_has_postgresql_alone(
    handler: tuple[Any, RecordingLambda], monkeypatch: pytest.MonkeyPatch
) -> None:
    module, _ = handler
    database_variables(monkeypatch)
    service = module._build(Context()).service()
    assert service.agent.lake is None
    assert [t["name"] for t in service.agent._tools] == ["run_query", "explain_query", "answer"]


def test_a_lake_only_stage_without_its_state_table_says_which_variable_is_missing(
    handler: tuple[Any, RecordingLambda], monkeypatch: pytest.MonkeyPatch
) -> None:
    module, _ = handler
    lake_variables(monkeypatch)
    monkeypatch.delenv("ASK_STATE_TABLE", raising=False)
    response = module.handler(ask_event({"question": "errors?"}), Context())
    assert response["statusCode"] == 503
    assert "ASK_STATE_TABLE" in json.loads(response["body"])["error"]


@pytest.fixture
def lake_only(handler: tuple[Any, RecordingLambda], monkeypatch: pytest.MonkeyPatch) -> tuple[Any, RecordingLambda]:
    lake_variables(monkeypatch)
    monkeypatch.setenv("ASK_STATE_TABLE", STATE_TABLE)
    monkeypatch.setenv("LOGLENS_ASK_WAIT", "0")  # POST answers 202 at once; the worker runs when the test says
    return handler


def test_a_lake_only_stage_answers_a_question_from_athena_over_http(
    lake_only: tuple[Any, RecordingLambda], fake: FakeClaude
) -> None:
    module, recorder = lake_only
    # Given a model that asks the lake once and answers with that query
    fake.script(
        message(tool_use(RUN_LAKE_QUERY, sql=QUESTION_SQL, purpose="errors per service that day")),
        message(answer(QUESTION_SQL, "checkout had 42 errors that day, search 7.")),
    )
    # And Athena's answers: the lake's extent for the prompt, then the question's rows
    queue_extent(str(DAY - timedelta(days=5)), str(TODAY), 90_000)
    queue_athena([("service", "varchar"), ("errors", "bigint")], [["checkout", "42"], ["search", "7"]])

    # When a question is posted: it is recorded in DynamoDB and handed to the function's own async invocation
    posted = module.handler(ask_event({"question": f"Which services had errors on {DAY}?"}), Context())
    assert posted["statusCode"] == 202
    pending = json.loads(posted["body"])
    [payload] = recorder.payloads()
    assert payload["loglens_async"]["id"] == pending["id"]
    # And the worker answers it
    assert module.handler(payload, Context()) == {"status": "done"}

    # Then polling returns the answer, from the lake, with Athena's rows and what it scanned
    polled = module.handler(poll_event(pending["id"]), Context())
    assert polled["statusCode"] == 200, polled["body"]
    body = json.loads(polled["body"])
    assert body["rows"] == [["checkout", 42], ["search", 7]] and body["columns"] == ["service", "errors"]
    assert body["explanation"]["summary"] == "checkout had 42 errors that day, search 7."
    assert body["performance"]["source"] == "lake" and body["performance"]["engine"] == "athena"
    assert body["performance"]["cost_usd"] > 0  # Athena's 10 MB minimum
    assert "LIMIT" in body["sql"].upper() and "created_at >=" in body["sql"]
    # And the model had the lake alone: no run_query, a prompt that says there is no PostgreSQL and the lake's days
    first = fake.requests[0]
    assert tool_names(first) == [RUN_LAKE_QUERY, "answer"]
    prompt = system_text(first)
    assert "no PostgreSQL" in prompt and f"from {DAY - timedelta(days=5)} to {TODAY}" in prompt
    assert "run_query runs" not in prompt and "explain_query" not in prompt
    [result] = tool_results(fake.requests[1])
    assert "checkout" in result["content"] and not result.get("is_error")
    # And Athena ran the guarded statement in the stage's workgroup and database
    athena = module.client("athena")
    executions = [
        athena.get_query_execution(QueryExecutionId=i)["QueryExecution"]
        for i in athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    ]
    questions = [e for e in executions if "level = 'ERROR'" in e["Query"]]
    assert len(questions) == 1 and questions[0]["QueryExecutionContext"]["Database"] == DATABASE
    # And another API key cannot read the answer
    assert module.handler(poll_event(pending["id"], key="key-2"), Context())["statusCode"] == 404


def test_a_follow_up_on_a_lake_only_stage_sees_the_earlier_turn_from_dynamodb(
    lake_only: tuple[Any, RecordingLambda], fake: FakeClaude
) -> None:
    module, recorder = lake_only
    fake.script(message(answer(QUESTION_SQL, "checkout had 42 errors.")), message(answer(QUESTION_SQL, "Same: 42.")))
    queue_extent(str(DAY), str(TODAY), 10)
    queue_athena([("service", "varchar"), ("errors", "bigint")], [["checkout", "42"]])

    first = json.loads(module.handler(ask_event({"question": "errors on that day?"}), Context())["body"])
    module.handler(recorder.payloads()[0], Context())
    done = json.loads(module.handler(poll_event(first["id"]), Context())["body"])
    conversation = done["conversation_id"]

    module.handler(ask_event({"question": "and by service?", "conversation_id": conversation}), Context())
    module.handler(recorder.payloads()[1], Context())

    follow_up = fake.requests[-1]["messages"]
    assert follow_up[0] == {"role": "user", "content": "Earlier question: errors on that day?"}
    assert "checkout had 42 errors." in json.dumps(follow_up[1])


def slack_event(body: bytes) -> dict[str, Any]:
    timestamp = str(int(time.time()))
    digest = hmac.new(SLACK_SECRET.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "resource": "/slack/commands",
        "httpMethod": "POST",
        "headers": {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest}"},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
        "requestContext": {"requestId": "r3", "identity": {"sourceIp": "3.3.3.3"}},
    }


def test_a_slash_command_on_a_lake_only_stage_is_answered_once_from_the_lake(
    lake_only: tuple[Any, RecordingLambda], fake: FakeClaude
) -> None:
    module, recorder = lake_only
    slack = ResponseUrlServer().start()
    try:
        module._api = module._build(Context())
        module._api.poster = ResponsePoster((slack.base + "/",))
        fake.script(message(answer(QUESTION_SQL, "checkout had 42 errors.")))
        queue_extent(str(DAY), str(TODAY), 10)
        queue_athena([("service", "varchar"), ("errors", "bigint")], [["checkout", "42"]])
        form = {
            "command": "/logs",
            "text": "errors by service that day?",
            "team_id": "T",
            "channel_id": "C",
            "user_id": "U",
            "response_url": slack.url,
        }
        # When Slack sends the command: acknowledged at once, answered by the async invocation
        ack = module.handler(slack_event(urlencode(form).encode()), Context())
        assert ack["statusCode"] == 200 and "Looking into it" in ack["body"]
        assert recorder.clients == ["lambda"]  # the acknowledgement touched neither DynamoDB nor Athena
        [payload] = recorder.payloads()
        module.handler(payload, Context())
        # And a copy of the same signed request, replayed, is claimed in DynamoDB already and not answered
        module.handler(payload, Context())
        posts = slack.wait_for(1)
        assert len(posts) == 1 and "checkout" in json.dumps(posts[0])
        assert fake.pending == 0 and len(fake.requests) == 1
    finally:
        slack.stop()


@pytest.mark.parametrize(
    ("method", "path", "resource"),
    [
        ("POST", "/api/v1/query", "/api/v1/query"),
        ("GET", "/api/v1/tail", "/api/v1/tail"),
        ("GET", "/api/v1/facts", "/api/v1/facts"),
        ("POST", "/api/v1/answers", "/api/v1/answers"),
        ("GET", f"/api/v1/answers/{'a' * 8}", "/api/v1/answers/{id}"),
    ],
)
def test_the_query_api_on_a_lake_only_stage_says_why_it_is_not_there(
    lake_only: tuple[Any, RecordingLambda], method: str, path: str, resource: str
) -> None:
    module, recorder = lake_only
    event = {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"content-type": "application/json"},
        "pathParameters": {"id": "a" * 8} if "{id}" in resource else None,
        "body": '{"sql": "SELECT 1"}' if method == "POST" else None,
        "isBase64Encoded": False,
        "requestContext": {"requestId": "r4", "identity": {"apiKeyId": "key-1"}},
    }
    response = module.handler(event, Context())
    assert response["statusCode"] == 404
    error = json.loads(response["body"])["error"]
    assert "lake-only" in error and "POST /api/v1/ask" in error and "Athena" in error
    assert recorder.clients == ["lambda"]  # nothing asked of DynamoDB, Athena or the model
