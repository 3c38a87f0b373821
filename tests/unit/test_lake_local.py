"""The local lake without a database: buffer files, flushes with dedup, the snapshot, compaction, LocalLake.

Rows come from the record model (or the demo generator) exactly as the loader produces them; DuckDB writes
and reads real Parquet files in a temporary LOGLENS_HOME. The per-day checksum the lake computes is checked
against the archive's own Python implementation.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from loglens.agent.catalog import lake_catalog
from loglens.devtools.demo import DemoPlan, generate_rows
from loglens.devtools.lake.buffer import BufferSink, buffer_state, buffered_files
from loglens.devtools.lake.engine import connect_duckdb, sql_text
from loglens.devtools.lake.flush import MAX_SMALL_FILES, flush
from loglens.devtools.lake.flusher import LakeFlusher
from loglens.devtools.lake.local import LocalLake
from loglens.devtools.lake.snapshot import GRACE, LakeLayout, read_snapshot
from loglens.lake.query import ATHENA_MIN_BYTES, LakeQueryError, LakeQueryTimeout, athena_cost_usd
from loglens.lake.schema import duckdb_types
from loglens.lake.verify import day_totals_sql, lake_day_totals
from loglens.lifecycle.archive import Checksum, row_hash
from loglens.record import LOG_COLUMNS
from loglens.sqlguard import check_sql
from tests.factories import make_record

DAY = date(2026, 3, 9)
NOON = datetime(2026, 3, 9, 12, tzinfo=UTC)
_MESSAGE = LOG_COLUMNS.index("message")
_CREATED = LOG_COLUMNS.index("created_at")
_EVENT = LOG_COLUMNS.index("event_id")


@pytest.fixture
def layout(tmp_path: Path) -> LakeLayout:
    return LakeLayout.under(tmp_path)


def deliver(layout: LakeLayout, *batches: list[tuple[Any, ...]]) -> None:
    """One loaded object's rows, forwarded batch by batch and flushed, as the loader does."""
    sink = BufferSink(layout)
    for rows in batches:
        sink.add(rows)
    sink.flush()


def rows_at(moment: datetime, count: int, **fields: Any) -> list[tuple[Any, ...]]:
    return [make_record(created_at=moment + timedelta(seconds=i), **fields).db_row() for i in range(count)]


def lake_rows(layout: LakeLayout, where: str = "created_at >= TIMESTAMP '2026-01-01 00:00:00'") -> list[list[Any]]:
    result = LocalLake(layout).run(f"SELECT event_id, message, service, level FROM logs WHERE {where}")
    return result.rows


def test_a_flush_writes_one_zstd_parquet_file_per_day_in_the_iceberg_layout(layout: LakeLayout) -> None:
    deliver(layout, rows_at(NOON, 3), rows_at(NOON + timedelta(days=1), 2))

    result = flush(layout)

    assert (result.rows_read, result.rows_written, result.duplicates) == (5, 5, 0)
    assert result.days == [DAY, DAY + timedelta(days=1)]
    snapshot = read_snapshot(layout)
    assert [(f.day, f.rows) for f in snapshot.files] == [(DAY, 3), (DAY + timedelta(days=1), 2)]
    for data in snapshot.files:
        assert data.path.startswith(f"data/created_at_day={data.day.isoformat()}/") and data.path.endswith(".parquet")
        assert set(data.column_bytes) == set(LOG_COLUMNS)
        codecs = connect_duckdb().execute(
            f"SELECT DISTINCT compression FROM parquet_metadata({sql_text(str(layout.path_of(data.path)))})"
        )
        assert codecs.fetchall() == [("ZSTD",)]
    assert buffered_files(layout) == []  # delivered: the buffer is empty


