"""SQL guard: hostile statements are refused with the expected code; analyst queries pass, bounded and limited."""

from __future__ import annotations

import re

import pytest
import sqlglot
from sqlglot import exp

from loglens.sqlguard import Catalog, GuardResult, check_sql, names, resolve
from loglens.sqlguard_functions import ALLOWED_FUNCTION_NAMES, FROM_FUNCTION_NAMES
from tests.unit.sqlguard_cases import (
    BENIGN,
    BENIGN_BOUNDS,
    CATALOG,
    CLAUSE_NAMES,
    DANGEROUS_CALLS,
    DANGEROUS_KEYWORDS,
    DATE_PART_INJECTION,
    FROM_FUNCTION_SAMPLES,
    FUNCTION_SAMPLES,
    HALLUCINATED_COLUMNS,
    HOSTILE,
    LIMIT_CASES,
    LOGS_COLUMNS,
    REAL_COLUMNS,
    WRITTEN_BOUNDS,
    B,
)

REFUSAL_CODES = {
    "empty", "parse_error", "multiple_statements", "unicode_escape", "dollar_quote", "non_ascii", "write_node",
    "command", "not_select", "select_into", "locking_clause", "relation_not_allowed", "cte_shadows_relation",
    "function_not_allowed", "type_not_allowed", "node_not_allowed", "unsafe_token", "unknown_column",
    "unbounded_time", "roundtrip_mismatch", "internal_error", "too_large", "unbounded_recursion",
}  # fmt: skip


def guard(sql: str, max_rows: int = 1000) -> GuardResult:
    return check_sql(sql, CATALOG, max_rows=max_rows)


def test_case_tables_are_as_large_as_promised() -> None:
    assert len(HOSTILE) >= 150
    assert len(BENIGN) >= 100
    assert len({case[0] for case in HOSTILE}) == len(HOSTILE), "hostile ids must be unique"
    assert len({case[0] for case in BENIGN}) == len(BENIGN), "benign ids must be unique"
    assert {case[2] for case in HOSTILE} <= REFUSAL_CODES


@pytest.mark.parametrize(("sql", "code"), [case[1:] for case in HOSTILE], ids=[case[0] for case in HOSTILE])
def test_hostile_statement_is_refused(sql: str, code: str) -> None:
    result = guard(sql)

    assert not result.allowed
    assert result.sql is None
    assert result.code == code, result.reason
    assert result.reason


@pytest.mark.parametrize("sql", [case[1] for case in BENIGN], ids=[case[0] for case in BENIGN])
def test_benign_query_is_allowed_and_its_sql_stays_safe(sql: str) -> None:
    result = guard(sql)

    assert result.allowed, f"{result.code}: {result.reason}"
    assert result.code == "ok"
    assert result.sql is not None
    # What runs is one SELECT-shaped statement with a row limit no larger than asked for...
    statements = sqlglot.parse(result.sql, read="postgres")
    assert len(statements) == 1
    root = statements[0]
    assert isinstance(root, (exp.Select, exp.SetOperation, exp.Subquery))
    limit = root.args.get("limit")
    assert isinstance(limit, exp.Limit)
    assert int(limit.expression.name) <= 1000
    # ...and checking it again changes nothing, so the executed text is itself a checked query.
    again = guard(result.sql)
    assert again.allowed
    assert again.sql == result.sql
    assert again.reason == "allowed"
    assert not any(token.comments for token in sqlglot.tokenize(result.sql, read="postgres"))


@pytest.mark.parametrize("call", DANGEROUS_CALLS)
def test_dangerous_function_is_refused_in_the_select_list(call: str) -> None:
    assert guard(f"SELECT {call}").code == "function_not_allowed"


@pytest.mark.parametrize("call", DANGEROUS_CALLS)
def test_dangerous_function_is_refused_inside_an_allowed_one(call: str) -> None:
    result = guard(f"SELECT lower(({call})::text) FROM logs WHERE {B}")
    assert result.code == "function_not_allowed", result.reason


@pytest.mark.parametrize("call", DANGEROUS_CALLS)
def test_dangerous_function_is_refused_as_a_from_item(call: str) -> None:
    assert guard(f"SELECT * FROM {call} AS f").code == "relation_not_allowed"


