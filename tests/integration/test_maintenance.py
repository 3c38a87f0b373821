"""maintain: partitions ahead and for rows waiting in DEFAULT, summary views, the Lambda and the dev timers."""

from __future__ import annotations

import argparse
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from loglens.db.connect import connect
from loglens.db.partitions import list_partitions, partition_name
from loglens.devtools.cli import maintenance as maintenance_cli
from loglens.devtools.local.timers import MaintenanceTimers, TimedJob, start_timers
from loglens.lifecycle.maintenance import (
    SUMMARY_VIEWS,
    Task,
    maintain,
    maintain_partitions,
    materialized_views,
    owner_connection,
    prune_shared_answers,
    refresh_views,
    task_from_event,
)
from loglens.settings import Granularity, Settings
from tests.factories import insert_records, make_record

SETTINGS = Settings.from_env({})
TODAY = datetime.now(UTC).date()


class _Context:
    function_name = "loglens-maintain-test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:loglens-maintain-test"
    aws_request_id = "req-maintain"

    def get_remaining_time_in_millis(self) -> int:
        return 600_000


def _at(day: date, *, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(minutes=minute)


def _name(day: date) -> str:
    return partition_name(day, Granularity.DAY)


def _counts(conn: psycopg.Connection[Any]) -> tuple[int, int, int]:
    row = conn.execute(
        """SELECT count(*), count(DISTINCT (created_at, event_id)),
                  count(*) FILTER (WHERE tableoid = 'logs_default'::regclass) FROM logs"""
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def test_partitions_are_created_ahead_and_backfilled_after_weeks_without_a_run(fresh_db_url: str) -> None:
    # Given: the job last ran today, then not for 40 days; rows of day +25 arrived meanwhile (into DEFAULT)
    later = TODAY + timedelta(days=40)
    gap_day = TODAY + timedelta(days=25)
    with owner_connection(fresh_db_url) as conn:
        with conn.transaction():
            insert_records(conn, [make_record(created_at=_at(gap_day, minute=i)) for i in range(30)])
        # When: it runs again
        report = maintain_partitions(conn, SETTINGS, today=later)
        names = {p.name for p in list_partitions(conn)}
        never_analyzed = conn.execute(
            "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND reltuples < 0", (report.created,)
        ).fetchall()
        placement = conn.execute(
            "SELECT tableoid::regclass::text, count(*) FROM logs GROUP BY 1",
        ).fetchall()
    # Then: today+40 .. today+40+N exist, and the gap day got its partition with its rows
    ahead = [_name(later + timedelta(days=n)) for n in range(SETTINGS.partition_days_ahead + 1)]
    assert report.created == [*ahead, _name(gap_day)]
    assert report.from_default == [_name(gap_day)]
    assert report.moved_rows == {_name(gap_day): 30}
    assert set(ahead) | {_name(gap_day)} <= names
    assert never_analyzed == []
    assert placement == [(_name(gap_day), 30)]


def test_default_rows_move_into_their_new_partitions_without_loss_or_duplicates(fresh_db_url: str) -> None:
    # Given: rows for two past days without partitions, and one far in the future, all in DEFAULT
    days = [TODAY - timedelta(days=3), TODAY - timedelta(days=10), TODAY + timedelta(days=400)]
    records = [make_record(created_at=_at(day, minute=i), message=f"m{i}") for day in days for i in range(40)]
    with owner_connection(fresh_db_url) as conn:
        with conn.transaction():
            insert_records(conn, records)
        before = _counts(conn)
        # When
        report = maintain_partitions(conn, SETTINGS)
        again = maintain_partitions(conn, SETTINGS)
        after = _counts(conn)
        wrong_place = conn.execute(
            """SELECT count(*) FROM logs
               WHERE tableoid::regclass::text <> 'logs_d' || to_char(created_at AT TIME ZONE 'UTC', 'YYYYMMDD')"""
        ).fetchone()
    # Then: one partition per day, every row moved once, nothing left in DEFAULT
    assert before == (120, 120, 120)
    assert after == (120, 120, 0)
    assert report.from_default == sorted(_name(d) for d in days)
    assert report.moved_rows == {_name(d): 40 for d in days}
    assert (again.created, again.moved_rows) == ([], {})
    assert wrong_place == (0,)


def test_inserts_during_the_default_move_are_not_lost(fresh_db_url: str) -> None:
    # Given: rows of a past day waiting in DEFAULT, and a writer adding more of them all the time
    day = TODAY - timedelta(days=5)
    with owner_connection(fresh_db_url) as conn, conn.transaction():
        insert_records(conn, [make_record(created_at=_at(day), message=f"seed {i}") for i in range(300)])
    stop = threading.Event()
    written: list[int] = []
    failures: list[BaseException] = []

    def writer() -> None:
        n = 0
        try:
            with owner_connection(fresh_db_url) as conn:
                while not stop.is_set() and n < 500:
                    with conn.transaction():
                        insert_records(conn, [make_record(created_at=_at(day, minute=n % 1000), message=f"live {n}")])
                    n += 1
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)
        written.append(n)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.05)
        with owner_connection(fresh_db_url) as conn:
            report = maintain_partitions(conn, SETTINGS)
    finally:
        stop.set()
        thread.join(timeout=60)
    # Then: every row written before, during and after the move is there once, none in DEFAULT
    with owner_connection(fresh_db_url) as conn:
        total, distinct, in_default = _counts(conn)
    assert failures == []
    assert _name(day) in report.created
    assert total == distinct == 300 + written[0]
    assert in_default == 0


