"""The agent on a lake-only stage: run_lake_query is its only tool, on the local lake (DuckDB), model faked.

No PostgreSQL at all: the agent is built by build_lake_agent from a LocalLake and FakeClaude over HTTP, so
the real loop, the Trino guard and the lake's engine run, and the answer can be checked against the
lake's own figures.
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
from loglens.agent.rows import ModelView
from loglens.agent.service import build_lake_agent
from loglens.agent.settings import AgentSettings
from loglens.devtools.demo import DemoPlan, generate_rows
from loglens.devtools.lake.buffer import BufferSink
from loglens.devtools.lake.flush import flush
from loglens.devtools.lake.local import LocalLake
from loglens.devtools.lake.snapshot import LakeLayout
from tests.fake_claude import FakeClaude, answer, message, run_query, system_text, text, tool_results, tool_use

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
DAY = (NOW - timedelta(days=2)).date()
ERRORS = (
    "SELECT service, count(*) AS errors FROM logs "
    f"WHERE created_at >= TIMESTAMP '{DAY} 00:00:00' AND created_at < TIMESTAMP '{DAY + timedelta(days=1)} 00:00:00' "
    "AND level IN ('ERROR', 'FATAL') GROUP BY service ORDER BY errors DESC, service"
)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> LocalLake:
    layout = LakeLayout.under(Path(tmp_path_factory.mktemp("home")))
    sink = BufferSink(layout)
    sink.add(list(generate_rows(DemoPlan(end=NOW, days=3, records=3000, seed=5))))
    sink.flush()
    flush(layout)
    return LocalLake(layout)


@pytest.fixture
def fake() -> Iterator[FakeClaude]:
    server = FakeClaude().start()
    yield server
    server.stop()


def make_agent(fake: FakeClaude, lake: LocalLake) -> Agent:
    client = anthropic.Anthropic(api_key="test-key", base_url=fake.url, max_retries=0)
    return build_lake_agent(
        lake=lake, client=client, settings=AgentSettings.from_env({}), environ={}, lake_extent=lake.extent
    )


def truth(lake: LocalLake) -> list[list[Any]]:
    return lake.run(ERRORS + " LIMIT 1000").rows


def test_a_question_is_answered_from_the_lake_with_no_postgresql_anywhere(lake: LocalLake, fake: FakeClaude) -> None:
    fake.script(
        message(tool_use("run_lake_query", sql=ERRORS)),
        message(answer(ERRORS, "payment-api had the most errors that day.")),
    )

    result = make_agent(fake, lake).ask(f"Which service had the most errors on {DAY}?")

    assert result.complete and result.rows == truth(lake) and result.rows
    assert result.performance.source == "lake" and result.performance.engine == "duckdb"
    assert result.performance.partitions_total is None
    request = fake.requests[0]
    assert [tool["name"] for tool in request["tools"]] == ["run_lake_query", "answer"]
    assert "source" not in request["tools"][1]["input_schema"]["properties"]  # one source: nothing to choose
    system = system_text(request)
    assert "no PostgreSQL" in system and "only the lake" in system
    extent = lake.extent()
    assert f"The lake holds logs from {extent.first_day} to {extent.last_day}" in system
    assert "Database facts" not in system and "run_query" not in system.replace("run_lake_query", "")
    assert 'give the answer tool source "lake"' not in system


def test_a_postgresql_tool_call_is_an_unknown_tool_and_the_model_goes_on(lake: LocalLake, fake: FakeClaude) -> None:
    fake.script(
        message(run_query("SELECT count(*) FROM logs WHERE created_at >= now() - interval '1 day'")),
        message(answer(ERRORS, "Answered from the lake.")),
    )

    result = make_agent(fake, lake).ask("errors?")

    [unknown] = tool_results(fake.requests[1])
    assert unknown["is_error"] and "unknown tool 'run_query'" in unknown["content"]
    assert "run_lake_query, answer" in unknown["content"]
    assert result.rows == truth(lake)


def test_postgresql_sql_in_the_answer_is_refused_by_the_trino_guard_and_corrected(
    lake: LocalLake, fake: FakeClaude
) -> None:
    # the summary views are PostgreSQL's; the lake has the table logs alone
    postgres_sql = "SELECT service, sum(error_count) FROM daily_log_summary GROUP BY service"
    fake.script(message(answer(postgres_sql, "wrong dialect")), message(answer(ERRORS, "Fixed.")))

    result = make_agent(fake, lake).ask("errors?")

    [refusal] = tool_results(fake.requests[1])
    assert refusal["is_error"] and "refused by the SQL guard (lake, Trino)" in refusal["content"]
    assert "daily_log_summary is not allowed" in refusal["content"]
    assert result.rows == truth(lake) and [a.ok for a in result.attempts] == [False, True]


def test_a_text_reply_is_the_answer_and_an_empty_lake_is_said_so(tmp_path: Path, fake: FakeClaude) -> None:
    empty = LocalLake(LakeLayout.under(tmp_path))
    fake.script(message(text("The lake holds no logs yet.")))

    result = make_agent(fake, empty).ask("errors today?")

    assert result.complete and result.sql is None and "no logs yet" in result.explanation.summary
    assert "The lake holds nothing yet" in system_text(fake.requests[0])


def test_an_agent_needs_postgresql_or_the_lake() -> None:
    view = ModelView(rows=5, cell_chars=100, redactor=None)
    with pytest.raises(ValueError, match="needs PostgreSQL's tools and facts, a lake, or both"):
        Agent(object(), None, None, AgentSettings.from_env({}), view)  # type: ignore[arg-type]


def test_the_turn_a_follow_up_sees_is_the_lake_answer(lake: LocalLake, fake: FakeClaude) -> None:
    fake.script(message(answer(ERRORS, "payment-api led.")), message(answer(ERRORS, "still payment-api.")))
    agent = make_agent(fake, lake)
    first = agent.ask("errors by service?")
    agent.ask("and the same again?", [agent.turn(first)])
    earlier = fake.requests[-1]["messages"][1]["content"]
    assert "payment-api led." in json.dumps(earlier) and "LIMIT" in json.dumps(earlier)
