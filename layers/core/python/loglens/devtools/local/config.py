"""`loglens dev`'s own settings: the spool's buffer hints and the HTTP server's limits.

Read from the environment like every other setting (loglens.settings.from_environment: a
malformed value fails with its variable's name); the defaults suit a laptop.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from loglens.devtools.local.server import HttpLimits
from loglens.settings import from_environment


class LocalSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Firehose's buffer hints, locally: a segment becomes a raw/ object at this size or age,
    # whichever comes first. 0 ms: one object per request (how the local spool used to work).
    spool_buffer_bytes: int = Field(
        default=4 << 20, ge=1024, le=128 << 20, json_schema_extra={"env": "LOGLENS_SPOOL_BUFFER_BYTES"}
    )
    spool_buffer_ms: int = Field(default=200, ge=0, le=900_000, json_schema_extra={"env": "LOGLENS_SPOOL_BUFFER_MS"})
    # Objects loaded at once (each on its own connection), like concurrent load Lambdas.
    load_workers: int = Field(default=2, ge=1, le=32, json_schema_extra={"env": "LOGLENS_LOAD_WORKERS"})
    http_max_connections: int = Field(
        default=256, ge=1, le=65_536, json_schema_extra={"env": "LOGLENS_HTTP_MAX_CONNECTIONS"}
    )
    http_head_timeout_s: float = Field(
        default=10.0, gt=0, le=3600, json_schema_extra={"env": "LOGLENS_HTTP_HEAD_TIMEOUT_S"}
    )
    http_body_timeout_s: float = Field(
        default=30.0, gt=0, le=3600, json_schema_extra={"env": "LOGLENS_HTTP_BODY_TIMEOUT_S"}
    )
    http_keep_alive_s: int = Field(default=75, ge=1, le=3600, json_schema_extra={"env": "LOGLENS_HTTP_KEEP_ALIVE_S"})
    http_ingest_threads: int = Field(
        default=32, ge=1, le=1024, json_schema_extra={"env": "LOGLENS_HTTP_INGEST_THREADS"}
    )
    http_ask_threads: int = Field(default=8, ge=1, le=256, json_schema_extra={"env": "LOGLENS_HTTP_ASK_THREADS"})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LocalSettings:
        return from_environment(cls, environ, what="loglens dev configuration")

    def http_limits(self) -> HttpLimits:
        return HttpLimits(
            body_timeout=self.http_body_timeout_s,
            head_timeout=self.http_head_timeout_s,
            keep_alive=self.http_keep_alive_s,
            max_connections=self.http_max_connections,
            threads={"ingest": self.http_ingest_threads, "ask": self.http_ask_threads},
        )
