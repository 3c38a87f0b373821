"""The query API's routes (loglens.query.api) on API Gateway proxy events, against the real database: each route's
answer, every failure's status and shape, who may delete what, and the database going away."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from loglens.agent.answer import Answer, Explanation
from loglens.db.connect import ConnectionProvider, connect
from loglens.query.api import ROUTES, QueryApi
from loglens.query.runner import QueryLimits, QueryRunner
from loglens.query.saved import SavedStore
from tests.events import api_event
from tests.factories import insert_records, make_record

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def api(db_url: str, analyst_url: str, writer_url: str) -> Iterator[QueryApi]:
    # Times are relative to when the module's tests start, not to collection: in a long run the tests of this
    # module start minutes after import, and tail's first poll looks back only 10 minutes.
    global NOW
    NOW = datetime.now(UTC)
    records = [
        make_record(created_at=NOW - timedelta(minutes=5), service="checkout", level="ERROR", message="card declined",
                    environment="prod", trace_id="t-1"),
        make_record(created_at=NOW - timedelta(minutes=6), service="checkout", level="INFO", message="paid",
                    environment="prod", trace_id="t-1"),
        make_record(created_at=NOW - timedelta(minutes=7), service="search", level="WARN", message="slow",
                    environment="staging"),
    ]  # fmt: skip
    with connect(db_url) as conn:
        insert_records(conn, records)
        conn.commit()
    analyst = ConnectionProvider(lambda: analyst_url, application="loglens-query-api-test")
    writer = ConnectionProvider(lambda: writer_url, application="loglens-query-api-test")
    runner, store = QueryRunner(analyst, QueryLimits()), SavedStore(writer)
    yield QueryApi(runner=lambda: runner, store=lambda: store, facts_ttl=0)
    analyst.discard()
    writer.discard()


def call(
    api: QueryApi,
    method: str,
    path: str,
    body: Any = None,
    *,
    resource: str | None = None,
    query: dict[str, str] | None = None,
    key: str | None = "key-alice",
    claims: dict[str, str] | None = None,
    **options: Any,
) -> tuple[int, dict[str, str], Any]:
    event = api_event(path, body, method=method, api_key_id=key, **options)
    event["resource"] = resource or path
    event["queryStringParameters"] = query
    if resource:
        event["pathParameters"] = {"id": path.rsplit("/", 1)[1]}
    if claims is not None:
        event["requestContext"]["authorizer"] = {"claims": claims}
    answer = api.handle(event)
    raw = base64.b64decode(answer["body"]) if answer.get("isBase64Encoded") else answer["body"].encode()
    return answer["statusCode"], answer["headers"], json.loads(raw) if raw else None


def test_a_structured_search_and_its_histogram(api: QueryApi) -> None:
    status, headers, body = call(api, "POST", "/api/v1/query", {"filters": {"service": "checkout"}, "histogram": True})
    assert status == 200 and headers["Content-Type"] == "application/json"
    messages = [row[body["columns"].index("message")] for row in body["rows"]]
    assert messages == ["card declined", "paid"]
    assert sum(b["count"] for b in body["histogram"]["buckets"]) == 2
    assert body["cursor"] is None and "FROM logs" in body["sql"]


def test_sql_runs_through_the_guard_and_hostile_sql_is_refused_as_the_agent_refuses_it(
    api: QueryApi, db_url: str
) -> None:
    sql = "SELECT service, count(*) AS n FROM logs WHERE created_at >= now() - interval '1 hour' GROUP BY 1 ORDER BY 1"
    status, _, body = call(api, "POST", "/api/v1/query", {"sql": sql})
    assert status == 200 and body["rows"] == [["checkout", 2], ["search", 1]]
    assert body["note"] == "allowed; LIMIT 1000 added" and body["sql"].endswith("LIMIT 1000")
    for hostile, code in (
        ("DELETE FROM logs", "write_node"),
        ("SELECT * FROM logs", "unbounded_time"),
        ("SELECT pg_sleep(10) FROM logs WHERE created_at > now() - interval '1 hour'", "function_not_allowed"),
        ("SELECT * FROM conversations", "relation_not_allowed"),
        ("SELECT 1; DROP TABLE logs", "multiple_statements"),
    ):
        status, _, body = call(api, "POST", "/api/v1/query", {"sql": hostile})
        assert status == 400, hostile
        assert body["code"] == code and "refused by the SQL guard" in body["error"], hostile
    with connect(db_url) as conn:  # nothing was deleted or dropped
        assert (conn.execute("SELECT count(*) FROM logs").fetchone() or (0,))[0] == 3


def test_check_gives_the_verdict_without_running(api: QueryApi) -> None:
    status, _, body = call(api, "POST", "/api/v1/query/check", {"sql": "SELECT * FROM logs"})
    assert status == 200 and body["allowed"] is False and body["code"] == "unbounded_time" and body["sql"] is None


def test_tail_follows_from_a_cursor(api: QueryApi, db_url: str) -> None:
    status, _, first = call(api, "GET", "/api/v1/tail", query={"service": "checkout", "level": "ERROR,FATAL"})
    assert status == 200 and [r[first["columns"].index("message")] for r in first["rows"]] == ["card declined"]
    fresh = make_record(service="checkout", level="FATAL", message="tail sees this")
    with connect(db_url) as conn:
        insert_records(conn, [fresh, make_record(service="checkout", level="INFO", message="filtered out")])
        conn.commit()
    _, _, second = call(api, "GET", "/api/v1/tail", query={"service": "checkout", "level": "ERROR,FATAL",
                                                            "cursor": first["cursor"]})  # fmt: skip
    assert [r[second["columns"].index("event_id")] for r in second["rows"]] == [str(fresh.event_id)]


def test_facts_list_what_the_filters_can_choose(api: QueryApi) -> None:
    status, _, facts = call(api, "GET", "/api/v1/facts")
    assert status == 200
    services = {item["value"]: item["records"] for item in facts["services"]}
    assert services["checkout"] >= 2 and "search" in services
    assert {item["value"] for item in facts["environments"]} >= {"prod", "staging"}
    assert {item["value"] for item in facts["levels"]} >= {"ERROR", "INFO", "WARN"}
    assert facts["earliest"] <= facts["latest"] and facts["hot_window_days"] == 30


def test_saved_entries_belong_to_who_saved_them(api: QueryApi) -> None:
    body = {"kind": "search", "name": "checkout errors", "body": {"filters": {"service": "checkout", "level": "err"}}}
    status, _, item = call(api, "POST", "/api/v1/saved", body)
    assert status == 201 and item["created_by"] == "key:key-alice"
    assert item["body"]["filters"]["level"] == ["ERROR"]
    status, _, listed = call(api, "GET", "/api/v1/saved", query={"kind": "search"})
    assert status == 200 and item["id"] in [i["id"] for i in listed["items"]]
    path, resource = f"/api/v1/saved/{item['id']}", "/api/v1/saved/{id}"
    # Someone else (another key, or a console user) may read it but not delete it
    status, _, refused = call(api, "DELETE", path, resource=resource, key="key-mallory")
    assert (status, refused["code"]) == (403, "forbidden")
    status, _, refused = call(api, "DELETE", path, resource=resource, key=None, claims={"email": "bob@example.com"})
    assert status == 403
    status, _, nothing = call(api, "DELETE", path, resource=resource)
    assert (status, nothing) == (204, None)
    status, _, gone = call(api, "DELETE", path, resource=resource)
    assert (status, gone["code"]) == (404, "not_found")
    status, _, gone = call(api, "DELETE", "/api/v1/saved/not-a-uuid", resource=resource)
    assert status == 404


def test_a_console_user_is_named_by_the_sign_in_not_a_key(api: QueryApi) -> None:
    body = {"kind": "sql", "name": "mine", "body": {"sql": "SELECT 1"}}
    claims = {"email": "ana@example.com", "sub": "1"}
    status, _, item = call(api, "POST", "/api/v1/saved", body, key=None, claims=claims)
    assert status == 201 and item["created_by"] == "user:ana@example.com"
    status, _, body = call(api, "POST", "/api/v1/saved", body, key=None)
    assert status == 401 and "sign in" in body["error"]


def test_an_answer_is_shared_once_and_read_by_its_link(api: QueryApi) -> None:
    answer = Answer(question="errors?", sql="SELECT 1", columns=["n"], rows=[[1]],
                    explanation=Explanation(summary="one"))  # fmt: skip
    status, _, shared = call(api, "POST", "/api/v1/answers", {"answer": answer.model_dump(mode="json")})
    assert status == 201 and len(shared["id"]) == 22
    status, _, read = call(api, "GET", f"/api/v1/answers/{shared['id']}", resource="/api/v1/answers/{id}")
    assert status == 200 and read["answer"]["explanation"]["summary"] == "one"
    status, _, missing = call(api, "GET", "/api/v1/answers/AAAAAAAAAAAAAAAAAAAAAA", resource="/api/v1/answers/{id}")
    assert (status, missing["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "body", "options", "status", "words"),
    [
        ("POST", "/api/v1/query", "{not json", {}, 400, "not valid JSON"),
        ("POST", "/api/v1/query", [1, 2], {}, 400, "JSON object"),
        ("POST", "/api/v1/query", {"sql": "SELECT 1"}, {"content_type": "text/plain"}, 415, "application/json"),
        ("POST", "/api/v1/query", {"sql": "SELECT 1"}, {"content_type": None}, 415, "application/json"),
        ("POST", "/api/v1/query", {"sql": "x" * 200_000}, {}, 413, "at most 131,072"),
        ("POST", "/api/v1/query", {"filters": {"service": "a", "level": "loud"}}, {}, 400, "filters.level"),
        ("POST", "/api/v1/query", {"filters": {"metadata": {"a": {"b": 1}}}}, {}, 400, "filters.metadata"),
        ("POST", "/api/v1/query", {"filters": {"since": "1y"}}, {}, 400, "filters.since"),
        ("POST", "/api/v1/query", {"filters": {"level": "ERROR"}, "sql": "SELECT 1"}, {}, 400, "unknown field"),
        ("POST", "/api/v1/query/check", {"sql": ""}, {}, 400, "sql"),
        ("POST", "/api/v1/saved", {"kind": "search", "name": "x", "body": {"sql": "SELECT 1"}}, {}, 400,
         "body of a saved search"),
        ("POST", "/api/v1/answers", {"answer": {"question": "q"}}, {}, 400, "answer.explanation"),
        ("GET", "/api/v1/query", None, {}, 405, "use POST"),
    ],
)  # fmt: skip
def test_bad_requests_get_a_specific_4xx(
    api: QueryApi, method: str, path: str, body: Any, options: dict[str, Any], status: int, words: str
) -> None:
    got, _, answer = call(api, method, path, body, **options)
    assert got == status and words in json.dumps(answer), answer


def test_a_gzip_body_is_read_and_a_gzip_bomb_is_refused(api: QueryApi) -> None:
    status, _, _ = call(api, "POST", "/api/v1/query", {"filters": {"service": "search"}}, gzip_body=True)
    assert status == 200
    event = api_event("/api/v1/query", gzip.compress(b" " * (30 << 20)), headers={"Content-Encoding": "gzip"})
    assert api.handle(event)["statusCode"] == 413


def test_unknown_query_parameters_are_named(api: QueryApi) -> None:
    status, _, body = call(api, "GET", "/api/v1/tail", query={"servce": "checkout"})
    assert (status, body["field"]) == (400, "servce")
    status, _, body = call(api, "GET", "/api/v1/saved", query={"kind": "note"})
    assert (status, body["field"]) == (400, "kind")
    status, _, body = call(api, "GET", "/api/v1/facts", query={"x": "1"})
    assert status == 400


def test_the_database_going_away_is_a_503_with_retry_after() -> None:
    gone = ConnectionProvider(lambda: "postgresql://nobody:x@127.0.0.1:9/none", application="gone")
    runner, store = QueryRunner(gone, QueryLimits()), SavedStore(gone)
    api = QueryApi(runner=lambda: runner, store=lambda: store, facts_ttl=0)
    for method, path, body in (
        ("POST", "/api/v1/query", {"filters": {}}),
        ("GET", "/api/v1/tail", None),
        ("GET", "/api/v1/facts", None),
        ("GET", "/api/v1/saved", None),
        ("POST", "/api/v1/saved", {"kind": "sql", "name": "x", "body": {"sql": "SELECT 1"}}),
    ):
        status, headers, answer = call(api, method, path, body)
        assert (status, answer["code"], headers["Retry-After"]) == (503, "unavailable", "5"), path
    # The guard's verdict does not need the database
    status, _, verdict = call(api, "POST", "/api/v1/query/check", {"sql": "SELECT 1"})
    assert status == 200 and verdict["allowed"] is True


def test_every_route_is_registered_once() -> None:
    assert len(ROUTES) == len(set(ROUTES)) == 9
    assert all(path.startswith("/api/v1/") for path, _ in ROUTES)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/answers", {"answer": {"question": "q", "explanation": {"summary": "a\u0000b"}}}, "answer"),
        ("/api/v1/answers", {"answer": {"question": "q\ud800", "explanation": {"summary": "s"}}}, "answer"),
        ("/api/v1/answers", {"answer": {"question": "q", "explanation": {"summary": "s"}, "rows": [[{"\u0000": 1}]]}},
         "answer"),
        ("/api/v1/saved", {"kind": "question", "name": "n", "body": {"question": "why\u0000"}}, "body"),
        ("/api/v1/saved", {"kind": "question", "name": "n", "body": {"question": "why", "\ud800": 1}}, None),
        ("/api/v1/saved", {"kind": "sql", "name": "n", "body": {"sql": "SELECT '\udfff'"}}, None),  # the model's
    ],
)  # fmt: skip
def test_text_postgresql_cannot_store_is_a_400_not_a_500(
    api: QueryApi, path: str, body: dict[str, Any], field: str | None
) -> None:
    raw = json.dumps(body).encode()  # JSON escapes: \\u0000 and a lone \\ud800 are valid JSON
    status, _, answer = call(api, "POST", path, raw)
    assert (status, answer.get("field")) == (400, field), answer
    assert "cannot be stored" in answer["error"] or "unicode string" in answer["error"], answer


def test_paging_through_the_route_neither_skips_nor_repeats_while_rows_arrive(api: QueryApi, db_url: str) -> None:
    # Given 120 records of one service, many at the same instant (their order is then the event id)
    tied = NOW - timedelta(minutes=40)
    existing = [
        make_record(created_at=tied if i % 4 == 0 else NOW - timedelta(minutes=30, seconds=i), service="paging-api")
        for i in range(120)
    ]
    with connect(db_url) as conn:
        insert_records(conn, existing)
        conn.commit()
    body: dict[str, Any] = {"filters": {"service": "paging-api", "since": "2h"}, "limit": 25}
    seen: list[str] = []
    late: set[str] = set()
    while True:
        status, _, page = call(api, "POST", "/api/v1/query", body)
        assert status == 200, page
        seen += [row[page["columns"].index("event_id")] for row in page["rows"]]
        # When records arrive between pages: newer ones, and late ones with times among those already paged
        arriving = [make_record(created_at=NOW - timedelta(seconds=5), service="paging-api"),
                    make_record(created_at=NOW - timedelta(minutes=35), service="paging-api")]  # fmt: skip
        late |= {str(r.event_id) for r in arriving}
        with connect(db_url) as conn:
            insert_records(conn, arriving)
            conn.commit()
        if page["cursor"] is None:
            break
        body["cursor"] = page["cursor"]
    # Then every record there at the first page came exactly once, and nothing came twice
    assert len(seen) == len(set(seen))
    assert {str(r.event_id) for r in existing} <= set(seen)
    assert set(seen) - {str(r.event_id) for r in existing} <= late
