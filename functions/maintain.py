"""maintain Lambda: EventBridge {"task": "partitions"} daily and {"task": "views"} every few minutes.

All logic is in loglens.lifecycle.maintenance; this module connects as loglens_owner through RDS Proxy
(IAM auth) and returns the task's JSON summary. The rollup refresh stops starting work a minute before
the function's timeout; what it did not reach stays announced for the next run (its async retries are
0: a retry would only repeat a run the schedule starts again in minutes).
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
    if report.rollups is not None:
        metrics.add_metric(name="RollupHoursRefreshed", unit="Count", value=report.rollups.hours)
        metrics.add_metric(name="RollupHoursPending", unit="Count", value=report.rollups.pending_hours)
        metrics.add_metric(name="RollupRefreshSeconds", unit="Seconds", value=report.rollups.seconds)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    task = task_from_event(event)
    env = MaintainEnvironment.from_env()
    with owner_connection(env.conninfo_factory()(), application="loglens-maintain") as conn:
        report = maintain(conn, env.settings, task, time_left=lambda: context.get_remaining_time_in_millis() / 1000)
    _record(report)
    summary = report.to_dict()
    logger.info("maintenance done", extra={"maintenance": summary})
    return summary
