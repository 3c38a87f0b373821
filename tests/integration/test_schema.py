"""The migrated schema: partitioning, indexes, the summary views and the roles' limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from loglens.db.connect import connect
from loglens.db.partitions import list_partitions
from loglens.query.runner import STORED_XID
from loglens.record import LOG_COLUMNS, column_sql_types
from tests.factories import insert_records, make_record

_PG_TYPE_NAMES = {"timestamptz": "timestamp with time zone"}


def test_columns_match_the_record_model(db_url: str) -> None:
    with connect(db_url) as conn:
        rows = conn.execute(
            """SELECT column_name, data_type FROM information_schema.columns
               WHERE table_name = 'logs' ORDER BY ordinal_position"""
        ).fetchall()
    # ... followed by the one storage column the record model does not have: who stored the row (tail).
    assert tuple(r[0] for r in rows) == (*LOG_COLUMNS, STORED_XID)
    expected = {name: _PG_TYPE_NAMES.get(t, t) for name, t in column_sql_types().items()} | {STORED_XID: "bigint"}
    assert {name: kind for name, kind in rows} == expected


def test_logs_is_range_partitioned_on_created_at_with_a_default(db_url: str) -> None:
    with connect(db_url) as conn:
        strategy, key = conn.execute(
            """SELECT p.partstrat, pg_get_partkeydef('logs'::regclass)
               FROM pg_partitioned_table p WHERE p.partrelid = 'logs'::regclass"""
        ).fetchone() or (None, None)
        partitions = list_partitions(conn)
    assert (strategy, key) == ("r", "RANGE (created_at)")
    assert [p.name for p in partitions if p.is_default] == ["logs_default"]


def test_today_and_next_seven_days_have_partitions(db_url: str) -> None:
    with connect(db_url) as conn:
        partitions = list_partitions(conn)
    starts = {p.start.date() for p in partitions if p.start is not None}
    today = datetime.now(UTC).date()
    assert {today + timedelta(days=n) for n in range(8)} <= starts
    for p in partitions:
        if p.start is not None and p.end is not None:
            assert p.end - p.start == timedelta(days=1)


def test_row_from_two_years_ago_lands_in_default(db_url: str) -> None:
    old = datetime.now(UTC) - timedelta(days=730)
    with connect(db_url) as conn:
        insert_records(conn, [make_record(created_at=old, message="ancient")])
        where = conn.execute("SELECT tableoid::regclass::text FROM logs WHERE message = 'ancient'").fetchone()
        conn.commit()
    assert where == ("logs_default",)


def test_todays_row_lands_in_todays_partition(db_url: str) -> None:
    now = datetime.now(UTC)
    with connect(db_url) as conn:
        insert_records(conn, [make_record(created_at=now, message="fresh")])
        where = conn.execute("SELECT tableoid::regclass::text FROM logs WHERE message = 'fresh'").fetchone()
        conn.commit()
    assert where == (f"logs_d{now:%Y%m%d}",)


def test_origin_indexes_exist_on_every_partition(db_url: str) -> None:
    with connect(db_url) as conn:
        parent = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'logs'")}
        partition_count = len(list_partitions(conn))
        per_index = conn.execute(
            """SELECT i.indexrelid::regclass::text, count(*) FROM pg_inherits h
               JOIN pg_index i ON i.indexrelid = h.inhparent
               WHERE i.indrelid = 'logs'::regclass GROUP BY 1"""
        ).fetchall()
    assert {"idx_service_level_time", "idx_error_service_time", "idx_user_time", "idx_trace",
            "idx_metadata_gin", "logs_pkey"} <= parent
    assert all(count == partition_count for _, count in per_index)


def test_duplicate_event_is_refused_by_the_key(db_url: str) -> None:
    record = make_record(message="once")
    with connect(db_url) as conn:
        insert_records(conn, [record])
        with pytest.raises(psycopg.errors.UniqueViolation):
            insert_records(conn, [record])
        conn.rollback()


def test_every_view_refreshes_concurrently_after_inserts(db_url: str) -> None:
    now = datetime.now(UTC)
    records = [
        make_record(created_at=now - timedelta(minutes=i), level="ERROR" if i % 3 == 0 else "INFO",
                    error_type="DatabaseConnectionTimeout" if i % 3 == 0 else None,
                    endpoint="/pay" if i % 2 else None, duration_ms=float(i), user_id=f"u{i % 4}")
        for i in range(30)
    ]
    with connect(db_url, autocommit=True) as conn:
        with conn.transaction():
            insert_records(conn, records)
        conn.execute("SET ROLE loglens_owner")
        for view in ("daily_log_summary", "error_patterns", "performance_metrics"):
            conn.execute(f"REFRESH MATERIALIZED VIEW {view}")  # a concurrent refresh needs one populated refresh
            conn.execute(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {view}")
        total = conn.execute("SELECT sum(log_count) FROM daily_log_summary").fetchone()
        errors = conn.execute(
            "SELECT sum(occurrences) FROM error_patterns WHERE error_type = 'DatabaseConnectionTimeout'"
        ).fetchone()
        requests = conn.execute("SELECT sum(request_count) FROM performance_metrics").fetchone()
        logged = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE level = 'ERROR'), count(duration_ms) FROM logs"
        ).fetchone()
    assert logged is not None
    assert total == (logged[0],)
    assert errors == (logged[1],)
    assert requests == (logged[2],)


# -- the analyst role: what holds even if the SQL guard were bypassed --------------------------

@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO logs (event_id, received_at, created_at, level, service, message, source) "
        "VALUES (gen_random_uuid(), now(), now(), 'INFO', 'x', 'y', 'api')",
        "UPDATE logs SET message = 'changed'",
        "DELETE FROM logs",
        "CREATE TABLE analyst_table (x int)",
        "CREATE TEMP TABLE analyst_temp (x int)",
        "TRUNCATE logs",
        "DROP TABLE logs",
        "REFRESH MATERIALIZED VIEW daily_log_summary",
        "SELECT * FROM load_ledger",
        "SELECT * FROM schema_migrations",
        "SELECT * FROM logs_default",
    ],
)
def test_analyst_cannot_write_create_or_read_beyond_logs(analyst_url: str, statement: str) -> None:
    with connect(analyst_url) as conn, pytest.raises(psycopg.Error) as failure:
        conn.execute(statement)
    assert isinstance(failure.value, psycopg.errors.ReadOnlySqlTransaction | psycopg.errors.InsufficientPrivilege)


def test_analyst_cannot_write_even_after_leaving_read_only(analyst_url: str) -> None:
    with connect(analyst_url, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM logs")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TEMP TABLE sneaky (x int)")


def test_analyst_can_read_logs_and_views(analyst_url: str) -> None:
    with connect(analyst_url) as conn:
        conn.execute("SELECT count(*) FROM logs WHERE created_at > now() - interval '1 day'").fetchone()
        for view in ("daily_log_summary", "error_patterns", "performance_metrics"):
            conn.execute(f"SELECT * FROM {view} LIMIT 1").fetchall()
        read_only = conn.execute("SHOW transaction_read_only").fetchone()
    assert read_only == ("on",)


def test_analyst_pg_sleep_is_cancelled_by_its_statement_timeout(db_url: str, analyst_url: str) -> None:
    with connect(analyst_url) as conn:
        (timeout,) = conn.execute("SHOW statement_timeout").fetchone() or ("",)
        assert timeout == "15s"
        conn.execute("SET statement_timeout = '300ms'")  # same mechanism, kept short for the test
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(5)")


def test_writer_can_insert_but_not_delete(writer_url: str) -> None:
    with connect(writer_url) as conn:
        insert_records(conn, [make_record(message="from writer")])
        conn.commit()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM logs")
