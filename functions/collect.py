"""collect Lambda: API Gateway REST events → validated, redacted records → Firehose.

All logic is in loglens.ingest.collect; this module wires AWS (Firehose, Powertools) to it.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from loglens.aws import client, envelope_sealer, require
from loglens.ingest.collect import CollectApi, CollectService
from loglens.ingest.privacy import redactor_from_env
from loglens.ingest.sinks import FirehoseSink
from loglens.settings import Settings

logger = Logger()
metrics = Metrics(namespace="loglens")
_api: CollectApi | None = None


def _build() -> CollectApi:
    settings = Settings.from_env()
    sink = FirehoseSink(require("FIREHOSE_STREAM_NAME"), client("firehose"))
    service = CollectService(sink, settings, redactor=redactor_from_env(), metrics=metrics, sealer=envelope_sealer())
    return CollectApi(service, cors_origin=settings.cors_origin)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global _api
    if _api is None:
        _api = _build()
    return _api.handle(event)
