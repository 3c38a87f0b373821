"""The archived log columns as Athena sees them, derived from the record model (the single source of truth).

The archive job writes each partition as gzip JSON lines under ``archive/day=YYYY-MM-DD/``; the Glue
table in infra/components/archive_catalog.py reads them with these columns. Times are kept as the
ISO-8601 text the archive writes (query them with ``from_iso8601_timestamp``) and ``metadata`` as
JSON text (``json_extract``), so no SerDe date parsing can drop a row.
"""

from __future__ import annotations

from loglens.record import LOG_COLUMNS, column_sql_types

# PostgreSQL type in the record model → Hive/Athena type for the JSON SerDe.
_ATHENA_TYPES = {
    "text": "string",
    "uuid": "string",
    "inet": "string",
    "jsonb": "string",
    "timestamptz": "string",
    "integer": "int",
    "bigint": "bigint",
    "smallint": "int",
    "double precision": "double",
    "real": "float",
    "boolean": "boolean",
}


def athena_columns() -> list[tuple[str, str]]:
    """(column, Athena type) in storage order; an unmapped SQL type fails the synth instead of guessing."""
    sql_types = column_sql_types()
    columns = []
    for name in LOG_COLUMNS:
        sql_type = sql_types[name]
        if sql_type not in _ATHENA_TYPES:
            raise ValueError(f"log column {name} has SQL type {sql_type!r}; add its Athena type to {__name__}")
        columns.append((name, _ATHENA_TYPES[sql_type]))
    return columns
