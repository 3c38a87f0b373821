"""Opening connections the same way everywhere (CLI, tests, Lambdas).

Every session runs in UTC so partition bounds and day boundaries read the same in every
client, and never uses server-side prepared statements (prepare_threshold=None) because
RDS Proxy pins a client to one backend connection for as long as a prepared statement lives.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

APPLICATION_NAME = "loglens"


def connect(
    url: str, *, autocommit: bool = False, application: str = APPLICATION_NAME, **kwargs: Any
) -> psycopg.Connection[Any]:
    conninfo = make_conninfo(url, application_name=application, options="-c TimeZone=UTC")
    return psycopg.connect(conninfo, autocommit=autocommit, prepare_threshold=None, **kwargs)


def with_database(url: str, dbname: str) -> str:
    """The same server and credentials, another database."""
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo("", **params)


def with_user(url: str, user: str, password: str | None) -> str:
    params = conninfo_to_dict(url)
    params["user"] = user
    if password is None:
        params.pop("password", None)
    else:
        params["password"] = password
    return make_conninfo("", **params)


def describe(url: str) -> str:
    """A connection target for messages, with any password removed."""
    params = conninfo_to_dict(url)
    host = params.get("host", "localhost")
    return f"{params.get('user', '?')}@{host}:{params.get('port', 5432)}/{params.get('dbname', '?')}"
