"""Partition management: creating ahead, backfilling after a gap, moving rows out of DEFAULT."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from loglens.db.connect import connect
from loglens.db.partitions import ensure_partitions, list_partitions, partition_name, periods
from loglens.settings import Granularity
from tests.factories import insert_records, make_record


def _names(url: str) -> set[str]:
    with connect(url) as conn:
        return {p.name for p in list_partitions(conn)}


def test_periods_cover_the_range_for_each_granularity() -> None:
    assert periods(date(2026, 11, 29), date(2026, 12, 1), Granularity.DAY) == [
        (date(2026, 11, 29), date(2026, 11, 30)), (date(2026, 11, 30), date(2026, 12, 1)),
        (date(2026, 12, 1), date(2026, 12, 2)),
    ]
    assert periods(date(2026, 11, 29), date(2026, 12, 1), Granularity.WEEK) == [
        (date(2026, 11, 23), date(2026, 11, 30)), (date(2026, 11, 30), date(2026, 12, 7)),
    ]
    assert periods(date(2026, 12, 31), date(2027, 1, 1), Granularity.MONTH) == [
        (date(2026, 12, 1), date(2027, 1, 1)), (date(2027, 1, 1), date(2027, 2, 1)),
    ]
    assert partition_name(date(2026, 11, 23), Granularity.WEEK) == "logs_w20261123"


def test_backfills_after_weeks_without_a_run(fresh_db_url: str) -> None:
    start = datetime.now(UTC).date() + timedelta(days=40)  # beyond the prepared window: a gap
    with connect(fresh_db_url, autocommit=True) as conn:
        first = ensure_partitions(conn, start, start + timedelta(days=2))
        again = ensure_partitions(conn, start - timedelta(days=3), start + timedelta(days=2))
    assert first.created == [partition_name(start + timedelta(days=n), Granularity.DAY) for n in range(3)]
    assert again.created == [partition_name(start - timedelta(days=n), Granularity.DAY) for n in (3, 2, 1)]
    assert set(first.created + again.created) <= _names(fresh_db_url)


def test_default_rows_move_into_their_new_partition(fresh_db_url: str) -> None:
    day = datetime.now(UTC).date() + timedelta(days=60)
    when = datetime(day.year, day.month, day.day, 6, tzinfo=UTC)
    records = [make_record(created_at=when + timedelta(minutes=i), message=f"early {i}") for i in range(25)]
    other = make_record(created_at=when + timedelta(days=1), message="next day stays in default")
    with connect(fresh_db_url, autocommit=True) as conn:
        with conn.transaction():
            insert_records(conn, [*records, other])
        before = conn.execute("SELECT count(*) FROM logs").fetchone()
        result = ensure_partitions(conn, day, day)
        after = conn.execute("SELECT count(*), count(DISTINCT event_id) FROM logs").fetchone()
        placement = dict(conn.execute(
            "SELECT tableoid::regclass::text, count(*) FROM logs WHERE created_at >= %s GROUP BY 1", (when,)
        ).fetchall())
    name = partition_name(day, Granularity.DAY)
    assert result.moved_rows == {name: 25}
    assert before == (26,) and after == (26, 26)
    assert placement == {name: 25, "logs_default": 1}


def test_concurrent_inserts_during_the_move_are_not_lost(fresh_db_url: str) -> None:
    day = datetime.now(UTC).date() + timedelta(days=70)
    when = datetime(day.year, day.month, day.day, 1, tzinfo=UTC)
    with connect(fresh_db_url, autocommit=True) as conn, conn.transaction():
        insert_records(conn, [make_record(created_at=when, message=f"seed {i}") for i in range(200)])
    stop = threading.Event()
    inserted: list[int] = []
    failures: list[BaseException] = []

    def writer() -> None:
        n = 0
        try:
            with connect(fresh_db_url, autocommit=True) as conn:
                while not stop.is_set() and n < 400:
                    with conn.transaction():
                        insert_records(conn, [make_record(created_at=when + timedelta(seconds=n), message=f"live {n}")])
                    n += 1
        except BaseException as exc:  # surfaced by the assertion below
            failures.append(exc)
        inserted.append(n)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        with connect(fresh_db_url, autocommit=True) as conn:
            result = ensure_partitions(conn, day, day)
    finally:
        stop.set()
        thread.join(timeout=60)
    with connect(fresh_db_url) as conn:
        total, distinct, in_default = conn.execute(
            """SELECT count(*), count(DISTINCT event_id),
                      count(*) FILTER (WHERE tableoid = 'logs_default'::regclass) FROM logs"""
        ).fetchone() or (0, 0, 0)
    assert failures == []
    assert result.created == [partition_name(day, Granularity.DAY)]
    assert total == distinct == 200 + inserted[0]
    assert in_default == 0


def test_ensure_needs_autocommit(fresh_db_url: str) -> None:
    with connect(fresh_db_url) as conn, pytest.raises(ValueError, match="autocommit"):
        ensure_partitions(conn, date.today(), date.today())
