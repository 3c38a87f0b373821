"""The lake table's shape, derived from the record model in one place.

Every consumer reads from here: the Glue/Iceberg table in CDK (infra/components/lake.py), the JSON a
Firehose record carries (rows.py), Athena's DDL and checksum, and the local Parquet files.

Type choices (PostgreSQL type in the model → Iceberg type):
- timestamptz → ``timestamptz`` (UTC, microseconds: Iceberg's precision and PostgreSQL's match, so
  ``(created_at, event_id)`` means the same row in both tiers).
- uuid, inet → ``string``: Athena cannot read Iceberg's uuid type, and both compare as text.
- jsonb → ``string`` holding the JSON text (Trino: ``json_extract_scalar(metadata, '$.k')``).
- integer/smallint → ``int``, bigint → ``long``, double precision → ``double``, real → ``float``.

Layout: partitioned by ``day(created_at)`` and nothing else. A bucket on service (``bucket(N,
service)``) would cut Athena's bytes only for single-service questions, while every Firehose flush
would write up to N files per day instead of one: at 1M records a day (~0.5 GB) and a flush a
minute that is 16 files of ~20 KB where one of ~350 KB was, and small files are what make Athena
slow and S3 GETs dear. The sort order (service, level, created_at), applied when compaction
rewrites a day, gives the same pruning through Parquet row-group statistics without the small
files, so a service filter still skips most of a compacted day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

from loglens.record import LOG_COLUMNS, LogRecord, column_sql_types

TABLE: Final = "logs"
TIME_COLUMN: Final = "created_at"
PARTITION_TRANSFORM: Final = "day"
SORT_COLUMNS: Final = ("service", "level", "created_at")
PARQUET_COMPRESSION: Final = "zstd"

_ICEBERG_TYPES: Final = {
    "text": "string",
    "uuid": "string",
    "inet": "string",
    "jsonb": "string",
    "timestamptz": "timestamptz",
    "integer": "int",
    "smallint": "int",
    "bigint": "long",
    "double precision": "double",
    "real": "float",
    "boolean": "boolean",
}
# Iceberg type → the type Athena's CREATE TABLE ... TBLPROPERTIES ('table_type'='ICEBERG') spells.
_ATHENA_TYPES: Final = {
    "string": "string",
    "timestamptz": "timestamp",
    "int": "int",
    "long": "bigint",
    "double": "double",
    "float": "float",
    "boolean": "boolean",
}


@dataclass(frozen=True)
class LakeColumn:
    field_id: int  # Iceberg field ids start at 1, in LOG_COLUMNS order
    name: str
    iceberg_type: str
    required: bool
    description: str

    @property
    def athena_type(self) -> str:
        return _ATHENA_TYPES[self.iceberg_type]


def lake_columns() -> tuple[LakeColumn, ...]:
    """The table's columns in storage order; an unmapped SQL type fails loudly instead of guessing."""
    sql_types = column_sql_types()
    columns = []
    for number, name in enumerate(LOG_COLUMNS, start=1):
        sql_type = sql_types[name]
        if sql_type not in _ICEBERG_TYPES:
            raise ValueError(f"log column {name} has SQL type {sql_type!r}; add its Iceberg type to {__name__}")
        info = LogRecord.model_fields[name]
        columns.append(LakeColumn(number, name, _ICEBERG_TYPES[sql_type], info.is_required(), info.description or ""))
    return tuple(columns)


def column(name: str) -> LakeColumn:
    for candidate in lake_columns():
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def athena_ddl(database: str, location: str, table: str = TABLE) -> str:
    """CREATE TABLE for Athena: what CDK declares through Glue, for a hand-made or test catalog."""
    columns = ",\n  ".join(f"{c.name} {c.athena_type}" for c in lake_columns())
    return (
        f"CREATE TABLE {database}.{table} (\n  {columns}\n)\n"
        f"PARTITIONED BY ({PARTITION_TRANSFORM}({TIME_COLUMN}))\n"
        f"LOCATION '{location}'\n"
        "TBLPROPERTIES ('table_type'='ICEBERG', 'format'='parquet', "
        f"'write_compression'='{PARQUET_COMPRESSION}')"
    )


# Where a day's data files live, as Iceberg writes them (the local lake keeps the same layout).
PARTITION_FIELD: Final = "created_at_day"
DATA_PREFIX: Final = "data/"
# The local Parquet files' DuckDB types for the Iceberg types above. Timestamps are kept as TIMESTAMP holding
# UTC: sqlglot writes the guard's Trino TIMESTAMP literals as DuckDB TIMESTAMPs, which DuckDB refuses to
# compare with a TIMESTAMPTZ column, and with the session zone at UTC both mean the same instant.
_DUCKDB_TYPES: Final = {
    "string": "VARCHAR",
    "timestamptz": "TIMESTAMP",
    "int": "INTEGER",
    "long": "BIGINT",
    "double": "DOUBLE",
    "float": "FLOAT",
    "boolean": "BOOLEAN",
}


def duckdb_types() -> dict[str, str]:
    """Column -> DuckDB type of the local lake's Parquet files, in LOG_COLUMNS order."""
    return {c.name: _DUCKDB_TYPES[c.iceberg_type] for c in lake_columns()}


def day_folder(day: date) -> str:
    """The folder of one day's data files, relative to the table's location."""
    return f"{DATA_PREFIX}{PARTITION_FIELD}={day.isoformat()}/"
