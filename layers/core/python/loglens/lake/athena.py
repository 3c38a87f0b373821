"""AthenaLake: guarded Trino SQL on the Iceberg table, in a workgroup that caps what a query may cost.

The workgroup (infra/components/lake.py) enforces its own settings on every query: a bytes-scanned
cutoff (a query that would read more is cancelled by Athena, and the model is told to narrow its
time range), results written encrypted to a bucket that expires them. This client adds what the
workgroup cannot: the SQL guard on request (``run_checked``), a deadline after which the query is
stopped rather than waited for, and the answer's bytes scanned and price.

Athena returns every value as text; columns are converted by the type Athena reports for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final

from loglens.lake.query import (
    LakeExtent,
    LakeQueryError,
    LakeQueryRefused,
    LakeQueryTimeout,
    LakeResult,
    athena_cost_usd,
)
from loglens.lake.schema import PARTITION_TRANSFORM, TABLE, TIME_COLUMN
from loglens.lake.settings import LakeMode, LakeSettings

ENGINE: Final = "athena"
_DONE: Final = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
_INTEGERS: Final = frozenset({"tinyint", "smallint", "integer", "int", "bigint"})
_FLOATS: Final = frozenset({"double", "float", "real"})
_PAGE: Final = 1000

# Iceberg's partitions metadata table: one row per partition with its row count, read from the
# table's manifests, so the prompt learns which days the lake holds without a scan of the data.
_EXTENT_SQL: Final = (
    f"SELECT min(partition.{TIME_COLUMN}_{PARTITION_TRANSFORM}) AS first_day, "
    f"max(partition.{TIME_COLUMN}_{PARTITION_TRANSFORM}) AS last_day, "
    f'coalesce(sum(record_count), 0) AS row_count FROM "{TABLE}$partitions"'
)


def _convert(kind: str, text: str | None) -> Any:
    if text is None:
        return None
    kind = kind.lower()
    if kind in _INTEGERS:
        return int(text)
    if kind in _FLOATS:
        return float(text)
    if kind == "decimal":
        return Decimal(text)
    if kind == "boolean":
        return text.lower() == "true"
    if kind == "date":
        return date.fromisoformat(text)
    if kind.startswith("timestamp"):
        return datetime.fromisoformat(text.replace(" UTC", "+00:00"))
    return text


@dataclass
class AthenaLake:
    """One workgroup and database; `client` is a boto3 Athena client (made lazily when None)."""

    workgroup: str
    database: str
    client: Any = None
    timeout_s: float = 60.0
    max_rows: int = 1000
    poll_s: float = 0.25
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    _checked: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.client is None:
            from loglens.aws import client

            self.client = client("athena")

    def run(self, sql_trino_guarded: str) -> LakeResult:
        """Run SQL the guard allowed (or loglens wrote: loglens.lake.verify) and return its rows and price.

        Like LocalLake, this trusts its caller; what stops anything else is below it: the workgroup's
        cutoff, and IAM (the ask role may read the table, never write it or its catalog entry).
        """
        return self._execute(sql_trino_guarded)

    def run_checked(self, sql: str) -> LakeResult:
        """Guard `sql` (Trino dialect, the lake's catalog) first: for SQL from a model or a person."""
        from loglens.agent.catalog import lake_catalog
        from loglens.sqlguard import check_sql

        verdict = check_sql(sql, lake_catalog(), dialect="trino", max_rows=self.max_rows)
        if not verdict.allowed or verdict.sql is None:
            raise LakeQueryRefused(verdict.reason or "the SQL guard refused the statement")
        return self._execute(verdict.sql)

    def extent(self) -> LakeExtent:
        """The first and last day the table holds and about how many rows (equality deletes of
        upserted rows are not subtracted), from Iceberg's metadata rather than a scan."""
        [[first, last, rows]] = self._execute(_EXTENT_SQL).rows
        return LakeExtent(first, last, int(rows or 0))

    def _execute(self, sql: str) -> LakeResult:
        from botocore.exceptions import BotoCoreError, ClientError

        started = self.clock()
        try:
            execution_id = self.client.start_query_execution(
                QueryString=sql,
                WorkGroup=self.workgroup,
                QueryExecutionContext={"Database": self.database},
            )["QueryExecutionId"]
        except (ClientError, BotoCoreError) as exc:
            raise LakeQueryError(f"Athena did not take the query: {exc}") from exc
        try:
            execution = self._wait(execution_id, started)
        except (ClientError, BotoCoreError) as exc:  # throttled or unreachable while polling: the model is told
            raise LakeQueryError(f"Athena could not be asked how the query went: {exc}") from exc
        state = execution["Status"]["State"]
        scanned = int(execution.get("Statistics", {}).get("DataScannedInBytes") or 0)
        if state != "SUCCEEDED":
            reason = execution["Status"].get("StateChangeReason") or state.lower()
            if "bytes scanned" in reason.lower() or "BytesScannedCutoffPerQuery" in reason:
                reason += " (the workgroup's per-query limit: narrow the created_at range or select fewer columns)"
            raise LakeQueryError(f"Athena query {state.lower()}: {reason}")
        try:
            columns, rows = self._results(execution_id)
        except (ClientError, BotoCoreError) as exc:
            raise LakeQueryError(f"Athena's results could not be read: {exc}") from exc
        elapsed = int((self.clock() - started) * 1000)
        return LakeResult(columns, rows, scanned, athena_cost_usd(scanned), elapsed, ENGINE)

    def _wait(self, execution_id: str, started: float) -> dict[str, Any]:
        delay = self.poll_s
        while True:
            execution: dict[str, Any] = self.client.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
            if execution["Status"]["State"] in _DONE:
                return execution
            if self.clock() - started >= self.timeout_s:
                self.client.stop_query_execution(QueryExecutionId=execution_id)
                raise LakeQueryTimeout(
                    f"the lake query ran longer than {self.timeout_s:g} s and was cancelled; "
                    "narrow the created_at range or aggregate more"
                )
            self.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _results(self, execution_id: str) -> tuple[list[str], list[list[Any]]]:
        columns: list[str] = []
        kinds: list[str] = []
        rows: list[list[Any]] = []
        token: str | None = None
        first_page = True
        while True:
            args: dict[str, Any] = {"QueryExecutionId": execution_id, "MaxResults": _PAGE}
            if token:
                args["NextToken"] = token
            page = self.client.get_query_results(**args)
            result = page["ResultSet"]
            if first_page:
                info = result.get("ResultSetMetadata", {}).get("ColumnInfo", [])
                columns = [str(item.get("Name") or item.get("Label") or "") for item in info]
                kinds = [str(item.get("Type", "varchar")) for item in info]
            for index, item in enumerate(result.get("Rows", [])):
                values = [cell.get("VarCharValue") for cell in item.get("Data", [])]
                if first_page and index == 0 and values == columns:
                    continue  # a SELECT's first row repeats the column names
                rows.append([_convert(kind, value) for kind, value in zip(kinds, values, strict=False)])
                if len(rows) >= self.max_rows:
                    return columns, rows
            first_page = False
            token = page.get("NextToken")
            if not token:
                return columns, rows


def athena_lake_from_env(environ: Mapping[str, str] | None = None, client: Any = None) -> AthenaLake | None:
    """The ask function's lake (LOGLENS_LAKE=athena: its workgroup, database, deadline and row cap), or
    None when this stage has no lake; a half-configured lake raises ConfigError naming the variable."""
    settings = LakeSettings.from_env(environ)
    if settings.mode is not LakeMode.ATHENA or settings.workgroup is None:
        return None
    return AthenaLake(
        settings.workgroup,
        settings.database,
        client=client,
        timeout_s=settings.query_timeout_s,
        max_rows=settings.max_rows,
    )
