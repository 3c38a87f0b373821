"""The query API on a laptop: searches and SQL as loglens_analyst, saved entries and shared answers as
loglens_writer, with the agent's row cap and statement timeout (LOGLENS_AGENT_MAX_ROWS, _TIMEOUT_MS)."""

from __future__ import annotations

from collections.abc import Mapping

from loglens.agent.settings import AgentSettings
from loglens.db.connect import ConnectionProvider
from loglens.query.api import QueryApi
from loglens.query.runner import QueryLimits, QueryRunner
from loglens.query.saved import SavedStore
from loglens.settings import Settings


def local_query_api(
    settings: Settings, *, analyst_url: str, writer_url: str, environ: Mapping[str, str] | None = None
) -> QueryApi:
    limits = QueryLimits.from_settings(settings, AgentSettings.from_env(environ))
    runner = QueryRunner(ConnectionProvider(lambda: analyst_url, application="loglens-query"), limits)
    store = SavedStore(ConnectionProvider(lambda: writer_url, application="loglens-query"))
    return QueryApi(runner=lambda: runner, store=lambda: store, cors_origin=settings.cors_origin)
