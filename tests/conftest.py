"""Test session: one real PostgreSQL for the whole run, a fresh database per test module.

With DATABASE_URL set (a superuser URL of a throwaway server), the tests use that server;
otherwise they start an embedded PostgreSQL in a temporary directory and stop it at the end.
Each module gets its own database cloned from a migrated template, which takes milliseconds
and keeps modules independent.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from loglens.db.connect import connect, with_database, with_user
from loglens.db.prepare import prepare
from loglens.settings import Settings
from tests.aws_fakes import fake_aws  # noqa: F401 - a fixture for every test module

TEMPLATE = "loglens_template"
# `loglens dev` registers itself under XDG_STATE_HOME for other commands to find (loglens.devtools.home);
# the servers the tests start register in a folder of the test session's own, never the user's.
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="loglens-test-state-")
ROLE_PASSWORD = secrets.token_urlsafe(16)  # the writer's and the analyst's (tests are not a boundary)
READER_PASSWORD = secrets.token_urlsafe(16)  # its own, as everywhere: people are handed the reader's URL


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """Superuser URL of the test server's `postgres` database."""
    external = os.environ.get("DATABASE_URL")
    if external:
        yield with_database(external, "postgres")
        return
    from loglens.devtools.embedded import EmbeddedPostgres

    # Not under pytest's basetemp: another pytest run on this machine prunes old basetemps, and
    # PostgreSQL shuts down at once when its data directory's lock file disappears.
    home = Path(tempfile.mkdtemp(prefix="loglens-test-pg-"))
    server = EmbeddedPostgres(home, _free_port(), fast=True)
    server.start()
    try:
        yield server.url("postgres")
    finally:
        if os.environ.get("LOGLENS_TEST_KEEP_PG"):  # keep the cluster and its log for a post-mortem
            server.stop()
            print(f"\nembedded PostgreSQL kept in {home}")
        else:
            server.destroy()


@pytest.fixture(scope="session")
def template_url(pg_admin_url: str) -> str:
    """A migrated database that every module's database is cloned from."""
    from loglens.db.roles import set_role_passwords

    with connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    url = with_database(pg_admin_url, TEMPLATE)
    prepare(url, Settings.from_env({}))
    set_role_passwords(
        url,
        {
            "loglens_writer": ROLE_PASSWORD,
            "loglens_analyst": ROLE_PASSWORD,
            "loglens_reader": READER_PASSWORD,
            "loglens_alerter": ROLE_PASSWORD,
        },
    )
    return url


def _fresh_database(pg_admin_url: str, template_url: str, name: str) -> str:
    with connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    url = with_database(pg_admin_url, name)
    prepare(url, Settings.from_env({}))  # a no-op migration that re-applies database-level grants
    return url


@pytest.fixture(scope="module")
def db_url(request: pytest.FixtureRequest, pg_admin_url: str, template_url: str) -> Iterator[str]:
    """Admin URL of this module's own migrated database."""
    name = "t_" + re.sub(r"[^a-z0-9_]", "_", request.module.__name__.lower())[-50:]
    url = _fresh_database(pg_admin_url, template_url, name)
    yield url
    _drop_database(pg_admin_url, name)


def _drop_database(pg_admin_url: str, name: str) -> None:
    import psycopg

    for attempt in range(3):
        try:
            with connect(pg_admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.OperationalError:
            if attempt == 2:  # seen once under heavy load: the dropping connection itself was cut
                raise


@pytest.fixture
def fresh_db_url(request: pytest.FixtureRequest, pg_admin_url: str, template_url: str) -> Iterator[str]:
    """A database of the test's own, for tests that change the schema or fill tables."""
    name = "f_" + re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[-40:] + "_" + secrets.token_hex(3)
    url = _fresh_database(pg_admin_url, template_url, name)
    yield url
    _drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def analyst_url(db_url: str) -> str:
    return with_user(db_url, "loglens_analyst", ROLE_PASSWORD)


@pytest.fixture(scope="module")
def writer_url(db_url: str) -> str:
    return with_user(db_url, "loglens_writer", ROLE_PASSWORD)


@pytest.fixture(scope="module")
def reader_url(db_url: str) -> str:
    return with_user(db_url, "loglens_reader", READER_PASSWORD)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
