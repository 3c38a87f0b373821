"""archive Lambda: EventBridge {"task": "archive"} daily → loglens.lifecycle.archive.archive_expired.

Exports the partitions past LOGLENS_RETENTION_DAYS to ARCHIVE_BUCKET under archive/, verifies,
detaches and drops them. The archive ledger makes every step resumable, so a run that times out
or fails is finished by the next one; a failed partition fails the invocation (an error alarm and
EventBridge's retries) after the others have been done.

With the lake on (LOGLENS_LAKE=athena) the lake is the copy: each day of a partition is counted and
checksummed in PostgreSQL and, by Athena, in the Iceberg table (loglens.lake.verify, recorded in
lake_verifications), and only a partition whose days all match is dropped (loglens.lifecycle.archive.lake_step).
Firehose needs no flush here: a partition past retention is days older than its buffer.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from loglens.aws import client
from loglens.environments import ArchiveEnvironment
from loglens.lake.athena import athena_lake_from_env
from loglens.lake.settings import LakeMode
from loglens.lifecycle.archive import ArchiveResult, archive_expired, open_archive_store
from loglens.lifecycle.archive.lake_step import LakeTier
from loglens.lifecycle.maintenance import owner_connection

logger = Logger()
metrics = Metrics(namespace="loglens")


class ArchiveIncomplete(RuntimeError):
    """Some partitions could not be archived this run; they stay in PostgreSQL until the next."""


def _record(result: ArchiveResult) -> None:
    metrics.add_metric(name="PartitionsArchived", unit="Count", value=result.to_dict()["dropped"])
    metrics.add_metric(name="RowsArchived", unit="Count", value=sum(o.rows for o in result.outcomes))
    metrics.add_metric(name="BytesArchived", unit="Bytes", value=sum(o.bytes for o in result.outcomes))
    metrics.add_metric(name="ArchiveFailures", unit="Count", value=len(result.failed))


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if event.get("task", "archive") != "archive":
        raise ValueError(f"unknown archive task {event.get('task')!r}; expected 'archive'")
    env = ArchiveEnvironment.from_env()
    store = open_archive_store(env.settings.home, env.archive_bucket, s3_client=client("s3"))
    lake = athena_lake_from_env(client=client("athena")) if env.lake.mode is LakeMode.ATHENA else None
    with owner_connection(env.conninfo_factory()(), application="loglens-archive") as conn:
        result = archive_expired(
            conn,
            store,
            env.settings,
            dry_run=bool(event.get("dry_run", False)),
            time_left=lambda: context.get_remaining_time_in_millis() / 1000,
            lake=LakeTier(lake) if lake is not None else None,
        )
    _record(result)
    summary = result.to_dict()
    logger.info("archive run done", extra={"archive": summary})
    if result.failed:
        names = ", ".join(f"{o.partition} ({o.error})" for o in result.failed)
        raise ArchiveIncomplete(f"{len(result.failed)} partition(s) not archived: {names}")
    return summary
