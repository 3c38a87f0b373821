"""maintain Lambda: EventBridge {"task": "partitions"} daily and {"task": "views"} hourly.

All logic is in loglens.lifecycle.maintenance; this module connects as loglens_owner through RDS Proxy
(IAM auth) and returns the task's JSON summary.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from loglens.environments import MaintainEnvironment
from loglens.lifecycle.maintenance import MaintainReport, maintain, owner_connection, task_from_event

logger = Logger()
metrics = Metrics(namespace="loglens")


def _record(report: MaintainReport) -> None:
    if report.partitions is not None:
        metrics.add_metric(name="PartitionsCreated", unit="Count", value=len(report.partitions.created))
        metrics.add_metric(name="RowsMovedFromDefault", unit="Count", value=sum(report.partitions.moved_rows.values()))
    if report.views:
        metrics.add_metric(name="ViewsRefreshed", unit="Count", value=len(report.views))


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = task_from_event(event)
    env = MaintainEnvironment.from_env()
    with owner_connection(env.conninfo_factory()(), application="loglens-maintain") as conn:
        report = maintain(conn, env.settings, task)
    _record(report)
    summary = report.to_dict()
    logger.info("maintenance done", extra={"maintenance": summary})
    return summary