def test_every_column_comes_back_as_stored(layout: LakeLayout) -> None:
    record = make_record(
        created_at=NOON,
        level="error",
        service="payment-api",
        message='card "declined"\nline two',
        http_status_code=502,
        duration_ms=12.5,
        user_id="u-1",
        metadata={"order": {"id": 7, "tags": ["a", "ü"]}},
    )
    sealed_metadata = msgspec.Raw(b'{"from":"a sealed line"}')  # how sealed blocks bring metadata
    sealed = make_record(created_at=NOON + timedelta(seconds=1)).db_row()
    sealed = (*sealed[: LOG_COLUMNS.index("metadata")], sealed_metadata, *sealed[LOG_COLUMNS.index("metadata") + 1 :])
    deliver(layout, [record.db_row(), sealed])
    flush(layout)

    result = LocalLake(layout).run(
        "SELECT * FROM logs WHERE created_at >= TIMESTAMP '2026-03-09 00:00:00' ORDER BY created_at"
    )

    assert result.columns == list(LOG_COLUMNS)
    first = dict(zip(result.columns, result.rows[0], strict=True))
    assert first["event_id"] == str(record.event_id)
    assert first["created_at"] == "2026-03-09T12:00:00"  # UTC, microseconds kept
    assert first["level"] == "ERROR" and first["message"] == 'card "declined"\nline two'
    assert first["http_status_code"] == 502 and first["duration_ms"] == 12.5
    assert json.loads(first["metadata"]) == {"order": {"id": 7, "tags": ["a", "ü"]}}
    assert json.loads(result.rows[1][LOG_COLUMNS.index("metadata")]) == {"from": "a sealed line"}


def test_a_key_already_in_the_lake_or_repeated_in_the_buffer_is_stored_once(layout: LakeLayout) -> None:
    rows = rows_at(NOON, 4)
    deliver(layout, rows[:3])
    flush(layout)
    # Given: a retried object (rows 0-2 again), an object that repeats a key within itself, and a new row
    retried = [(*row[:_MESSAGE], "the retry", *row[_MESSAGE + 1 :]) for row in rows[:3]]
    deliver(layout, retried)
    deliver(layout, [rows[3]], [rows[3]])

    result = flush(layout)

    assert (result.rows_read, result.rows_written, result.duplicates) == (5, 1, 4)
    stored = lake_rows(layout)
    assert len(stored) == 4 and len({r[0] for r in stored}) == 4
    assert "the retry" not in {r[1] for r in stored}  # the first stored wins, as in PostgreSQL


def test_within_one_flush_the_first_delivered_wins(layout: LakeLayout) -> None:
    [row] = rows_at(NOON, 1)
    deliver(layout, [(*row[:_MESSAGE], "first", *row[_MESSAGE + 1 :])])
    time.sleep(0.01)  # buffer names are delivery times in nanoseconds
    deliver(layout, [(*row[:_MESSAGE], "second", *row[_MESSAGE + 1 :])])

    flush(layout)

    assert [r[1] for r in lake_rows(layout)] == ["first"]


def test_the_same_event_id_at_another_time_is_another_row(layout: LakeLayout) -> None:
    [row] = rows_at(NOON, 1)
    later = (*row[:_CREATED], NOON + timedelta(hours=1), *row[_CREATED + 1 :])
    deliver(layout, [row, later])

    assert flush(layout).rows_written == 2


def test_an_unreadable_buffer_file_is_set_aside_and_named_and_the_rest_is_delivered(layout: LakeLayout) -> None:
    deliver(layout, rows_at(NOON, 2))
    layout.buffer.mkdir(parents=True, exist_ok=True)
    (layout.buffer / "00000000000000000001-broken.json").write_bytes(b'[["not", "a row"')
    deliver(layout, rows_at(NOON + timedelta(minutes=5), 3))

    result = flush(layout)

    assert result.rejected_files == ["00000000000000000001-broken.json"]
    assert (layout.rejected / "00000000000000000001-broken.json").exists()
    assert result.rows_written == 5 and len(lake_rows(layout)) == 5
    assert buffered_files(layout) == []


def test_a_load_that_never_flushed_leaves_only_a_temporary_file_which_a_later_flush_removes(
    layout: LakeLayout,
) -> None:
    sink = BufferSink(layout)
    sink.add(rows_at(NOON, 2))  # the load failed before its commit: flush() never ran
    [temporary] = list(layout.buffer.glob(".*.tmp"))
    assert buffered_files(layout) == []  # not a delivery: no flush reads it

    flush(layout)
    assert temporary.exists()  # a load may still be writing it
    stale = time.time() - 2 * 3600
    os.utime(temporary, (stale, stale))
    flush(layout)
    assert not temporary.exists() and lake_rows(layout) == []


