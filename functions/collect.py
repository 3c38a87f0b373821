"""collect Lambda: API Gateway REST events → validated, redacted records → Firehose.

All logic is in loglens.ingest.collect; this module wires AWS (Firehose, Powertools) to it.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from loglens.aws import client
from loglens.environments import CollectEnvironment
from loglens.http import HttpResponse
from loglens.ingest.collect import CollectApi, CollectService
from loglens.ingest.privacy import redactor_from_env
from loglens.ingest.sinks import FirehoseSink
from loglens.settings import ConfigError

logger = Logger()
metrics = Metrics(namespace="loglens")
_api: CollectApi | None = None


def _build() -> CollectApi:
    env = CollectEnvironment.from_env()
    sink = FirehoseSink(env.firehose_stream_name, client("firehose"))
    service = CollectService(
        sink,
        env.settings,
        redactor=redactor_from_env(),
        metrics=metrics,
        sealer=env.sealer(),
        lake_rows=env.delivery == "lake",
    )
    return CollectApi(service, cors_origin=env.settings.cors_origin)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global _api
    if _api is None:
        try:
            _api = _build()
        except ConfigError as error:  # answered, not crashed: the caller learns which variable is wrong
            logger.error("the collect function is misconfigured", extra={"error": str(error)})
            return HttpResponse.error(503, f"collect is not configured: {error}").to_proxy("*")
    return _api.handle(event)
