"""Query requests without a database: filters, windows and cursors are validated, and the SQL they become passes
the SQL guard with every hostile value still a value."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlglot
from sqlglot import exp

from loglens.agent.catalog import offline_catalog
from loglens.query import cursor as cursors
from loglens.query.errors import ErrorBody, QueryInputError, error_status
from loglens.query.filters import Filters, like_pattern
from loglens.query.runner import with_stored_xid
from loglens.query.search import (
    SearchRequest,
    _SearchCursor,
    fill_buckets,
    histogram_bucket,
    histogram_statement,
    page_statement,
    parse_search,
)
from loglens.query.sql import SqlRequest, parse_query
from loglens.query.tail import Snapshot, parse_tail, parse_tail_query
from loglens.query.window import Window, resolve
from loglens.sqlguard import check_sql

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
HOT = timedelta(days=30)
HOSTILE_VALUES = [
    "' OR 1=1 --",
    "'); DROP TABLE logs; --",
    "x' UNION SELECT rolpassword FROM pg_authid --",
    "$$ dollar $$",
    "/* comment */ 1",
    "O'Brien\\",
    "100% _real_ !bang! \\'quoted\\'",
    "ünïcödé ‮ RTL",
    "a\nb\r\nc\t",
]


def guarded(sql: str) -> str:
    verdict = check_sql(sql, with_stored_xid(offline_catalog()))
    assert verdict.allowed, (verdict.code, verdict.reason, sql)
    assert verdict.sql is not None
    return verdict.sql


def where_literals(sql: str) -> list[str]:
    tree = sqlglot.parse_one(sql, read="postgres")
    return [str(node.this) for node in tree.find_all(exp.Literal) if node.is_string]


def test_every_filter_becomes_one_guarded_condition() -> None:
    # Given all filters at once
    filters = Filters.model_validate(
        {
            "service": "checkout",
            "level": ["error", "FATAL", "err"],
            "environment": "production",
            "contains": "timeout",
            "trace_id": "t-1",
            "user_id": "u-1",
            "metadata": {"order_id": "A-7", "status": "500", "retry": True},
        }
    )
    # When they become SQL around a window
    sql = guarded(page_statement([*_window(), *filters.conditions()], None, 50))
    # Then each is there once, levels normalised and deduplicated, the number also matched as a number
    assert "service = 'checkout'" in sql
    assert "level IN ('ERROR', 'FATAL')" in sql
    assert "message ILIKE '%timeout%' ESCAPE '!'" in sql
    assert 'metadata @> CAST(\'{"status":"500"}\' AS JSONB) OR metadata @> CAST(\'{"status":500}\' AS JSONB)' in sql
    assert "metadata @> CAST('{\"retry\":true}' AS JSONB)" in sql
    assert sql.endswith("ORDER BY created_at DESC, event_id DESC LIMIT 51")


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_hostile_values_stay_values(value: str) -> None:
    # Given a hostile value in every text filter the guard can take it in
    fields: dict[str, object] = {"contains": value, "metadata": {"k": value}}
    if not (value.endswith("\\") or "\\'" in value):
        fields |= {"service": value, "user_id": value, "trace_id": value, "environment": value}
    filters = Filters.model_validate(fields)
    # When the SQL passes the guard
    sql = guarded(page_statement([*_window(), *filters.conditions()], None, 10))
    # Then the statement is one SELECT on logs, and the value is inside literals, whole
    tree = sqlglot.parse_one(sql, read="postgres")
    assert isinstance(tree, exp.Select)
    assert [t.name for t in tree.find_all(exp.Table)] == ["logs"]
    literals = where_literals(sql)
    if "service" in fields:
        assert value in literals
    assert like_pattern(value) in literals
    assert any(json.loads(text.replace("\\u0027", "'")) == {"k": value} for text in literals if text.startswith("{"))


def test_like_pattern_matches_wildcards_literally() -> None:
    assert like_pattern("50%_off!") == "%50!%!_off!!%"
    assert like_pattern("it's") == "%it!'s%"
    # a backslash is an ordinary character with ESCAPE '!', and never ends up right before a quote
    assert "\\'" not in like_pattern("a\\'b")


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"filters": {"servce": "x"}}, "filters.servce", "unknown filter; the filters are service, level"),
        ({"filtres": {}}, "filtres", "unknown field; a search has filters, limit, cursor, histogram"),
        ({"filters": {"level": "LOUD"}}, "filters.level", "'LOUD' is not a level"),
        ({"filters": {"level": []}}, "filters.level", "at least one level"),
        ({"filters": {"level": [1]}}, "filters.level", "is not a level"),
        ({"filters": {"service": "a\x00b"}}, "filters.service", "NUL"),
        ({"filters": {"contains": "x\x00"}}, "filters.contains", "NUL"),
        ({"filters": {"contains": "x" * 10_000}}, "filters.contains", "at most 500 characters"),
        ({"filters": {"contains": "   "}}, "filters.contains", "besides spaces"),
        ({"filters": {"service": ""}}, "filters.service", "at least 1 character"),
        ({"filters": {"user_id": "DOMAIN\\"}}, "filters.user_id", "backslash"),
        ({"filters": {"metadata": {"a-b": "x"}}}, "filters.metadata", "not a plain identifier"),
        ({"filters": {"metadata": {"k": {"nested": 1}}}}, "filters.metadata", "must be a string, number"),
        ({"filters": {"metadata": {f"k{i}": i for i in range(11)}}}, "filters.metadata", "at most 10"),
        ({"limit": 1_000_000}, "limit", "less than or equal to 500"),
        ({"limit": 0}, "limit", "greater than or equal to 1"),
        ({"limit": "all"}, "limit", "valid integer"),
        ({"cursor": ""}, "cursor", "at least 1 character"),
    ],
)
def test_bad_searches_name_the_field(body: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(QueryInputError) as caught:
        parse_search(body)
    assert caught.value.field == field
    assert words in caught.value.message
    status, answer = error_status(caught.value) or (0, None)
    assert status == 400
    assert isinstance(answer, ErrorBody)
    assert answer.field == field


def test_a_search_body_must_be_an_object() -> None:
    with pytest.raises(QueryInputError, match="JSON object"):
        parse_search(["filters"])


@pytest.mark.parametrize(
    ("since", "until", "field", "words"),
    [
        ("24h", "25h", "filters.since", "must be before until"),
        ("2026-03-10T12:00:00Z", "2026-03-10T12:00:00Z", "filters.since", "must be before until"),
        ("31d", None, "filters.since", "at most the hot window of 30.0 days"),
        ("yesterday", None, "filters.since", "neither an ISO 8601 time"),
        (None, "1999-12-31T00:00:00Z", "filters.until", "outside the range"),
        ("999999w", None, "filters.since", "too far back"),
    ],
)
def test_windows_that_cannot_be_searched(since: str | None, until: str | None, field: str, words: str) -> None:
    with pytest.raises(QueryInputError) as caught:
        resolve(since, until, now=NOW, hot_window=HOT)
    assert caught.value.field == field
    assert words in caught.value.message


def test_windows_default_to_the_last_24_hours_and_read_relative_and_iso_times() -> None:
    assert resolve(None, None, now=NOW, hot_window=HOT) == Window(NOW - timedelta(hours=24), NOW)
    assert resolve("15m", None, now=NOW, hot_window=HOT).since == NOW - timedelta(minutes=15)
    assert resolve("7d", "1d", now=NOW, hot_window=HOT) == Window(NOW - timedelta(days=7), NOW - timedelta(days=1))
    naive = resolve("2026-03-10T10:00:00", "2026-03-10T11:30:00+01:00", now=NOW, hot_window=HOT)
    assert naive == Window(datetime(2026, 3, 10, 10, tzinfo=UTC), datetime(2026, 3, 10, 10, 30, tzinfo=UTC))


@pytest.mark.parametrize(
    ("length", "bucket", "count"),
    [
        (timedelta(minutes=15), "1m", 15),
        (timedelta(hours=2), "1m", 120),
        (timedelta(hours=6), "5m", 72),
        (timedelta(hours=24), "1h", 24),
        (timedelta(days=7), "1h", 168),
        (timedelta(days=30), "1d", 31),  # from noon to noon: 31 UTC days
    ],
)
def test_the_histogram_bucket_follows_the_window(length: timedelta, bucket: str, count: int) -> None:
    window = Window(NOW - length, NOW)
    name, size = histogram_bucket(window)
    assert name == bucket
    buckets = fill_buckets(window, size, [])
    assert len(buckets) == count
    assert all(b.count == 0 for b in buckets)
    guarded(histogram_statement(_window(), name))


def test_histogram_buckets_start_on_whole_units_and_keep_counts() -> None:
    window = Window(datetime(2026, 3, 10, 10, 7, tzinfo=UTC), datetime(2026, 3, 10, 12, 7, tzinfo=UTC))
    buckets = fill_buckets(window, timedelta(minutes=1), [["2026-03-10T10:08:00+00:00", 4]])
    assert buckets[0].start == datetime(2026, 3, 10, 10, 7, tzinfo=UTC)
    assert buckets[1].count == 4
    day = Window(NOW - timedelta(days=10), NOW)
    assert fill_buckets(day, timedelta(days=1), [])[0].start == datetime(2026, 2, 28, tzinfo=UTC)


def _forged(data: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _good_cursor(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "v": 1,
        "f": "0" * 16,
        "since": "2026-03-09T12:00:00+00:00",
        "until": "2026-03-10T12:00:00+00:00",
        "at": "2026-03-10T11:00:00+00:00",
        "id": "6f1d3c1e-4d0b-5a59-9a57-6c6f676c656e",
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("not a cursor!", "not a cursor issued by this server"),
        ("////", "not a cursor issued by this server"),
        (base64.urlsafe_b64encode(b"\xff\xfe").decode(), "not a cursor issued by this server"),
        (_forged([1, 2]), "malformed"),
        (_forged(_good_cursor(v=2)), "malformed (v:"),
        (_forged(_good_cursor(extra=1)), "malformed (extra:"),
        (_forged(_good_cursor(id="'; DROP TABLE logs; --")), "malformed (id:"),
        (_forged(_good_cursor(at="2026-03-10T11:00:00")), "malformed (at:"),
        (_forged(_good_cursor(at="2027-01-01T00:00:00+00:00")), "position outside its window"),
        (_forged(_good_cursor(f="' OR 1=1")), "malformed (f:"),
        ("A" * 40_000, "at most 32,768"),
    ],
)
def test_forged_cursors_are_refused(text: str, words: str) -> None:
    with pytest.raises(QueryInputError) as caught:
        cursors.decode(text, _SearchCursor)
    assert caught.value.field == "cursor"
    assert words in caught.value.message


def test_a_cursor_round_trips_and_the_digest_ignores_key_order() -> None:
    cursor = _SearchCursor.model_validate(_good_cursor())
    assert cursors.decode(cursors.encode(cursor), _SearchCursor) == cursor
    assert cursors.digest({"a": 1, "b": [2]}) == cursors.digest({"b": [2], "a": 1})
    one = Filters.model_validate({"level": "error"}).canonical()
    assert one == Filters.model_validate({"level": ["ERROR"]}).canonical()


def test_snapshots_parse_and_refuse_nonsense() -> None:
    snapshot = Snapshot.parse("10:20:12,15")
    assert snapshot == Snapshot(xmin=10, xmax=20, xip=[12, 15])
    assert snapshot.visible() == ["stored_xid < 20", "NOT stored_xid IN (12, 15)"]
    assert snapshot.not_visible() == ["stored_xid >= 10", "(stored_xid >= 20 OR stored_xid IN (12, 15))"]
    for bad in ({"xmin": 5, "xmax": 4}, {"xmin": 1, "xmax": 9, "xip": [9]}, {"xmin": 1, "xmax": 9, "xip": [3, 2]}):
        with pytest.raises(ValueError):
            Snapshot.model_validate(bad)


def test_tail_parameters_from_a_query_string() -> None:
    request = parse_tail_query(
        {"service": "api", "level": "error,warn", "contains": "boom", "metadata.region": "eu", "limit": "20"}
    )
    assert request.limit == 20
    assert request.filters.service == "api"
    assert [lvl.value for lvl in request.filters.level or []] == ["ERROR", "WARN"]
    assert request.filters.metadata == {"region": "eu"}
    with pytest.raises(QueryInputError, match="unknown parameter; tail takes cursor, limit, service") as caught:
        parse_tail_query({"since": "1h"})
    assert caught.value.field == "since"
    with pytest.raises(QueryInputError, match="no since/until") as caught:
        parse_tail({"filters": {"until": "1h"}})
    assert caught.value.field == "filters.until"


def test_the_query_body_is_sql_or_a_search() -> None:
    assert isinstance(parse_query({"sql": "SELECT 1"}), SqlRequest)
    assert isinstance(parse_query({"filters": {"service": "x"}}), SearchRequest)
    for body, words in (
        ({"sql": "SELECT 1", "filters": {}}, "filters: unknown field"),
        ({"sql": "  "}, "sql: is empty"),
        ({"sql": "SELECT '\x00'"}, "NUL"),
        ({"sql": "SELECT 1 " * 5000}, "at most 20000 characters"),
        ({"sql": 7}, "valid string"),
    ):
        with pytest.raises(QueryInputError, match=words):
            parse_query(body)


def _window() -> list[str]:
    return [
        "created_at >= CAST('2026-03-09T12:00:00+00:00' AS TIMESTAMPTZ)",
        "created_at < CAST('2026-03-10T12:00:00+00:00' AS TIMESTAMPTZ)",
    ]


def test_every_request_and_answer_has_a_json_schema_for_the_openapi_document() -> None:
    from loglens.query.errors import ErrorBody
    from loglens.query.saved import SavedCreate, SavedItem, SavedList, SharedAnswer, ShareRequest
    from loglens.query.search import SearchResult
    from loglens.query.sql import SqlCheck, SqlResult
    from loglens.query.tail import TailRequest, TailResult

    models = [SearchRequest, SearchResult, TailRequest, TailResult, SqlRequest, SqlResult, SqlCheck, SavedCreate,
              SavedItem, SavedList, ShareRequest, SharedAnswer, ErrorBody]  # fmt: skip
    for model in models:
        schema = model.model_json_schema()
        assert schema["type"] == "object" and schema["properties"], model.__name__
    filters = SearchRequest.model_json_schema()["$defs"]["SearchFilters"]
    assert set(filters["properties"]) == {
        "service", "level", "environment", "contains", "trace_id", "user_id", "metadata", "since", "until"
    }  # fmt: skip
    assert filters["additionalProperties"] is False
