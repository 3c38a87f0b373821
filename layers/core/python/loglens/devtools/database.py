"""Where the local database is: DATABASE_URL when set, else the embedded server (started on demand)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loglens.settings import Settings

if TYPE_CHECKING:
    from loglens.devtools.embedded import EmbeddedPostgres


def embedded(settings: Settings, *, fast: bool = False) -> EmbeddedPostgres:
    from loglens.devtools.embedded import EmbeddedPostgres

    return EmbeddedPostgres(settings.home, settings.embedded_port, fast=fast)


def admin_url(settings: Settings, *, start: bool = True) -> str:
    """The migrating (admin) URL: DATABASE_URL, or the embedded server's superuser."""
    if settings.database_url:
        return settings.database_url
    server = embedded(settings)
    return server.start() if start else server.url()
