"""archive Lambda: EventBridge {"task": "archive"} → loglens.lifecycle.archive, continued until caught up.

Exports the partitions past LOGLENS_RETENTION_DAYS to ARCHIVE_BUCKET under archive/, verifies,
detaches and drops them. The archive ledger makes every step resumable. The scheduled invocation
starts up to ARCHIVE_WORKERS - 1 siblings when that many partitions wait, and a worker whose time ran
out invokes itself again (loglens/lifecycle/archive/workers.py says why this and not Step Functions).
A failed partition fails the invocation (the errors alarm) after the others have been done; its async
retries are 0, because the next scheduled run resumes from the ledger anyway. ArchiveBacklogSeconds says
how far past retention the oldest waiting partition is (an alarm past a day).

With the lake on (LOGLENS_LAKE=athena) the lake is the copy: each day of a partition is counted and
checksummed in PostgreSQL and, by Athena, in the Iceberg table (loglens.lake.verify, recorded in
lake_verifications), and only a partition whose days all match is dropped (loglens.lifecycle.archive.lake_step).
Firehose needs no flush here: a partition past retention is days older than its buffer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from loglens.aws import client
from loglens.environments import ArchiveEnvironment
from loglens.lake.athena import athena_lake_from_env
from loglens.lake.settings import LakeMode
from loglens.lifecycle.archive import (
    ArchiveResult,
    WorkerEvent,
    archive_expired,
    backlog_hours,
    continuation,
    open_archive_store,
    sibling_events,
    siblings_to_start,
)
from loglens.lifecycle.archive.lake_step import LakeTier
from loglens.lifecycle.maintenance import owner_connection

logger = Logger()
metrics = Metrics(namespace="loglens")


class ArchiveIncomplete(RuntimeError):
    """Some partitions could not be archived this run; they stay in PostgreSQL until the next."""


def _record(result: ArchiveResult, backlog: float) -> None:
    metrics.add_metric(name="PartitionsArchived", unit="Count", value=result.to_dict()["dropped"])
    metrics.add_metric(name="RowsArchived", unit="Count", value=sum(o.rows for o in result.outcomes))
    metrics.add_metric(name="BytesArchived", unit="Bytes", value=sum(o.bytes for o in result.outcomes))
    metrics.add_metric(name="ArchiveFailures", unit="Count", value=len(result.failed))
    metrics.add_metric(name="ArchiveBacklogSeconds", unit="Seconds", value=round(backlog * 3600))


def _invoke(function_name: str, payload: dict[str, Any]) -> None:
    client("lambda").invoke(FunctionName=function_name, InvocationType="Event", Payload=json.dumps(payload).encode())


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    worker = WorkerEvent.from_event(event)
    dry_run = bool(event.get("dry_run", False))
    env = ArchiveEnvironment.from_env()
    store = open_archive_store(env.settings.home, env.archive_bucket, s3_client=client("s3"))
    now = datetime.now(UTC)
    lake = athena_lake_from_env(client=client("athena")) if env.lake.mode is LakeMode.ATHENA else None
    with owner_connection(env.conninfo_factory()(), application="loglens-archive") as conn:
        starts = worker.starts_siblings and not dry_run
        siblings = siblings_to_start(conn, env.settings, env.archive_workers, now) if starts else 0
        for payload in sibling_events(siblings):
            _invoke(context.function_name, payload)
        result = archive_expired(
            conn,
            store,
            env.settings,
            dry_run=dry_run,
            time_left=lambda: context.get_remaining_time_in_millis() / 1000,
            lake=LakeTier(lake) if lake is not None else None,
        )
        backlog = backlog_hours(conn, env.settings)
    follow_up = continuation(worker, result)
    if follow_up is not None:
        _invoke(context.function_name, follow_up)
    _record(result, backlog)
    summary = {**result.to_dict(), "round": worker.round, "siblings_started": siblings, "backlog_hours": backlog}
    summary["continued"] = follow_up is not None
    logger.info("archive run done", extra={"archive": summary})
    if result.failed:
        names = ", ".join(f"{o.partition} ({o.error})" for o in result.failed)
        raise ArchiveIncomplete(f"{len(result.failed)} partition(s) not archived: {names}")
    return summary
