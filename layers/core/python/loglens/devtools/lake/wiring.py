"""Whether a home has the local lake on, and the local lake's parts for the commands that use it.

LOGLENS_LAKE (loglens.lake.settings) decides when it is set: ``local`` is this lake, ``off`` and ``athena``
are not. Unset, `loglens dev` turns the local lake on, and the home remembers it: its ``lake/`` folder. Every
other command then follows the home, so `loglens archive` by hand retires partitions the way `loglens
dev`'s timer does, and `loglens ask` asks the same lake.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from loglens.devtools.lake.buffer import BufferSink
from loglens.devtools.lake.flusher import LakeFlusher
from loglens.devtools.lake.local import LocalLake
from loglens.devtools.lake.snapshot import LakeLayout
from loglens.lake.settings import LakeMode, LakeSettings
from loglens.settings import Settings, from_environment

LAKE_ENV = "LOGLENS_LAKE"


class BufferSettings(BaseModel):
    """When the local buffer is flushed: at this size or this age of its oldest file, whichever comes first
    (Firehose's buffering hints, with their ranges)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    megabytes: int = Field(default=5, ge=1, le=128, json_schema_extra={"env": "LOGLENS_LAKE_BUFFER_MB"})
    seconds: int = Field(default=60, ge=0, le=900, json_schema_extra={"env": "LOGLENS_LAKE_BUFFER_SECONDS"})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BufferSettings:
        return from_environment(cls, environ, what="local lake buffer configuration")


def lake_enabled(settings: Settings, environ: Mapping[str, str] | None = None, *, starting_dev: bool = False) -> bool:
    env = os.environ if environ is None else environ
    if env.get(LAKE_ENV, "") != "":
        return LakeSettings.from_env(env).mode is LakeMode.LOCAL
    return starting_dev or layout_of(settings).root.is_dir()


def layout_of(settings: Settings) -> LakeLayout:
    return LakeLayout.under(settings.home)


def buffer_sinks(settings: Settings) -> Callable[[], BufferSink]:
    """The loader's sink factory: one BufferSink per object."""
    layout = layout_of(settings)
    layout.root.mkdir(parents=True, exist_ok=True)
    return lambda: BufferSink(layout)


def local_lake(settings: Settings, *, timeout_seconds: float = 30.0) -> LocalLake:
    return LocalLake(layout_of(settings), timeout_seconds=timeout_seconds)


def flusher(settings: Settings, environ: Mapping[str, str] | None = None) -> LakeFlusher:
    hints = BufferSettings.from_env(environ)
    return LakeFlusher(
        layout_of(settings), max_bytes=hints.megabytes * 1024 * 1024, max_age=timedelta(seconds=hints.seconds)
    )
