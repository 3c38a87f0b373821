"""archive and restore: partitions past retention → verified archive (a directory or moto S3) → dropped → back."""

from __future__ import annotations

import argparse
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from loglens.db.partitions import ensure_partitions, list_partitions, partition_name
from loglens.devtools.cli import maintenance as maintenance_cli
from loglens.ingest.objects import LocalObjectStore, ObjectInfo, ObjectStore
from loglens.lifecycle.archive import (
    ArchiveStoreMissing,
    PartLimits,
    State,
    archive_expired,
    open_archive_store,
    part_lines,
    row_hash,
    total_of,
)
from loglens.lifecycle.maintenance import maintain_partitions, owner_connection
from loglens.lifecycle.restore import restore_day
from loglens.record import LOG_COLUMNS
from loglens.settings import Granularity, Settings
from tests.aws_fakes import FakeAws
from tests.factories import insert_records, make_record

ARCHIVE_BUCKET = "loglens-archive-test"
SETTINGS = Settings(retention_days=30)
NOW = datetime.now(UTC)
OLD_DAY = NOW.date() - timedelta(days=45)
NAME = partition_name(OLD_DAY, Granularity.DAY)
PREFIX = f"archive/day={OLD_DAY.isoformat()}/"
SMALL_PARTS = PartLimits(max_rows=40)


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


class _Context:
    function_name = "loglens-archive-test"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:loglens-archive-test"
    aws_request_id = "req-archive"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def _start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def seed(url: str, n: int, day: date = OLD_DAY) -> None:
    """`n` varied rows on `day` (in their own partition), some with server fields only the load path sets."""
    records = [
        make_record(
            created_at=_start(day) + timedelta(seconds=61 * i, microseconds=i * 7 + 1),
            level=("INFO", "ERROR", "WARN", "DEBUG")[i % 4],
            service=("payment-api", "order-api")[i % 2],
            message=f'event {i}: ünïcödé "quoted" and a\nsecond line',
            user_id=f"user-{i % 9}" if i % 3 else None,
            http_status_code=(200, 500, 404)[i % 3],
            duration_ms=(12.0, 0.125, 1234.5678)[i % 3],
            endpoint="/api/v1/pay",
            method="post",
            stack_trace="Traceback:\n  line 1\n\tline 2" if i % 4 == 1 else None,
            screen_width=1920 if i % 5 == 0 else None,
            metadata={"i": i, "nested": {"list": [1, 2.5, None, {"deep": True}]}, "text": "x\\y\u2028z"},
        )
        for i in range(n)
    ]
    with owner_connection(url) as conn:
        with conn.transaction():
            insert_records(conn, records)
            conn.execute(
                """UPDATE logs SET source_ip = '203.0.113.9', api_key_id = 'key-1'
                   WHERE created_at >= %s AND created_at < %s AND http_status_code = 500""",
                (_start(day), _start(day) + timedelta(days=1)),
            )
        ensure_partitions(conn, day, day)


def day_rows(url: str, day: date = OLD_DAY) -> list[tuple[Any, ...]]:
    with connect_owner(url) as conn:
        return conn.execute(
            # The record's columns: stored_xid says which transaction stored a row, and a restore stores it anew.
            f"SELECT {', '.join(LOG_COLUMNS)} FROM logs WHERE created_at >= %s AND created_at < %s "
            "ORDER BY created_at, event_id",
            (_start(day), _start(day) + timedelta(days=1)),
        ).fetchall()


def connect_owner(url: str) -> psycopg.Connection[Any]:
    return owner_connection(url)


def archive(url: str, store: ObjectStore, **kwargs: Any) -> Any:
    with owner_connection(url) as conn:
        kwargs.setdefault("now", NOW)
        kwargs.setdefault("limits", SMALL_PARTS)
        return archive_expired(conn, store, SETTINGS, **kwargs)


def restore(url: str, store: ObjectStore, day: date = OLD_DAY, **kwargs: Any) -> Any:
    with owner_connection(url) as conn:
        return restore_day(conn, store, SETTINGS, day, **kwargs)


def partition_names(url: str) -> set[str]:
    with owner_connection(url) as conn:
        return {p.name for p in list_partitions(conn)}


def ledger(url: str) -> list[tuple[Any, ...]]:
    with owner_connection(url) as conn:
        return conn.execute(
            "SELECT partition_name, generation, state, row_count FROM archive_ledger ORDER BY 1, 2"
        ).fetchall()


