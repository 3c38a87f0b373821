"""Whether a home has the lake on, and the local lake's parts for the commands that use it.

`loglens dev` turns the lake on unless LOGLENS_LAKE=off, and the home remembers it: its ``lake/`` folder.
Every other command follows LOGLENS_LAKE when it is set, else the home (a lake folder means the lake is on),
so `loglens archive` by hand retires partitions the way `loglens dev`'s timer does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta

from loglens.devtools.lake.buffer import BufferFeed
from loglens.devtools.lake.flusher import LakeFlusher
from loglens.devtools.lake.local import LocalLake
from loglens.devtools.lake.snapshot import LakeLayout
from loglens.settings import Settings

LAKE_ENV = "LOGLENS_LAKE"


def lake_enabled(settings: Settings, environ: Mapping[str, str] | None = None, *, starting_dev: bool = False) -> bool:
    env = os.environ if environ is None else environ
    if env.get(LAKE_ENV, "") != "":
        return settings.lake  # Settings parsed (and validated) the variable
    return starting_dev or LakeLayout.under(settings.home).root.is_dir()


def layout_of(settings: Settings) -> LakeLayout:
    return LakeLayout.under(settings.home)


def buffer_feed(settings: Settings) -> BufferFeed:
    layout = layout_of(settings)
    layout.root.mkdir(parents=True, exist_ok=True)
    return BufferFeed(layout)


def local_lake(settings: Settings, *, timeout_seconds: float = 30.0) -> LocalLake:
    return LocalLake(layout_of(settings), timeout_seconds=timeout_seconds)


def flusher(settings: Settings) -> LakeFlusher:
    return LakeFlusher(
        layout_of(settings),
        max_bytes=settings.lake_buffer_mb * 1024 * 1024,
        max_age=timedelta(seconds=settings.lake_buffer_seconds),
    )
