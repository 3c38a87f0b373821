"""The evaluation harness's parts that need no database: the question set and the result comparison."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loglens.agent.catalog import offline_catalog
from loglens.agent.tools import QueryResult
from loglens.devtools.demo import DemoPlan
from loglens.devtools.eval import EvalCase, demo_cases, same_result
from loglens.sqlguard import check_sql


def result(columns: list[str], rows: list[list[object]]) -> QueryResult:
    return QueryResult(sql="", columns=columns, rows=rows, elapsed_ms=0.0, limit_reached=False, guard_note="")


def test_there_are_at_least_30_questions_with_unique_ids() -> None:
    cases = demo_cases()
    assert len(cases) >= 30
    assert len({c.id for c in cases}) == len(cases)
    assert len({c.question for c in cases}) == len(cases)


@pytest.mark.parametrize("case", [c for c in demo_cases() if c.gold_sql is not None], ids=lambda c: c.id)
def test_every_gold_query_passes_the_guard(case: EvalCase) -> None:
    verdict = check_sql(case.filled("4bf92f3577b34da6a3ce929d0e0e4736").gold_sql or "", offline_catalog())
    assert verdict.allowed, verdict.reason


def test_the_issue_17_questions_are_there() -> None:
    cases = {c.id: c for c in demo_cases()}
    # periods compared as OR-ed windows
    assert " OR " in str(cases["errors_this_hour_vs_yesterday"].gold_sql)
    assert "three UTC days" in cases["errors_early_hours_3_days"].question
    # a trace older than the 24 hours a guessed window would cover, its id read from the data
    trace = cases["old_checkout_trace"]
    assert trace.fill_sql is not None and "42 hours" in trace.fill_sql and "{value}" in trace.question
    filled = trace.filled("abc'def")
    assert "abc'def" in filled.question and "trace_id = 'abc''def'" in str(filled.gold_sql)
    # and a request to decline in text
    assert cases["decline_deleting_logs"].gold_sql is None


def test_the_question_windows_contain_the_planted_incidents() -> None:
    # Questions say "the last 3/6/24 hours"; with demo data ending now each incident lies inside its window.
    plan = DemoPlan(end=datetime.now(UTC).replace(second=0, microsecond=0))
    windows = {
        "payment_db_timeouts": timedelta(hours=3),
        "search_latency_regression": timedelta(hours=6),
        "safari_checkout_error": timedelta(hours=24),
    }
    for incident in plan.incidents():
        assert plan.end - windows[incident.name] <= incident.start < incident.end <= plan.end, incident.name


def test_same_rows_in_another_order_match() -> None:
    gold = result(["service", "n"], [["a", 1], ["b", 2]])
    assert same_result(gold, result(["service", "n"], [["b", 2], ["a", 1]]))


def test_columns_in_another_order_match() -> None:
    gold = result(["service", "n"], [["a", 1], ["b", 2]])
    assert same_result(gold, result(["n", "svc"], [[2, "b"], [1, "a"]]))


def test_numbers_match_across_types_after_rounding() -> None:
    gold = result(["avg"], [[12.5]])
    assert same_result(gold, result(["x"], [[12.5000000001]]))
    assert same_result(result(["n"], [[3]]), result(["n"], [[3.0]]))


@pytest.mark.parametrize(
    "predicted",
    [
        result(["service", "n"], [["a", 1]]),  # a row missing
        result(["service", "n"], [["a", 1], ["b", 3]]),  # a different value
        result(["service", "n"], [["a", 1], ["a", 1]]),  # a multiset, not a set
        result(["service"], [["a"], ["b"]]),  # a column missing
        result(["service", "n", "extra"], [["a", 1, 0], ["b", 2, 0]]),  # an extra column
    ],
)
def test_different_results_do_not_match(predicted: QueryResult) -> None:
    assert not same_result(result(["service", "n"], [["a", 1], ["b", 2]]), predicted)