def tables_like(url: str, pattern: str) -> list[str]:
    with owner_connection(url) as conn:
        return [r[0] for r in conn.execute("SELECT relname FROM pg_class WHERE relname LIKE %s", (pattern,))]


def keys(store: ObjectStore, prefix: str = "archive/") -> list[str]:
    return sorted(info.key for info in store.list(prefix))


def archived_checksum(store: ObjectStore) -> tuple[int, int]:
    """Rows and checksum of everything in the archive's parts, read back independently."""
    total = 0
    value = 0
    for key in keys(store):
        if key.endswith(".json.gz"):
            with store.open(key) as fh:
                for line in part_lines(fh.read()):
                    row = json.loads(line)
                    total += 1
                    value += row_hash(datetime.fromisoformat(row["created_at"]), _uuid(row["event_id"]))
    return total, value % (1 << 64)


def table_checksum_of(rows: list[tuple[Any, ...]]) -> tuple[int, int]:
    created, event = LOG_COLUMNS.index("created_at"), LOG_COLUMNS.index("event_id")
    return len(rows), sum(row_hash(r[created], r[event]) for r in rows) % (1 << 64)


def _uuid(text: str) -> Any:
    import uuid

    return uuid.UUID(text)


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="loglens")
    maintenance_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args))


def test_archive_verifies_drops_and_restore_brings_back_identical_rows(fresh_db_url: str, tmp_path: Path) -> None:
    # Given: a partition 45 days old with 130 varied rows (past the 30-day retention)
    seed(fresh_db_url, 130)
    before = day_rows(fresh_db_url)
    store = LocalObjectStore(tmp_path)
    # When: the archive runs
    result = archive(fresh_db_url, store)
    # Then: exported in bounded parts, verified, detached, dropped
    (outcome,) = result.outcomes
    assert (outcome.partition, outcome.actions, outcome.rows, outcome.parts) == (
        NAME,
        ["exported", "verified", "detached", "dropped"],
        130,
        4,
    )
    assert result.failed == []
    assert NAME not in partition_names(fresh_db_url)
    assert tables_like(fresh_db_url, f"{NAME}%") == []
    assert ledger(fresh_db_url) == [(NAME, 0, "dropped", 130)]
    assert keys(store) == [PREFIX + "_manifest.json"] + [PREFIX + f"part-0000{i}.json.gz" for i in range(4)]
    assert (tmp_path / PREFIX / "_manifest.json").is_file()
    manifest = json.loads((tmp_path / PREFIX / "_manifest.json").read_bytes())
    assert (manifest["row_count"], [p["rows"] for p in manifest["parts"]]) == (130, [40, 40, 40, 10])
    assert archived_checksum(store) == table_checksum_of(before)
    assert day_rows(fresh_db_url) == []

    # When: the day is restored, twice
    first = restore(fresh_db_url, store)
    second = restore(fresh_db_url, store)
    # Then: the same rows, column for column, stored once
    assert day_rows(fresh_db_url) == before
    assert (first.inserted, first.duplicates, first.verified_by, first.partitions_created) == (
        130,
        0,
        "checksum",
        [NAME],
    )
    assert (second.inserted, second.duplicates, second.partitions_created) == (0, 130, [])


def test_restored_day_is_held_then_dropped_again_without_a_second_copy(fresh_db_url: str, tmp_path: Path) -> None:
    seed(fresh_db_url, 50)
    store = LocalObjectStore(tmp_path)
    archive(fresh_db_url, store)
    restore(fresh_db_url, store, keep_days=7, now=NOW)
    # While held, the scheduled run leaves the restored day alone
    held = archive(fresh_db_url, store)
    assert held.outcomes[0].actions[0].startswith("held until")
    assert NAME in partition_names(fresh_db_url)
    # Once the hold ends, the rows are found already archived: dropped, no new generation of files
    later = archive(fresh_db_url, store, now=NOW + timedelta(days=8))
    assert later.outcomes[0].actions == ["already archived", "exported", "verified", "detached", "dropped"]
    assert NAME not in partition_names(fresh_db_url)
    assert [k for k in keys(store) if "g1" in k] == []
    assert ledger(fresh_db_url) == [(NAME, 0, "dropped", 50), (NAME, 1, "dropped", 50)]


