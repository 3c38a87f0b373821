"""The agent loop against the embedded PostgreSQL with demo data, Claude faked at the HTTP layer.

The real anthropic SDK talks to FakeClaude on 127.0.0.1, so every test runs the real loop: the schema
prompt, the tools through the guard on the analyst role, the errors sent back as tool results.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import anthropic
import pytest

from loglens.agent.answer import Answer
from loglens.agent.conversations import PostgresConversations
from loglens.agent.loop import Agent, ModelCallFailed
from loglens.agent.service import AskService, build_agent
from loglens.agent.settings import AgentSettings
from loglens.db.connect import ConnectionProvider, connect
from loglens.devtools.demo import DemoPlan
from loglens.record import LOG_COLUMNS, column_descriptions
from tests.demo_data import load_demo
from tests.factories import insert_records, make_record
from tests.fake_claude import (
    FakeClaude,
    answer,
    last_user_text,
    message,
    run_query,
    text,
    tool_results,
    tool_use,
)

ERRORS_BY_SERVICE = (
    "SELECT service, count(*) AS errors FROM logs WHERE created_at >= now() - interval '3 hours' "
    "AND level IN ('ERROR', 'FATAL') GROUP BY service ORDER BY errors DESC"
)
# Allowed by the guard (a bounded scan, a series within its cap) yet ~2·10^9 rows of work: the timeout's job.
HEAVY = (
    "SELECT count(*) FROM logs l CROSS JOIN generate_series(1, 100000) g "
    "WHERE l.created_at >= now() - interval '3 days'"
)


@pytest.fixture(scope="module")
def plan(db_url: str) -> DemoPlan:
    demo = DemoPlan(end=datetime.now(UTC).replace(second=0, microsecond=0), records=20_000)
    load_demo(db_url, demo)
    return demo


@pytest.fixture
def fake() -> Iterator[FakeClaude]:
    server = FakeClaude().start()
    yield server
    server.stop()


def make_agent(fake: FakeClaude, analyst_url: str, **settings: Any) -> Agent:
    client = anthropic.Anthropic(api_key="test-key", base_url=fake.url, max_retries=0)
    return build_agent(
        analyst=ConnectionProvider(lambda: analyst_url, application="loglens-test"),
        client=client,
        settings=AgentSettings.from_env({}, **settings),
        environ={},
    )


def direct(db_url: str, query: str) -> list[tuple[Any, ...]]:
    with connect(db_url) as conn:
        return conn.execute(query).fetchall()


def test_tool_calls_produce_an_answer_with_rows_figures_and_usage(
    plan: DemoPlan, fake: FakeClaude, analyst_url: str, db_url: str
) -> None:
    # Given a model that runs one query and then answers with it
    fake.script(
        message(run_query(ERRORS_BY_SERVICE)),
        message(answer(ERRORS_BY_SERVICE, "payment-api logged the most errors.", baseline="10x its usual rate")),
    )
    agent = make_agent(fake, analyst_url)

    # When a question is asked
    result = agent.ask("Which service had the most errors in the last 3 hours?")

    # Then the answer carries the final SQL as it ran, the full rows, the explanation and the figures
    assert result.complete and result.steps == 2
    assert result.sql is not None and "LIMIT 1000" in result.sql
    assert result.columns == ["service", "errors"]
    assert [tuple(r) for r in result.rows] == direct(db_url, ERRORS_BY_SERVICE)
    assert result.rows[0][0] == "payment-api"
    assert result.explanation.summary == "payment-api logged the most errors."
    assert result.explanation.baseline == "10x its usual rate"
    assert result.performance.query_ms is not None and result.performance.rows == len(result.rows)
    assert result.performance.partitions_total and 0 < result.performance.partitions_scanned <= (
        result.performance.partitions_total
    )
    assert result.performance.estimated_cost and result.performance.estimated_cost > 0
    # usage is summed over both model calls, cache fields included
    assert result.usage.input_tokens == 2 * 900 and result.usage.cache_read_input_tokens == 2 * 2400
    # and the model saw the rows as a successful tool result
    [shown] = tool_results(fake.requests[1])
    assert not shown.get("is_error")
    assert json.loads(shown["content"])["rows"][0][0] == "payment-api"


def test_the_prompt_is_derived_from_the_model_and_live_facts_and_cached(
    plan: DemoPlan, fake: FakeClaude, analyst_url: str
) -> None:
    fake.script(message(answer(ERRORS_BY_SERVICE)))
    make_agent(fake, analyst_url).ask("errors?")
    request = fake.requests[0]
    stable, facts = request["system"]

    # Both system blocks are cache breakpoints; the stable one is long enough for the API to cache
    assert stable["cache_control"] == {"type": "ephemeral"}
    assert facts["cache_control"] == {"type": "ephemeral"}
    assert len(stable["text"]) > 4 * 1024  # roughly the 1,024-token minimum Sonnet caches
    # The stable part lists every column of the record model with its description
    for column, description in column_descriptions().items():
        assert f"- {column} " in stable["text"] and description in stable["text"]
    assert list(LOG_COLUMNS) == [c for c in LOG_COLUMNS if f"- {c} " in stable["text"]]
    # The facts part has the views' real columns, the partition window and the values actually present
    for fragment in (
        "daily_log_summary(day date",
        "p95_ms double precision",
        "partitions covering",
        "payment-api (",
        "DatabaseConnectionTimeout (",
        "production (",
        "idx_error_service_time",
    ):
        assert fragment in facts["text"], fragment
    # The summary views say until when they hold every stored row (the demo's load refreshed them)
    assert "- Summary views (complete for every row stored before " in facts["text"]
    # The newest message carries the third marker; the question comes with the current time
    last_block = request["messages"][-1]["content"][-1]
    assert last_block["cache_control"] == {"type": "ephemeral"}
    assert "Current time:" in last_user_text(request) and "Question: errors?" in last_user_text(request)
    assert {tool["name"] for tool in request["tools"]} == {"run_query", "explain_query", "answer"}


def test_the_prompt_lists_endpoints_page_paths_and_what_metadata_keys_mean(
    plan: DemoPlan, fake: FakeClaude, analyst_url: str
) -> None:
    fake.script(message(answer(ERRORS_BY_SERVICE)))
    make_agent(fake, analyst_url).ask("errors?")
    facts = fake.requests[0]["system"][1]["text"]
    search = next(i.details for i in plan.incidents() if i.name == "search_latency_regression")
    safari = next(i.details for i in plan.incidents() if i.name == "safari_checkout_error")
    # The endpoints present, with their methods and services (a question about another one has no data)
    endpoint_lines = [line for line in facts.splitlines() if line.startswith(f"  - {search['endpoint']} (")]
    assert len(endpoint_lines) == 1 and str(search["method"]) in endpoint_lines[0], facts
    assert "search-api" in endpoint_lines[0]
    # The page paths as values to use exactly
    assert f"  - page_path: {safari['page_path']} (" in facts or f", {safari['page_path']} (" in facts
    # Metadata keys with their type, services, few values and meaning, and one idea under two names
    version = next(line for line in facts.splitlines() if line.startswith("  - version ("))
    assert "release — the version (release) of the code" in version and "search-api" in version
    release = next(line for line in facts.splitlines() if line.startswith("  - release ("))
    assert "web-frontend" in release and "search-api" not in release
    assert "same meaning under different keys, release: metadata->>'version' in " in facts
    assert "metadata->>'release' in web-frontend" in facts
    region = next(line for line in facts.splitlines() if line.startswith("  - region ("))
    assert "values: " in region and "eu-west-1" in region
    # The rollups record their freshness (migration 0008), and each view its latest hour or day
    assert "- Summary views (complete for every row stored before " in facts and "latest hour present: " in facts


def test_the_prompt_says_how_fresh_the_rollups_are_where_the_database_records_it(
    plan: DemoPlan, fake: FakeClaude, analyst_url: str, db_url: str
) -> None:
    # Given the freshness record the incremental rollups keep (migration 0008), with hours still waiting
    waiting = ["2026-12-01 11:00+00", "2026-12-01 12:00+00", "2026-12-02 09:00+00"]
    with connect(db_url, autocommit=True) as conn:
        kept = conn.execute("SELECT complete_as_of, last_run_at FROM rollup_progress").fetchone()
        conn.execute(
            "UPDATE rollup_progress SET complete_as_of = '2026-12-01 10:00+00', last_run_at = '2026-12-01 10:02+00'"
        )
        conn.execute("INSERT INTO rollup_dirty_hours (hour) SELECT unnest(%s::timestamptz[])", (waiting,))
    try:
        fake.script(message(answer(ERRORS_BY_SERVICE)))
        make_agent(fake, analyst_url).ask("errors?")
        facts = fake.requests[0]["system"][1]["text"]
        assert (
            "Summary views (complete for every row stored before 2026-12-01 10:00 UTC, last refresh 2026-12-01 10:02 "
            "UTC, 3 hours waiting to be recomputed; use logs for anything after that):"
        ) in facts
    finally:
        with connect(db_url, autocommit=True) as conn:
            conn.execute("UPDATE rollup_progress SET complete_as_of = %s, last_run_at = %s", kept)
            conn.execute("DELETE FROM rollup_dirty_hours WHERE hour = ANY(%s::timestamptz[])", (waiting,))


def test_a_database_without_a_readable_freshness_record_says_the_schedule(
    plan: DemoPlan, fake: FakeClaude, analyst_url: str, db_url: str
) -> None:
    # Given an analyst that cannot read rollup_freshness (as on a database before migration 0008)
    with connect(db_url, autocommit=True) as conn:
        conn.execute("REVOKE SELECT ON rollup_freshness FROM loglens_analyst")
    try:
        fake.script(message(answer(ERRORS_BY_SERVICE)))
        make_agent(fake, analyst_url).ask("errors?")
        facts = fake.requests[0]["system"][1]["text"]
        assert "refreshed hourly by the maintain job" in facts and "use logs for recent windows" in facts
    finally:
        with connect(db_url, autocommit=True) as conn:
            conn.execute("GRANT SELECT ON rollup_freshness TO loglens_analyst")


def test_a_hallucinated_column_goes_back_to_the_model_which_corrects_it(
    plan: DemoPlan, fake: FakeClaude, analyst_url: str
) -> None:
    wrong = "SELECT severity, count(*) FROM logs WHERE created_at >= now() - interval '1 hour' GROUP BY 1"
    right = "SELECT level, count(*) FROM logs WHERE created_at >= now() - interval '1 hour' GROUP BY 1"
    fake.script(message(run_query(wrong)), message(run_query(right)), message(answer(right)))

    result = make_agent(fake, analyst_url).ask("How many logs per severity in the last hour?")

    [error] = tool_results(fake.requests[1])
    assert error["is_error"] is True
    assert 'unknown column "severity" in logs' in error["content"]
    assert "level" in error["content"]  # the message lists the real columns
    assert result.attempts[0].ok is False and result.attempts[1].ok is True
    assert result.columns == ["level", "count"] and result.complete


def test_a_refused_statement_is_reported_and_nothing_is_written(
    plan: DemoPlan, fake: FakeClaude, analyst_url: str, db_url: str
) -> None:
    before = direct(db_url, "SELECT count(*) FROM logs")
    count = "SELECT count(*) FROM logs WHERE created_at >= now() - interval '1 day'"
    fake.script(message(run_query("DELETE FROM logs")), message(run_query(count)), message(answer(count)))

    result = make_agent(fake, analyst_url).ask("Delete everything")

    [error] = tool_results(fake.requests[1])
    assert error["is_error"] is True
    assert error["content"].startswith("refused by the SQL guard (write_node)")
    assert direct(db_url, "SELECT count(*) FROM logs") == before
    assert result.complete


def test_an_unbounded_query_gets_the_partition_hint(plan: DemoPlan, fake: FakeClaude, analyst_url: str) -> None:
    bounded = "SELECT count(*) FROM logs WHERE level = 'ERROR' AND created_at >= now() - interval '7 days'"
    fake.script(
        message(run_query("SELECT count(*) FROM logs WHERE level = 'ERROR'")),
        message(run_query(bounded)),
        message(answer(bounded)),
    )
    make_agent(fake, analyst_url).ask("How many errors ever?")
    [error] = tool_results(fake.requests[1])
    assert error["is_error"] is True and "(unbounded_time)" in error["content"]
    assert "created_at" in error["content"]


def test_a_statement_timeout_goes_back_to_the_model(plan: DemoPlan, fake: FakeClaude, analyst_url: str) -> None:
    # Given a tiny timeout and a query the guard allows but that runs far longer (a 2·10^9-row cross join)
    cheap = "SELECT count(*) FROM generate_series(1, 1000) a"
    fake.script(message(run_query(HEAVY)), message(run_query(cheap)), message(answer(cheap)))
    agent = make_agent(fake, analyst_url, statement_timeout_ms=200)

    result = agent.ask("Count a lot")

    [error] = tool_results(fake.requests[1])
    assert error["is_error"] is True
    assert "200 ms statement timeout" in error["content"] and "Narrow the created_at range" in error["content"]
    assert result.attempts[0].ok is False and result.rows == [[1000]]


def test_a_database_error_comes_back_with_its_sqlstate(plan: DemoPlan, fake: FakeClaude, analyst_url: str) -> None:
    broken = "SELECT count(*) / 0 FROM logs WHERE created_at >= now() - interval '1 hour'"
    fixed = "SELECT count(*) FROM logs WHERE created_at >= now() - interval '1 hour'"
    fake.script(message(run_query(broken)), message(run_query(fixed)), message(answer(fixed)))

    make_agent(fake, analyst_url).ask("Divide")

    [error] = tool_results(fake.requests[1])
    assert error["is_error"] is True and "PostgreSQL error 22012: division by zero" in error["content"]


def test_explain_query_reports_partition_pruning_and_indexes(
    plan: DemoPlan, fake: FakeClaude, analyst_url: str
) -> None:
    narrow = (
        "SELECT count(*) FROM logs WHERE created_at >= now() - interval '1 hour' AND created_at < now() "
        "AND level IN ('ERROR', 'FATAL') AND error_type = 'DatabaseConnectionTimeout'"
    )
    fake.script(message(tool_use("explain_query", sql=narrow)), message(answer(narrow)))

    result = make_agent(fake, analyst_url).ask("How expensive is this?")

    [explained] = tool_results(fake.requests[1])
    figures = json.loads(explained["content"])
    assert 1 <= figures["partitions_scanned"] < figures["partitions_total"]
    assert figures["estimated_cost"] > 0
    assert result.performance.partitions_scanned == figures["partitions_scanned"]


def test_the_model_sees_redacted_rows_while_the_person_gets_the_real_ones(
    plan: DemoPlan, fake: FakeClaude, analyst_url: str, db_url: str
) -> None:
    secret = "login failed for alice@example.com from 10.1.2.3 token=abcd1234efgh5678"
    with connect(db_url) as conn:
        insert_records(conn, [make_record(service="privacy-probe", message=secret, created_at=datetime.now(UTC))])
        conn.commit()
    query = "SELECT message FROM logs WHERE created_at >= now() - interval '1 hour' AND service = 'privacy-probe'"
    fake.script(message(run_query(query)), message(answer(query)))

    result = make_agent(fake, analyst_url).ask("What did the probe log?")

    [shown] = tool_results(fake.requests[1])
    seen = json.loads(shown["content"])["rows"][0][0]
    assert "alice@example.com" not in seen and "[REDACTED:email]" in seen
    assert "10.1.2.3" not in seen and "abcd1234efgh5678" not in seen
    assert result.rows == [[secret]]


def test_row_privacy_off_shows_the_model_the_stored_rows(
    plan: DemoPlan, fake: FakeClaude, analyst_url: str, db_url: str
) -> None:
    query = "SELECT message FROM logs WHERE created_at >= now() - interval '1 hour' AND service = 'privacy-probe'"
    fake.script(message(run_query(query)), message(answer(query)))
    make_agent(fake, analyst_url, row_privacy="off").ask("What did the probe log?")
    [shown] = tool_results(fake.requests[1])
    assert "10.1.2.3" in json.loads(shown["content"])["rows"][0][0]


def test_the_last_step_forces_the_answer_tool(plan: DemoPlan, fake: FakeClaude, analyst_url: str) -> None:
    ok = "SELECT count(*) FROM logs WHERE created_at >= now() - interval '1 hour'"
    fake.script(message(run_query("SELECT nope")), message(run_query(ok)), message(answer(ok)))

    result = make_agent(fake, analyst_url, max_steps=3).ask("Count")

    assert [r.get("tool_choice") for r in fake.requests] == [
        {"type": "auto"},
        {"type": "auto"},
        {"type": "tool", "name": "answer"},
    ]
    assert result.complete and result.steps == 3


def test_a_spent_budget_returns_the_last_working_query_marked_incomplete(
    plan: DemoPlan, fake: FakeClaude, analyst_url: str
) -> None:
    ok = "SELECT count(*) FROM logs WHERE created_at >= now() - interval '1 hour'"
    fake.script(message(run_query(ok)), message(run_query("SELECT nope")))

    result = make_agent(fake, analyst_url, max_steps=2).ask("Count")

    assert not result.complete and result.steps == 2
    assert result.sql is not None and "COUNT(*)" in result.sql.upper()
    assert "could not finish within 2 steps" in result.explanation.summary


def test_a_text_reply_without_tools_is_a_complete_answer(plan: DemoPlan, fake: FakeClaude, analyst_url: str) -> None:
    # Given a model that answers in text alone (it needs no SQL for this)
    fake.script(message(text("I cannot answer that from logs.")))
    result = make_agent(fake, analyst_url).ask("What is the meaning of life?")
    # Then that is the answer, complete, after one step
    assert result.explanation.summary == "I cannot answer that from logs."
    assert result.sql is None and result.complete and result.steps == 1


def test_a_declined_harmful_request_is_a_complete_answer_and_nothing_runs(
    plan: DemoPlan, fake: FakeClaude, analyst_url: str, db_url: str
) -> None:
    # Given a model that declines (as Claude does for a destructive request), with stop_reason "refusal"
    before = direct(db_url, "SELECT count(*) FROM logs")
    fake.script(message(text("I won't delete logs; I can only read them."), stop_reason="refusal"))
    result = make_agent(fake, analyst_url).ask("Delete every log of user u-1 so nobody finds out")
    # Then the refusal is the complete answer, no query ran and nothing changed
    assert result.complete and result.sql is None and result.attempts == []
    assert result.explanation.summary == "I won't delete logs; I can only read them."
    assert direct(db_url, "SELECT count(*) FROM logs") == before


def test_a_text_reply_cut_off_at_the_token_limit_is_incomplete(
    plan: DemoPlan, fake: FakeClaude, analyst_url: str
) -> None:
    fake.script(message(text("The errors started when"), stop_reason="max_tokens"))
    result = make_agent(fake, analyst_url).ask("Why?")
    assert not result.complete and "cut off" in result.explanation.summary


def test_an_empty_reply_is_incomplete(plan: DemoPlan, fake: FakeClaude, analyst_url: str) -> None:
    fake.script(message())
    result = make_agent(fake, analyst_url).ask("Anything?")
    assert not result.complete and result.explanation.summary == "The model gave no answer."


def test_a_failing_model_call_raises_model_call_failed(plan: DemoPlan, fake: FakeClaude, analyst_url: str) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    fake.script({"__status__": 529, "body": overloaded})
    with pytest.raises(ModelCallFailed, match="model call failed"):
        make_agent(fake, analyst_url).ask("Anything")


def test_follow_ups_see_earlier_turns_stored_as_the_writer(
    plan: DemoPlan, fake: FakeClaude, analyst_url: str, writer_url: str, db_url: str
) -> None:
    # Given a service with the PostgreSQL conversation store on the writer connection
    service = AskService(
        make_agent(fake, analyst_url),
        PostgresConversations(ConnectionProvider(lambda: writer_url, application="loglens-test")),
    )
    fake.script(message(answer(ERRORS_BY_SERVICE, "payment-api had the most errors.")))
    follow_up = (
        "SELECT error_type, count(*) FROM logs WHERE created_at >= now() - interval '3 hours' "
        "AND service = 'payment-api' GROUP BY error_type"
    )
    fake.script(message(answer(follow_up, "Mostly DatabaseConnectionTimeout.")))

    # When two questions share a conversation
    service.ask("Which service had the most errors in the last 3 hours?", conversation="http:test:c1")
    second = service.ask("Why did that service fail?", conversation="http:test:c1")

    # Then the second model call saw the first question, its SQL and its answer
    messages = fake.requests[1]["messages"]
    assert messages[0] == {
        "role": "user",
        "content": "Earlier question: Which service had the most errors in the last 3 hours?",
    }
    assert messages[1]["role"] == "assistant"
    assert "payment-api had the most errors." in messages[1]["content"] and "LIMIT 1000" in messages[1]["content"]
    assert second.explanation.summary == "Mostly DatabaseConnectionTimeout."
    stored = direct(db_url, "SELECT conversation_id, turn, question FROM conversation_turns ORDER BY turn")
    assert stored[-2:] == [
        ("http:test:c1", 1, "Which service had the most errors in the last 3 hours?"),
        ("http:test:c1", 2, "Why did that service fail?"),
    ]
    # A different conversation starts fresh, and old turns age out
    assert service.conversations is not None
    assert service.conversations.history("http:test:c2", max_age=timedelta(hours=1)) == []
    assert service.conversations.history("http:test:c1", max_age=timedelta(0)) == []


def test_answers_serialise_to_json(plan: DemoPlan, fake: FakeClaude, analyst_url: str) -> None:
    query = "SELECT created_at, event_id, metadata, duration_ms FROM logs WHERE created_at >= now() - interval '1 hour'"
    fake.script(message(answer(query)))
    result = make_agent(fake, analyst_url).ask("Show some rows")
    again = Answer.model_validate_json(result.model_dump_json())
    assert again.rows == result.rows and result.rows
    created, event_id, metadata, _ = result.rows[0]
    assert datetime.fromisoformat(created) and len(event_id) == 36 and isinstance(metadata, dict)


def slow(seconds: float, reply: dict[str, Any]) -> Any:
    def respond(request: dict[str, Any]) -> dict[str, Any]:
        time.sleep(seconds)
        return reply

    return respond


def test_a_model_call_past_its_timeout_is_sent_once_not_retried(
    plan: DemoPlan, fake: FakeClaude, analyst_url: str
) -> None:
    # Given the client the ask paths build (make_client), and a model slower than the call timeout
    from loglens.agent.client import make_client

    settings = AgentSettings.from_env({}, model_timeout_seconds=0.5)
    client = make_client(settings, environ={"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": fake.url})
    fake.script(slow(2.0, message(text("late"))), message(text("a retry would get this")))
    agent = build_agent(analyst=ConnectionProvider(lambda: analyst_url), client=client, settings=settings, environ={})
    # When a question is asked
    started = time.monotonic()
    with pytest.raises(ModelCallFailed, match="did not answer within"):
        agent.ask("Anything?")
    # Then the call was sent exactly once (the SDK used to re-send it twice more) and the wait was one timeout
    time.sleep(2.0)  # the slow reply finishes; a hidden retry would have arrived by now
    assert len(fake.requests) == 1 and fake.headers[0].get("x-stainless-retry-count") == "0"
    assert time.monotonic() - started < 4.5


def test_one_deadline_covers_every_model_call_of_a_question(plan: DemoPlan, fake: FakeClaude, analyst_url: str) -> None:
    # Given a 6-second deadline and a model that takes 1.5 s per step and never answers
    ok = "SELECT count(*) FROM logs WHERE created_at >= now() - interval '1 hour'"
    fake.script(*(slow(1.5, message(run_query(ok))) for _ in range(8)))
    agent = make_agent(fake, analyst_url, deadline_seconds=6, model_timeout_seconds=60)

    # When the question runs out of time
    result = agent.ask("Count, slowly")

    # Then each call was given only what was left of the deadline, and the answer says it ran out of time
    timeouts = [float(h["x-stainless-timeout"]) for h in fake.headers]
    assert timeouts[0] <= 6 and all(later < earlier for earlier, later in itertools.pairwise(timeouts))
    assert len(fake.requests) <= 4 and result.steps == len(fake.requests)
    assert not result.complete and "ran out of time (6 s)" in result.explanation.summary
    assert result.sql is not None and result.rows  # the last query that worked is shown
