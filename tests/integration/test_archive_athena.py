"""functions/archive.py with the lake on: a partition past retention is verified by Athena, not exported.

PostgreSQL is real; Athena is moto's (its results come from a queue, since it runs no SQL here) or a
botocore Stubber where Athena must fail. What Athena is made to answer for the day is what the Trino
statement (loglens.lake.verify.day_totals_sql) computes over the lake's rows: the count and, per hex digit
position of md5("<created_at in µs>|<event_id>"), the sum of the digits. This file derives those figures
from the rows independently of loglens's code, so a checksum that PostgreSQL and Trino computed
differently would show as a kept partition. (The statement itself runs on DuckDB in tests/integration/
test_lake.py; Athena's own engine was never run here.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from moto.athena.models import QueryResults, athena_backends

from loglens.lake.verify import day_totals_sql
from loglens.lifecycle.maintenance import owner_connection
from loglens.record import LOG_COLUMNS
from tests.aws_fakes import REGION, FakeAws, athena_json_client
from tests.integration.test_archive import ARCHIVE_BUCKET, NAME, OLD_DAY, _Context, day_rows, partition_names, seed

ACCOUNT = "123456789012"
WORKGROUP = "loglens-test-lake"
DATABASE = "loglens_test_lake"
_HEX = "0123456789abcdef"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def athena_day_totals(rows: Sequence[tuple[Any, ...]]) -> list[str | None]:
    """What Athena answers for day_totals_sql over `rows`: row_count, then d01..d16 (as text, like Athena)."""
    created, event = LOG_COLUMNS.index("created_at"), LOG_COLUMNS.index("event_id")
    sums = [0] * 16
    for row in rows:
        moment: datetime = row[created]
        micros = (moment - EPOCH) // timedelta(microseconds=1)
        digest = hashlib.md5(f"{micros}|{row[event]}".encode(), usedforsecurity=False).hexdigest()
        for i, char in enumerate(digest[:16]):
            sums[i] += _HEX.index(char)
    return [str(len(rows)), *(str(s) if rows else None for s in sums)]


def queue_totals(values: list[str | None]) -> None:
    columns = [("row_count", "bigint"), *((f"d{i:02d}", "bigint") for i in range(1, 17))]
    info = [{"Name": n, "Label": n, "Type": t} for n, t in columns]
    header = {"Data": [{"VarCharValue": n} for n, _ in columns]}
    row = {"Data": [{} if v is None else {"VarCharValue": v} for v in values]}
    athena_backends[ACCOUNT][REGION].query_results_queue.append(QueryResults([header, row], info))


@pytest.fixture
def athena(fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    client = athena_json_client(tmp_path / "botocore-data", monkeypatch)
    fake_aws.s3.create_bucket(Bucket="loglens-test-athena-results")
    client.create_work_group(
        Name=WORKGROUP,
        Configuration={
            "ResultConfiguration": {"OutputLocation": "s3://loglens-test-athena-results/results/"},
            "EnforceWorkGroupConfiguration": True,
        },
    )
    return client


@pytest.fixture
def archive_function(
    fresh_db_url: str, fake_aws: FakeAws, athena: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, dict[str, Any]]:
    fake_aws.s3.create_bucket(Bucket=ARCHIVE_BUCKET)
    for name, value in {
        "DATABASE_URL": fresh_db_url,
        "ARCHIVE_BUCKET": ARCHIVE_BUCKET,
        "LOGLENS_RETENTION_DAYS": "30",
        "LOGLENS_LAKE": "athena",
        "ATHENA_WORKGROUP": WORKGROUP,
        "LAKE_DATABASE": DATABASE,
        "LAKE_QUERY_TIMEOUT_S": "600",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "archive",
    }.items():
        monkeypatch.setenv(name, value)
    from functions import archive as module

    clients = {"athena": athena, "s3": fake_aws.s3}
    monkeypatch.setattr(module, "client", lambda service: clients[service])
    return module, clients


def verifications(url: str) -> list[tuple[Any, ...]]:
    with owner_connection(url) as conn:
        return conn.execute(
            "SELECT day, pg_rows, lake_rows, matches, engine, purpose, pg_table FROM lake_verifications ORDER BY id"
        ).fetchall()


def archive_objects(fake_aws: FakeAws) -> list[str]:
    return [o["Key"] for o in fake_aws.s3.list_objects_v2(Bucket=ARCHIVE_BUCKET).get("Contents", [])]


def athena_queries(athena: Any) -> list[dict[str, Any]]:
    ids = athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    return [athena.get_query_execution(QueryExecutionId=i)["QueryExecution"] for i in ids]


def test_a_partition_the_lake_holds_is_verified_by_athena_and_dropped_without_an_export(
    fresh_db_url: str, fake_aws: FakeAws, archive_function: tuple[Any, dict[str, Any]]
) -> None:
    # Given a partition past retention, and a lake that holds the same rows for its day
    module, clients = archive_function
    seed(fresh_db_url, 40)
    queue_totals(athena_day_totals(day_rows(fresh_db_url)))

    # When the scheduled archive runs
    summary = module.handler({"task": "archive"}, _Context())

    # Then the partition was verified in the lake, detached and dropped, with no gzip export
    [partition] = summary["partitions"]
    assert partition["partition"] == NAME and partition["error"] is None
    assert partition["actions"] == ["verified in the lake", "detached", "dropped"]
    assert NAME not in partition_names(fresh_db_url) and archive_objects(fake_aws) == []
    # And the comparison is in the ledger, as Athena's
    assert verifications(fresh_db_url) == [(OLD_DAY, 40, 40, True, "athena", "retire", NAME)]
    # And Athena ran loglens's statement for that day, in the stage's workgroup and database
    [query] = athena_queries(clients["athena"])
    assert query["Query"] == day_totals_sql(OLD_DAY)
    assert query["QueryExecutionContext"]["Database"] == DATABASE and query["WorkGroup"] == WORKGROUP


def test_a_day_the_lake_holds_differently_keeps_its_partition_and_fails_the_run(
    fresh_db_url: str, fake_aws: FakeAws, archive_function: tuple[Any, dict[str, Any]]
) -> None:
    # Given a lake missing one of the day's rows
    module, _ = archive_function
    seed(fresh_db_url, 25)
    rows = day_rows(fresh_db_url)
    queue_totals(athena_day_totals(rows[:-1]))

    # When the archive runs, the invocation fails (an alarm, EventBridge's retries) saying which day and why
    with pytest.raises(module.ArchiveIncomplete, match=r"PostgreSQL \(.*\) holds 25 rows .* the lake 24"):
        module.handler({"task": "archive"}, _Context())

    # Then the partition stays, nothing was exported, and the mismatch is recorded
    assert NAME in partition_names(fresh_db_url) and archive_objects(fake_aws) == []
    assert verifications(fresh_db_url) == [(OLD_DAY, 25, 24, False, "athena", "retire", NAME)]
    assert day_rows(fresh_db_url) == rows


def test_same_count_but_other_rows_is_a_mismatch_too(
    fresh_db_url: str, archive_function: tuple[Any, dict[str, Any]]
) -> None:
    module, _ = archive_function
    seed(fresh_db_url, 12)
    rows = day_rows(fresh_db_url)
    event = LOG_COLUMNS.index("event_id")
    other = [(*r[:event], "00000000-0000-4000-8000-000000000000", *r[event + 1 :]) for r in rows[:1]] + rows[1:]
    queue_totals(athena_day_totals(other))

    with pytest.raises(module.ArchiveIncomplete, match="checksum"):
        module.handler({"task": "archive"}, _Context())
    assert NAME in partition_names(fresh_db_url)
    [(_, pg_rows, lake_rows, matches, *_)] = verifications(fresh_db_url)
    assert (pg_rows, lake_rows, matches) == (12, 12, False)


def test_athena_unreachable_keeps_the_partition_and_says_so(
    fresh_db_url: str, fake_aws: FakeAws, archive_function: tuple[Any, dict[str, Any]]
) -> None:
    # Given Athena refusing the query (throttled, or the endpoint down)
    module, clients = archive_function
    seed(fresh_db_url, 10)
    stubber = Stubber(clients["athena"])
    stubber.add_client_error("start_query_execution", "TooManyRequestsException", "Rate exceeded")
    stubber.activate()

    with pytest.raises(module.ArchiveIncomplete, match="Athena did not take the query"):
        module.handler({"task": "archive"}, _Context())

    # Then the partition and its rows stay, and nothing claims the day was verified
    assert NAME in partition_names(fresh_db_url) and archive_objects(fake_aws) == []
    assert verifications(fresh_db_url) == []
    stubber.assert_no_pending_responses()


def test_without_the_lake_the_same_function_still_exports(
    fresh_db_url: str, fake_aws: FakeAws, archive_function: tuple[Any, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    module, _ = archive_function
    monkeypatch.delenv("LOGLENS_LAKE")
    seed(fresh_db_url, 5)
    summary = module.handler({"task": "archive"}, _Context())
    assert summary["partitions"][0]["actions"] == ["exported", "verified", "detached", "dropped"]
    assert any(key.startswith(f"archive/day={OLD_DAY.isoformat()}/") for key in archive_objects(fake_aws))
    assert verifications(fresh_db_url) == []


def test_the_days_totals_for_an_empty_day_are_zero() -> None:
    from loglens.lake.verify import totals_from_row

    assert totals_from_row([0, *([None] * 16)]) == (0, 0)
    assert athena_day_totals([]) == ["0", *([None] * 16)]
