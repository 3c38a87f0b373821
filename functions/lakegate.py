"""lakegate Lambda: the lake stream's Firehose transformation (records in, Iceberg rows out).

All logic is in loglens.lake.gate; this module wires the envelope key, redaction and metrics to it.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from loglens.environments import LakeGateEnvironment
from loglens.ingest.privacy import count_metrics, redactor_from_env
from loglens.lake.gate import Destination, LakeGate

logger = Logger()
metrics = Metrics(namespace="loglens")
_gate: LakeGate | None = None


def _build() -> LakeGate:
    env = LakeGateEnvironment.from_env()
    return LakeGate(
        sealer=env.sealer(),
        destination=Destination(env.lake_database, env.lake_table),
        window=env.settings.window,
        redactor=redactor_from_env(),
    )


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # A configuration error raises: Firehose retries the batch and, after its retries, writes the
    # records under processing-failed/, so nothing is lost while the function is misconfigured.
    global _gate
    if _gate is None:
        _gate = _build()
    response, report = _gate.transform(event)
    metrics.add_metric(name="LakeRowsPassed", unit=MetricUnit.Count, value=report.passed)
    metrics.add_metric(name="LakeRowsValidated", unit=MetricUnit.Count, value=report.validated)
    metrics.add_metric(name="LakeRecordsFailed", unit=MetricUnit.Count, value=len(report.failed))
    count_metrics(metrics, report.redactions)
    for record_id, reasons in report.failed[:20]:  # reasons name fields and rules, never values
        logger.warning("lake record refused", extra={"record_id": record_id, "reasons": list(reasons)})
    return response