def test_s3_layout_is_time_keyed_gzip_json_lines_that_athena_can_read(
    fresh_db_url: str, fake_aws: FakeAws, tmp_path: Path
) -> None:
    fake_aws.s3.create_bucket(Bucket=ARCHIVE_BUCKET)
    seed(fresh_db_url, 30)
    before = day_rows(fresh_db_url)
    store = open_archive_store(tmp_path, ARCHIVE_BUCKET, s3_client=fake_aws.s3)
    archive(fresh_db_url, store)
    listed = [o["Key"] for o in fake_aws.s3.list_objects_v2(Bucket=ARCHIVE_BUCKET)["Contents"]]
    assert sorted(listed) == [PREFIX + "_manifest.json", PREFIX + "part-00000.json.gz"]
    body = fake_aws.s3.get_object(Bucket=ARCHIVE_BUCKET, Key=PREFIX + "part-00000.json.gz")["Body"].read()
    # JSON lines end at \n only (as Athena reads them); str.splitlines() would also split at U+2028.
    lines = [line for line in gzip.decompress(body).split(b"\n") if line]
    first = json.loads(lines[0])
    assert len(lines) == 30
    assert list(first) == list(LOG_COLUMNS)  # the Athena table's columns, in order
    assert first["created_at"].endswith("+00:00") and first["created_at"].startswith(OLD_DAY.isoformat())
    assert isinstance(first["metadata"], str) and json.loads(first["metadata"])["i"] == 0
    restore(fresh_db_url, store)
    assert day_rows(fresh_db_url) == before


@pytest.mark.parametrize("crash_after", [State.EXPORTED, State.VERIFIED, State.DETACHED])
def test_crash_between_steps_then_rerun_leaves_one_copy_and_no_loss(
    fresh_db_url: str, tmp_path: Path, crash_after: State
) -> None:
    seed(fresh_db_url, 90)
    before = day_rows(fresh_db_url)
    store = LocalObjectStore(tmp_path)

    def crash(partition: str, state: State) -> None:
        if state is crash_after:
            raise Crash(f"killed after {state}")

    # When: the process dies right after a step, and the next scheduled run starts over
    with pytest.raises(Crash):
        archive(fresh_db_url, store, after_step=crash)
    assert ledger(fresh_db_url) == [(NAME, 0, str(crash_after), 90)]
    result = archive(fresh_db_url, store)
    # Then: finished, with exactly one set of parts, holding every row
    assert result.outcomes[0].actions[-1] == "dropped" and result.failed == []
    assert keys(store) == [PREFIX + "_manifest.json"] + [PREFIX + f"part-0000{i}.json.gz" for i in range(3)]
    assert archived_checksum(store) == table_checksum_of(before)
    assert tables_like(fresh_db_url, f"{NAME}%") == []
    assert ledger(fresh_db_url) == [(NAME, 0, "dropped", 90)]
    restore(fresh_db_url, store)
    assert day_rows(fresh_db_url) == before


def test_crash_during_export_then_rerun_resumes_after_the_complete_parts(fresh_db_url: str, tmp_path: Path) -> None:
    seed(fresh_db_url, 100)
    before = day_rows(fresh_db_url)
    store = LocalObjectStore(tmp_path)
    with pytest.raises(Crash):
        archive(fresh_db_url, _FailingStore(store, fail_on_put=2, error=Crash("killed mid-export")))
    assert keys(store) == [PREFIX + "part-00000.json.gz"]  # half an export, no manifest
    # When: the next run starts
    counting = _FailingStore(store, fail_on_put=0, error=Crash("unused"))
    archive(fresh_db_url, counting)
    # Then: part 0 is kept, parts 1 and 2 and the manifest are written, and everything verifies
    assert counting.puts == 3
    assert keys(store) == [PREFIX + "_manifest.json"] + [PREFIX + f"part-0000{i}.json.gz" for i in range(3)]
    assert ledger(fresh_db_url) == [(NAME, 0, "dropped", 100)]
    assert archived_checksum(store) == table_checksum_of(before)


