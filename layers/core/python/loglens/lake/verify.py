"""Does the lake hold exactly PostgreSQL's rows for a day? Row count and checksum on both sides, recorded.

The checksum is the archive's (loglens.lifecycle.archive.row_hash): the sum mod 2^64 of the first 8 bytes
of md5("<created_at in integer microseconds>|<event_id>") over the day's rows. PostgreSQL computes it with
``table_checksum``; the lake with one Trino statement, ``day_totals_sql``, that Athena runs as written and
DuckDB runs transpiled. Neither Trino nor DuckDB can turn 16 hex digits into a 64-bit integer in a way the
other understands (Trino's ``from_base`` overflows past 2^63 and DuckDB has none), so the statement sums each
hex digit position over the rows instead (16 sums, none above 15 x rows) and Python weighs them: the sum of
the hashes is the sum over positions of 16^(16-i) times that position's digit sum, taken mod 2^64.
Microseconds come from ``to_unixtime`` (a double): at today's epoch a double carries a microsecond timestamp
to within 0.25 µs, so rounding recovers it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Literal

from loglens.lake.schema import TABLE, TIME_COLUMN

if TYPE_CHECKING:
    import psycopg

    from loglens.lake.query import LakeQuery
    from loglens.lifecycle.archive import Checksum

MOD64: Final = 1 << 64
_HEX: Final = "0123456789abcdef"
Purpose = Literal["retire", "check", "restore"]


def day_range(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def trino_timestamp(moment: datetime) -> str:
    """A TIMESTAMP literal in UTC, as the lake's timestamp columns hold it."""
    return f"TIMESTAMP '{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}'"


def day_totals_sql(day: date, *, table: str = TABLE) -> str:
    """Trino: the day's row count and, per hex digit position of each row's hash, the sum of the digits."""
    start, end = day_range(day)
    key = f"CAST(CAST(round(to_unixtime({TIME_COLUMN}) * 1e6) AS bigint) AS varchar) || '|' || event_id"
    digits = ", ".join(f"sum(strpos('{_HEX}', substr(h, {i}, 1)) - 1) AS d{i:02d}" for i in range(1, 17))
    return (
        f"SELECT count(*) AS row_count, {digits} "
        f"FROM (SELECT lower(to_hex(md5(to_utf8({key})))) AS h FROM {table} "
        f"WHERE {TIME_COLUMN} >= {trino_timestamp(start)} AND {TIME_COLUMN} < {trino_timestamp(end)}) AS k"
    )


def totals_from_row(row: list[Any]) -> tuple[int, int]:
    """(rows, checksum) from day_totals_sql's one result row (digit sums are NULL for an empty day)."""
    rows = int(row[0] or 0)
    value = 0
    for position, digit_sum in enumerate(row[1:17], start=1):
        value += int(Decimal(str(digit_sum or 0))) << (4 * (16 - position))
    return rows, value % MOD64


def lake_day_totals(lake: LakeQuery, day: date) -> tuple[Checksum, str]:
    """The day's rows and checksum in the lake, and the engine that computed them."""
    from loglens.lifecycle.archive import Checksum

    result = lake.run(day_totals_sql(day))
    if len(result.rows) != 1:
        raise RuntimeError(f"the lake's totals for {day} came back as {len(result.rows)} rows, not one")
    rows, value = totals_from_row(result.rows[0])
    return Checksum(rows, value), result.engine


@dataclass(frozen=True)
class DayComparison:
    day: date
    postgres: Checksum
    lake: Checksum
    engine: str
    pg_table: str

    @property
    def matches(self) -> bool:
        return self.postgres == self.lake

    def describe(self) -> str:
        if self.matches:
            return (
                f"{self.day}: PostgreSQL and the lake hold the same {self.lake.rows} rows (checksum {self.lake.value})"
            )
        return (
            f"{self.day}: PostgreSQL ({self.pg_table}) holds {self.postgres.rows} rows (checksum "
            f"{self.postgres.value}), the lake {self.lake.rows} (checksum {self.lake.value})"
        )


def compare_day(
    conn: psycopg.Connection[Any],
    lake: LakeQuery,
    day: date,
    *,
    pg_table: str = "logs",
    purpose: Purpose = "check",
) -> DayComparison:
    """Count and checksum `day` in `pg_table` and in the lake, and record both in lake_verifications."""
    from loglens.lifecycle.archive import table_checksum

    start, end = day_range(day)
    in_lake, engine = lake_day_totals(lake, day)
    in_postgres = table_checksum(conn, pg_table, start, end)
    comparison = DayComparison(day, in_postgres, in_lake, engine, pg_table)
    record(conn, comparison, purpose)
    return comparison


def record(conn: psycopg.Connection[Any], comparison: DayComparison, purpose: Purpose) -> None:
    conn.execute(
        """INSERT INTO lake_verifications
               (day, pg_rows, pg_checksum, lake_rows, lake_checksum, engine, purpose, pg_table)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
        (
            comparison.day,
            comparison.postgres.rows,
            Decimal(comparison.postgres.value),
            comparison.lake.rows,
            Decimal(comparison.lake.value),
            comparison.engine,
            purpose,
            comparison.pg_table,
        ),
    )
