"""The agent with two sources: PostgreSQL's hot window and the local lake, Claude faked at the HTTP layer.

PostgreSQL holds the last three days of demo data; the lake holds those days too (as the load path would
have forwarded them) and a day six weeks old whose partition is gone. The real anthropic SDK talks to
FakeClaude, so the real loop runs: the prompt says which range each source holds, run_lake_query goes
through the guard in the Trino dialect and runs on DuckDB, and the answer reports what the lake scanned.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anthropic
import pytest

from loglens.agent.loop import Agent
from loglens.agent.service import build_agent
from loglens.agent.settings import AgentSettings
from loglens.db.connect import ConnectionProvider
from loglens.devtools.demo import DemoPlan, generate_rows
from loglens.devtools.lake.buffer import BufferSink
from loglens.devtools.lake.flush import flush
from loglens.devtools.lake.local import LocalLake
from loglens.devtools.lake.snapshot import LakeLayout
from tests.demo_data import load_demo
from tests.fake_claude import FakeClaude, answer, message, run_query, system_text, tool_results, tool_use

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
OLD_END = NOW - timedelta(days=41)
OLD_DAY = (OLD_END - timedelta(hours=12)).date()
OLD_ERRORS = (
    "SELECT service, count(*) AS errors FROM logs "
    f"WHERE created_at >= TIMESTAMP '{OLD_DAY} 00:00:00' AND created_at < TIMESTAMP '{OLD_DAY + timedelta(days=1)} "
    "00:00:00' AND level IN ('ERROR', 'FATAL') GROUP BY service ORDER BY errors DESC, service"
)


@pytest.fixture(scope="module")
def lake(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> LocalLake:
    recent = DemoPlan(end=NOW, days=3, records=6000)
    load_demo(db_url, recent)  # PostgreSQL: the hot window
    layout = LakeLayout.under(Path(tmp_path_factory.mktemp("home")))
    for plan in (recent, DemoPlan(end=OLD_END, days=1, records=3000, seed=11)):
        sink = BufferSink(layout)
        sink.add(list(generate_rows(plan)))
        sink.flush()
    flush(layout)
    return LocalLake(layout)


@pytest.fixture
def fake() -> Iterator[FakeClaude]:
    server = FakeClaude().start()
    yield server
    server.stop()


def make_agent(fake: FakeClaude, analyst_url: str, lake: LocalLake) -> Agent:
    client = anthropic.Anthropic(api_key="test-key", base_url=fake.url, max_retries=0)
    return build_agent(
        analyst=ConnectionProvider(lambda: analyst_url, application="loglens-test"),
        client=client,
        settings=AgentSettings.from_env({}),
        environ={},
        lake=lake,
        lake_extent=lake.extent,
    )


def lake_truth(lake: LocalLake) -> list[list[Any]]:
    return lake.run(OLD_ERRORS + " LIMIT 1000").rows


def test_a_day_older_than_the_hot_window_is_answered_from_the_lake(
    lake: LocalLake, fake: FakeClaude, analyst_url: str
) -> None:
    # Given a model that reads the prompt's sources, asks the lake and answers with that query
    fake.script(
        message(tool_use("run_lake_query", sql=OLD_ERRORS)),
        message(answer(OLD_ERRORS, "payment-api had the most errors that day.", source="lake")),
    )
    agent = make_agent(fake, analyst_url, lake)

    # When a question about a day six weeks ago is asked
    result = agent.ask(f"Which service had the most errors on {OLD_DAY}?")

    # Then the answer is the lake's, with what it scanned and cost
    assert result.complete and result.steps == 2
    assert result.rows == lake_truth(lake) and result.rows
    assert result.sql is not None and "LIMIT 1000" in result.sql
    assert result.performance.source == "lake" and result.performance.engine == "duckdb"
    assert result.performance.bytes_scanned and result.performance.bytes_scanned > 0
    assert result.performance.cost_usd and result.performance.cost_usd > 0
    assert result.performance.partitions_total is None  # no PostgreSQL plan for lake SQL
    assert "lake:" in result.figures() and "MiB scanned" in result.figures()
    # The model was told which range each source holds, and had the lake's tool
    request = fake.requests[0]
    system = system_text(request)
    oldest_partition = (NOW - timedelta(days=3)).date()
    assert "The lake (run_lake_query)" in system and "Write Trino, not PostgreSQL" in system
    assert f"PostgreSQL (run_query) holds logs from {oldest_partition}" in system
    first_day = (OLD_END - timedelta(days=1)).date()  # the old plan's 24 hours start the day before
    assert f"The lake (run_lake_query) holds logs from {first_day} to {NOW.date()}" in system
    tools = {tool["name"]: tool for tool in request["tools"]}
    assert set(tools) == {"run_query", "explain_query", "run_lake_query", "answer"}
    assert tools["answer"]["input_schema"]["properties"]["source"]["enum"] == ["postgres", "lake"]
    # and it saw the rows with the bytes scanned and the cost
    [shown] = tool_results(fake.requests[1])
    seen = json.loads(shown["content"])
    assert not shown.get("is_error") and seen["rows"] == lake_truth(lake)
    assert seen["bytes_scanned"] == result.performance.bytes_scanned and seen["cost_usd"] > 0


def test_lake_sql_without_a_partition_bound_is_refused_with_how_to_fix_it(
    lake: LocalLake, fake: FakeClaude, analyst_url: str
) -> None:
    unbounded = "SELECT count(*) FROM logs WHERE trace_id = 'abc'"
    fake.script(
        message(tool_use("run_lake_query", sql=unbounded)),
        message(tool_use("run_lake_query", sql=OLD_ERRORS)),
        message(answer(OLD_ERRORS, "Fixed the range.")),  # source left out: the query that ran decides
    )

    result = make_agent(fake, analyst_url, lake).ask(f"errors on {OLD_DAY}?")

    [refusal] = tool_results(fake.requests[1])
    assert refusal["is_error"] and "refused by the SQL guard (lake, Trino)" in refusal["content"]
    assert "created_at" in refusal["content"]
    assert result.performance.source == "lake" and result.rows == lake_truth(lake)
    assert [a.ok for a in result.attempts] == [False, True]


def test_an_engine_error_goes_back_to_the_model_which_corrects_itself(
    lake: LocalLake, fake: FakeClaude, analyst_url: str
) -> None:
    failing = (
        f"SELECT count(*) FROM logs WHERE created_at >= TIMESTAMP '{OLD_DAY} 00:00:00' AND CAST(message AS integer) > 0"
    )
    fake.script(
        message(tool_use("run_lake_query", sql=failing)),
        message(answer(OLD_ERRORS, "done", source="lake")),
    )

    result = make_agent(fake, analyst_url, lake).ask("errors?")

    [error] = tool_results(fake.requests[1])
    assert error["is_error"] and "lake engine error" in error["content"] and "Conversion Error" in error["content"]
    assert result.rows == lake_truth(lake) and result.attempts[0].ok is False


def test_recent_questions_still_go_to_postgresql(lake: LocalLake, fake: FakeClaude, analyst_url: str) -> None:
    recent = "SELECT level, count(*) AS n FROM logs WHERE created_at >= now() - interval '1 day' GROUP BY level"
    fake.script(message(run_query(recent)), message(answer(recent, "Counts by level today.")))

    result = make_agent(fake, analyst_url, lake).ask("How many logs per level today?")

    assert result.performance.source == "postgres" and result.performance.partitions_total
    assert result.performance.bytes_scanned is None and result.rows


def test_without_a_lake_the_agent_has_no_lake_tool(fake: FakeClaude, analyst_url: str, lake: LocalLake) -> None:
    fake.script(message(tool_use("run_lake_query", sql=OLD_ERRORS)), message(answer("SELECT 1", "n/a")))
    client = anthropic.Anthropic(api_key="test-key", base_url=fake.url, max_retries=0)
    agent = build_agent(
        analyst=ConnectionProvider(lambda: analyst_url), client=client, settings=AgentSettings.from_env({}), environ={}
    )

    agent.ask("errors long ago?")

    assert {tool["name"] for tool in fake.requests[0]["tools"]} == {"run_query", "explain_query", "answer"}
    assert "run_lake_query" not in system_text(fake.requests[0])
    [unknown] = tool_results(fake.requests[1])
    assert unknown["is_error"] and "unknown tool 'run_lake_query'" in unknown["content"]
