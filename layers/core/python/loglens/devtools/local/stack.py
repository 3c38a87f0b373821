"""`loglens dev`: the whole system on one machine, wired from the same core pieces as the Lambdas.

HTTP (uvicorn + the local API Gateway) → CollectApi → SpoolSink (Firehose → S3: buffered, fsync'd
segments sealed into raw/ objects) → queue notes (S3 → SQS) → SpoolConsumer → Loader (load Lambda)
→ PostgreSQL (embedded, or DATABASE_URL), and with the lake on (the default here) also → the local
lake's buffer → LakeFlusher → Parquet under LOGLENS_HOME/lake.
The query API and the web console are served beside them (devtools/local/console.py: the console's files at /,
the cookie sign-in, and the routes that accept that cookie or the API key).
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from loglens.alerts import ACTIONS_PATH
from loglens.db.connect import ConnectionProvider
from loglens.db.prepare import prepare
from loglens.devtools.database import admin_url, embedded
from loglens.devtools.home import HomeLock
from loglens.devtools.lake import wiring as lake_wiring
from loglens.devtools.lake.flusher import LakeFlusher
from loglens.devtools.lake.local import LocalLake
from loglens.devtools.local.alerts import local_alert_actions
from loglens.devtools.local.ask import local_ask_api
from loglens.devtools.local.config import LocalSettings
from loglens.devtools.local.console import (
    SESSION_PATH,
    URL_FILE,
    ConsoleSessions,
    ConsoleSite,
    default_dist,
    session_route,
    signed_in,
)
from loglens.devtools.local.gateway import LocalApi, Route
from loglens.devtools.local.query import local_query_api
from loglens.devtools.local.server import LocalHttpServer
from loglens.devtools.local.spool import LoaderProcess
from loglens.devtools.local.timers import MaintenanceTimers, start_timers
from loglens.ingest.collect import CollectApi, CollectService
from loglens.ingest.envelope import sealer_from_env
from loglens.ingest.privacy import redactor_from_env
from loglens.ingest.sinks import SpoolSink
from loglens.lifecycle.archive import LakeTier
from loglens.query.routes import ROUTES as QUERY_ROUTES
from loglens.query.saved import SavedStore, slack_share_link
from loglens.settings import Settings

log = logging.getLogger(__name__)


def local_api_key(settings: Settings) -> str:
    """LOGLENS_API_KEY when set; else a key generated once and kept in LOGLENS_HOME/api-key (0600)."""
    given = os.environ.get("LOGLENS_API_KEY")
    if given:
        return given
    path = settings.home / "api-key"
    if path.exists():
        return path.read_text().strip()
    settings.home.mkdir(parents=True, exist_ok=True)
    key = "llk_" + secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key


@dataclass
class LocalStack:
    settings: Settings
    port: int
    api_key: str
    local: LocalSettings | None = None
    server: LocalHttpServer | None = None
    sink: SpoolSink | None = None
    consumer: LoaderProcess | None = None
    timers: MaintenanceTimers | None = None
    lake_flusher: LakeFlusher | None = None
    lock: HomeLock | None = None
    sessions: ConsoleSessions | None = None
    console_url: str | None = None  # the console with a one-time sign-in token
    _started_db: bool = False

    @property
    def spool(self) -> Path:
        return self.settings.home / "spool"

    def start(self) -> str:
        # First: a second server on this home would share its database and spool (raises HomeError).
        self.lock = HomeLock(self.settings.home).acquire()
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> str:
        local = self.local = self.local or LocalSettings.from_env()
        if not self.settings.database_url:
            self._started_db = not embedded(self.settings).is_running()
        url = admin_url(self.settings)
        prepare(url, self.settings)
        writer_url = os.environ.get("LOGLENS_WRITER_DATABASE_URL") or url
        analyst_url = os.environ.get("LOGLENS_ANALYST_DATABASE_URL") or url
        if not self.settings.database_url:
            server = embedded(self.settings)
            server.set_role_passwords(url)
            writer_url = server.role_url("loglens_writer")
            analyst_url = server.role_url("loglens_analyst")
        elif analyst_url == url:
            log.warning("LOGLENS_ANALYST_DATABASE_URL is not set: /api/v1/ask runs agent SQL as the DATABASE_URL user")
        redactor = redactor_from_env()
        sealer = sealer_from_env(self.settings.home)
        lake, lake_tier = self._start_lake()
        # The loader process builds its own lake sinks (nothing callable crosses a spawn).
        self.consumer = LoaderProcess(self.spool, writer_url, self.settings, local.load_workers, lake=lake is not None)
        self.sink = SpoolSink(
            self.spool,
            max_bytes=local.spool_buffer_bytes,
            max_seconds=local.spool_buffer_ms / 1000,
            on_closed=self.consumer.wake,
        )
        collect = CollectApi(
            CollectService(self.sink, self.settings, redactor=redactor, sealer=sealer),
            cors_origin=self.settings.cors_origin,
        )
        api = LocalApi(self.api_key, cors_origin=self.settings.cors_origin)
        for path in ("/api/v1/logs", "/api/v1/logs/batch", "/otlp/v1/logs"):
            api.add(path, collect.handle)
        api.add("/api/v1/health", collect.handle, api_key_required=False)
        api.add("/api/v1/openapi.json", collect.handle, api_key_required=False)
        ask = local_ask_api(self.settings, analyst_url=analyst_url, writer_url=writer_url, lake=lake)
        # The console's routes take its session cookie or the API key (signed_in checks which).
        sessions = self.sessions = ConsoleSessions()
        for path in ("/api/v1/ask", "/api/v1/ask/{id}"):
            api.add(path, signed_in(ask.handle, self.api_key, sessions), api_key_required=False, group="ask")
        # Slack signs its requests instead of sending a key.
        api.add("/slack/commands", ask.handle, api_key_required=False, group="ask")
        api.add(ACTIONS_PATH, local_alert_actions(url).handle, api_key_required=False, group="ask")  # alerts' buttons
        query = signed_in(
            local_query_api(self.settings, analyst_url=analyst_url, writer_url=writer_url).handle,
            self.api_key,
            sessions,
        )
        for path in dict.fromkeys(path for path, _ in QUERY_ROUTES):
            api.add(path, query, api_key_required=False, group="query")
        api.add(SESSION_PATH, session_route(sessions), api_key_required=False, group="query")
        api.fallback = Route(ConsoleSite(default_dist()).handle, api_key_required=False, group="query")
        # Binds first: a busy port fails before anything starts.
        self.server = LocalHttpServer(api, self.port, limits=local.http_limits())
        # The console's cookie is named for the port: set before the first request can sign in.
        self.console_url = sessions.publish(self.server.url, self.settings.home / URL_FILE)
        self.consumer.start()
        self.server.start()
        # The EventBridge schedules, locally: partitions now and daily, views hourly, archive daily.
        self.timers = start_timers(
            self.settings, url, archive_bucket=os.environ.get("LOGLENS_ARCHIVE_BUCKET") or None, lake=lake_tier
        )
        if self.lock is not None:
            self.lock.announce(self.server.url)
        # Slack answers link to the console (LOGLENS_CONSOLE_URL when it is served elsewhere, say through a tunnel).
        console = os.environ.get("LOGLENS_CONSOLE_URL") or self.server.url
        store = SavedStore(ConnectionProvider(lambda: writer_url, application="loglens-ask"))
        ask.share_link = slack_share_link(store, console)
        return self.server.url

    def _start_lake(self) -> tuple[LocalLake | None, LakeTier | None]:
        """The local lake, on unless LOGLENS_LAKE=off: the loader feeds it, a flusher delivers the buffer by
        size or age, and the agent and the archive job read it."""
        if not lake_wiring.lake_enabled(self.settings, starting_dev=True):
            return None, None
        from loglens.devtools.lake.flush import flush

        self.lake_flusher = lake_wiring.flusher(self.settings).start()
        layout = lake_wiring.layout_of(self.settings)
        lake = lake_wiring.local_lake(self.settings)
        return lake, LakeTier(lake, deliver_pending=lambda: flush(layout))

    def stop(self) -> None:
        if self.timers is not None:  # before the database: a running job finishes first
            self.timers.stop()
        if self.server is not None:
            self.server.stop()
        if self.sessions is not None:
            self.sessions.discard()
        if self.sink is not None:  # closes the open segment: what was acknowledged is ready to load
            self.sink.close()
        if self.consumer is not None:
            self.consumer.stop()
        if self.lake_flusher is not None:  # after the loader: what it delivered last is flushed too
            self.lake_flusher.stop()
            self.lake_flusher = None
        if self._started_db:  # leave a server we found running as it was
            embedded(self.settings).stop()
            self._started_db = False
        if self.lock is not None:
            self.lock.release()
            self.lock = None
