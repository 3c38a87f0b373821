"""Opening connections the same way everywhere (CLI, tests, Lambdas).

Every session runs in UTC so partition bounds and day boundaries read the same in every
client, and never uses server-side prepared statements (prepare_threshold=None) because
RDS Proxy pins a client to one backend connection for as long as a prepared statement lives.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
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


class ConnectionProvider:
    """One connection kept across Lambda invocations (or loader iterations), reopened when broken.

    `make_conninfo` is called for every new connection, so an IAM auth token (valid 15 minutes)
    is fresh each time.
    """

    def __init__(self, make_conninfo: Callable[[], str], *, application: str = APPLICATION_NAME) -> None:
        self._make = make_conninfo
        self._application = application
        self._conn: psycopg.Connection[Any] | None = None

    def get(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            self.discard()
            self._conn = conn = connect(self._make(), application=self._application, connect_timeout=10)
        return conn

    def discard(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


def rds_conninfo(
    *, host: str, port: int, dbname: str, user: str, region: str, sslmode: str = "require", rds_client: Any = None
) -> str:
    """Connection string for RDS Proxy with an IAM auth token as the password (TLS required)."""
    if rds_client is None:
        import boto3

        rds_client = boto3.client("rds", region_name=region)
    token = rds_client.generate_db_auth_token(DBHostname=host, Port=port, DBUsername=user, Region=region)
    return make_conninfo("", host=host, port=port, dbname=dbname, user=user, password=token, sslmode=sslmode)
