"""Live tail on the real database: every record stored after the cursor comes exactly once, whatever its times
and whenever its transaction commits."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from loglens.agent.tools import DatabaseUnavailable
from loglens.db.connect import ConnectionProvider, connect, with_user
from loglens.query.errors import QueryInputError
from loglens.query.runner import QueryLimits, QueryRunner
from loglens.query.tail import TailResult, parse_tail, parse_tail_query, run_tail
from loglens.record import LogRecord
from tests.conftest import ROLE_PASSWORD
from tests.factories import insert_records, make_record


@pytest.fixture
def runner(fresh_db_url: str) -> Iterator[QueryRunner]:
    provider = ConnectionProvider(lambda: with_user(fresh_db_url, "loglens_analyst", ROLE_PASSWORD))
    yield QueryRunner(provider, QueryLimits())
    provider.discard()


def store(url: str, *records: LogRecord) -> list[str]:
    with connect(url) as conn:
        insert_records(conn, list(records))
        conn.commit()
    return [str(r.event_id) for r in records]


def poll(runner: QueryRunner, cursor: str | None = None, **params: str) -> TailResult:
    return run_tail(runner, parse_tail_query({**params, **({"cursor": cursor} if cursor else {})}))


def ids(result: TailResult) -> list[str]:
    return [row[result.columns.index("event_id")] for row in result.rows]


def test_the_first_poll_shows_recent_records_then_follows(runner: QueryRunner, fresh_db_url: str) -> None:
    # Given two recent records and one from an hour ago
    now = datetime.now(UTC)
    recent = store(
        fresh_db_url,
        make_record(created_at=now - timedelta(minutes=2), message="two minutes ago"),
        make_record(created_at=now - timedelta(minutes=1), message="a minute ago"),
        make_record(created_at=now - timedelta(hours=1), message="an hour ago"),
    )
    # When tail starts: the recent ones, oldest first
    first = poll(runner)
    assert ids(first) == recent[:2]
    assert first.columns[:3] == ["event_id", "received_at", "created_at"]
    assert "stored_xid" not in first.columns
    # Then a poll with nothing new returns nothing, and new records come once each
    assert poll(runner, first.cursor).rows == []
    late = make_record(created_at=now - timedelta(days=3), message="a late record with an old time")
    fresh = make_record(message="just now")
    after = poll(runner, first.cursor)
    assert ids(after) == []
    new = store(fresh_db_url, late, fresh)
    following = poll(runner, after.cursor)
    assert sorted(ids(following)) == sorted(new)
    assert poll(runner, following.cursor).rows == []


def test_a_transaction_that_commits_late_is_not_skipped(runner: QueryRunner, fresh_db_url: str) -> None:
    # Given tail is following
    cursor = poll(runner).cursor
    slow = make_record(message="stored by a slow load, received first")
    quick = make_record(message="stored by a quick load, received second")
    with connect(fresh_db_url) as long_load:
        # When one load inserts (and holds its transaction open) while a later one commits
        insert_records(long_load, [slow])
        store(fresh_db_url, quick)
        seen = poll(runner, cursor)
        # Then the committed record shows at once; the open transaction holds back nothing but its own rows
        assert ids(seen) == [str(quick.event_id)]
        assert poll(runner, seen.cursor).rows == []
        long_load.commit()
    # And when the slow one commits, its record comes on the next poll, though its received_at is older
    late = poll(runner, seen.cursor)
    assert ids(late) == [str(slow.event_id)]
    assert poll(runner, late.cursor).rows == []


def test_a_rolled_back_load_never_shows(runner: QueryRunner, fresh_db_url: str) -> None:
    cursor = poll(runner).cursor
    with connect(fresh_db_url) as aborted:
        insert_records(aborted, [make_record(message="never stored")])
        middle = poll(runner, cursor)
        aborted.rollback()
    assert middle.rows == []
    assert poll(runner, middle.cursor).rows == []


def test_a_burst_is_read_in_pages_without_loss_or_repeats(runner: QueryRunner, fresh_db_url: str) -> None:
    # Given a burst of 250 records in one load and 30 more in another
    cursor = poll(runner).cursor
    burst = store(fresh_db_url, *[make_record(message=f"burst {i}") for i in range(250)])
    more = store(fresh_db_url, *[make_record(message=f"more {i}") for i in range(30)])
    # When tail polls with pages of 100, with records arriving between pages
    seen: list[str] = []
    arriving: list[str] = []
    pages = []
    for round_ in range(10):
        result = poll(runner, cursor, limit="100")
        pages.append((len(result.rows), result.limit_reached))
        seen += ids(result)
        cursor = result.cursor
        if round_ < 3:
            arriving += store(fresh_db_url, make_record(message=f"arriving {round_}"))
        if not result.rows and round_ >= 3:
            break
    # Then every record came once, in the order stored: the burst, the next load, then what arrived meanwhile
    assert seen == burst + more + arriving
    # (the third page ends the snapshot the first one took; what arrived while paging comes after it)
    assert pages[:5] == [(100, True), (100, True), (80, False), (3, False), (0, False)]


def test_filters_apply_to_the_records_that_arrive(runner: QueryRunner, fresh_db_url: str) -> None:
    cursor = poll(runner, service="api", level="error,fatal", contains="BOOM").cursor
    wanted = store(
        fresh_db_url,
        make_record(service="api", level="ERROR", message="boom at checkout"),
        make_record(service="api", level="FATAL", message="Big BOOM"),
    )
    store(
        fresh_db_url,
        make_record(service="api", level="INFO", message="boom but info"),
        make_record(service="web", level="ERROR", message="boom elsewhere"),
        make_record(service="api", level="ERROR", message="quiet failure"),
    )
    result = poll(runner, cursor, service="api", level="error,fatal", contains="BOOM")
    assert ids(result) == wanted
    with pytest.raises(QueryInputError, match="other filters") as caught:
        poll(runner, result.cursor, service="web")
    assert caught.value.field == "cursor"


def _forge(cursor: str, **changes: Any) -> str:
    data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    data.update(changes)
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_forged_and_foreign_cursors_are_refused(runner: QueryRunner, fresh_db_url: str) -> None:
    cursor = poll(runner).cursor
    snapshot = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["p"]
    for forged, words in (
        (_forge(cursor, p={"xmin": 1, "xmax": 2**62}), "ahead of this database"),
        (_forge(cursor, p={"xmin": 5, "xmax": 3}), "xmin after xmax"),
        (_forge(cursor, p={**snapshot, "xip": ["1; DROP TABLE logs"]}), "malformed (p.xip.0"),
        (_forge(cursor, p={**snapshot, "xip": list(range(1, 1002))}), "malformed (p.xip"),
        (_forge(cursor, a={"x": 1, "at": "2026-01-01T00:00:00+00:00", "id": "6f1d3c1e-4d0b-5a59-9a57-6c6f676c656e"}),
         "page position needs its snapshot"),
        (_forge(cursor, v=7), "malformed (v"),
        ("%%%", "not a cursor issued by this server"),
    ):  # fmt: skip
        with pytest.raises(QueryInputError) as caught:
            poll(runner, forged)
        assert caught.value.field == "cursor"
        assert words in caught.value.message, caught.value.message
    with pytest.raises(QueryInputError, match="limit"):
        poll(runner, cursor, limit="100000")
    with pytest.raises(QueryInputError, match="NUL"):
        run_tail(runner, parse_tail({"filters": {"contains": "a\x00"}}))


def test_the_database_going_away_is_unavailable_not_a_crash(fresh_db_url: str) -> None:
    gone = QueryRunner(ConnectionProvider(lambda: "postgresql://nobody:x@127.0.0.1:9/none"), QueryLimits())
    with pytest.raises(DatabaseUnavailable):
        run_tail(gone, parse_tail({}))


def test_stored_xid_is_set_for_every_insert_path_and_kept_by_partition_moves(fresh_db_url: str) -> None:
    # Given a record that lands in DEFAULT (no partition for its day yet) and one in a partition
    from loglens.db.partitions import ensure_partitions

    far = datetime.now(UTC) + timedelta(days=40)
    store(fresh_db_url, make_record(created_at=far, message="future"), make_record(message="today"))
    with connect(fresh_db_url) as conn:
        before = dict(conn.execute("SELECT message, stored_xid FROM logs").fetchall())
    # When maintenance creates the partition and moves the row out of DEFAULT
    with connect(fresh_db_url, autocommit=True) as conn:
        conn.execute("SET ROLE loglens_owner")
        ensure_partitions(conn, far.date(), far.date())
    with connect(fresh_db_url) as conn:
        after = dict(conn.execute("SELECT message, stored_xid FROM logs").fetchall())
        where = conn.execute("SELECT tableoid::regclass::text FROM logs WHERE message = 'future'").fetchone()
    # Then both rows got the id of their storing transaction, and the move kept it (tail does not repeat them)
    assert before == after
    assert all(isinstance(x, int) and x > 0 for x in after.values())
    assert where is not None and where[0] != "logs_default"


def test_the_analyst_cannot_write_the_tail_column(runner: QueryRunner) -> None:
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), runner.transaction() as conn:
        conn.execute("UPDATE logs SET stored_xid = 1")