def test_export_pauses_when_the_lambda_time_runs_out_and_the_next_run_resumes(
    fresh_db_url: str, tmp_path: Path
) -> None:
    seed(fresh_db_url, 100)
    before = day_rows(fresh_db_url)
    store = LocalObjectStore(tmp_path)
    clock = iter([600.0, 30.0])  # enough to start the partition, then nearly out of time after part 0
    paused = archive(fresh_db_url, store, time_left=lambda: next(clock, 30.0))
    assert paused.failed == [] and paused.outcomes[0].actions[0].startswith("paused for the time limit")
    assert keys(store) == [PREFIX + "part-00000.json.gz"] and ledger(fresh_db_url) == []
    assert NAME in partition_names(fresh_db_url)
    done = archive(fresh_db_url, store, time_left=lambda: 900.0)
    assert done.outcomes[0].actions == ["exported", "verified", "detached", "dropped"]
    assert archived_checksum(store) == table_checksum_of(before)


@dataclass
class _FailingStore:
    """An archive store whose Nth put fails, as S3 does when the network goes mid-upload."""

    inner: ObjectStore
    fail_on_put: int
    error: BaseException
    puts: int = 0

    def head(self, key: str) -> ObjectInfo:
        return self.inner.head(key)

    def open(self, key: str) -> Any:
        return self.inner.open(key)

    def put(self, key: str, data: bytes) -> None:
        self.puts += 1
        if self.puts == self.fail_on_put:
            raise self.error
        self.inner.put(key, data)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)


