"""The evaluation harness end to end with a scripted model: the real agent loop, demo data, gold SQL.

The fake model answers every question with its gold SQL, except two for which it answers with a plausible
but wrong query, so the harness must report exactly those two as wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import anthropic
import pytest

from loglens.agent.loop import Agent
from loglens.agent.service import build_agent
from loglens.agent.settings import AgentSettings
from loglens.db.connect import ConnectionProvider
from loglens.devtools.demo import DemoPlan
from loglens.devtools.eval import EvalReport, demo_cases, run_eval
from tests.demo_data import load_demo
from tests.fake_claude import FakeClaude, answer, last_user_text, message, run_query, text, tool_results

WRONG = {
    # the least frequent error type instead of the most frequent
    "payment_dominant_error_3h": "SELECT error_type FROM logs WHERE created_at >= now() - interval '3 hours' "
    "AND service = 'payment-api' AND level IN ('ERROR', 'FATAL') GROUP BY error_type ORDER BY count(*), error_type "
    "LIMIT 1",
    # warnings counted as errors
    "errors_by_service_24h": "SELECT service, count(*) FROM logs WHERE created_at >= now() - interval '24 hours' "
    "AND level = 'WARN' GROUP BY service",
}


@pytest.fixture(scope="module")
def plan(db_url: str) -> DemoPlan:
    demo = DemoPlan(end=datetime.now(UTC).replace(second=0, microsecond=0), records=20_000)
    load_demo(db_url, demo)
    return demo


def scripted_model(sql_for: dict[str, str]) -> Any:
    """Run the question's SQL, then answer with it: two steps per question, like a good model's short path."""

    def reply(request: dict[str, Any]) -> dict[str, Any]:
        question = re.search(r"Question: (.*)", last_user_text(request), re.DOTALL)
        assert question is not None
        sql = sql_for[question.group(1).strip()]
        if tool_results(request):
            return message(answer(sql, "Scripted answer."))
        return message(run_query(sql))

    return reply


@pytest.fixture
def agent(analyst_url: str) -> Iterator[tuple[Agent, FakeClaude]]:
    cases = demo_cases()
    sql_for = {c.question: WRONG.get(c.id, c.gold_sql) for c in cases}
    fake = FakeClaude(responder=scripted_model(sql_for)).start()
    client = anthropic.Anthropic(api_key="test-key", base_url=fake.url, max_retries=0)
    built = build_agent(
        analyst=ConnectionProvider(lambda: analyst_url, application="loglens-eval-test"),
        client=client,
        settings=AgentSettings.from_env({}),
        environ={},
    )
    yield built, fake
    fake.stop()


def test_the_harness_measures_accuracy_steps_tokens_and_latency(
    plan: DemoPlan, agent: tuple[Agent, FakeClaude]
) -> None:
    # Given the question set and a model that gets two of them wrong
    the_agent, fake = agent
    cases = demo_cases()

    # When the harness runs every question through the real loop
    report: EvalReport = run_eval(the_agent.ask, the_agent.tools, cases, model="scripted")

    # Then exactly the two wrong answers are scored wrong, and the figures are per question
    wrong = sorted(r.id for r in report.results if not r.correct)
    assert wrong == sorted(WRONG), [(r.id, r.error) for r in report.results if not r.correct]
    assert report.accuracy == pytest.approx((len(cases) - 2) / len(cases))
    summary = report.as_dict()
    assert summary["questions"] == len(cases) >= 30
    assert summary["mean_steps"] == 2.0
    assert summary["mean_input_tokens"] == 2 * 900 and summary["mean_output_tokens"] == 2 * 120
    assert summary["mean_cache_read_input_tokens"] == 2 * 2400
    assert all(r.latency_ms > 0 for r in report.results)
    assert len(fake.requests) == 2 * len(cases)
    # the rollup questions are checked for being answered from the rollups (the scripted model uses the gold)
    assert summary["rollup_questions"] == ["hourly_errors_per_service_3d", "search_p95_by_endpoint_24h"]
    assert summary["answered_from_rollup"] == summary["rollup_questions"]
    print(
        f"\n[eval, scripted model] execution accuracy {summary['execution_accuracy']:.1%} "
        f"({summary['correct']}/{summary['questions']}), {summary['mean_steps']} steps, "
        f"{summary['mean_input_tokens']:.0f} in / {summary['mean_output_tokens']:.0f} out tokens, "
        f"{summary['mean_latency_ms']:.0f} ms per question"
    )


def test_every_gold_query_returns_rows_on_the_demo_data(plan: DemoPlan, agent: tuple[Agent, FakeClaude]) -> None:
    # An empty gold result would make a question trivially easy to "match"; the planted incidents show up.
    the_agent, _ = agent
    empty_allowed = {"fatal_logs_3d"}  # the demo has a rare crash or none at all
    outcomes = the_agent.tools.run_together([c.gold_sql for c in demo_cases()])
    for case, outcome in zip(demo_cases(), outcomes, strict=True):
        assert not isinstance(outcome, Exception), (case.id, outcome)
        if case.id not in empty_allowed:
            assert outcome.rows and outcome.rows != [[0]] and outcome.rows != [[None]], case.id


def test_a_question_without_final_sql_counts_as_wrong(plan: DemoPlan, analyst_url: str) -> None:
    fake = FakeClaude(responder=lambda request: message(text("I do not know."))).start()
    try:
        client = anthropic.Anthropic(api_key="test-key", base_url=fake.url, max_retries=0)
        the_agent = build_agent(
            analyst=ConnectionProvider(lambda: analyst_url),
            client=client,
            settings=AgentSettings.from_env({}),
            environ={},
        )
        report = run_eval(the_agent.ask, the_agent.tools, demo_cases()[:1], model="scripted")
    finally:
        fake.stop()
    [result] = report.results
    assert not result.correct and result.error == "no final SQL" and report.accuracy == 0.0
