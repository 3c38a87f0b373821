"""What differs between the two SQL dialects the guard checks: PostgreSQL (the hot store) and Trino (Athena over
the lake). Everything else — the statement kinds refused, scoping, columns, time bounds, sizes, the LIMIT — is
one set of rules applied to both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlglot import exp

from loglens.sqlguard_functions import (
    ALLOWED_CAST_TYPES,
    ALLOWED_FUNCTION_NAMES,
    ALLOWED_FUNCTION_NODES,
    FROM_FUNCTION_NAMES,
    FROM_FUNCTION_NODES,
    SQL_VALUE_KEYWORDS,
    TRINO_CAST_TYPES,
    TRINO_FROM_FUNCTION_NAMES,
    TRINO_FROM_FUNCTION_NODES,
    TRINO_FUNCTION_NAMES,
    TRINO_FUNCTION_NODES,
    TRINO_VALUE_KEYWORDS,
)

DialectName = Literal["postgres", "trino"]


@dataclass(frozen=True)
class Dialect:
    name: DialectName
    sqlglot: str  # how sqlglot reads and writes it
    function_names: frozenset[str]
    function_nodes: frozenset[type[exp.Expr]]
    from_function_names: frozenset[str]
    from_function_nodes: frozenset[type[exp.Expr]]
    cast_types: frozenset[exp.DType]
    value_keywords: frozenset[str]
    schema: str | None  # the one schema a relation may be qualified with; None: names are never qualified
    # Rows one set-returning call may produce (generate_series in PostgreSQL; sequence in Trino, which itself
    # refuses more than 10,000 entries).
    series_rows: int
    # Whether an equality lookup on a catalog lookup key stands in for a time range. In PostgreSQL an index
    # probe on every partition is cheap; in the lake a scan without a partition predicate reads every file.
    key_lookups: bool
    # Whether a bound must be known when the query is planned: Athena prunes partitions then, so a bound that
    # comes from a subquery still reads every file. PostgreSQL prunes at executor start as well.
    constant_bounds: bool
    time_type: str  # the type of the time columns, for bounds lifted out of their comparison
    time_example: str  # a bound written in this dialect, for refusal hints
    window_example: str  # a two-sided window written in this dialect


POSTGRES = Dialect(
    name="postgres",
    sqlglot="postgres",
    function_names=ALLOWED_FUNCTION_NAMES,
    function_nodes=ALLOWED_FUNCTION_NODES,
    from_function_names=FROM_FUNCTION_NAMES,
    from_function_nodes=FROM_FUNCTION_NODES,
    cast_types=ALLOWED_CAST_TYPES,
    value_keywords=SQL_VALUE_KEYWORDS,
    schema="public",
    series_rows=100_000,
    key_lookups=True,
    constant_bounds=False,
    time_type="timestamptz",
    time_example="{column} >= now() - interval '24 hours'",
    window_example="{column} >= '2024-06-01' AND {column} < '2024-06-02'",
)

# Athena's engine 3 is Trino; sqlglot's athena dialect reads Trino DML and names Athena-only statements (UNLOAD,
# USING EXTERNAL FUNCTION) instead of failing to parse them.
TRINO = Dialect(
    name="trino",
    sqlglot="athena",
    function_names=TRINO_FUNCTION_NAMES,
    function_nodes=TRINO_FUNCTION_NODES,
    from_function_names=TRINO_FROM_FUNCTION_NAMES,
    from_function_nodes=TRINO_FROM_FUNCTION_NODES,
    cast_types=TRINO_CAST_TYPES,
    value_keywords=TRINO_VALUE_KEYWORDS,
    schema=None,
    series_rows=10_000,
    key_lookups=False,
    constant_bounds=True,
    time_type="timestamp(6)",
    time_example="{column} >= current_timestamp - INTERVAL '1' DAY",
    window_example="{column} >= TIMESTAMP '2024-06-01 00:00:00' AND {column} < TIMESTAMP '2024-06-02 00:00:00'",
)

DIALECTS: dict[str, Dialect] = {d.name: d for d in (POSTGRES, TRINO)}


def dialect_named(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"unknown SQL dialect {name!r}; expected one of: {', '.join(DIALECTS)}") from None
