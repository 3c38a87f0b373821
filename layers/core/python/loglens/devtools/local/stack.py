"""`loglens dev`: the whole system on one machine, wired from the same core pieces as the Lambdas.

HTTP (API Gateway) → CollectApi → SpoolSink (Firehose → S3) → queue files (S3 → SQS) →
SpoolConsumer → Loader (load Lambda) → PostgreSQL (embedded, or DATABASE_URL).
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
from loglens.devtools.local.alerts import local_alert_actions
from loglens.devtools.local.ask import local_ask_api
from loglens.devtools.local.server import LocalApi, LocalHttpServer
from loglens.devtools.local.spool import SpoolConsumer
from loglens.devtools.local.timers import MaintenanceTimers, start_timers
from loglens.ingest.collect import CollectApi, CollectService
from loglens.ingest.envelope import sealer_from_env
from loglens.ingest.notifications import Loader
from loglens.ingest.objects import LocalObjectStore
from loglens.ingest.privacy import redactor_from_env
from loglens.ingest.sinks import SpoolSink
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
    server: LocalHttpServer | None = None
    consumer: SpoolConsumer | None = None
    timers: MaintenanceTimers | None = None
    lock: HomeLock | None = None
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
        collect = CollectApi(
            CollectService(SpoolSink(self.spool), self.settings, redactor=redactor, sealer=sealer),
            cors_origin=self.settings.cors_origin,
        )
        api = LocalApi(self.api_key)
        for path in ("/api/v1/logs", "/api/v1/logs/batch", "/otlp/v1/logs"):
            api.add(path, collect.handle)
        api.add("/api/v1/health", collect.handle, api_key_required=False)
        api.add("/api/v1/openapi.json", collect.handle, api_key_required=False)
        ask = local_ask_api(self.settings, analyst_url=analyst_url, writer_url=writer_url)
        api.add("/api/v1/ask", ask.handle)
        api.add("/slack/commands", ask.handle, api_key_required=False)  # Slack signs instead of sending a key
        api.add(ACTIONS_PATH, local_alert_actions(url).handle, api_key_required=False)  # the alerts' buttons
        loader = Loader(
            LocalObjectStore(self.spool),
            ConnectionProvider(lambda: writer_url, application="loglens-load"),
            self.settings,
            redactor=redactor,
            sealer=sealer,
        )
        self.server = LocalHttpServer(api, self.port)  # binds first: a busy port fails before anything starts
        self.consumer = SpoolConsumer(self.spool, loader)
        self.consumer.start()
        self.server.start()
        # The EventBridge schedules, locally: partitions now and daily, views hourly, archive daily.
        self.timers = start_timers(self.settings, url, archive_bucket=os.environ.get("LOGLENS_ARCHIVE_BUCKET") or None)
        if self.lock is not None:
            self.lock.announce(self.server.url)
        return self.server.url

    def stop(self) -> None:
        if self.timers is not None:  # before the database: a running job finishes first
            self.timers.stop()
        if self.server is not None:
            self.server.stop()
        if self.consumer is not None:
            self.consumer.stop()
        if self._started_db:  # leave a server we found running as it was
            embedded(self.settings).stop()
            self._started_db = False
        if self.lock is not None:
            self.lock.release()
            self.lock = None
