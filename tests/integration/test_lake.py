"""The lake tier against a real PostgreSQL: the load path feeds the local lake, retention by tier, restore.

Rows reach both stores the way they do under `loglens dev`: sealed raw objects (as collect writes them) are
loaded by the Loader, which forwards what it validated to the local lake's buffer before it commits; a
flush delivers the buffer into Parquet. Then each day is compared (count and checksum, recorded in
lake_verifications), partitions past retention are verified in the lake and dropped, and a day comes back
from the lake.
"""

from __future__ import annotations

import argparse
import gzip
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from loglens.db.connect import ConnectionProvider, connect
from loglens.db.partitions import list_partitions, partition_name
from loglens.devtools.cli import lake as lake_cli
from loglens.devtools.cli import maintenance as maintenance_cli
from loglens.devtools.lake.buffer import BufferSink
from loglens.devtools.lake.flush import flush
from loglens.devtools.lake.local import LocalLake
from loglens.devtools.lake.snapshot import LakeLayout
from loglens.ingest.envelope import Sealer, pack_records, to_line
from loglens.ingest.notifications import Loader, ObjectRef
from loglens.ingest.objects import LocalObjectStore
from loglens.lake.verify import compare_day
from loglens.lifecycle.archive import LakeTier, State, archive_expired
from loglens.lifecycle.maintenance import owner_connection
from loglens.lifecycle.restore_lake import restore_day_from_lake
from loglens.record import LOG_COLUMNS, LogRecord
from loglens.settings import Granularity, Settings
from tests.factories import insert_records, make_record

SEALER = Sealer(b"k" * 32)
# Rows 40 days old must pass the load's acceptance window, and be past the 30-day retention.
SETTINGS = Settings(retention_days=30, accept_days_back=90)
NOW = datetime.now(UTC)
OLD_DAY = NOW.date() - timedelta(days=40)
OLD = datetime(OLD_DAY.year, OLD_DAY.month, OLD_DAY.day, tzinfo=UTC)
DAYS = [OLD_DAY - timedelta(days=1), OLD_DAY, OLD_DAY + timedelta(days=1)]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def layout(home: Path) -> LakeLayout:
    return LakeLayout.under(home)


@pytest.fixture
def lake(layout: LakeLayout) -> LocalLake:
    return LocalLake(layout)


def varied(start: datetime, n: int, tag: str = "") -> list[LogRecord]:
    return [
        make_record(
            created_at=start + timedelta(minutes=37 * i, microseconds=i * 13 + 1),
            level=("INFO", "ERROR", "WARN", "DEBUG")[i % 4],
            service=("payment-api", "order-api", "search")[i % 3],
            message=f'event {i}{tag}: ünïcödé "quoted"\nsecond line',
            http_status_code=(200, 500, 404)[i % 3],
            duration_ms=(12.0, 0.125, 1234.5678)[i % 3],
            metadata={"i": i, "nested": {"list": [1, 2.5, None]}},
        )
        for i in range(n)
    ]


class Loading:
    """Raw objects in a local store, loaded as `loglens dev` loads them (sealed, forwarded to the lake)."""

    def __init__(self, db_url: str, home: Path, sinks: Callable[[], Any]) -> None:
        self.store = LocalObjectStore(home / "spool")
        self.loader = Loader(self.store, ConnectionProvider(lambda: db_url), SETTINGS, sealer=SEALER, lake=sinks)
        self.count = 0

    def put(self, records: Sequence[LogRecord]) -> str:
        self.count += 1
        key = f"raw/{NOW:%Y/%m/%d/%H}/object-{self.count:04d}.gz"
        body = b"".join(pack_records([to_line(r) for r in records], SEALER))
        self.store.put(key, gzip.compress(body))
        return key

    def load(self, records: Sequence[LogRecord]) -> Any:
        return self.loader.load(ObjectRef(None, self.put(records), None))


@pytest.fixture
def loading(fresh_db_url: str, home: Path, layout: LakeLayout) -> Loading:
    with owner_connection(fresh_db_url) as conn:
        from loglens.db.partitions import ensure_partitions

        ensure_partitions(conn, DAYS[0], DAYS[-1])
    return Loading(fresh_db_url, home, lambda: BufferSink(layout))


