"""What the analyst may read: `logs` (its columns come from the record model) and the summary views.

The agent reads from the live database (`read_layout`) which views the connected role may SELECT and their
columns, the partitions of `logs` and its indexes, so the guard, the prompt and the plan figures see what
is really there: a view a later migration adds and grants to the analyst is picked up without a code
change (its COMMENT, if any, tells the model what it is for). `loglens guard` works without a database and
uses `OFFLINE_VIEW_COLUMNS`, which a test keeps equal to the migrations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from loglens.record import LOG_COLUMNS
from loglens.settings import ConfigError
from loglens.sqlguard import Catalog

if TYPE_CHECKING:
    import psycopg

    from loglens.db.partitions import Partition

LOGS: Final = "logs"
TIME_COLUMN: Final = "created_at"
# Equality lookups the guard lets through without a time range: idx_trace makes each an index probe per
# partition. event_id is not one: it has no index of its own (only the second column of the primary key).
LOOKUP_KEYS: Final = ("trace_id",)

# Why each view exists, for the prompt; the views are defined in db/migrations/0008 (over tables that
# loglens.lifecycle.rollups keeps up to date every few minutes; the prompt states each one's freshness).
VIEW_PURPOSES: Final[Mapping[str, str]] = {
    "daily_log_summary": "per UTC day, service, environment, level and log_type: log_count, error_count "
    "(ERROR+FATAL), unique_users, avg_duration_ms, last_seen",
    "error_patterns": "ERROR/FATAL logs per UTC day, service, error_type and application_error_code ('' when "
    "none): occurrences, affected_users, first_seen, last_seen, sample_message",
    "performance_metrics": "requests with a duration per UTC day, service, endpoint and method ('' when none): "
    "request_count, avg/p50/p95/p99/max duration in ms (the percentiles estimated from the latency histogram, "
    "within about one 25% bucket), error_count (ERROR/FATAL or HTTP 5xx)",
    "hourly_log_rollup": "PREFER for counts per hour/day over hours or days (e.g. errors per service per hour "
    "this week): per UTC hour (timestamptz), service, environment, level, log_type and error_type ('' when none): "
    "log_count, duration_count, duration_sum_ms. Sum log_count; filter on hour instead of created_at. For "
    "minute-level detail use logs",
    "hourly_latency_histogram": "PREFER for latency percentiles over hours or days: per UTC hour, service, endpoint, "
    "method ('' when none) and le_ms (a bucket's upper bound in ms; buckets 25% wide): request_count. A p95 is the "
    "smallest le_ms whose running sum(request_count) over le_ms reaches 0.95 of the total (window functions); "
    "accurate to one bucket",
}
VIEWS: Final = tuple(VIEW_PURPOSES)

OFFLINE_VIEW_COLUMNS: Final[Mapping[str, tuple[str, ...]]] = {
    "daily_log_summary": (
        "day", "service", "environment", "level", "log_type", "log_count", "error_count", "unique_users",
        "avg_duration_ms", "last_seen",
    ),
    "error_patterns": (
        "day", "service", "error_type", "application_error_code", "occurrences", "affected_users", "first_seen",
        "last_seen", "sample_message",
    ),
    "performance_metrics": (
        "day", "service", "endpoint", "method", "request_count", "avg_duration_ms", "p50_ms", "p95_ms", "p99_ms",
        "max_duration_ms", "error_count",
    ),
    "hourly_log_rollup": (
        "hour", "service", "environment", "level", "log_type", "error_type", "log_count", "duration_count",
        "duration_sum_ms",
    ),
    "hourly_latency_histogram": ("hour", "service", "endpoint", "method", "le_ms", "request_count"),
}  # fmt: skip

# Views and materialized views in public that the connected role may read; tables other than logs are left
# out even for a role that could read them (a DATABASE_URL superuser), so ledgers never reach the model.
_VIEW_COLUMNS_SQL = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), obj_description(c.oid, 'pg_class')
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid
WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm') AND has_table_privilege(c.oid, 'SELECT')
  AND c.relname <> 'rollup_freshness'  -- the prompt states it as a fact (agent/facts.py); no view to query
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum
"""


