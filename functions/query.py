"""query Lambda: the query API (search, SQL, tail, facts, saved entries, shared answers) for API keys and the
console's Cognito sign-in alike.

All logic is in loglens.query; this module wires AWS to it: the analyst login through RDS Proxy with IAM
auth for every query (the SQL guard, a read-only transaction, the agent's statement timeout and row cap),
and the writer login for saved entries and shared answers only. Connections open on the first request that
needs them and are kept across invocations.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from loglens.agent.settings import AgentSettings
from loglens.db.connect import ConnectionProvider
from loglens.environments import QueryEnvironment
from loglens.http import HttpResponse
from loglens.query.api import QueryApi
from loglens.query.runner import QueryLimits, QueryRunner
from loglens.query.saved import SavedStore
from loglens.settings import ConfigError

logger = Logger()
metrics = Metrics(namespace="loglens")
_api: QueryApi | None = None


def _build() -> QueryApi:
    env = QueryEnvironment.from_env()
    limits = QueryLimits.from_settings(env.settings, AgentSettings.from_env())
    runner = QueryRunner(ConnectionProvider(env.conninfo_factory(), application="loglens-query"), limits)
    store = SavedStore(ConnectionProvider(env.conninfo_factory(user=env.saved_db_user), application="loglens-query"))
    return QueryApi(runner=lambda: runner, store=lambda: store, cors_origin=env.settings.cors_origin)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global _api
    if _api is None:
        try:
            _api = _build()
        except ConfigError as error:  # answered, not crashed: the caller learns which variable is wrong
            logger.error("the query function is misconfigured", extra={"error": str(error)})
            return HttpResponse.error(503, f"querying is not configured here: {error}").to_proxy("*")
    metrics.add_metric(name="QueryRequests", unit=MetricUnit.Count, value=1)
    return _api.handle(event)
