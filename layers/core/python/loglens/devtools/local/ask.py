"""The agent on a laptop: role URLs for the embedded server or DATABASE_URL, and the ask routes' handler.

`loglens dev` registers `local_ask_api(...).handle` for /api/v1/ask, /api/v1/ask/{id} and /slack/commands; the
worker (HTTP asks that outlive their request, Slack answers) runs on a background thread instead of an
asynchronous Lambda invocation. `loglens ask` and `loglens eval`
use `role_urls` to find the read-only analyst connection.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loglens.agent.api import AskApi
from loglens.agent.replays import PostgresReplayGuard
from loglens.agent.service import AskService, BuiltOnFirstUse, build_agent
from loglens.agent.settings import AgentSettings
from loglens.agent.slack import SLACK_RESPONSE_URL_PREFIXES, ResponsePoster
from loglens.settings import ConfigError, Settings

if TYPE_CHECKING:
    from loglens.devtools.lake.local import LocalLake

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RoleUrls:
    analyst: str
    writer: str
    warning: str | None = None  # set when the analyst URL is not the read-only role


def role_urls(settings: Settings, environ: Mapping[str, str] | None = None) -> RoleUrls:
    """The analyst (agent SQL) and writer (conversation turns) connections for this machine."""
    env = os.environ if environ is None else environ
    if settings.database_url:
        writer = env.get("LOGLENS_WRITER_DATABASE_URL") or settings.database_url
        analyst = env.get("LOGLENS_ANALYST_DATABASE_URL")
        if analyst:
            return RoleUrls(analyst, writer)
        return RoleUrls(
            settings.database_url,
            writer,
            "LOGLENS_ANALYST_DATABASE_URL is not set, so agent SQL runs as the DATABASE_URL user: still guarded, "
            "read-only and time-limited, but without the loglens_analyst role's narrow privileges",
        )
    import psycopg

    from loglens.devtools.database import admin_url, embedded

    url = admin_url(settings)  # starts the embedded server when `loglens dev` is not running
    server = embedded(settings)
    try:
        server.set_role_passwords(url)
    except psycopg.Error as error:
        raise ConfigError(
            f"the embedded database is not set up ({error}): run `loglens dev` or `loglens db migrate` first"
        ) from None
    return RoleUrls(server.role_url("loglens_analyst"), server.role_url("loglens_writer"))


def local_ask_api(
    settings: Settings,
    *,
    analyst_url: str,
    writer_url: str,
    environ: Mapping[str, str] | None = None,
    lake: LocalLake | None = None,
) -> AskApi:
    """The ask routes for `loglens dev`: model key from ANTHROPIC_API_KEY, Slack secret from SLACK_SIGNING_SECRET;
    with `lake`, the agent also asks the local lake."""
    env: Mapping[str, str] = os.environ if environ is None else environ

    def build() -> AskService:
        from loglens.agent.client import make_client
        from loglens.agent.conversations import PostgresConversations
        from loglens.db.connect import ConnectionProvider

        agent_settings = AgentSettings.from_env(env)
        agent = build_agent(
            analyst=ConnectionProvider(lambda: analyst_url, application="loglens-ask"),
            client=make_client(agent_settings, environ=env),
            settings=agent_settings,
            environ=env,
            lake=lake,
            lake_extent=lake.extent if lake is not None else None,
        )
        conversations = PostgresConversations(ConnectionProvider(lambda: writer_url, application="loglens-ask"))
        return AskService(agent, conversations, answers=conversations)

    def slack_secret() -> str:
        secret = env.get("SLACK_SIGNING_SECRET", "")
        if not secret:
            raise ConfigError("SLACK_SIGNING_SECRET is not set")
        return secret

    def in_background(payload: dict[str, Any]) -> None:
        threading.Thread(target=api.run_async, args=(payload,), name="loglens-ask-worker", daemon=True).start()

    from loglens.db.connect import ConnectionProvider

    replays = PostgresReplayGuard(ConnectionProvider(lambda: writer_url, application="loglens-ask"))
    prefixes = [p.strip() for p in env.get("LOGLENS_SLACK_RESPONSE_URL_PREFIXES", "").split(",") if p.strip()]
    api = AskApi(
        service=BuiltOnFirstUse(build),
        slack_secret=slack_secret,
        dispatch_async=in_background,
        poster=ResponsePoster(prefixes or SLACK_RESPONSE_URL_PREFIXES),
        cors_origin=settings.cors_origin,
        replays=lambda: replays,
    )
    return api
