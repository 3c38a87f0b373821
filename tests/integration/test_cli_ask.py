"""`loglens ask` and `loglens eval` against a DATABASE_URL with demo data, Claude faked at the HTTP layer."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from typing import Any

import pytest

from loglens.devtools.cli import ask as ask_command
from loglens.devtools.cli import eval as eval_command
from loglens.devtools.demo import DemoPlan
from tests.demo_data import load_demo
from tests.fake_claude import FakeClaude, answer, last_user_text, message, run_query, text, tool_results

QUERY = (
    "SELECT service, count(*) AS errors FROM logs WHERE created_at >= now() - interval '3 hours' "
    "AND level IN ('ERROR', 'FATAL') GROUP BY service ORDER BY errors DESC"
)


def two_steps(request: dict[str, Any]) -> dict[str, Any]:
    if tool_results(request):
        return message(answer(QUERY, "payment-api logged the most errors.", recommendation="Check its pool."))
    return message(run_query(QUERY))


@pytest.fixture(scope="module")
def data(db_url: str) -> str:
    load_demo(db_url, DemoPlan(records=5_000))
    return db_url


@pytest.fixture
def fake(data: str, analyst_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClaude]:
    server = FakeClaude(responder=two_steps).start()
    monkeypatch.setenv("DATABASE_URL", data)
    monkeypatch.setenv("LOGLENS_ANALYST_DATABASE_URL", analyst_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    monkeypatch.delenv("MODEL_PROVIDER", raising=False)
    yield server
    server.stop()


def parse(module: Any, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.register(parser.add_subparsers())
    return parser.parse_args(argv)


def test_ask_prints_a_table_and_the_explanation(fake: FakeClaude, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse(ask_command, ["ask", "which", "service", "errs", "most?"])
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert "payment-api logged the most errors." in out and "Recommendation: Check its pool." in out
    assert "payment-api" in out and "errors" in out and "LIMIT 1000" in out
    assert "Question: which service errs most?" in last_user_text(fake.requests[0])


def test_ask_json_and_sql_only(fake: FakeClaude, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse(ask_command, ["ask", "--json", "errors?"])
    assert args.handler(args) == 0
    answer_json = json.loads(capsys.readouterr().out)
    assert answer_json["columns"] == ["service", "errors"] and answer_json["usage"]["input_tokens"] == 1800

    args = parse(ask_command, ["ask", "--sql-only", "errors?"])
    assert args.handler(args) == 0
    assert capsys.readouterr().out.strip() == answer_json["sql"]


def test_a_text_only_answer_exits_0_and_says_so_beside_an_empty_sql_only(
    fake: FakeClaude, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a model that declines in text, as it should for a destructive request
    fake.script(message(text("I can only read logs, not delete them.")), message(text("Still no.")))
    # When asked in the table form and with --sql-only
    args = parse(ask_command, ["ask", "delete", "all", "logs"])
    assert args.handler(args) == 0  # a complete answer: exit 0 (it used to be 1, "ran out of steps")
    out = capsys.readouterr().out
    assert "I can only read logs" in out and "incomplete" not in out
    args = parse(ask_command, ["ask", "--sql-only", "delete", "all", "logs"])
    assert args.handler(args) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "(no SQL) Still no." in captured.err


def test_the_repl_answers_follow_ups_in_one_conversation(
    fake: FakeClaude, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = iter(["which service errs most?", "\\sql", "and why?", "\\new", "fresh question", "\\q"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    args = parse(ask_command, ["ask", "--sql-only"])

    assert args.handler(args) == 0

    out = capsys.readouterr().out
    assert out.count("LIMIT 1000") == 4  # three answers and one \sql
    # The follow-up saw the first question; the question after \new did not
    follow_up, fresh = fake.requests[2], fake.requests[4]
    assert follow_up["messages"][0]["content"] == "Earlier question: which service errs most?"
    assert all("Earlier question" not in json.dumps(m) for m in fresh["messages"])


def test_ask_without_a_model_key_says_what_to_set(data: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from loglens.settings import ConfigError

    monkeypatch.setenv("DATABASE_URL", data)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("MODEL_PROVIDER", raising=False)
    args = parse(ask_command, ["ask", "errors?"])
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        args.handler(args)


def test_eval_refuses_to_run_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("MODEL_PROVIDER", raising=False)
    args = parse(eval_command, ["eval", "--limit", "1"])
    assert args.handler(args) == 2


def test_eval_lists_its_questions(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse(eval_command, ["eval", "--list", "--only", "errors_last_hour"])
    assert args.handler(args) == 0
    assert "errors_last_hour" in capsys.readouterr().out


def test_eval_runs_with_the_configured_model(fake: FakeClaude, capsys: pytest.CaptureFixture[str]) -> None:
    # The scripted model answers every question with the same query, so only questions it fits are right.
    args = parse(eval_command, ["eval", "--json", "--only", "errors_by_service_24h", "errors_last_hour"])
    assert args.handler(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["questions"] == 2 and report["mean_steps"] == 2.0
    assert {r["id"]: r["correct"] for r in report["results"]} == {
        "errors_last_hour": False,
        "errors_by_service_24h": False,
    }
