"""ask Lambda: /api/v1/ask and /slack/commands, and its own asynchronous invocations for Slack answers.

All logic is in loglens.agent; this module wires AWS to it: the analyst and conversation connections
through RDS Proxy with IAM auth, the Anthropic key and the Slack signing secret from Secrets Manager
(cached for five minutes, so a rotated value is picked up without a redeploy), the model
provider from MODEL_PROVIDER/MODEL_ID, and asynchronous self-invocation by the function's own name.

With LOGLENS_LAKE=athena the agent also gets the lake (run_lake_query on Athena, and the lake's days for the
prompt). On a lake-only stage (no database variables at all) the lake is its only source, and what
PostgreSQL would keep (conversation turns, HTTP answers, Slack replay claims) is in the DynamoDB table
ASK_STATE_TABLE (loglens.agent.dynamo_state).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from loglens.agent.answer import Answer
from loglens.agent.api import ASYNC_KEY, AskApi, self_invoker
from loglens.agent.replays import PostgresReplayGuard, ReplayGuard
from loglens.agent.service import AskService, BuiltOnFirstUse, build_agent, build_lake_agent
from loglens.agent.settings import AgentSettings, Provider
from loglens.aws import client, secret_string
from loglens.db.connect import ConnectionProvider
from loglens.environments import AskEnvironment
from loglens.http import HttpResponse
from loglens.lake.settings import LakeMode
from loglens.settings import ConfigError

if TYPE_CHECKING:
    from loglens.agent.dynamo_state import DynamoAskState

logger = Logger()
metrics = Metrics(namespace="loglens")
SECRET_MAX_AGE_SECONDS = 300
_api: AskApi | None = None


def _secret(arn: str | None, variable: str) -> str:
    if not arn:
        raise ConfigError(f"{variable} is not set on this function")
    value = secret_string(arn, max_age_seconds=SECRET_MAX_AGE_SECONDS)
    if not value.strip():
        raise ConfigError(f"the secret named by {variable} is empty or not a plain string")
    return value.strip()


def _service(env: AskEnvironment) -> AskService:
    from loglens.agent.client import make_client
    from loglens.agent.conversations import PostgresConversations
    from loglens.lake.athena import athena_lake_from_env

    settings = AgentSettings.from_env()
    api_key = (
        None
        if settings.provider is Provider.BEDROCK
        else (lambda: _secret(env.anthropic_secret_arn, "ANTHROPIC_SECRET_ARN"))
    )
    model = make_client(settings, api_key=api_key)
    lake = athena_lake_from_env(os.environ, client=client("athena")) if env.lake.mode is LakeMode.ATHENA else None
    if not env.has_database:
        assert lake is not None  # AskEnvironment: no database means LOGLENS_LAKE=athena
        state = _state(env)
        agent = build_lake_agent(
            lake=lake, client=model, settings=settings, environ=os.environ, lake_extent=lake.extent
        )
        return AskService(agent, state, answers=state)
    agent = build_agent(
        analyst=ConnectionProvider(env.conninfo_factory(), application="loglens-ask"),
        client=model,
        settings=settings,
        environ=os.environ,
        lake=lake,
        lake_extent=lake.extent if lake is not None else None,
    )
    conversations = PostgresConversations(
        ConnectionProvider(env.conninfo_factory(user=env.conversation_db_user), application="loglens-ask")
    )
    return AskService(agent, conversations, answers=conversations)


def _state(env: AskEnvironment) -> DynamoAskState:
    from loglens.agent.dynamo_state import DynamoAskState

    return DynamoAskState(str(env.ask_state_table), client("dynamodb"))


def _record(answer: Answer) -> None:
    metrics.add_metric(name="AgentSteps", unit=MetricUnit.Count, value=answer.steps)
    metrics.add_metric(name="InputTokens", unit=MetricUnit.Count, value=answer.usage.input_tokens)
    metrics.add_metric(name="OutputTokens", unit=MetricUnit.Count, value=answer.usage.output_tokens)
    metrics.add_metric(name="CacheReadTokens", unit=MetricUnit.Count, value=answer.usage.cache_read_input_tokens)
    metrics.add_metric(name="AnswerLatency", unit=MetricUnit.Milliseconds, value=answer.latency_ms)
    metrics.add_metric(name="IncompleteAnswers", unit=MetricUnit.Count, value=0 if answer.complete else 1)


def _build(context: LambdaContext) -> AskApi:
    env = AskEnvironment.from_env()
    api = AskApi(
        service=BuiltOnFirstUse(lambda: _service(env)),
        slack_secret=lambda: _secret(env.slack_secret_arn, "SLACK_SECRET_ARN"),
        dispatch_async=self_invoker(client("lambda"), context.function_name),
        cors_origin=env.settings.cors_origin,
        on_answer=_record,
        replays=_replays(env),
        share_link=_share_link(env),
    )
    if not env.has_database:  # lake-only: the query routes are this function's, to say why they are not served
        from loglens.agent.lake_only import refuse_query_routes

        refuse_query_routes(api.router)
    return api


def _share_link(env: AskEnvironment) -> Callable[[Answer], str] | None:
    """Slack answers link to the console, where they are shared first; no console (lake-only), no link."""
    if not env.console_url or not env.has_database:
        return None
    from loglens.query.saved import SavedStore, slack_share_link

    store = SavedStore(
        ConnectionProvider(env.conninfo_factory(user=env.conversation_db_user), application="loglens-ask")
    )
    return slack_share_link(store, env.console_url)


def _replays(env: AskEnvironment) -> Callable[[], ReplayGuard]:
    """Used by the worker only: nothing is opened or made on the acknowledgement path."""
    if not env.has_database:
        return cache(lambda: _state(env))
    # Opens its connection on the first claim.
    guard = PostgresReplayGuard(
        ConnectionProvider(env.conninfo_factory(user=env.conversation_db_user), application="loglens-ask")
    )
    return lambda: guard


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    global _api
    if _api is None:
        try:
            _api = _build(context)
        except ConfigError as error:  # answered, not crashed: the caller learns which variable is wrong
            logger.error("the ask function is misconfigured", extra={"error": str(error)})
            return HttpResponse.error(503, f"asking is not configured here: {error}").to_proxy("*")
    metrics.add_metric(name="AsyncAnswers" if ASYNC_KEY in event else "Requests", unit=MetricUnit.Count, value=1)
    return _api.handle_invocation(event)
