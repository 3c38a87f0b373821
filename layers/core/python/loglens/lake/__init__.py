"""The lake tier (issue 15): every accepted record also in an Apache Iceberg table on S3, asked with Athena's
Trino SQL; locally the same table as Parquet files under LOGLENS_HOME/lake, written and read by DuckDB.

This docstring is the contract between the core (this package and the local lake in loglens.devtools.lake)
and the AWS side (infra/, Firehose's Iceberg destination, ``athena.py``). Build to it; change it here first.

- **The table** is ``logs``: the columns of ``loglens.record.LogRecord`` in ``LOG_COLUMNS`` order, typed in one
  place (``schema.py``: Iceberg/Glue types, DuckDB/Parquet types, the Athena DDL). ``created_at`` and
  ``received_at`` are Iceberg ``timestamp`` (UTC values, microseconds, no zone), ``event_id`` is the UUID as
  lower-case hyphenated text, ``metadata`` JSON text, ``source_ip`` text. Partitioned by ``day(created_at)``
  and nothing else (``schema.py`` says why no bucket), Parquet with zstd. Data files live under
  ``data/created_at_day=YYYY-MM-DD/``, as Iceberg writes them; locally a snapshot file lists the live ones.
- **What goes in** is what the PostgreSQL path stores, validated and redacted by the same code: the loader
  hands every row it validated to a ``LakeFeed`` (``feed.py``) and delivers them before its PostgreSQL
  transaction commits, so the lake never lacks a row PostgreSQL has (a retried object is delivered again,
  and the dedup below drops the copy).
- **Identity** is ``(created_at, event_id)``, as PostgreSQL keys it: no duplicates after client retries,
  redelivery or replays. AWS: the Firehose Iceberg destination's unique keys on those columns. Locally: every
  flush drops rows whose key the day already holds, and repeats within what it flushes (first delivered wins).
- **Queries** go through ``LakeQuery`` (``query.py``): ``run(sql)`` takes Trino SQL that the guard allowed
  (``check_sql(sql, lake_catalog(), dialect="trino")``) or that loglens wrote itself (the verification
  below), and returns ``LakeResult(columns, rows, bytes_scanned, cost_usd, elapsed_ms, engine)``; ``extent()``
  says which days the lake holds without a charged scan (Athena: the ``"logs$partitions"`` metadata table).
  ``AthenaLake`` runs it in a workgroup with a bytes-scanned cutoff and encrypted results; ``LocalLake``
  (loglens.devtools.lake) transpiles it with ``loglens.sqlguard.to_duckdb``'s sqlglot rules and runs DuckDB
  over the snapshot's files. Failures raise ``LakeQueryFailed`` with a message the model can act on;
  an engine that cannot be reached raises ``LakeUnavailable``.
- **Cost** is Athena's: $5 per TB scanned, rounded up to the MB, 10 MB minimum per query
  (``athena_cost_usd``). The local lake reports what Athena would bill for the same files: the compressed
  bytes of the columns a query reads in the day partitions its ``created_at`` bounds select.
- **Verification per day** (``verify.py``): row count and the archive's checksum (``row_hash``: the sum mod
  2^64 of md5(created_at_us|event_id)[0:8]), computed by PostgreSQL and by the lake with one Trino statement
  that DuckDB runs too, recorded in ``lake_verifications`` (migration 0013). A partition is dropped from
  PostgreSQL only after its days verify (``loglens.lifecycle.archive``'s lake step).
- **Settings**: ``Settings.lake`` (``LOGLENS_LAKE``, on/off; ``loglens dev`` and the CLI default to on),
  ``LOGLENS_LAKE_BUFFER_MB`` and ``LOGLENS_LAKE_BUFFER_SECONDS`` (the local buffer, flushed by size or time
  like Firehose's buffering hints). The AWS names (``ATHENA_WORKGROUP``, ``LAKE_DATABASE``, ``LAKE_TABLE``,
  ``LAKE_RESULTS_BUCKET``) belong to the functions' environment models (loglens/environments.py).

Nothing here imports boto3 or duckdb: AWS modules import boto3 lazily, and DuckDB is local-only.
"""

from loglens.lake.feed import LakeDelivery, LakeFeed
from loglens.lake.query import (
    LakeExtent,
    LakeQuery,
    LakeQueryFailed,
    LakeResult,
    LakeUnavailable,
    athena_cost_usd,
)
from loglens.lake.schema import LAKE_TABLE, PARTITION_FIELD, TIME_COLUMN

__all__ = [
    "LAKE_TABLE",
    "PARTITION_FIELD",
    "TIME_COLUMN",
    "LakeDelivery",
    "LakeExtent",
    "LakeFeed",
    "LakeQuery",
    "LakeQueryFailed",
    "LakeResult",
    "LakeUnavailable",
    "athena_cost_usd",
]