def compare_all(url: str, lake: LocalLake, days: Sequence[date] = DAYS) -> list[tuple[date, int, int, bool]]:
    with owner_connection(url) as conn:
        out = []
        for day in days:
            c = compare_day(conn, lake, day)
            out.append((day, c.postgres.rows, c.lake.rows, c.matches))
        return out


def counts_by(url: str, lake: LocalLake, column: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Rows per day and `column` in PostgreSQL and in the lake (as `loglens lake query` would count)."""
    with connect(url) as conn:
        in_pg = conn.execute(
            f"SELECT (created_at AT TIME ZONE 'UTC')::date::text, {column}, count(*) FROM logs "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
    result = lake.run(
        f"SELECT CAST(CAST(created_at AS date) AS varchar), {column}, count(*) FROM logs "
        "WHERE created_at >= TIMESTAMP '2000-01-01 00:00:00' GROUP BY 1, 2 ORDER BY 1, 2"
    )
    return [tuple(r) for r in in_pg], [tuple(r) for r in result.rows]


def lake_count(lake: LocalLake) -> int:
    result = lake.run("SELECT count(*) FROM logs WHERE created_at >= TIMESTAMP '2000-01-01 00:00:00'")
    return int(result.rows[0][0])


def ledger_rows(url: str) -> list[tuple[Any, ...]]:
    with connect(url) as conn:
        return conn.execute(
            "SELECT day, pg_rows, lake_rows, matches, engine, purpose FROM lake_verifications ORDER BY id"
        ).fetchall()


def test_what_the_loader_stores_reaches_the_lake_with_the_same_counts_and_checksums(
    loading: Loading, fresh_db_url: str, layout: LakeLayout, lake: LocalLake
) -> None:
    loading.load(varied(OLD - timedelta(hours=6), 60))
    loading.load(varied(OLD + timedelta(hours=20), 40, tag="b"))

    flushed = flush(layout)

    assert flushed.rows_written == 100
    for column in ("service", "level"):
        in_pg, in_lake = counts_by(fresh_db_url, lake, column)
        assert in_pg == in_lake and sum(r[2] for r in in_pg) == 100
    compared = compare_all(fresh_db_url, lake)
    assert all(matches for *_, matches in compared) and sum(rows for _, rows, _, _ in compared) == 100
    assert [(r[4], r[5]) for r in ledger_rows(fresh_db_url)] == [("duckdb", "check")] * 3


def test_a_retried_record_and_a_replayed_object_are_stored_once_in_both(
    loading: Loading, fresh_db_url: str, layout: LakeLayout, lake: LocalLake
) -> None:
    records = varied(OLD, 30)
    first = loading.load(records)
    # A client retry of three records in another request, and the same object replayed after the ledger forgot it
    retried = loading.load(records[:3])
    with connect(fresh_db_url, autocommit=True) as conn:
        conn.execute("DELETE FROM load_ledger WHERE object_key = %s", (first.key,))
    replayed = loading.loader.load(ObjectRef(None, first.key, None))
    assert replayed is not None
    assert (first.loaded, retried.duplicates, replayed.duplicates) == (30, 3, 30)

    assert flush(layout).rows_written == 30
    assert lake_count(lake) == 30
    assert all(matches for *_, matches in compare_all(fresh_db_url, lake))


class _FailsAfterForwarding(BufferSink):
    """Forwards, then fails as a commit would (the database went away at that moment)."""

    def flush(self) -> None:
        super().flush()
        raise psycopg.OperationalError("the connection was lost at the commit")


def test_a_load_that_fails_after_forwarding_is_loaded_again_and_the_lake_keeps_one_copy(
    fresh_db_url: str, home: Path, layout: LakeLayout, lake: LocalLake
) -> None:
    failing = Loading(fresh_db_url, home, lambda: _FailsAfterForwarding(layout))
    records = varied(OLD, 20)
    key = failing.put(records)
    with pytest.raises(psycopg.OperationalError):
        failing.loader.load(ObjectRef(None, key, None))
    with connect(fresh_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM logs").fetchone() == (0,)  # nothing committed

    retry = Loading(fresh_db_url, home, lambda: BufferSink(layout))
    retry.store = failing.store
    result = retry.loader.load(ObjectRef(None, key, None))

    assert result is not None and result.loaded == 20
    assert flush(layout).duplicates == 20 and lake_count(lake) == 20
    assert all(matches for *_, matches in compare_all(fresh_db_url, lake))


def archive(url: str, home: Path, layout: LakeLayout, **kwargs: Any) -> Any:
    tier = LakeTier(LocalLake(layout), deliver_pending=lambda: flush(layout))
    with owner_connection(url) as conn:
        kwargs.setdefault("now", NOW)
        return archive_expired(conn, LocalObjectStore(home), SETTINGS, lake=tier, **kwargs)


def partitions(url: str) -> list[str]:
    with connect(url) as conn:
        return [p.name for p in list_partitions(conn)]


def archive_ledger(url: str) -> list[tuple[Any, ...]]:
    with connect(url) as conn:
        return conn.execute(
            "SELECT partition_name, state, manifest_keys, row_count FROM archive_ledger ORDER BY partition_name, "
            "generation"
        ).fetchall()


def test_a_partition_past_retention_is_dropped_only_after_the_lake_holds_its_rows(
    loading: Loading, fresh_db_url: str, home: Path, layout: LakeLayout, lake: LocalLake
) -> None:
    loading.load(varied(OLD, 30))  # not flushed yet: the archive's lake step delivers the buffer first
    name = partition_name(OLD_DAY, Granularity.DAY)

    result = archive(fresh_db_url, home, layout)

    outcome = next(o for o in result.outcomes if o.partition == name)
    assert outcome.actions == ["verified in the lake", "detached", "dropped"] and outcome.error is None
    assert name not in partitions(fresh_db_url)
    assert (name, "dropped", [], 30) in archive_ledger(fresh_db_url)
    assert not (home / "archive").exists()  # no gzip archive for new data
    retire = [r for r in ledger_rows(fresh_db_url) if r[5] == "retire"]
    assert (OLD_DAY, 30, 30, True, "duckdb", "retire") in retire
    assert lake_count(lake) == 30  # and the lake still answers for the day


def test_a_day_the_lake_does_not_match_keeps_its_partition_and_says_why(
    loading: Loading, fresh_db_url: str, home: Path, layout: LakeLayout
) -> None:
    loading.load(varied(OLD, 10))
    with owner_connection(fresh_db_url) as conn, conn.transaction():
        insert_records(conn, varied(OLD + timedelta(hours=3), 2, tag="only in postgres"))  # never forwarded
    name = partition_name(OLD_DAY, Granularity.DAY)

    result = archive(fresh_db_url, home, layout)

    outcome = next(o for o in result.outcomes if o.partition == name)
    assert outcome.error is not None and "partition is kept" in outcome.error
    assert f"{OLD_DAY}: PostgreSQL ({name}) holds 12 rows" in outcome.error and "the lake 10" in outcome.error
    assert name in partitions(fresh_db_url)
    assert not any(row[0] == name for row in archive_ledger(fresh_db_url))
    assert (OLD_DAY, 12, 10, False, "duckdb", "retire") in ledger_rows(fresh_db_url)


def test_rows_forwarded_after_verification_are_checked_in_the_lake_again_before_the_drop(
    loading: Loading, fresh_db_url: str, home: Path, layout: LakeLayout
) -> None:
    loading.load(varied(OLD, 10))
    name = partition_name(OLD_DAY, Granularity.DAY)

    def late_load(partition: str, state: State) -> None:
        if partition == name and state is State.VERIFIED:
            loading.load(varied(OLD + timedelta(hours=5), 3, tag="late"))  # a replay of old raw data

    result = archive(fresh_db_url, home, layout, after_step=late_load)

    outcome = next(o for o in result.outcomes if o.partition == name)
    assert "verified in the lake again (rows arrived after verification)" in outcome.actions
    assert outcome.actions[-1] == "dropped" and outcome.rows == 13
    assert (name, "dropped", [], 13) in archive_ledger(fresh_db_url)


def test_a_day_comes_back_from_the_lake_and_retires_again_when_its_hold_ends(
    loading: Loading, fresh_db_url: str, home: Path, layout: LakeLayout, lake: LocalLake
) -> None:
    loading.load(varied(OLD, 25))
    stored = f"SELECT {', '.join(LOG_COLUMNS)} FROM logs ORDER BY created_at, event_id"
    with connect(fresh_db_url) as conn:
        before = conn.execute(stored).fetchall()
    archive(fresh_db_url, home, layout)
    name = partition_name(OLD_DAY, Granularity.DAY)
    assert name not in partitions(fresh_db_url)

    with owner_connection(fresh_db_url) as conn:
        restored = restore_day_from_lake(conn, lake, SETTINGS, OLD_DAY, keep_days=2, now=NOW)
        again = restore_day_from_lake(conn, lake, SETTINGS, OLD_DAY, keep_days=2, now=NOW)

    assert (restored.inserted, restored.duplicates, restored.verified_by) == (25, 0, "checksum")
    assert (again.inserted, again.duplicates) == (0, 25)
    with connect(fresh_db_url) as conn:
        assert conn.execute(stored).fetchall() == before
    held = archive(fresh_db_url, home, layout)
    assert next(o for o in held.outcomes if o.partition == name).actions[0].startswith("held until")
    later = archive(fresh_db_url, home, layout, now=NOW + timedelta(days=3))
    assert next(o for o in later.outcomes if o.partition == name).actions[-1] == "dropped"
    assert [r[5] for r in ledger_rows(fresh_db_url)].count("restore") == 2


def test_restoring_a_day_the_lake_does_not_have_is_a_clear_error(fresh_db_url: str, lake: LocalLake) -> None:
    from loglens.lifecycle.restore import RestoreError

    absent = date(2020, 1, 1)
    with owner_connection(fresh_db_url) as conn, pytest.raises(RestoreError, match=f"no rows for {absent} in the"):
        restore_day_from_lake(conn, lake, SETTINGS, absent)


@pytest.fixture
def cli_env(fresh_db_url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", fresh_db_url)
    monkeypatch.setenv("LOGLENS_HOME", str(home))
    monkeypatch.setenv("LOGLENS_LAKE", "local")
    monkeypatch.setenv("COLUMNS", "200")
    yield


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="loglens")
    commands = parser.add_subparsers(dest="command", required=True)
    lake_cli.register(commands)
    maintenance_cli.register(commands)
    args = parser.parse_args(argv)
    return int(args.handler(args))


def test_cli_verify_says_same_or_shows_the_hours_that_differ(
    loading: Loading, fresh_db_url: str, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    loading.load(varied(OLD, 10))  # the buffer is flushed by verify itself
    assert run_cli(["lake", "verify", "--day", OLD_DAY.isoformat()]) == 0
    assert f"{OLD_DAY}: the same" in capsys.readouterr().out

    with owner_connection(fresh_db_url) as conn, conn.transaction():
        insert_records(conn, varied(OLD + timedelta(hours=7, minutes=1), 1, tag="not forwarded"))
    assert run_cli(["lake", "verify", "--day", OLD_DAY.isoformat()]) == 1
    printed = capsys.readouterr().out
    assert "DIFFERENT" in printed and "hours that differ" in printed and "07:00" in printed


def test_cli_restore_takes_a_day_from_the_lake_when_the_archive_has_none(
    loading: Loading,
    fresh_db_url: str,
    home: Path,
    layout: LakeLayout,
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    loading.load(varied(OLD, 12))
    archive(fresh_db_url, home, layout)

    assert run_cli(["restore", "--day", OLD_DAY.isoformat()]) == 0

    printed = capsys.readouterr().out
    assert "the lake (duckdb)" in printed and "checksum" in printed
    with connect(fresh_db_url) as conn:
        assert conn.execute("SELECT count(*) FROM logs").fetchone() == (12,)