@pytest.mark.parametrize("keyword", DANGEROUS_KEYWORDS)
def test_session_information_keyword_is_refused(keyword: str) -> None:
    assert guard(f"SELECT {keyword}").code == "function_not_allowed"
    assert guard(f"SELECT count(*) FROM logs WHERE {B} AND service = {keyword}").code == "function_not_allowed"


def test_every_allowlisted_function_has_a_sample() -> None:
    assert set(FUNCTION_SAMPLES) == set(ALLOWED_FUNCTION_NAMES)
    assert set(FROM_FUNCTION_SAMPLES) == set(FROM_FUNCTION_NAMES)
    assert FROM_FUNCTION_NAMES <= ALLOWED_FUNCTION_NAMES


@pytest.mark.parametrize(("name", "call"), sorted(FUNCTION_SAMPLES.items()), ids=sorted(FUNCTION_SAMPLES))
def test_allowlisted_function_is_accepted(name: str, call: str) -> None:
    # Typed sqlglot nodes and exp.Anonymous names must agree; a sqlglot upgrade that moves one shows here.
    result = guard(f"SELECT {call} FROM logs WHERE {B}")
    assert result.allowed, f"{name}: {result.code}: {result.reason}"


@pytest.mark.parametrize(("name", "item"), sorted(FROM_FUNCTION_SAMPLES.items()), ids=sorted(FROM_FUNCTION_SAMPLES))
def test_set_returning_function_is_accepted_in_from(name: str, item: str) -> None:
    result = guard(f"SELECT * FROM {item}")
    assert result.allowed, f"{name}: {result.code}: {result.reason}"


@pytest.mark.parametrize(
    ("sql", "max_rows", "expected", "note"), [c[1:] for c in LIMIT_CASES], ids=[c[0] for c in LIMIT_CASES]
)
def test_limit_is_enforced_on_the_outer_query(sql: str, max_rows: int, expected: int, note: str | None) -> None:
    result = guard(sql, max_rows=max_rows)

    assert result.allowed, result.reason
    assert result.sql is not None
    assert result.sql.endswith(f"LIMIT {expected}")
    if note is None:
        assert result.reason == "allowed"
    else:
        assert note in result.reason


def test_limit_of_a_set_operation_goes_on_the_outer_query() -> None:
    result = guard("SELECT service FROM daily_log_summary UNION ALL SELECT service FROM error_patterns")

    assert result.sql is not None
    root = sqlglot.parse_one(result.sql, read="postgres")
    assert isinstance(root, exp.Union)
    assert root.args["limit"].expression.name == "1000"
    assert root.left.args.get("limit") is None and root.right.args.get("limit") is None


def test_inner_limits_are_kept_and_the_outer_one_added() -> None:
    result = guard("SELECT * FROM (SELECT day FROM daily_log_summary ORDER BY day LIMIT 5000) t")

    assert result.sql == "SELECT * FROM (SELECT day FROM daily_log_summary ORDER BY day LIMIT 5000) AS t LIMIT 1000"


def test_offset_is_kept() -> None:
    result = guard("SELECT day FROM daily_log_summary ORDER BY day LIMIT 10 OFFSET 20")
    assert result.sql == "SELECT day FROM daily_log_summary ORDER BY day LIMIT 10 OFFSET 20"


def test_max_rows_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_rows"):
        guard("SELECT 1", max_rows=0)


def test_unknown_column_message_lists_the_real_columns() -> None:
    result = guard(f"SELECT timestamp, message FROM logs WHERE {B}")

    assert result.code == "unknown_column"
    assert result.reason == f'unknown column "timestamp" in logs; its columns are: {", ".join(LOGS_COLUMNS)}'


@pytest.mark.parametrize(
    ("sql", "message"), [c[1:] for c in HALLUCINATED_COLUMNS], ids=[c[0] for c in HALLUCINATED_COLUMNS]
)
def test_hallucinated_column_is_caught_before_execution(sql: str, message: str) -> None:
    result = guard(sql)

    assert result.code == "unknown_column", result.reason
    assert message in result.reason


@pytest.mark.parametrize("sql", [c[1] for c in REAL_COLUMNS], ids=[c[0] for c in REAL_COLUMNS])
def test_real_columns_are_not_flagged(sql: str) -> None:
    result = guard(sql)
    assert result.allowed, f"{result.code}: {result.reason}"


