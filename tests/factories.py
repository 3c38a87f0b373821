"""Building valid records and writing them straight to the table, for tests that need rows.

Like every writer of `logs`, insert_records announces the hours it wrote to the rollups
(loglens.lifecycle.rollups) in the same transaction as its rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from loglens.ingest.write import TouchedHours
from loglens.record import LOG_COLUMNS, AcceptanceWindow, IngestContext, LogRecord, Source

_WIDE_OPEN = AcceptanceWindow(back=timedelta(days=3650), ahead=timedelta(days=3650))  # tests place rows anywhere


def make_record(**fields: Any) -> LogRecord:
    created = fields.pop("created_at", datetime.now(UTC))
    raw = {"level": "INFO", "service": "test-service", "message": "hello", "timestamp": created.isoformat(), **fields}
    ctx = IngestContext(source=Source.API, received_at=datetime.now(UTC), window=_WIDE_OPEN)
    return LogRecord.model_validate(raw, context=ctx)


def insert_records(conn: psycopg.Connection[Any], records: Sequence[LogRecord], *, announce: bool = True) -> None:
    """INSERT the records; `announce=False` writes as loglens did before the rollups had a dirty-hours table."""
    statement = sql.SQL("INSERT INTO logs ({}) VALUES ({})").format(
        sql.SQL(", ").join(map(sql.Identifier, LOG_COLUMNS)),
        sql.SQL(", ").join(sql.Placeholder() * len(LOG_COLUMNS)),
    )
    rows = []
    touched = TouchedHours()
    touched.add([record.db_row() for record in records])
    for record in records:
        row = list(record.db_row())
        row[LOG_COLUMNS.index("metadata")] = Jsonb(row[LOG_COLUMNS.index("metadata")])
        row[LOG_COLUMNS.index("level")] = str(row[LOG_COLUMNS.index("level")])
        row[LOG_COLUMNS.index("source")] = str(row[LOG_COLUMNS.index("source")])
        rows.append(row)
    with conn.cursor() as cur:
        cur.executemany(statement, rows)
    if announce:
        touched.record(conn)
