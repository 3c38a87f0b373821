"""The lake table's shape, derived from the record model in this one place: Iceberg/Glue types, the DuckDB
types of the local Parquet files, the Athena DDL, and where a day's data files live.

Types: PostgreSQL's column types (from ``LogRecord``'s ``sql_type``) map onto what Iceberg, Athena and Parquet
have. ``timestamptz`` becomes Iceberg ``timestamp`` holding UTC values (Athena reads Iceberg timestamps as
``timestamp(6)``, which is the guard's Trino time type), ``uuid`` and ``inet`` become text, ``jsonb`` becomes
JSON text (``json_extract_scalar(metadata, '$.key')`` in Trino).

Partitioning: ``day(created_at)`` only, no bucket. A bucket on service would let a query with
``service = 'x'`` skip the other buckets' files, but every Firehose flush would then write up to N files per
day instead of one, each N times smaller: small files raise Athena's planning time and S3 request costs,
while Athena's 10 MB minimum per query means a narrow query saves nothing below that size. Most questions the
agent asks group or filter over all services within a time window, which the day partition already bounds,
and Parquet's column pruning keeps a scan to the columns it reads. Iceberg can add a bucket to the partition
spec later without rewriting old data, when one service's day becomes large enough to matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

from loglens.record import LOG_COLUMNS, column_descriptions, column_sql_types

LAKE_TABLE: Final = "logs"
TIME_COLUMN: Final = "created_at"
# Iceberg's name for the day(created_at) partition field, and the folder name of its data files.
PARTITION_FIELD: Final = "created_at_day"
DATA_PREFIX: Final = "data/"
PARQUET_COMPRESSION: Final = "zstd"


@dataclass(frozen=True)
class LakeType:
    iceberg: str  # Iceberg / Glue column type (also Athena's DDL type)
    duckdb: str  # the type in the local Parquet files


# PostgreSQL type (record.py's sql_type) -> the lake's.
_TYPES: Final[dict[str, LakeType]] = {
    "uuid": LakeType("string", "VARCHAR"),
    "timestamptz": LakeType("timestamp", "TIMESTAMP"),
    "text": LakeType("string", "VARCHAR"),
    "integer": LakeType("int", "INTEGER"),
    "double precision": LakeType("double", "DOUBLE"),
    "jsonb": LakeType("string", "VARCHAR"),
    "inet": LakeType("string", "VARCHAR"),
}


@dataclass(frozen=True)
class LakeColumn:
    name: str
    pg_type: str
    type: LakeType
    description: str


def lake_columns() -> tuple[LakeColumn, ...]:
    """The table's columns in LOG_COLUMNS order; a model type without a lake type is a bug caught here."""
    pg_types = column_sql_types()
    descriptions = column_descriptions()
    missing = sorted({t for t in pg_types.values() if t not in _TYPES})
    if missing:
        raise RuntimeError(f"no lake type for PostgreSQL type(s) {', '.join(missing)}: add them to lake/schema.py")
    return tuple(LakeColumn(n, pg_types[n], _TYPES[pg_types[n]], descriptions[n]) for n in LOG_COLUMNS)


def duckdb_types() -> dict[str, str]:
    return {c.name: c.type.duckdb for c in lake_columns()}


def glue_columns() -> list[dict[str, str]]:
    """Columns as the Glue table (and CDK's CfnTable) takes them."""
    return [{"name": c.name, "type": c.type.iceberg, "comment": c.description[:255]} for c in lake_columns()]


def athena_ddl(location: str, *, table: str = LAKE_TABLE) -> str:
    """CREATE TABLE for an Iceberg table at `location` (an s3:// prefix), as Athena takes it."""
    columns = ",\n  ".join(f"{c.name} {c.type.iceberg}" for c in lake_columns())
    return (
        f"CREATE TABLE {table} (\n  {columns}\n)\n"
        f"PARTITIONED BY (day({TIME_COLUMN}))\n"
        f"LOCATION '{location}'\n"
        f"TBLPROPERTIES ('table_type' = 'ICEBERG', 'format' = 'parquet', 'write_compression' = '{PARQUET_COMPRESSION}')"
    )


def day_folder(day: date) -> str:
    """The folder of one day's data files, relative to the table's location."""
    return f"{DATA_PREFIX}{PARTITION_FIELD}={day.isoformat()}/"