def test_unbounded_logs_query_gets_a_hint_that_fits_any_period() -> None:
    result = guard("SELECT count(*) FROM logs WHERE level = 'ERROR'")

    assert result.code == "unbounded_time"
    assert result.reason.startswith("logs in the main query is read without a bound on created_at: SELECT")
    assert "WHERE created_at >= now() - interval '24 hours', over the period the question asks about" in result.reason
    # An old trace is found by its id, not by guessing a recent window.
    assert "a lookup by trace_id = '...' needs no time bound" in result.reason


def test_new_benign_cases_are_in_the_benign_table() -> None:
    assert len(BENIGN_BOUNDS) >= 40
    assert set(BENIGN_BOUNDS) <= set(BENIGN)


@pytest.mark.parametrize(("sql", "parts"), [c[1:] for c in CLAUSE_NAMES], ids=[c[0] for c in CLAUSE_NAMES])
def test_refusal_names_the_part_it_is_about(sql: str, parts: tuple[str, ...]) -> None:
    result = guard(sql)

    assert not result.allowed
    for part in parts:
        assert part in result.reason


@pytest.mark.parametrize(("sql", "written"), [c[1:] for c in WRITTEN_BOUNDS], ids=[c[0] for c in WRITTEN_BOUNDS])
def test_a_join_window_gets_its_derived_bound_written_down(sql: str, written: str) -> None:
    result = guard(sql)

    assert result.allowed, result.reason
    assert result.sql is not None and written in result.sql
    assert "added (implied by the join window)" in result.reason


def test_a_direct_bound_is_left_as_written() -> None:
    sql = f"SELECT count(*) FROM logs e JOIN logs l ON l.created_at >= e.created_at AND l.{B} WHERE e.{B}"
    result = guard(sql)

    assert result.reason == "allowed; LIMIT 1000 added"


def test_lookup_keys_come_from_the_catalog() -> None:
    lookup = "SELECT * FROM logs WHERE event_id = 'e1'"
    trace = "SELECT * FROM logs WHERE trace_id = 'a1'"
    with_event_index = Catalog(CATALOG.relations, CATALOG.time_bounded, {"logs": ("trace_id", "event_id")})
    without_keys = Catalog(CATALOG.relations, CATALOG.time_bounded)

    assert check_sql(lookup, with_event_index).allowed
    assert guard(lookup).code == "unbounded_time"
    assert guard(trace).allowed
    assert check_sql(trace, without_keys).code == "unbounded_time"
    assert "needs no time bound" not in check_sql(trace, without_keys).reason


def test_time_bound_follows_the_catalog() -> None:
    catalog = Catalog(relations={"events": ["id", "ts", "kind"]}, time_bounded={"events": "ts"})

    assert check_sql("SELECT kind FROM events", catalog).code == "unbounded_time"
    assert check_sql("SELECT kind FROM events WHERE ts > now() - interval '1 hour'", catalog).allowed
    assert check_sql(f"SELECT * FROM logs WHERE {B}", catalog).code == "relation_not_allowed"
    assert check_sql("SELECT * FROM logs", Catalog(relations={"logs": LOGS_COLUMNS})).allowed


def test_relations_read_are_reported() -> None:
    result = guard(f"SELECT d.day FROM daily_log_summary d JOIN logs l ON l.service = d.service AND l.{B}")
    assert result.relations == ("daily_log_summary", "logs")


def test_parse_error_carries_the_parser_message() -> None:
    result = guard("SELECT (1")

    assert result.code == "parse_error"
    assert "line 1" in result.reason
    assert "\x1b[" not in result.reason


def test_comments_never_reach_the_database() -> None:
    # sqlglot would re-emit the line comment as a block comment that its own text closes early.
    result = guard("SELECT 1 -- */ ; DROP TABLE logs")
    assert result.sql == "SELECT 1 LIMIT 1000"