def test_many_small_files_of_a_day_are_compacted_into_one_atomically(layout: LakeLayout) -> None:
    for i in range(MAX_SMALL_FILES + 1):
        deliver(layout, rows_at(NOON + timedelta(minutes=i), 2))
        result = flush(layout)
    assert result.compacted == MAX_SMALL_FILES + 1
    snapshot = read_snapshot(layout)
    assert [f.rows for f in snapshot.files] == [2 * (MAX_SMALL_FILES + 1)]
    assert len(snapshot.obsolete) == MAX_SMALL_FILES + 1
    # The replaced files stay readable for queries that began before, then go
    assert all(layout.path_of(o.path).exists() for o in snapshot.obsolete)
    flush(layout, now=datetime.now(UTC) + GRACE)
    assert read_snapshot(layout).obsolete == ()
    assert len(list(layout.data.rglob("*.parquet"))) == 1
    assert len(lake_rows(layout)) == 2 * (MAX_SMALL_FILES + 1)


def test_a_data_file_no_snapshot_lists_is_removed(layout: LakeLayout) -> None:
    deliver(layout, rows_at(NOON, 1))
    flush(layout)
    stray = layout.data / "created_at_day=2026-03-09" / "left-by-a-crash.parquet"
    stray.write_bytes(b"PAR1")
    flush(layout, now=datetime.now(UTC) + GRACE)
    assert not stray.exists() and len(lake_rows(layout)) == 1


def test_the_lakes_checksum_is_the_archives(layout: LakeLayout) -> None:
    plan = DemoPlan(end=NOON + timedelta(hours=6), days=2, records=3000)
    rows = list(generate_rows(plan))
    deliver(layout, rows[:1500], rows[1500:])
    flush(layout)
    expected: dict[date, Checksum] = {}
    for row in rows:
        day = row[_CREATED].date()
        expected[day] = expected.get(day, Checksum()) + Checksum(1, row_hash(row[_CREATED], row[_EVENT]))

    lake = LocalLake(layout)
    assert {day: lake_day_totals(lake, day)[0] for day in expected} == expected
    empty, engine = lake_day_totals(lake, date(2020, 1, 1))
    assert (empty, engine) == (Checksum(), "duckdb")


def test_the_checksum_statement_is_trino_the_guard_can_parse() -> None:
    import sqlglot

    tree = sqlglot.parse_one(day_totals_sql(DAY), read="athena")
    assert tree.find(sqlglot.exp.Where) is not None
    assert "TIMESTAMP '2026-03-09 00:00:00.000000'" in day_totals_sql(DAY)


def test_a_guarded_query_reports_what_athena_would_scan_for_the_days_and_columns_it_reads(
    layout: LakeLayout,
) -> None:
    for offset in range(3):
        deliver(layout, rows_at(NOON + timedelta(days=offset), 50, service=f"svc-{offset}"))
    flush(layout)
    lake = LocalLake(layout)
    files = read_snapshot(layout).files

    def scanned(sql: str) -> int:
        verdict = check_sql(sql, lake_catalog(), dialect="trino")
        assert verdict.allowed and verdict.sql, verdict.reason
        return lake.run(verdict.sql).bytes_scanned

    one_day = scanned(
        "SELECT service, count(*) FROM logs WHERE created_at >= TIMESTAMP '2026-03-10 00:00:00' "
        "AND created_at < TIMESTAMP '2026-03-11 00:00:00' GROUP BY service"
    )
    tenth = next(f for f in files if f.day == date(2026, 3, 10))
    assert one_day == tenth.column_bytes["service"] + tenth.column_bytes["created_at"]
    all_days = scanned(
        "SELECT service, count(*) FROM logs WHERE created_at >= TIMESTAMP '2026-03-01 00:00:00' GROUP BY 1"
    )
    assert all_days == sum(f.column_bytes["service"] + f.column_bytes["created_at"] for f in files)
    everything = scanned("SELECT * FROM logs WHERE created_at >= TIMESTAMP '2026-03-01 00:00:00'")
    assert everything == sum(sum(f.column_bytes.values()) for f in files)
    two_windows = scanned(
        "SELECT count(*) FROM logs WHERE (created_at >= TIMESTAMP '2026-03-09 00:00:00' AND created_at < "
        "TIMESTAMP '2026-03-09 01:00:00') OR (created_at >= TIMESTAMP '2026-03-11 00:00:00' AND created_at < "
        "TIMESTAMP '2026-03-11 01:00:00')"
    )
    assert one_day < two_windows <= all_days
    assert scanned("SELECT count(*) FROM logs WHERE created_at >= current_timestamp - INTERVAL '1' HOUR") == 0


