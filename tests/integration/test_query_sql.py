"""Raw SQL from people, on the real database: refused exactly as the agent's SQL is, run as the analyst with the
agent's timeout and row cap, and checked without running."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loglens.agent.tools import DatabaseUnavailable, QueryFailed
from loglens.db.connect import ConnectionProvider, connect
from loglens.query.errors import QueryInputError, error_status
from loglens.query.runner import QueryLimits, QueryRunner
from loglens.query.sql import check, parse_sql, run_sql
from tests.factories import insert_records, make_record
from tests.unit.sqlguard_cases import HOSTILE

RECENT = "created_at >= now() - interval '1 hour'"


@pytest.fixture(scope="module")
def runner(db_url: str, analyst_url: str) -> Iterator[QueryRunner]:
    with connect(db_url) as conn:
        insert_records(conn, [make_record(service=f"svc-{i % 3}", message=f"m{i}") for i in range(30)])
        conn.commit()
    provider = ConnectionProvider(lambda: analyst_url)
    yield QueryRunner(provider, QueryLimits(max_rows=20, statement_timeout_ms=300))
    provider.discard()


def test_a_select_runs_with_the_row_cap_and_says_what_the_guard_changed(runner: QueryRunner) -> None:
    result = run_sql(runner, parse_sql({"sql": f"SELECT service, message FROM logs WHERE {RECENT}"}))
    assert result.columns == ["service", "message"]
    assert len(result.rows) == 20 and result.limit_reached
    assert result.note == "allowed; LIMIT 20 added"
    assert result.sql.endswith("LIMIT 20")
    counted = run_sql(
        runner, parse_sql({"sql": f"SELECT service, count(*) AS n FROM logs WHERE {RECENT} GROUP BY 1 ORDER BY 1"})
    )
    assert counted.rows == [["svc-0", 10], ["svc-1", 10], ["svc-2", 10]]
    assert not counted.limit_reached


@pytest.mark.parametrize(("case_id", "text", "code"), HOSTILE, ids=[case[0] for case in HOSTILE])
def test_hostile_sql_is_refused_as_the_agent_refuses_it(
    runner: QueryRunner, case_id: str, text: str, code: str
) -> None:
    if not text.strip():  # refused before the guard: the request itself is invalid
        with pytest.raises(QueryInputError, match="sql: "):
            parse_sql({"sql": text})
        return
    with pytest.raises(QueryFailed) as caught:
        run_sql(runner, parse_sql({"sql": text}))
    assert (caught.value.kind, caught.value.code) == ("refused", code)
    status, body = error_status(caught.value) or (0, None)
    assert status == 400 and body is not None and body.code == code


def test_check_gives_the_verdict_without_running(runner: QueryRunner) -> None:
    # A statement that would fail if it ran (division by zero) is allowed by the guard, and nothing runs
    allowed = check(runner, parse_sql({"sql": f"SELECT 1 / 0 AS boom FROM logs WHERE {RECENT}"}))
    assert (allowed.allowed, allowed.code) == (True, "ok")
    assert allowed.sql is not None and allowed.sql.endswith("LIMIT 20")
    assert allowed.reason == "allowed; LIMIT 20 added"
    refused = check(runner, parse_sql({"sql": "SELECT * FROM logs"}))
    assert (refused.allowed, refused.code, refused.sql) == (False, "unbounded_time", None)
    assert "without a bound on created_at" in refused.reason
    unknown = check(runner, parse_sql({"sql": f"SELECT colour FROM logs WHERE {RECENT}"}))
    assert unknown.code == "unknown_column" and "colour" in unknown.reason
    with pytest.raises(QueryFailed, match="division by zero"):
        run_sql(runner, parse_sql({"sql": f"SELECT 1 / 0 AS boom FROM logs WHERE {RECENT}"}))


def test_a_slow_query_is_cancelled_by_the_agents_timeout(runner: QueryRunner) -> None:
    # Allowed by the guard (a bounded scan, a series within its cap) yet 3M hashes: the timeout's job.
    heavy = (
        "SELECT count(*) FROM logs l CROSS JOIN generate_series(1, 100000) g "
        f"WHERE l.{RECENT} AND md5(l.message || g::text) LIKE '%abc%'"
    )
    with pytest.raises(QueryFailed) as caught:
        run_sql(runner, parse_sql({"sql": heavy}))
    assert caught.value.kind == "timeout"
    assert "300 ms statement timeout" in caught.value.message
    status, body = error_status(caught.value) or (0, None)
    assert (status, body.code if body else None) == (422, "timeout")
    assert run_sql(runner, parse_sql({"sql": "SELECT 1 AS ok"})).rows == [[1]]  # the connection is still good


def test_with_the_database_down_check_still_answers_and_run_is_unavailable() -> None:
    gone = QueryRunner(ConnectionProvider(lambda: "postgresql://nobody:x@127.0.0.1:9/none"), QueryLimits())
    verdict = check(gone, parse_sql({"sql": f"SELECT count(*) FROM logs WHERE {RECENT}"}))
    assert verdict.allowed
    with pytest.raises(DatabaseUnavailable) as caught:
        run_sql(gone, parse_sql({"sql": f"SELECT count(*) FROM logs WHERE {RECENT}"}))
    assert (error_status(caught.value) or (0,))[0] == 503