def test_s3_failure_mid_upload_keeps_the_partition(fresh_db_url: str, fake_aws: FakeAws, tmp_path: Path) -> None:
    from botocore.exceptions import EndpointConnectionError

    fake_aws.s3.create_bucket(Bucket=ARCHIVE_BUCKET)
    seed(fresh_db_url, 100)
    before = day_rows(fresh_db_url)
    s3 = open_archive_store(tmp_path, ARCHIVE_BUCKET, s3_client=fake_aws.s3)
    broken = _FailingStore(s3, fail_on_put=2, error=EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"))
    # When: the second part's upload fails
    result = archive(fresh_db_url, broken)
    # Then: the run reports it; the partition and all its rows stay; nothing is marked exported or verified
    (failed,) = result.failed
    assert failed.partition == NAME and "Could not connect to the endpoint URL" in (failed.error or "")
    assert NAME in partition_names(fresh_db_url)
    assert day_rows(fresh_db_url) == before
    assert ledger(fresh_db_url) == []
    assert PREFIX + "_manifest.json" not in keys(s3)
    # And the next run, with S3 back, finishes the job
    assert archive(fresh_db_url, s3).outcomes[0].actions[-1] == "dropped"
    assert archived_checksum(s3) == table_checksum_of(before)


def test_missing_bucket_is_a_clear_error(fake_aws: FakeAws, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ArchiveStoreMissing, match="archive bucket 'no-such-bucket' does not exist"):
        open_archive_store(tmp_path, "no-such-bucket", s3_client=fake_aws.s3)
    assert run_cli(["archive", "--bucket", "no-such-bucket"]) == 2
    assert "archive bucket 'no-such-bucket' does not exist" in capsys.readouterr().err


def test_dry_run_changes_nothing(
    fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(fresh_db_url, 20)
    store = LocalObjectStore(tmp_path)
    before = (day_rows(fresh_db_url), partition_names(fresh_db_url), ledger(fresh_db_url))
    result = archive(fresh_db_url, store, dry_run=True)
    monkeypatch.setenv("DATABASE_URL", fresh_db_url)
    monkeypatch.setenv("LOGLENS_HOME", str(tmp_path))
    monkeypatch.delenv("LOGLENS_ARCHIVE_BUCKET", raising=False)
    monkeypatch.setenv("COLUMNS", "250")
    assert run_cli(["archive", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert result.dry_run and len(result.outcomes) == 1
    assert result.outcomes[0].actions[0].startswith("would export → verify → detach → drop")
    assert NAME in printed and "would export → verify → detach → drop" in printed and "dry run" in printed
    assert (day_rows(fresh_db_url), partition_names(fresh_db_url), ledger(fresh_db_url)) == before
    assert keys(store) == []


def test_rows_arriving_after_verification_are_archived_before_the_drop(fresh_db_url: str, tmp_path: Path) -> None:
    seed(fresh_db_url, 60)
    store = LocalObjectStore(tmp_path)
    late = make_record(created_at=_start(OLD_DAY) + timedelta(hours=23), message="replayed late")

    def late_row(partition: str, state: State) -> None:
        if state is State.VERIFIED:
            with owner_connection(fresh_db_url) as conn, conn.transaction():
                insert_records(conn, [late])

    result = archive(fresh_db_url, store, after_step=late_row)
    assert "re-exported (rows arrived after verification)" in result.outcomes[0].actions
    assert result.outcomes[0].rows == 61
    assert archived_checksum(store)[0] == 61
    restore(fresh_db_url, store)
    messages = [r[LOG_COLUMNS.index("message")] for r in day_rows(fresh_db_url)]
    assert len(messages) == 61 and "replayed late" in messages


def test_rows_reaching_an_archived_day_are_archived_as_the_next_generation(fresh_db_url: str, tmp_path: Path) -> None:
    seed(fresh_db_url, 30)
    store = LocalObjectStore(tmp_path)
    archive(fresh_db_url, store)
    # Given: late rows for the archived day (they land in DEFAULT; maintain gives them a partition)
    late = [make_record(created_at=_start(OLD_DAY) + timedelta(hours=20, seconds=i)) for i in range(5)]
    with owner_connection(fresh_db_url) as conn:
        with conn.transaction():
            insert_records(conn, late)
        maintain_partitions(conn, SETTINGS)
    # When
    archive(fresh_db_url, store)
    # Then: a second generation beside the first; a restore brings back both
    assert keys(store) == [
        PREFIX + "_manifest-g1.json",
        PREFIX + "_manifest.json",
        PREFIX + "g1-part-00000.json.gz",
        PREFIX + "part-00000.json.gz",
    ]
    assert ledger(fresh_db_url) == [(NAME, 0, "dropped", 30), (NAME, 1, "dropped", 5)]
    result = restore(fresh_db_url, store)
    assert (result.manifests, result.inserted, result.verified_by) == (2, 35, "checksum")


def test_cli_archive_then_restore(
    fresh_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(fresh_db_url, 25)
    before = day_rows(fresh_db_url)
    monkeypatch.setenv("DATABASE_URL", fresh_db_url)
    monkeypatch.setenv("LOGLENS_HOME", str(tmp_path))
    monkeypatch.setenv("LOGLENS_RETENTION_DAYS", "30")
    monkeypatch.delenv("LOGLENS_ARCHIVE_BUCKET", raising=False)
    monkeypatch.setenv("COLUMNS", "250")
    assert run_cli(["archive"]) == 0
    assert "exported, verified, detached, dropped" in capsys.readouterr().out
    assert (tmp_path / PREFIX / "_manifest.json").is_file()  # LOGLENS_HOME/archive/day=…/
    assert run_cli(["restore", "--day", OLD_DAY.isoformat()]) == 0
    assert f"restored {OLD_DAY}" in capsys.readouterr().out
    assert day_rows(fresh_db_url) == before
    assert run_cli(["restore", "--day", (OLD_DAY - timedelta(days=1)).isoformat()]) == 1
    assert "no archive for" in capsys.readouterr().err


def test_archive_lambda_handles_the_scheduled_event(
    fresh_db_url: str, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_aws.s3.create_bucket(Bucket=ARCHIVE_BUCKET)
    seed(fresh_db_url, 40)
    before = day_rows(fresh_db_url)
    for name, value in {
        "DATABASE_URL": fresh_db_url,
        "ARCHIVE_BUCKET": ARCHIVE_BUCKET,
        "LOGLENS_RETENTION_DAYS": "30",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "archive",
    }.items():
        monkeypatch.setenv(name, value)
    from functions import archive as archive_function

    summary = archive_function.handler({"task": "archive"}, _Context())
    assert (summary["task"], summary["dropped"], summary["rows"], summary["failed"]) == ("archive", 1, 40, 0)
    assert summary["partitions"][0]["actions"] == ["exported", "verified", "detached", "dropped"]
    s3 = open_archive_store(Path("."), ARCHIVE_BUCKET, s3_client=fake_aws.s3)
    assert archived_checksum(s3) == table_checksum_of(before)
    # Nothing left to do: the next daily run is a no-op
    assert archive_function.handler({"task": "archive"}, _Context())["partitions"] == []


def test_checksums_add_up() -> None:
    from loglens.lifecycle.archive import Checksum

    parts = [Checksum(2, (1 << 64) - 1), Checksum(1, 5)]
    assert total_of(parts) == Checksum(3, 4)
