"""One clear line for whatever stopped a command: what failed and what to do, never a traceback."""

from __future__ import annotations

import re


def describe_failure(exc: BaseException) -> tuple[str, int]:
    """(message, exit code): 2 for configuration the user must fix, 1 for everything else."""
    from loglens.settings import ConfigError

    if isinstance(exc, ConfigError):
        return str(exc), 2
    from loglens.devtools.cli.remote import RemoteError

    if isinstance(exc, RemoteError):
        where = f" [{exc.field}]" if exc.field and exc.field not in exc.message else ""
        status = f" (HTTP {exc.status})" if exc.status else ""
        return f"{exc.message}{where}{status}", 2 if exc.status == 400 and exc.code == "invalid_request" else 1
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a core dependency
        psycopg = None  # type: ignore[assignment]
    if psycopg is not None and isinstance(exc, psycopg.ProgrammingError) and "connection info" in str(exc).lower():
        return f"DATABASE_URL is not a valid connection string: {_first_line(exc)}", 2
    if psycopg is not None and isinstance(exc, psycopg.OperationalError):
        return f"cannot reach the database: {_redact(_first_line(exc))}", 1
    from loglens.devtools.embedded import EmbeddedError

    if isinstance(exc, EmbeddedError):
        return f"the embedded PostgreSQL: {exc}", 1
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}", 1
    return f"{type(exc).__name__}: {_redact(_first_line(exc))}", 1


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _redact(text: str) -> str:
    # Connection strings in messages may carry a password.
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", re.sub(r"(password=)\S+", r"\1***", text))
