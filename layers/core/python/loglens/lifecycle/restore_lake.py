"""Bring a day back into `logs` from the lake, where retention by tier left it (the archive's counterpart).

The day's rows are read from the lake an hour at a time (one query per hour keeps each result bounded; on
Athena each reads the day's partition, so a restore costs about 24 scans of one day's columns), written
through the load path's write_batch (rows already present are skipped, so a second restore inserts
nothing), and the day is compared with the lake afterwards and recorded in lake_verifications. As after a
restore from the archive, the day is held for `keep_days`; once the hold ends the archive job finds the
lake still holding exactly these rows and drops the partition again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from loglens.db.partitions import ensure_partitions
from loglens.ingest.write import write_batch
from loglens.lake.verify import compare_day, day_range, lake_day_totals, trino_timestamp
from loglens.lifecycle.archive import NoProgress, Progress
from loglens.lifecycle.restore import (
    BATCH_ROWS,
    RestoreError,
    RestoreResult,
    count_missing,
    hold_day,
    record_from_archive,
)
from loglens.record import LOG_COLUMNS, LogRecord, column_sql_types
from loglens.settings import Settings

if TYPE_CHECKING:
    import psycopg

    from loglens.lake.query import LakeQuery

_TIME_COLUMNS: Final = frozenset(n for n, t in column_sql_types().items() if t == "timestamptz")
_HOUR: Final = timedelta(hours=1)


def record_from_lake(columns: Sequence[str], row: Sequence[Any]) -> LogRecord:
    """A lake row (JSON values; the lake's timestamps are UTC without a zone) as a LogRecord."""
    values = dict(zip(columns, row, strict=True))
    for name in _TIME_COLUMNS:
        text = values.get(name)
        if isinstance(text, str) and datetime.fromisoformat(text).tzinfo is None:
            values[name] = text + "+00:00"
    if isinstance(values.get("metadata"), dict):  # an engine that parsed the JSON text already
        values["metadata"] = json.dumps(values["metadata"])
    return record_from_archive(values)


def restore_day_from_lake(
    conn: psycopg.Connection[Any],
    lake: LakeQuery,
    settings: Settings,
    day: date,
    *,
    keep_days: int = 7,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> RestoreResult:
    """Restore one UTC day from the lake. `conn`: autocommit, acting as loglens_owner."""
    if not conn.autocommit:
        raise ValueError("restore_day_from_lake() needs an autocommit connection")
    progress = progress or NoProgress()
    expected, engine = lake_day_totals(lake, day)
    if not expected.rows:
        raise RestoreError(f"no rows for {day} in the lake ({engine}): nothing to restore")
    held_until = (now or datetime.now(UTC)) + timedelta(days=keep_days)
    hold_day(conn, day, held_until, expected.rows)  # before the first row, as restore_day does
    created = ensure_partitions(conn, day, day, settings.partition_granularity).created

    inserted = duplicates = 0
    keys: list[tuple[datetime, uuid.UUID]] = []
    start, _ = day_range(day)
    columns_sql = ", ".join(LOG_COLUMNS)
    progress.begin(f"restore {day} from the lake", expected.rows)
    try:
        for hour in range(24):
            low, high = start + hour * _HOUR, start + (hour + 1) * _HOUR
            result = lake.run(
                f"SELECT {columns_sql} FROM logs WHERE created_at >= {trino_timestamp(low)} "
                f"AND created_at < {trino_timestamp(high)}"
            )
            records = [record_from_lake(result.columns, row) for row in result.rows]
            for first in range(0, len(records), BATCH_ROWS):
                batch = records[first : first + BATCH_ROWS]
                with conn.transaction():
                    written = write_batch(conn, batch)
                inserted += written.inserted
                duplicates += written.duplicates
                keys.extend((r.created_at, r.event_id) for r in batch)
                progress.advance(len(batch))
    finally:
        progress.end()

    comparison = compare_day(conn, lake, day, pg_table="logs", purpose="restore")
    if comparison.matches:
        verified_by = "checksum"
    else:
        # The day also holds rows the lake does not (they never reached it): every lake row must be here.
        missing = sum(count_missing(conn, keys[i : i + BATCH_ROWS]) for i in range(0, len(keys), BATCH_ROWS))
        if missing:
            raise RestoreError(f"{day}: {missing} of the lake's rows are not in logs after the restore")
        verified_by = "presence"
    return RestoreResult(
        day,
        f"the lake ({engine})",
        0,
        0,
        expected.rows,
        inserted,
        duplicates,
        created,
        verified_by,
        held_until,
    )
