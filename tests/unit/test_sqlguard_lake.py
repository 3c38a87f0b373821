"""The SQL guard in the lake's dialect (Trino, as Athena runs it) and its DuckDB transpilation.

Hostile statements are refused with the expected code; benign ones are allowed, limited, stable when checked
again, and — transpiled by sqlglot — run on DuckDB over a Parquet file DuckDB wrote with the lake's columns,
as the local lake runs them. Athena itself cannot run here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from loglens.agent.catalog import lake_catalog, offline_catalog
from loglens.record import LOG_COLUMNS, column_sql_types
from loglens.sqlguard import GuardResult, check_sql, to_duckdb
from loglens.sqlguard_functions import TRINO_FUNCTION_NAMES
from tests.unit.sqlguard_lake_cases import (
    ATHENA_ONLY,
    BENIGN,
    DANGEROUS_CALLS,
    FUNCTION_SAMPLES,
    HOSTILE,
    HOUR,
    LAKE,
    T,
)

# The lake's types for the record's PostgreSQL types: JSON as text, addresses and ids as text, UTC timestamps.
_LAKE_TYPES = {
    "uuid": "VARCHAR",
    "timestamptz": "TIMESTAMP",
    "text": "VARCHAR",
    "integer": "INTEGER",
    "double precision": "DOUBLE",
    "jsonb": "VARCHAR",
    "inet": "VARCHAR",
}
# Three days of synthetic records ending now, one a minute, every column filled by DuckDB itself.
_ROWS = """
SELECT
  'e-' || i AS event_id,
  now()::TIMESTAMP - to_minutes(i) + to_seconds(2) AS received_at,
  now()::TIMESTAMP - to_minutes(i) AS created_at,
  ['INFO', 'WARN', 'ERROR', 'DEBUG'][1 + i % 4] AS level,
  CASE WHEN i % 5 = 0 THEN 'FRONTEND' ELSE 'BACKEND' END AS log_type,
  ['checkout', 'payment-api', 'search'][1 + i % 3] AS service,
  'production' AS environment,
  'order ' || i || ' took ' || (i % 900) || ' ms' AS message,
  'u-' || (i % 50) AS user_id, 's-' || (i % 200) AS session_id, 't-' || (i // 3) AS trace_id, 'sp-' || i AS span_id,
  CASE WHEN i % 4 = 2 THEN 'Timeout' END AS error_type, NULL AS application_error_code,
  CASE WHEN i % 4 = 2 THEN 503 ELSE 200 END AS http_status_code, NULL AS stack_trace,
  'orders' AS module, 'api' AS component, '/api/v1/' || ['orders', 'pay', 'find'][1 + i % 3] AS endpoint,
  'GET' AS method, (i % 900)::DOUBLE AS duration_ms, '/shop/item/' || (i % 7) AS page_path,
  'https://shop.example/shop/item/' || (i % 7) || '?q=' || i AS page_url, 'Chrome' AS browser_name,
  'desktop' AS device_type, 1920 AS screen_width, 1080 AS screen_height, 'click' AS action_type,
  'buy' AS action_target,
  '{"order_id": "o-' || (i % 40) || '", "amount": ' || (i % 100) || ', "items": [{"sku": "a"}], "tags": ["x"]}'
    AS metadata,
  'api' AS source, 'key-1' AS api_key_id, '10.0.0.1' AS source_ip
FROM range(4320) AS t(i)
"""


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A DuckDB connection with `logs` over a Parquet file that DuckDB wrote, typed as the lake's table."""
    folder: Path = tmp_path_factory.mktemp("lake")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    types = column_sql_types()
    columns = ", ".join(f"CAST({name} AS {_LAKE_TYPES[types[name]]}) AS {name}" for name in LOG_COLUMNS)
    parquet = folder / "logs.parquet"
    con.execute(f"COPY (SELECT {columns} FROM ({_ROWS})) TO '{parquet}' (FORMAT parquet, COMPRESSION zstd)")
    con.execute(f"CREATE VIEW logs AS SELECT * FROM read_parquet('{parquet}')")
    yield con
    con.close()


def guard(sql: str, max_rows: int = 1000) -> GuardResult:
    return check_sql(sql, LAKE, dialect="trino", max_rows=max_rows)


def run(lake: Any, duck: str) -> int:
    """Run a query to the end and count its rows (its values would need pytz to come back as Python objects)."""
    row = lake.execute(f"SELECT count(*) FROM ({duck}) AS q").fetchone()
    assert row is not None
    return int(row[0])


def test_case_tables_are_as_large_as_promised() -> None:
    assert len(HOSTILE) >= 130
    assert len(BENIGN) >= 60
    assert len({c[0] for c in HOSTILE}) == len(HOSTILE)
    assert len({c[0] for c in BENIGN}) == len(BENIGN)
    assert set(FUNCTION_SAMPLES) == set(TRINO_FUNCTION_NAMES)
    assert set(TRINO_FUNCTION_NAMES) >= ATHENA_ONLY


@pytest.mark.parametrize(("sql", "code"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_lake_statement_is_refused(sql: str, code: str) -> None:
    result = guard(sql)

    assert (result.allowed, result.sql) == (False, None)
    assert result.code == code, result.reason
    assert result.dialect == "trino"


@pytest.mark.parametrize("call", DANGEROUS_CALLS)
def test_dangerous_call_is_refused_everywhere(call: str) -> None:
    assert not guard(f"SELECT {call}").allowed
    assert not guard(f"SELECT lower(CAST({call} AS varchar)) FROM logs WHERE {T}").allowed
    assert not guard(f"SELECT * FROM {call} AS f").allowed


@pytest.mark.parametrize("sql", [c[1] for c in BENIGN], ids=[c[0] for c in BENIGN])
def test_benign_lake_query_is_allowed_limited_and_stable(sql: str) -> None:
    result = guard(sql)

    assert result.allowed, f"{result.code}: {result.reason}"
    assert result.sql is not None
    root = sqlglot.parse_one(result.sql, read="athena")
    limit = root.args.get("limit")
    assert isinstance(limit, exp.Limit) and int(limit.expression.name) <= 1000
    again = guard(result.sql)
    assert again.sql == result.sql and again.reason == "allowed"


@pytest.mark.parametrize("sql", [c[1] for c in BENIGN], ids=[c[0] for c in BENIGN])
def test_benign_lake_query_runs_on_duckdb(lake: Any, sql: str) -> None:
    duck = to_duckdb(guard(sql))

    assert run(lake, duck) <= 1000


@pytest.mark.parametrize(("name", "call"), sorted(FUNCTION_SAMPLES.items()), ids=sorted(FUNCTION_SAMPLES))
def test_allowlisted_trino_function_is_accepted_and_transpiles(lake: Any, name: str, call: str) -> None:
    result = guard(f"SELECT {call} FROM logs WHERE {HOUR}")
    assert result.allowed, f"{name}: {result.code}: {result.reason}"

    duck = to_duckdb(result)
    if name in ATHENA_ONLY:
        with pytest.raises(duckdb.Error):
            run(lake, duck)  # when DuckDB learns it, move it out of ATHENA_ONLY
    else:
        assert run(lake, duck) > 0


def test_duckdb_answers_match_the_data(lake: Any) -> None:
    # Given 4,320 records, one a minute for three days, a quarter of them ERROR
    def one(sql: str) -> Any:
        return lake.execute(to_duckdb(guard(sql))).fetchone()[0]

    # Then the transpiled queries count what the Trino text means
    assert one(f"SELECT count(*) FROM logs WHERE {T}") in (1440, 1441)
    assert one(f"SELECT count_if(level = 'ERROR') FROM logs WHERE {T}") in (360, 361)
    assert one(f"SELECT count(*) FROM logs WHERE {HOUR} OR created_at >= current_timestamp - INTERVAL '3' DAY") == 4320
    assert one(f"SELECT max(CAST(json_extract_scalar(metadata, '$.amount') AS bigint)) FROM logs WHERE {T}") == 99


def test_the_transpiled_sql_reads_only_the_lake_table() -> None:
    for _, sql in BENIGN:
        tree = sqlglot.parse_one(to_duckdb(guard(sql)), read="duckdb")
        ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
        tables = {t.name for t in tree.find_all(exp.Table) if isinstance(t.this, exp.Identifier)}
        assert tables <= {"logs"} | ctes, sql


def test_a_scan_without_a_partition_predicate_is_told_how_to_bound_it() -> None:
    result = guard("SELECT service, count(*) FROM logs WHERE level = 'ERROR' GROUP BY service")

    assert result.code == "unbounded_time"
    assert "without a partition predicate the lake reads every day of logs" in result.reason.lower()
    assert (
        "add created_at >= TIMESTAMP '2024-06-01 00:00:00' AND created_at < TIMESTAMP '2024-06-02 00:00:00'"
        in result.reason
    )
    assert "to bound the scan" in result.reason


def test_a_trace_lookup_does_not_exempt_the_lake() -> None:
    # The PostgreSQL catalog lists trace_id as a lookup key; in the lake a lookup still reads every file.
    result = check_sql("SELECT * FROM logs WHERE trace_id = 'abc'", offline_catalog(), dialect="trino")

    assert result.code == "unbounded_time"
    assert "a lookup like trace_id = 'abc' does not prune the lake's partitions" in result.reason


def test_a_join_window_gets_a_partition_predicate_written_down() -> None:
    result = guard(
        "SELECT count(*) FROM logs e JOIN logs l ON l.created_at BETWEEN e.created_at AND e.created_at "
        f"+ INTERVAL '5' MINUTE WHERE e.{HOUR}"
    )

    assert result.sql is not None
    assert "AND l.created_at >= CURRENT_TIMESTAMP - INTERVAL '1' HOUR" in result.sql


def test_to_duckdb_takes_only_what_the_guard_allowed_in_the_lake_dialect() -> None:
    with pytest.raises(ValueError, match="refused"):
        to_duckdb(guard("DROP TABLE logs"))
    with pytest.raises(ValueError, match="postgres"):
        to_duckdb(check_sql("SELECT 1", lake_catalog()))


def test_an_unknown_dialect_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown SQL dialect 'mysql'"):
        check_sql("SELECT 1", LAKE, dialect="mysql")
