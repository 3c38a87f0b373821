"""Saved questions/searches/SQL and shared answers in PostgreSQL, written as loglens_writer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from loglens.agent.answer import Answer, Explanation
from loglens.agent.tools import DatabaseUnavailable
from loglens.db.connect import ConnectionProvider, connect
from loglens.query import saved as saved_module
from loglens.query.errors import Forbidden, NotFound, QueryInputError, TooLarge, error_status
from loglens.query.saved import (
    SavedKind,
    SavedStore,
    parse_saved,
    parse_saved_id,
    parse_share,
)


@pytest.fixture
def store(writer_url: str, db_url: str) -> Iterator[SavedStore]:
    provider = ConnectionProvider(lambda: writer_url, application="loglens-saved-test")
    yield SavedStore(provider)
    provider.discard()
    with connect(db_url) as conn:
        conn.execute("DELETE FROM saved_queries")
        conn.commit()


def answer(rows: int = 2) -> Answer:
    return Answer(
        question="errors per service?",
        sql="SELECT service, count(*) FROM logs WHERE created_at >= now() - interval '1 hour' GROUP BY 1 LIMIT 1000",
        columns=["service", "count"],
        rows=[[f"svc-{i}", i] for i in range(rows)],
        explanation=Explanation(summary="two services", key_insight="k", recommendation="r"),
    )


def test_each_kind_is_saved_listed_fetched_and_deleted(store: SavedStore) -> None:
    bodies: list[dict[str, Any]] = [
        {"kind": "question", "name": "errors", "body": {"question": "how many errors today?"}},
        {"kind": "search", "name": "checkout errors", "body": {"filters": {"service": "checkout", "level": "err"}}},
        {"kind": "sql", "name": "counts", "body": {"sql": "SELECT 1"}},
    ]
    created = [store.create(parse_saved(body), created_by="alice") for body in bodies]
    # The search body is stored as the search model reads it: levels normalised, the default limit filled in
    assert created[1].body == {"filters": {"service": "checkout", "level": ["ERROR"]}, "limit": 100}
    listed = store.list()
    assert [item.name for item in listed.items] == ["counts", "checkout errors", "errors"]
    assert [item.name for item in store.list(SavedKind.SQL).items] == ["counts"]
    assert store.get(created[0].id) == created[0]
    store.delete(created[0].id, by="alice")
    with pytest.raises(NotFound):
        store.get(created[0].id)
    with pytest.raises(NotFound):
        store.delete(created[0].id, by="alice")


def test_only_who_saved_an_entry_may_delete_it(store: SavedStore) -> None:
    item = store.create(parse_saved({"kind": "sql", "name": "mine", "body": {"sql": "SELECT 1"}}), created_by="alice")
    with pytest.raises(Forbidden) as caught:
        store.delete(item.id, by="mallory")
    assert (error_status(caught.value) or (0,))[0] == 403
    assert store.get(item.id).name == "mine"


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"kind": "note", "name": "x", "body": {}}, "kind", "'question', 'search' or 'sql'"),
        ({"kind": "sql", "name": "", "body": {"sql": "SELECT 1"}}, "name", "at least 1 character"),
        ({"kind": "sql", "name": "x" * 201, "body": {"sql": "SELECT 1"}}, "name", "at most 200"),
        ({"kind": "sql", "name": "a\x00", "body": {"sql": "SELECT 1"}}, None, "printable"),
        ({"kind": "sql", "name": "x", "body": {"sql": "SELECT 1 " * 3000}}, None, "saved sql: sql: String should"),
        ({"kind": "question", "name": "x", "body": {"question": ""}}, None, "saved question: question:"),
        (
            {"kind": "question", "name": "x", "body": {"sql": "SELECT 1"}},
            None,
            "saved question: question: Field required",
        ),
        ({"kind": "search", "name": "x", "body": {"filters": {"colour": "red"}}}, None, "filters.colour: unknown"),
        ({"kind": "search", "name": "x", "body": {"filters": {"level": "LOUD"}}}, None, "'LOUD' is not a level"),
        ({"kind": "search", "name": "x", "body": {"cursor": "abc"}}, None, "cursor: unknown field"),
        ({"kind": "sql", "name": "x", "body": {"sql": "SELECT 1"}, "owner": "x"}, "owner", "unknown field"),
    ],
)
def test_bad_entries_are_refused_with_the_field(body: dict[str, Any], field: str | None, words: str) -> None:
    with pytest.raises(QueryInputError) as caught:
        parse_saved(body)
    assert words in caught.value.message, caught.value.message
    if field is not None:
        assert caught.value.field == field


def test_ids_that_are_not_ours_are_not_found(store: SavedStore) -> None:
    for text in ("1; DROP TABLE saved_queries", "", "x" * 500):
        with pytest.raises(NotFound):
            parse_saved_id(text)
    with pytest.raises(NotFound):
        store.get(uuid.uuid4())
    for bad in ("../../etc/passwd", "a" * 21, "a" * 23, "' OR ''='"):
        with pytest.raises(NotFound) as caught:
            store.shared(bad)
        assert (error_status(caught.value) or (0,))[0] == 404


def test_the_number_of_entries_is_bounded(store: SavedStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(saved_module, "MAX_SAVED", 2)
    entry = parse_saved({"kind": "sql", "name": "x", "body": {"sql": "SELECT 1"}})
    store.create(entry, created_by="a")
    store.create(entry, created_by="a")
    with pytest.raises(QueryInputError, match="delete some first") as caught:
        store.create(entry, created_by="a")
    assert caught.value.code == "too_many"


def test_a_shared_answer_reads_back_unchanged_by_its_link(store: SavedStore) -> None:
    shared = store.share(parse_share({"answer": answer().model_dump(mode="json")}, 1000).answer, created_by="alice")
    assert len(shared.id) == 22
    again = store.shared(shared.id)
    assert again.answer == answer()
    assert again.created_by == "alice"
    assert store.share(answer(), created_by="bob").id != shared.id


def test_oversized_or_malformed_answers_are_refused(store: SavedStore) -> None:
    with pytest.raises(TooLarge) as caught:
        parse_share({}, saved_module.MAX_ANSWER_BYTES + 1)
    assert (error_status(caught.value) or (0,))[0] == 413
    with pytest.raises(TooLarge):
        store.share(answer(rows=100_000), created_by="alice")
    with pytest.raises(QueryInputError, match=r"answer\.explanation"):
        parse_share({"answer": {"question": "q"}}, 20)
    with pytest.raises(QueryInputError, match="answer"):
        parse_share({"answer": "<script>"}, 20)


def test_the_application_roles_cannot_change_what_was_shared(
    store: SavedStore, writer_url: str, analyst_url: str
) -> None:
    shared = store.share(answer(), created_by="alice")
    with connect(writer_url) as conn:
        for statement in ("UPDATE shared_answers SET answer = '{}'", "DELETE FROM shared_answers"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()
    with connect(analyst_url) as conn:
        for statement in ("SELECT * FROM shared_answers", "SELECT * FROM saved_queries"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()
    assert store.shared(shared.id).answer == answer()


def test_the_database_down_is_unavailable_and_the_store_recovers(store: SavedStore, db_url: str) -> None:
    gone = SavedStore(ConnectionProvider(lambda: "postgresql://nobody:x@127.0.0.1:9/none"))
    with pytest.raises(DatabaseUnavailable) as caught:
        gone.list()
    assert (error_status(caught.value) or (0,))[0] == 503
    store.list()
    with connect(db_url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'loglens-saved-test'"
        )
    with pytest.raises(DatabaseUnavailable):
        store.list()
    assert store.list().items == []