def build_catalog(view_columns: Mapping[str, Sequence[str]]) -> Catalog:
    return Catalog(
        relations={LOGS: LOG_COLUMNS, **{name: tuple(cols) for name, cols in view_columns.items()}},
        time_bounded={LOGS: TIME_COLUMN},
        lookup_keys={LOGS: LOOKUP_KEYS},
    )


def offline_catalog() -> Catalog:
    return build_catalog(OFFLINE_VIEW_COLUMNS)


def lake_catalog() -> Catalog:
    """The lake's Iceberg table: logs with the record's columns, partitioned by day(created_at).

    No lookup keys: without a partition predicate Athena reads every file, whatever the WHERE says.
    """
    return Catalog(relations={LOGS: LOG_COLUMNS}, time_bounded={LOGS: TIME_COLUMN})


def read_view_columns(conn: psycopg.Connection[Any]) -> dict[str, list[tuple[str, str]]]:
    """View name -> [(column, type)] for the views this role may read (the analyst can read pg_catalog)."""
    return {name: columns for name, (columns, _) in _read_views(conn).items()}


def _read_views(conn: psycopg.Connection[Any]) -> dict[str, tuple[list[tuple[str, str]], str]]:
    out: dict[str, tuple[list[tuple[str, str]], str]] = {}
    for relation, column, sql_type, comment in conn.execute(_VIEW_COLUMNS_SQL).fetchall():
        purpose = VIEW_PURPOSES.get(str(relation)) or " ".join(str(comment or "").split())
        columns, _ = out.setdefault(str(relation), ([], purpose))
        columns.append((str(column), str(sql_type)))
    return out


# Partition indexes are named after their partition; each one's parent is the index defined on `logs`.
_INDEX_PARENTS_SQL = """
SELECT child.relname, parent.relname
FROM pg_inherits i
JOIN pg_class child ON child.oid = i.inhrelid
JOIN pg_class parent ON parent.oid = i.inhparent
JOIN pg_index x ON x.indexrelid = parent.oid
WHERE x.indrelid = 'logs'::regclass
"""
_LOGS_INDEXES_SQL = "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'logs'"


@dataclass(frozen=True)
class Layout:
    """The structure the agent works with, read from the database."""

    view_columns: Mapping[str, Sequence[tuple[str, str]]]  # view -> [(column, type)]
    view_purposes: Mapping[str, str]  # view -> what it is for ('' when nobody said)
    partitions: Sequence[Partition]
    index_parents: Mapping[str, str]  # partition index -> the index on logs it belongs to
    index_definitions: Mapping[str, str]  # index on logs -> CREATE INDEX text

    @property
    def catalog(self) -> Catalog:
        return build_catalog({name: [c for c, _ in cols] for name, cols in self.view_columns.items()})

    @property
    def partition_names(self) -> frozenset[str]:
        return frozenset(p.name for p in self.partitions)


def read_layout(conn: psycopg.Connection[Any]) -> Layout:
    from loglens.db.partitions import list_partitions

    views = _read_views(conn)
    missing = [name for name in VIEWS if name not in views]
    if missing:
        # A view the analyst cannot see would make every prompt lie; say what is wrong instead.
        raise ConfigError(
            f"summary views missing or not readable by this role: {', '.join(missing)}; "
            "migrate the database (`loglens db migrate`) and connect as loglens_analyst"
        )
    return Layout(
        view_columns={name: columns for name, (columns, _) in views.items()},
        view_purposes={name: purpose for name, (_, purpose) in views.items()},
        partitions=list_partitions(conn),
        index_parents={str(c): str(p) for c, p in conn.execute(_INDEX_PARENTS_SQL).fetchall()},
        index_definitions={str(n): str(d) for n, d in conn.execute(_LOGS_INDEXES_SQL).fetchall()},
    )
