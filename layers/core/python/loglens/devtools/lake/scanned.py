"""What Athena would scan for a lake query, worked out for the local lake's files.

Athena bills the bytes it reads from S3. Over Iceberg Parquet that is, to a good approximation, the column
chunks of the columns a query names, in the day partitions its ``created_at`` bounds leave after pruning
(row groups inside a partition are read whole: Athena's minimum unit here is the partition's files). So the
estimate is: for every scan of ``logs``, the bounds the guard proved on its ``created_at`` (written into the
query as constants, which is what lets Athena prune), evaluated by DuckDB; the days they overlap; and there,
the compressed sizes of the referenced columns that the snapshot keeps per file. ``SELECT *`` reads them all.
An expression the estimate cannot evaluate counts as unbounded on that side: it errs towards more.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlglot
from sqlglot import exp

from loglens.devtools.lake.snapshot import DataFile
from loglens.lake.schema import TABLE, TIME_COLUMN
from loglens.record import LOG_COLUMNS
from loglens.sqlguard.bounds import Target, conjuncts, prove_all
from loglens.sqlguard.dialects import TRINO

Window = tuple[datetime | None, datetime | None]


def scanned_bytes(trino_sql: str, files: Iterable[DataFile], con: Any) -> int:
    try:
        tree = sqlglot.parse_one(trino_sql, read=TRINO.sqlglot)
    except sqlglot.errors.ParseError:
        return sum(f.bytes for f in files)
    scans = [t for t in tree.find_all(exp.Table) if t.name == TABLE and not t.args.get("db")]
    if not scans:
        return 0
    windows = [_window(scan, con) for scan in scans]
    columns = _columns(tree)
    total = 0
    for data in files:
        if any(_overlaps(data.day, window) for window in windows):
            total += sum(size for name, size in data.column_bytes.items() if name in columns)
    return total


def _columns(tree: exp.Expr) -> set[str]:
    """The columns a query names; a * in a select list (not count(*)) names them all."""
    for star in tree.find_all(exp.Star):
        if isinstance(star.parent, exp.Select | exp.Column):
            return set(LOG_COLUMNS)
    return {column.name for column in tree.find_all(exp.Column)} & set(LOG_COLUMNS)


def _window(scan: exp.Table, con: Any) -> Window:
    select = scan.find_ancestor(exp.Select)
    if select is None:
        return None, None
    conditions: list[exp.Expr] = []
    where = select.args.get("where")
    if isinstance(where, exp.Where):
        conditions.extend(conjuncts(where.this))
    for join in select.args.get("joins") or []:
        on = join.args.get("on")
        if isinstance(on, exp.Expr):
            conditions.extend(conjuncts(on))
    target = Target(scan.alias_or_name, TIME_COLUMN, literal_type=TRINO.time_type, constant_only=True)
    proof = prove_all(conditions, target, lambda column, end: None)
    lower = _evaluate(proof.lower.value, con) if proof.lower else None
    upper = _evaluate(proof.upper.value, con) if proof.upper else None
    return lower, upper


def _evaluate(value: exp.Expr, con: Any) -> datetime | None:
    """A bound's value, computed by DuckDB (now(), intervals, casts), as a UTC datetime."""
    statement = exp.select(exp.Cast(this=value.copy(), to=exp.DataType.build("timestamp")))
    try:
        duck = sqlglot.transpile(statement.sql(dialect=TRINO.sqlglot), read=TRINO.sqlglot, write="duckdb")[0]
        row = con.execute(duck).fetchone()
    except Exception:  # an estimate: anything it cannot work out counts as no bound
        return None
    moment = row[0] if row else None
    if not isinstance(moment, datetime):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _overlaps(day: date, window: Window) -> bool:
    lower, upper = window
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    # An upper bound at midnight is usually "< midnight": that day is not read (an estimate errs by one
    # row's day at most when it was "<= midnight").
    return (lower is None or lower < end) and (upper is None or upper > start)