def test_sqlglot_rewriting_of_date_bin_origin_cannot_inject() -> None:
    # sqlglot keeps date_bin's third argument as a bare word and prints it unquoted; the guard re-quotes it.
    result = guard(f"SELECT date_bin('15 minutes', created_at, '1); DROP TABLE logs; --') FROM logs WHERE {B}")

    assert result.sql is not None
    assert len(sqlglot.parse(result.sql, read="postgres")) == 1
    # Still a quoted string (sqlglot upper-cases it, harmless for a timestamp); Postgres rejects it as one.
    assert "'1); DROP TABLE LOGS; --'" in result.sql


def test_regenerated_sql_is_checked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # Disable the bare-word check; the second pass over the regenerated text must still refuse.
    monkeypatch.setattr(names, "PLAIN_WORD", re.compile(r".*", re.DOTALL))
    result = guard(DATE_PART_INJECTION)

    assert result.code == "roundtrip_mismatch"
    assert "exactly one statement" in result.reason


def test_unexpected_failure_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(self: object, root: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(resolve.Resolver, "check", explode)

    result = guard("SELECT 1")
    assert (result.allowed, result.code) == (False, "internal_error")
    assert "boom" in result.reason


def test_scans_anchored_on_each_other_settle_to_the_one_bound_they_share() -> None:
    # Given sixteen scans, each bounded only relative to every other, and one of them bounded directly
    names = [f"l{i}" for i in range(16)]
    pairs = " AND ".join(f"{a}.created_at >= {b}.created_at" for a in names for b in names if a != b)
    sql = "SELECT count(*) FROM " + ", ".join(f"logs {n}" for n in names) + f" WHERE l0.{B} AND {pairs}"

    # When the guard proves them (once per round, not once per path: 16! paths would never finish)
    result = guard(sql)

    # Then every scan gets the shared bound written down
    assert result.allowed, result.reason
    assert result.sql is not None
    assert all(f"{n}.created_at >= CURRENT_TIMESTAMP - INTERVAL '24 HOURS'" in result.sql for n in names[1:])


@pytest.mark.parametrize(
    ("call", "rows"),
    [
        ("generate_series(1, 10)", 10),
        ("generate_series(0, 100000, 10)", 10_001),
        ("generate_series(10, 1, -1)", 10),
        ("generate_series(1, 10, -1)", 0),
        ("generate_series(now() - interval '1 day', now(), interval '1 hour')", 25),
        ("generate_series(date_trunc('hour', now()) - interval '23 hours', date_trunc('hour', now()), '1 hour')", 24),
        ("generate_series(timestamptz '2024-06-01', timestamptz '2024-06-30', '36 hours'::interval)", 20),
        ("generate_series(timestamptz '2024-01-01', timestamptz '2024-12-31', interval '1 month')", 13),
        ("generate_series(current_date - 6, current_date, 2 * interval '30 minutes')", 145),
    ],
)
def test_series_sizes_are_estimated_from_constants(call: str, rows: int) -> None:
    from datetime import UTC, datetime

    from loglens.sqlguard.dialects import POSTGRES
    from loglens.sqlguard.size import series_rows

    node = sqlglot.parse_one(f"SELECT {call}", read="postgres").expressions[0]
    assert series_rows(node, POSTGRES, datetime(2024, 6, 1, 12, 30, tzinfo=UTC)) == rows


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1 hour", 3600), ("15 minutes", 900), ("1 day 2 hours", 93600), ("01:30:00", 5400), ("-1 day", -86400),
     ("2 weeks", 1209600), ("1 mon", 2592000), ("1.5 h", 5400), ("1 fortnight", None), ("hour", None), ("", None)],
)  # fmt: skip
def test_intervals_are_read_as_postgres_and_trino_write_them(text: str, seconds: float | None) -> None:
    from loglens.sqlguard.values import parse_interval

    parsed = parse_interval(text)
    assert (parsed.total_seconds() if parsed is not None else None) == seconds


def test_a_series_sqlglot_does_not_recognise_is_not_run() -> None:
    from datetime import UTC, datetime

    from loglens.sqlguard.dialects import POSTGRES
    from loglens.sqlguard.refusal import Refused
    from loglens.sqlguard.size import check_sizes

    unknown = exp.select(exp.Anonymous(this="generate_series", expressions=[exp.Literal.number(1)]))
    with pytest.raises(Refused, match="cannot tell how many rows"):
        check_sizes(unknown, POSTGRES, datetime.now(UTC))
