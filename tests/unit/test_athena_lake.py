"""AthenaLake against moto's Athena: the guard first, polling to a deadline, typed rows, bytes and cost."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from moto.athena.models import QueryResults, athena_backends

from loglens.lake.athena import AthenaLake, athena_lake_from_env
from loglens.lake.query import (
    ATHENA_MIN_BYTES,
    LakeQueryError,
    LakeQueryRefused,
    LakeQueryTimeout,
    athena_cost_usd,
)
from loglens.settings import ConfigError
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
        lake(athena).run_checked("SELECT * FROM logs LIMIT 10")  # no partition predicate
    with pytest.raises(LakeQueryRefused):
        lake(athena).run_checked("DROP TABLE logs")
    assert athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"] == []


def test_checked_sql_runs_as_the_guard_rewrote_it(athena: Any) -> None:
    queue_result([column("n", "bigint")], [["3"]])
    unlimited = GOOD_SQL.replace(" LIMIT 10", "")
    assert lake(athena).run_checked(unlimited).rows == [[3]]
    [execution_id] = athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    query = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Query"]
    assert "LIMIT" in query.upper()  # the guard adds the row cap


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


@pytest.mark.parametrize("failing", ["get_query_execution", "get_query_results"])
def test_athena_failing_after_it_took_the_query_is_a_lake_error_not_a_crash(athena: Any, failing: str) -> None:
    # Given Athena throttling the polling or the results call (the agent's tool and the archive catch lake errors)
    from botocore.stub import Stubber

    stubber = Stubber(athena)
    stubber.add_response("start_query_execution", {"QueryExecutionId": "q-1"})
    if failing == "get_query_results":
        stubber.add_response(
            "get_query_execution",
            {"QueryExecution": {"QueryExecutionId": "q-1", "Status": {"State": "SUCCEEDED"}}},
        )
    stubber.add_client_error(failing, "TooManyRequestsException", "Rate exceeded")
    with stubber, pytest.raises(LakeQueryError, match="Rate exceeded"):
        lake(athena).run(GOOD_SQL)


@pytest.mark.parametrize(
    ("scanned", "usd"),
    [(0, 10 / 1024**2 * 5), (1, 10 / 1024**2 * 5), (ATHENA_MIN_BYTES + 1, 11 / 1024**2 * 5), (1024**4, 5.0)],
)
def test_athena_price_rounds_up_to_the_megabyte_with_a_10_mb_minimum(scanned: int, usd: float) -> None:
    assert athena_cost_usd(scanned) == pytest.approx(usd)


def test_the_extent_is_read_from_icebergs_partitions_table(athena: Any) -> None:
    queue_result(
        [column("first_day", "date"), column("last_day", "date"), column("row_count", "bigint")],
        [["2026-01-01", "2026-03-01", "123456"]],
    )
    extent = lake(athena).extent()
    assert (extent.first_day, extent.last_day, extent.rows) == (date(2026, 1, 1), date(2026, 3, 1), 123456)
    [execution_id] = athena.list_query_executions(WorkGroup=WORKGROUP)["QueryExecutionIds"]
    query = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Query"]
    assert '"logs$partitions"' in query and "partition.created_at_day" in query


def test_an_empty_lake_has_an_empty_extent(athena: Any) -> None:
    queue_result(
        [column("first_day", "date"), column("last_day", "date"), column("row_count", "bigint")],
        [[None, None, "0"]],
    )
    assert lake(athena).extent().empty


def test_the_ask_functions_lake_comes_from_its_environment(athena: Any) -> None:
    assert athena_lake_from_env({}) is None
    env = {"LOGLENS_LAKE": "athena", "ATHENA_WORKGROUP": WORKGROUP, "LAKE_DATABASE": "loglens_prod_lake"}
    built = athena_lake_from_env({**env, "LAKE_QUERY_TIMEOUT_S": "30", "LAKE_MAX_ROWS": "200"}, client=athena)
    assert built is not None
    assert (built.workgroup, built.database, built.timeout_s, built.max_rows) == (
        WORKGROUP,
        "loglens_prod_lake",
        30,
        200,
    )
    with pytest.raises(ConfigError, match="ATHENA_WORKGROUP"):
        athena_lake_from_env({"LOGLENS_LAKE": "athena"})
