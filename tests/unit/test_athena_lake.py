"""AthenaLake against moto's Athena: the guard first, polling to a deadline, typed rows, bytes and cost."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from moto.athena.models import QueryResults, athena_backends

from loglens.lake.athena import _CHECKSUM_SQL, AthenaLake
from loglens.lake.query import (
    ATHENA_MIN_BYTES,
    LakeQueryError,
    LakeQueryRefused,
    LakeQueryTimeout,
    athena_cost_usd,
)
from loglens.lifecycle.archive.format import MOD64, row_hash
from tests.aws_fakes import REGION, FakeAws, athena_json_client

ACCOUNT = "123456789012"
WORKGROUP = "loglens-test-lake"
GOOD_SQL = (
    "SELECT service, count(*) AS n FROM logs WHERE created_at >= TIMESTAMP '2026-01-01 00:00:00 UTC' "
    "AND created_at < TIMESTAMP '2026-01-02 00:00:00 UTC' GROUP BY service LIMIT 10"
)


def column(name: str, kind: str) -> dict[str, Any]:
    return {"Name": name, "Label": name, "Type": kind}


def queue_result(columns: list[dict[str, Any]], rows: list[list[str | None]]) -> None:
    header = {"Data": [{"VarCharValue": c["Name"]} for c in columns]}
    body = [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in rows]
    athena_backends[ACCOUNT][REGION].query_results_queue.append(QueryResults([header, *body], columns))


@pytest.fixture
def athena(fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    client = athena_json_client(tmp_path / "botocore-data", monkeypatch)
    fake_aws.s3.create_bucket(Bucket="loglens-test-athena-results")
    client.create_work_group(
        Name=WORKGROUP,
        Configuration={
            "ResultConfiguration": {
                "OutputLocation": "s3://loglens-test-athena-results/results/",
                "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
            },
            "EnforceWorkGroupConfiguration": True,
            "BytesScannedCutoffPerQuery": 10 * 1024**3,
        },
    )
    return client


def lake(client: Any, **kwargs: Any) -> AthenaLake:
    return AthenaLake(WORKGROUP, "loglens_test", client=client, sleep=lambda _: None, **kwargs)


def test_a_guarded_query_runs_in_the_workgroup_and_returns_typed_rows(athena: Any) -> None:
    # Given Athena's answer to an aggregate (every value arrives as text)
    queue_result(
        [column("service", "varchar"), column("n", "bigint"), column("p95", "double"), column("ok", "boolean")],
        [["checkout", "42", "12.5", "true"], ["search", "7", None, "false"]],
    )
    # When the lake runs guarded SQL
    result = lake(athena).run(GOOD_SQL)
    # Then the rows are typed, the header row is gone, and the query ran in our workgroup
    assert result.columns == ["service", "n", "p95", "ok"]
    assert result.rows == [["checkout", 42, 12.5, True], ["search", 7, None, False]]
    assert result.engine == "athena"
    [execution_id] = athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    execution = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
    assert execution["QueryExecutionContext"]["Database"] == "loglens_test"
    assert "created_at" in execution["Query"] and "LIMIT" in execution["Query"].upper()
    # moto reports 0 bytes scanned: Athena bills its 10 MB minimum for that
    assert result.bytes_scanned == 0 and result.cost_usd == athena_cost_usd(0) > 0


def test_sql_the_guard_refuses_never_reaches_athena(athena: Any) -> None:
    with pytest.raises(LakeQueryRefused, match="created_at"):
        lake(athena).run("SELECT * FROM logs LIMIT 10")  # no partition predicate
    with pytest.raises(LakeQueryRefused):
        lake(athena).run("DROP TABLE logs")
    assert athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"] == []


def test_timestamps_dates_and_decimals_are_converted(athena: Any) -> None:
    queue_result(
        [column("hour", "timestamp with time zone"), column("day", "date"), column("total", "decimal")],
        [["2026-01-01 10:00:00.123456 UTC", "2026-01-01", "18446744073709551615"]],
    )
    [[hour, day, total]] = lake(athena).run(GOOD_SQL).rows
    assert hour == datetime(2026, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert day == date(2026, 1, 1) and total == Decimal(18446744073709551615)


def test_rows_stop_at_the_cap(athena: Any) -> None:
    queue_result([column("n", "integer")], [[str(i)] for i in range(30)])
    assert len(lake(athena, max_rows=5).run(GOOD_SQL).rows) == 5


class _Scripted:
    """moto's client, with the execution states and statistics Athena would report instead of moto's."""

    def __init__(self, inner: Any, states: list[str], reason: str = "", scanned: int = 0) -> None:
        self.inner, self.states, self.reason, self.scanned = inner, states, reason, scanned
        self.stopped: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get_query_execution(self, **kwargs: Any) -> dict[str, Any]:
        answer: dict[str, Any] = self.inner.get_query_execution(**kwargs)
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        answer["QueryExecution"]["Status"] = {"State": state, "StateChangeReason": self.reason}
        answer["QueryExecution"]["Statistics"] = {"DataScannedInBytes": self.scanned}
        return answer

    def stop_query_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.stopped.append(kwargs["QueryExecutionId"])
        return dict(self.inner.stop_query_execution(**kwargs))


def test_bytes_scanned_are_reported_with_their_price(athena: Any) -> None:
    queue_result([column("n", "bigint")], [["1"]])
    scripted = _Scripted(athena, ["QUEUED", "RUNNING", "SUCCEEDED"], scanned=3 * 1024**4)
    result = lake(scripted).run(GOOD_SQL)
    assert result.bytes_scanned == 3 * 1024**4 and result.cost_usd == pytest.approx(15.0)


def test_a_query_past_its_deadline_is_stopped_and_says_how_to_fix_it(athena: Any) -> None:
    ticks = iter(range(0, 1000, 10))  # each look at the clock is 10 s later
    scripted = _Scripted(athena, ["RUNNING"])
    with pytest.raises(LakeQueryTimeout, match="narrow the created_at range"):
        AthenaLake(
            WORKGROUP,
            "loglens_test",
            client=scripted,
            timeout_s=30,
            sleep=lambda _: None,
            clock=lambda: float(next(ticks)),
        ).run(GOOD_SQL)
    assert len(scripted.stopped) == 1


def test_the_workgroup_cutoff_is_explained_to_the_model(athena: Any) -> None:
    scripted = _Scripted(athena, ["FAILED"], reason="Bytes scanned limit was exceeded", scanned=10 * 1024**3)
    with pytest.raises(LakeQueryError, match="per-query limit: narrow the created_at range"):
        lake(scripted).run(GOOD_SQL)


def test_a_failed_query_reports_athenas_reason(athena: Any) -> None:
    scripted = _Scripted(athena, ["FAILED"], reason="COLUMN_NOT_FOUND: line 1:8: Column 'x' cannot be resolved")
    with pytest.raises(LakeQueryError, match="COLUMN_NOT_FOUND"):
        lake(scripted).run(GOOD_SQL)


def test_athena_being_unreachable_is_a_lake_error_not_a_crash(athena: Any) -> None:
    with pytest.raises(LakeQueryError, match="did not take the query"):
        AthenaLake("no-such-workgroup", "loglens_test", client=athena, sleep=lambda _: None).run(GOOD_SQL)


@pytest.mark.parametrize(
    ("scanned", "usd"),
    [(0, 10 / 1024**2 * 5), (1, 10 / 1024**2 * 5), (ATHENA_MIN_BYTES + 1, 11 / 1024**2 * 5), (1024**4, 5.0)],
)
def test_athena_price_rounds_up_to_the_megabyte_with_a_10_mb_minimum(scanned: int, usd: float) -> None:
    assert athena_cost_usd(scanned) == pytest.approx(usd)


def test_the_day_checksum_sql_computes_the_archives_row_hash() -> None:
    # Given rows, the Trino checksum is run on DuckDB (only from_big_endian_64 is supplied) and
    # compared with row_hash, the archive's and PostgreSQL's definition
    rows = [
        (datetime(2026, 3, 1, 0, 0, 0, 0, tzinfo=UTC), uuid.uuid4()),
        (datetime(2026, 3, 1, 12, 30, 5, 999999, tzinfo=UTC), uuid.uuid4()),
        (datetime(2026, 3, 1, 23, 59, 59, 123456, tzinfo=UTC), uuid.uuid4()),
        (datetime(2026, 3, 2, 0, 0, 0, 1, tzinfo=UTC), uuid.uuid4()),  # the next day: left out
    ]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    # Trino's from_big_endian_64(substr(b, 1, 8)) as a DuckDB macro: the first 8 bytes, two's complement
    con.execute(
        "CREATE MACRO be64_prefix(b, s, n) AS (CAST(('0x' || substr(hex(b), 1, 16)) AS UBIGINT)::HUGEINT - CASE WHEN "
        "CAST(('0x' || substr(hex(b), 1, 16)) AS UBIGINT) >= 9223372036854775808 "
        "THEN 18446744073709551616::HUGEINT ELSE 0 END)::BIGINT"
    )
    con.execute("CREATE TABLE logs (created_at TIMESTAMPTZ, event_id VARCHAR)")
    con.executemany("INSERT INTO logs VALUES (?, ?)", [(t, str(e)) for t, e in rows])
    trino = _CHECKSUM_SQL.format(time="created_at", table="logs", day="2026-03-01", next="2026-03-02")
    duck = sqlglot.transpile(trino, read="trino", write="duckdb")[0]
    # DuckDB slices no BLOB: the first 8 bytes are taken from the hex text instead (the test's only stand-in)
    duck = duck.replace("FROM_BIG_ENDIAN_64(SUBSTRING(", "BE64_PREFIX(").replace(", 1, 8))", ", 1, 8)")
    count, total = con.execute(duck).fetchone()  # type: ignore[misc]
    assert count == 3
    assert int(total) % MOD64 == sum(row_hash(t, e) for t, e in rows[:3]) % MOD64


def test_day_checksum_reads_athenas_answer(athena: Any) -> None:
    queue_result([column("row_count", "bigint"), column("row_sum", "decimal")], [["3", str(-5)]])
    assert lake(athena).day_checksum(date(2026, 3, 1)) == (3, MOD64 - 5)
    [execution_id] = athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    query = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Query"]
    assert "2026-03-01T00:00:00Z" in query and "2026-03-02T00:00:00Z" in query