def _summary_rows(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    daily = conn.execute(
        "SELECT level, log_count FROM daily_log_summary WHERE service = 'checkout-api' ORDER BY level"
    ).fetchall()
    errors = conn.execute(
        "SELECT error_type, occurrences FROM error_patterns WHERE service = 'checkout-api'"
    ).fetchall()
    perf = conn.execute(
        "SELECT endpoint, request_count, max_duration_ms FROM performance_metrics WHERE service = 'checkout-api'"
    ).fetchall()
    return {"daily": daily, "errors": errors, "perf": perf}


def test_views_refresh_concurrently_while_read_and_show_new_rows(fresh_db_url: str) -> None:
    # Given: new rows the views have not seen, and an analyst in the middle of reading a view
    now = datetime.now(UTC) - timedelta(minutes=5)
    records = [
        make_record(
            created_at=now + timedelta(seconds=i),
            service="checkout-api",
            level="ERROR" if i < 2 else "INFO",
            error_type="PaymentTimeout" if i < 2 else None,
            endpoint="/api/v1/checkout",
            method="POST",
            duration_ms=10.0 * (i + 1),
        )
        for i in range(7)
    ]
    with owner_connection(fresh_db_url) as conn:
        with conn.transaction():
            insert_records(conn, records)
        assert _summary_rows(conn) == {"daily": [], "errors": [], "perf": []}
        with connect(fresh_db_url) as reader:
            reader.execute("SELECT count(*) FROM daily_log_summary").fetchone()  # holds its lock until rollback
            # A plain REFRESH would wait for the reader (ACCESS EXCLUSIVE); a concurrent one does not.
            conn.execute("SET lock_timeout = '3s'")
            # When
            refreshed = refresh_views(conn)
            reader.rollback()
        rows = _summary_rows(conn)
    # Then: every materialized view, the origin document's three among them, concurrently
    with owner_connection(fresh_db_url) as conn:
        assert [r.view for r in refreshed] == materialized_views(conn)
    assert set(SUMMARY_VIEWS) <= {r.view for r in refreshed}
    assert all(r.concurrently for r in refreshed)
    assert rows == {
        "daily": [("ERROR", 2), ("INFO", 5)],
        "errors": [("PaymentTimeout", 2)],
        "perf": [("/api/v1/checkout", 7, 70.0)],
    }


def test_a_view_never_populated_gets_one_plain_refresh_first(fresh_db_url: str) -> None:
    with owner_connection(fresh_db_url) as conn:
        conn.execute("REFRESH MATERIALIZED VIEW error_patterns WITH NO DATA")
        first = refresh_views(conn, ["error_patterns"])
        second = refresh_views(conn, ["error_patterns"])
        populated = conn.execute("SELECT ispopulated FROM pg_matviews WHERE matviewname = 'error_patterns'").fetchone()
    assert [r.concurrently for r in first + second] == [False, True]
    assert populated == (True,)


@pytest.fixture
def maintain_handler(fresh_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """functions/maintain.py as deployed, but with the test database."""
    monkeypatch.setenv("DATABASE_URL", fresh_db_url)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "maintain")
    from functions import maintain

    yield maintain


@pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")  # the rejected event publishes none
def test_lambda_handles_the_scheduled_events(maintain_handler: Any, fresh_db_url: str) -> None:
    # Given: rows for a past day waiting in DEFAULT
    day = TODAY - timedelta(days=2)
    with owner_connection(fresh_db_url) as conn, conn.transaction():
        insert_records(conn, [make_record(created_at=_at(day, minute=i)) for i in range(5)])
    # When: EventBridge sends the two scheduled payloads the CDK app defines
    partitions = maintain_handler.handler({"task": "partitions"}, _Context())
    views = maintain_handler.handler({"task": "views"}, _Context())
    # Then: JSON summaries of what each did
    assert partitions["task"] == "partitions"
    assert partitions["partitions"]["from_default"] == [_name(day)]
    assert partitions["partitions"]["moved_rows"] == {_name(day): 5}
    assert "views" not in partitions
    assert views["task"] == "views" and "partitions" not in views
    assert set(SUMMARY_VIEWS) <= {v["view"] for v in views["views"]}
    assert all(v["concurrently"] for v in views["views"])
    with pytest.raises(ValueError, match="unknown maintenance task 'vacuum'"):
        maintain_handler.handler({"task": "vacuum"}, _Context())


def test_cli_maintain_command(
    fresh_db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    day = TODAY - timedelta(days=6)
    with owner_connection(fresh_db_url) as conn, conn.transaction():
        insert_records(conn, [make_record(created_at=_at(day))])
    monkeypatch.setenv("DATABASE_URL", fresh_db_url)
    monkeypatch.setenv("COLUMNS", "200")
    parser = argparse.ArgumentParser(prog="loglens")
    maintenance_cli.register(parser.add_subparsers(dest="command", required=True))

    def run(*argv: str) -> str:
        args = parser.parse_args(list(argv))
        assert args.handler(args) == 0
        return capsys.readouterr().out

    partitions = run("maintain", "--partitions-only")
    views = run("maintain", "--views-only")
    both = run("maintain")
    assert f"partition {_name(day)}" in partitions and "rows waiting in DEFAULT" in partitions
    assert "view daily_log_summary" not in partitions
    assert "view daily_log_summary" in views and "refreshed concurrently" in views and "partition" not in views
    assert "all present" in both and "view performance_metrics" in both
    with pytest.raises(SystemExit):
        parser.parse_args(["maintain", "--views-only", "--partitions-only"])


def test_task_from_event() -> None:
    assert task_from_event({"task": "views"}) is Task.VIEWS
    with pytest.raises(ValueError, match="expected one of 'partitions', 'views', 'all'"):
        task_from_event({})


def test_timers_run_each_job_on_its_own_interval() -> None:
    clock = [0.0]
    calls: list[str] = []

    def failing() -> None:
        calls.append("archive")
        raise RuntimeError("bucket unreachable")

    timers = MaintenanceTimers(
        [
            TimedJob("partitions", timedelta(days=1), lambda: calls.append("partitions")),
            TimedJob("views", timedelta(hours=1), lambda: calls.append("views"), first_after=timedelta(minutes=1)),
            TimedJob("archive", timedelta(days=1), failing, first_after=timedelta(minutes=10)),
        ],
        clock=lambda: clock[0],
    )
    assert timers.run_pending() == ["partitions"]  # at start
    clock[0] = 60
    assert timers.run_pending() == ["views"]
    clock[0] = 600
    assert timers.run_pending() == ["archive"]  # fails, is logged, does not stop the others
    clock[0] = 3660
    assert timers.run_pending() == ["views"]
    clock[0] = 86_400
    assert timers.run_pending() == ["partitions", "views"]
    assert timers.runs == Counter({"views": 3, "partitions": 2, "archive": 1})
    assert timers.failures == Counter({"archive": 1})


def test_start_timers_runs_the_partitions_job_at_start(fresh_db_url: str, tmp_path: Path) -> None:
    day = TODAY - timedelta(days=4)
    with owner_connection(fresh_db_url) as conn, conn.transaction():
        insert_records(conn, [make_record(created_at=_at(day))])
    timers = start_timers(Settings(home=tmp_path), fresh_db_url)
    try:
        deadline = time.monotonic() + 30
        while timers.runs["partitions"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        timers.stop()
    with owner_connection(fresh_db_url) as conn:
        names = {p.name for p in list_partitions(conn)}
    assert [job.name for job in timers.jobs] == ["partitions", "views", "archive", "alerts"]
    assert (timers.runs["partitions"], timers.failures) == (1, Counter())
    assert _name(day) in names


def test_the_partitions_job_deletes_shared_answers_past_their_days(fresh_db_url: str) -> None:
    # Given answers shared 100, 89 and 0 days ago (the console's links), and the default of 90 days
    with connect(fresh_db_url) as conn:
        for answer_id, age in (("a" * 22, 100), ("b" * 22, 89), ("c" * 22, 0)):
            conn.execute(
                "INSERT INTO shared_answers (id, answer, created_by, created_at) "
                "VALUES (%s, '{}'::jsonb, 'test', now() - make_interval(days => %s))",
                (answer_id, age),
            )
        conn.commit()
    # When the daily partitions task runs (as the maintain Lambda and `loglens dev`'s timer run it)
    with owner_connection(fresh_db_url) as conn:
        maintain(conn, SETTINGS, Task.PARTITIONS)
        # Then only the answer older than 90 days is gone; a shorter setting takes more
        left = [r[0] for r in conn.execute("SELECT id FROM shared_answers ORDER BY id").fetchall()]
        assert left == ["b" * 22, "c" * 22]
        assert prune_shared_answers(conn, 30) == 1
        assert prune_shared_answers(conn, 30) == 0
    assert Settings.from_env({"LOGLENS_SHARED_ANSWER_DAYS": "7"}).shared_answer_days == 7
