"""The migrate custom resource: creates and migrates the database, grants rds_iam, is idempotent."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import boto3
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from loglens.db.connect import connect, with_database, with_user
from loglens.db.deploy import deploy_database
from loglens.db.migrate import load_migrations
from loglens.settings import Settings
from tests.aws_fakes import REGION, FakeAws

DATABASE = f"deployed_{os.getpid()}"


@pytest.fixture
def rds_like(pg_admin_url: str) -> Iterator[str]:
    """The test server plus the rds_iam role RDS has, and no application database yet."""
    with connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'rds_iam'").fetchone() is None:
            conn.execute("CREATE ROLE rds_iam")
    yield pg_admin_url
    with connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


def _members(url: str) -> set[str]:
    with connect(url) as conn:
        rows = conn.execute(
            """SELECT m.rolname FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid
               JOIN pg_roles m ON m.oid = a.member WHERE r.rolname = 'rds_iam'"""
        ).fetchall()
    return {r[0] for r in rows}


def test_first_deploy_creates_migrates_and_grants_then_repeats_as_a_no_op(rds_like: str) -> None:
    logins = ["loglens_writer", "loglens_owner", "loglens_analyst", "loglens_reader"]
    first = deploy_database(rds_like, DATABASE, logins, Settings.from_env({}))
    assert first.database_created and first.open_escapes == []
    assert first.migrations_applied == [f"{m.version:04d}_{m.name}" for m in load_migrations()]
    assert first.partitions_created >= 8
    assert set(first.iam_logins) == set(logins) <= _members(with_database(rds_like, DATABASE))
    second = deploy_database(rds_like, DATABASE, logins, Settings.from_env({}))
    assert (second.database_created, second.migrations_applied, second.partitions_created) == (False, [], 0)


def test_the_read_roles_cannot_reach_the_maintenance_databases(rds_like: str, template_url: str) -> None:
    from tests.conftest import READER_PASSWORD  # set by the template_url fixture

    deploy_database(rds_like, DATABASE, [], Settings.from_env({}))
    for database in ("postgres", "template1"):
        url = with_user(with_database(rds_like, database), "loglens_reader", READER_PASSWORD)
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            connect(url).close()
    reader = with_user(with_database(rds_like, DATABASE), "loglens_reader", READER_PASSWORD)
    with connect(reader) as conn:  # its own database it may read
        assert conn.execute("SELECT count(*) >= 0 FROM logs WHERE created_at > now() - interval '1 hour'").fetchone()


def test_only_loglens_logins_can_be_granted(rds_like: str) -> None:
    with pytest.raises(ValueError, match="unknown logins"):
        deploy_database(rds_like, DATABASE, ["postgres"], Settings.from_env({}))


class _Context:
    function_name = "migrate"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:migrate"
    aws_request_id = "r"


def test_handler_reads_the_master_secret_and_ignores_delete(
    rds_like: str, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    params: dict[str, Any] = conninfo_to_dict(rds_like)
    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(
        Name="rds-master", SecretString=json.dumps({"username": params["user"], "password": params["password"]})
    )["ARN"]
    monkeypatch.setenv("DB_SECRET_ARN", arn)
    monkeypatch.setenv("DB_HOST", str(params["host"]))
    monkeypatch.setenv("DB_PORT", str(params["port"]))
    monkeypatch.setenv("DB_NAME", DATABASE)
    from functions import migrate

    monkeypatch.setattr(migrate, "_admin_url", lambda _env: rds_like)  # the embedded server speaks no TLS
    event = {"RequestType": "Create", "ResourceProperties": {"Database": DATABASE, "IamLogins": ["loglens_writer"]}}
    created = migrate.handler(event, _Context())
    assert created["PhysicalResourceId"] == migrate.PHYSICAL_ID
    assert created["Data"]["MigrationsApplied"].startswith("0001_roles")
    deleted = migrate.handler({"RequestType": "Delete", "PhysicalResourceId": migrate.PHYSICAL_ID}, _Context())
    assert deleted == {"PhysicalResourceId": migrate.PHYSICAL_ID}
    with connect(with_database(rds_like, DATABASE)) as conn:  # Delete left the data alone
        assert conn.execute("SELECT to_regclass('logs') IS NOT NULL").fetchone() == (True,)


def test_admin_url_comes_from_the_master_secret_with_tls(fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(Name="rds-master-2", SecretString=json.dumps({"username": "master", "password": "pw"}))
    monkeypatch.setenv("DB_SECRET_ARN", arn["ARN"])
    monkeypatch.setenv("DB_HOST", "db.internal")
    monkeypatch.setenv("DB_PORT", "5432")
    monkeypatch.setenv("DB_NAME", "loglens")
    from functions import migrate
    from loglens.environments import MigrateEnvironment

    params = conninfo_to_dict(migrate._admin_url(MigrateEnvironment.from_env()))
    assert (params["user"], params["password"], params["host"], params["sslmode"]) == (
        "master",
        "pw",
        "db.internal",
        "require",
    )