def test_the_answer_carries_athenas_price() -> None:
    assert athena_cost_usd(0) == athena_cost_usd(ATHENA_MIN_BYTES) == pytest.approx(10 / 1024 / 1024 * 5)
    assert athena_cost_usd(1 << 40) == pytest.approx(5.0)
    assert athena_cost_usd(ATHENA_MIN_BYTES + 1) > athena_cost_usd(ATHENA_MIN_BYTES)


def test_an_empty_lake_answers_with_no_rows_and_its_columns(layout: LakeLayout) -> None:
    result = LocalLake(layout).run(
        "SELECT level, count(*) AS n FROM logs WHERE created_at >= TIMESTAMP '2026-03-01 00:00:00' GROUP BY level"
    )
    assert (result.columns, result.rows, result.bytes_scanned) == (["level", "n"], [], 0)
    assert LocalLake(layout).extent().empty


def test_the_extent_comes_from_the_snapshot(layout: LakeLayout) -> None:
    deliver(layout, rows_at(NOON, 2), rows_at(NOON + timedelta(days=2), 1))
    flush(layout)
    extent = LocalLake(layout).extent()
    assert (extent.first_day, extent.last_day, extent.rows) == (DAY, DAY + timedelta(days=2), 3)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*) FROM read_parquet('/etc/hostname')",
        "SELECT * FROM read_text('/etc/passwd')",
        "COPY (SELECT 1) TO '/tmp/loglens-lake-escape.csv'",
        "ATTACH '/tmp/loglens-lake-escape.db' AS other",
        "SET enable_external_access = true",
        "INSTALL httpfs",
    ],
)
def test_the_engine_reads_nothing_but_the_snapshots_files_even_without_the_guard(layout: LakeLayout, sql: str) -> None:
    deliver(layout, rows_at(NOON, 1))
    flush(layout)
    with pytest.raises(LakeQueryError):
        LocalLake(layout).run(sql)
    assert not Path("/tmp/loglens-lake-escape.csv").exists() and not Path("/tmp/loglens-lake-escape.db").exists()


def test_a_query_past_its_time_is_interrupted(layout: LakeLayout) -> None:
    deliver(layout, rows_at(NOON, 1))
    flush(layout)
    heavy = "SELECT count(*) FROM logs, range(100000000) a, range(1000) b WHERE created_at >= TIMESTAMP '2026-03-01'"
    with pytest.raises(LakeQueryTimeout, match=r"longer than 0\.2 s"):
        LocalLake(layout, timeout_seconds=0.2).run(heavy)


def test_sql_that_is_not_trino_is_an_error_for_the_model(layout: LakeLayout) -> None:
    with pytest.raises(LakeQueryError, match="does not parse"):
        LocalLake(layout).run("SELECT FROM WHERE (")


def test_the_flusher_is_due_at_its_size_or_its_age(layout: LakeLayout) -> None:
    now = [datetime.now(UTC)]
    flusher = LakeFlusher(layout, max_bytes=10_000, max_age=timedelta(seconds=60), clock=lambda: now[0])
    assert not flusher.due()  # nothing buffered
    deliver(layout, rows_at(NOON, 1))
    assert not flusher.due()
    now[0] += timedelta(seconds=61)
    assert flusher.due() and flusher.flush_if_due() is not None
    assert buffer_state(layout).files == 0
    deliver(layout, rows_at(NOON, 40, message="x" * 400))  # past 10 kB at once
    now[0] = datetime.now(UTC)
    assert flusher.due()


def test_the_flusher_thread_delivers_by_age_and_once_more_when_stopped(layout: LakeLayout) -> None:
    flusher = LakeFlusher(layout, max_bytes=1 << 30, max_age=timedelta(0), poll_seconds=0.05).start()
    deliver(layout, rows_at(NOON, 3))
    deadline = time.monotonic() + 30
    while buffered_files(layout) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(lake_rows(layout)) == 3
    flusher.max_age = timedelta(days=1)
    deliver(layout, rows_at(NOON + timedelta(hours=1), 2))
    flusher.stop()
    assert len(lake_rows(layout)) == 5 and flusher.failures == 0


def test_the_local_types_cover_every_column() -> None:
    types = duckdb_types()
    assert list(types) == list(LOG_COLUMNS)
    assert Counter(types.values()) == Counter(
        {"VARCHAR": len(LOG_COLUMNS) - 6, "TIMESTAMP": 2, "INTEGER": 3, "DOUBLE": 1}
    )
