"""The lake tier: every accepted log also in an Apache Iceberg table on S3, queried with Trino SQL.

The contract between the AWS side (Firehose → Iceberg, Athena) and the local side (Parquet under
``LOGLENS_HOME/lake/``, DuckDB), so both are built and tested against the same promises:

- **The table** is ``logs`` with exactly the columns of ``loglens.record.LogRecord``
  (``LOG_COLUMNS``), derived in one place, ``loglens.lake.schema``: Iceberg/Glue types, the Athena
  DDL and the JSON a Firehose record carries. ``created_at`` and ``received_at`` are timestamps
  with time zone, UTC, microseconds; ``event_id`` and ``source_ip`` are text; ``metadata`` is the
  JSON text PostgreSQL would hold. Partitioned by ``day(created_at)``, no bucketing (schema.py
  says why), written sorted by service, level and time, Parquet with zstd.
- **Identity**: a row is ``(created_at, event_id)``, exactly as PostgreSQL keys it. Client
  retries, Firehose redelivery and replays store nothing twice: in AWS the Firehose stream
  upserts on those unique keys (``loglens.lake.rows.UNIQUE_KEYS``); locally the lake dedups on
  the same pair when it flushes.
- **What enters** is what the PostgreSQL path stores, validated and redacted by the same code:
  with PostgreSQL, the load path forwards the rows it validated (``loglens.lake.forward``), so
  both tiers hold identical rows; lake-only, collect sends its validated rows and FireLens sends
  raw lines to the stream, whose transformation Lambda (``loglens.lake.gate``) passes sealed
  rows through and validates and redacts everything else with ``loglens.ingest``'s code. A
  record is one row, sealed (``loglens.ingest.envelope``) so the gate can tell collect's and
  load's rows from anything an ECS task could send.
- **Query**: ``LakeQuery.run(sql)`` takes SQL the guard allowed in the Trino dialect
  (``loglens.sqlguard.check_sql(..., dialect="trino")`` over ``agent.catalog.lake_catalog()``), or
  that loglens wrote itself, and returns a ``LakeResult``: columns, rows, bytes scanned, cost in
  USD, elapsed ms and the engine. ``AthenaLake`` (``loglens.lake.athena``) runs it in a workgroup
  with a bytes-scanned cutoff and encrypted results, as a role that can only read the table
  (``run_checked`` guards first, for SQL from a model or a person); ``LocalLake`` (devtools) runs
  ``sqlguard.to_duckdb`` of it.
- **Settings** (``loglens.lake.settings.LakeSettings``): ``LOGLENS_LAKE`` (``off``, ``athena``,
  ``local``), ``LAKE_DATABASE``, ``LAKE_TABLE``, ``ATHENA_WORKGROUP``, ``LAKE_STREAM_NAME``,
  ``LAKE_QUERY_TIMEOUT_S``. Which tiers a deployment has decides which tools the agent gets:
  ``tiers()`` there is the one answer (lake-only stages have no database, so no ``run_query``).
- **Verification per day**: row count and the archive's checksum (``loglens.lifecycle.archive``'s
  ``row_hash``: sum mod 2^64 of md5(created_at_us|event_id)[0:8]) computed on both sides
  (``loglens.lake.verify``: one Trino statement, run by Athena as written) and recorded (0013).

The core and the local side (the lake helper), built to the same contract:

- ``forward.LakeSink``: the load path adds the rows it validated and flushes before it commits (a fresh
  sink per object, from ``Loader.lake``); locally a sink writes one buffer file per object
  (loglens.devtools.lake.buffer), flushed into Parquet by size or age like Firehose, dedup included.
- ``query.LakeExtent``: the days the lake holds, for the prompt ("which range each source holds"), read
  from metadata: the local snapshot, or Athena's ``"logs$partitions"`` table (no charged scan).
- ``verify``: the per-day count and checksum as one Trino statement that Athena runs as written and DuckDB
  runs transpiled, compared with PostgreSQL's and recorded in ``lake_verifications`` (0013); the archive's
  lake step (loglens.lifecycle.archive.lake_step) drops a partition only after its days match.
- The local lake (loglens.devtools.lake): Parquet under ``LOGLENS_HOME/lake/data/created_at_day=YYYY-MM-DD/``
  as Iceberg lays out its data, a snapshot file standing in for Iceberg's metadata, ``LocalLake`` running
  the guard's Trino SQL on DuckDB and reporting what Athena would have scanned and charged.

The AWS modules import boto3 lazily; DuckDB never ships in a Lambda.
"""
