"""The evaluation harness's parts that need no database: the question set and the result comparison."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loglens.agent.catalog import offline_catalog
from loglens.agent.tools import QueryResult
from loglens.devtools.demo import DemoPlan
from loglens.devtools.eval import demo_cases, same_result
from loglens.sqlguard import check_sql


def result(columns: list[str], rows: list[list[object]]) -> QueryResult:
    return QueryResult(sql="", columns=columns, rows=rows, elapsed_ms=0.0, limit_reached=False, guard_note="")


def test_there_are_at_least_30_questions_with_unique_ids() -> None:
    cases = demo_cases()
    assert len(cases) >= 30
    assert len({c.id for c in cases}) == len(cases)
    assert len({c.question for c in cases}) == len(cases)


@pytest.mark.parametrize("case", demo_cases(), ids=lambda c: c.id)
def test_every_gold_query_passes_the_guard(case: object) -> None:
    verdict = check_sql(case.gold_sql, offline_catalog())  # type: ignore[attr-defined]
    assert verdict.allowed, verdict.reason


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
