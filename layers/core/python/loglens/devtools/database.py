"""Where the local database is: DATABASE_URL when set, else the embedded server (started on demand)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from loglens.settings import Settings

if TYPE_CHECKING:
    from loglens.devtools.embedded import EmbeddedPostgres


def embedded(settings: Settings, *, fast: bool = False) -> EmbeddedPostgres:
    from loglens.devtools.embedded import EmbeddedPostgres

    explicit = bool(os.environ.get("LOGLENS_PG_PORT"))
    return EmbeddedPostgres(settings.home, settings.embedded_port, fast=fast, port_explicit=explicit)


def admin_url(settings: Settings, *, start: bool = True) -> str:
    """The migrating (admin) URL: DATABASE_URL, or the embedded server's superuser."""
    if settings.database_url:
        return settings.database_url
    server = embedded(settings)
    if not start:
        return server.url()
    url = server.start()
    if server.port_note:
        print(f"loglens: {server.port_note}", file=sys.stderr, flush=True)
    return url
