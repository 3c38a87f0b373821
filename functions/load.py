"""load Lambda: SQS-delivered S3 notifications of raw/ objects → COPY into PostgreSQL.

All logic is in loglens.ingest (load, notifications); this module wires S3, RDS Proxy and
Powertools to it. Failed objects are reported per SQS message so only they are retried,
and after the queue's maxReceiveCount they move to the DLQ (`loglens replay --dlq` re-drives).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from loglens.aws import client
from loglens.db.connect import ConnectionProvider
from loglens.environments import LoadEnvironment
from loglens.ingest.load import LoadResult
from loglens.ingest.notifications import Loader
from loglens.ingest.objects import S3ObjectStore
from loglens.ingest.privacy import count_metrics, redactor_from_env
from loglens.ingest.sinks import FirehoseSink
from loglens.lake.forward import LakeForwarder

logger = Logger()
metrics = Metrics(namespace="loglens")
_loader: Loader | None = None


def _record(result: LoadResult) -> None:
    logger.info("object loaded", extra={"object": result.__dict__})
    metrics.add_metric(name="RowsWritten", unit="Count", value=result.loaded)
    metrics.add_metric(name="RowsDuplicate", unit="Count", value=result.duplicates)
    metrics.add_metric(name="RowsRejected", unit="Count", value=result.rejected)
    count_metrics(metrics, result.redactions)


def _build() -> Loader:
    env = LoadEnvironment.from_env()
    store = S3ObjectStore(env.raw_bucket, client("s3"))
    connections = ConnectionProvider(env.conninfo_factory(), application="loglens-load")
    sealer = env.sealer()
    lake_stream = env.lake_stream_name
    return Loader(
        store,
        connections,
        env.settings,
        redactor=redactor_from_env(),
        sealer=sealer,
        on_result=_record,
        lake=(lambda: LakeForwarder(FirehoseSink(lake_stream, client("firehose")), sealer)) if lake_stream else None,
    )


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global _loader
    if _loader is None:
        _loader = _build()
    return _loader.handle(event)
