"""The AWS edge: settings from the Lambda environment, boto3 clients, database connections.

Lambdas call these; nothing here runs at import (boto3 is imported inside the functions), so
the core stays importable and testable without AWS.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from loglens.settings import ConfigError

if TYPE_CHECKING:
    from loglens.ingest.envelope import Sealer


def require(name: str, environ: Mapping[str, str] | None = None) -> str:
    """An environment variable that must be set: fail loudly, naming it, when it is not."""
    value = (os.environ if environ is None else environ).get(name, "")
    if not value:
        raise ConfigError(f"environment variable {name} is required but not set")
    return value


@cache
def client(service: str) -> Any:
    import boto3

    return boto3.client(service)  # type: ignore[call-overload]


def database_conninfo_factory(environ: Mapping[str, str] | None = None) -> Callable[[], str]:
    """DATABASE_URL when set (local, tests); otherwise RDS Proxy with IAM auth from DB_* variables."""
    from loglens.db.connect import rds_conninfo

    env = os.environ if environ is None else environ
    url = env.get("DATABASE_URL")
    if url:
        return lambda: url
    host = require("DB_HOST", env)
    port = int(env.get("DB_PORT", "5432"))
    dbname = require("DB_NAME", env)
    user = require("DB_USER", env)
    region = require("AWS_REGION", env)
    sslmode = env.get("DB_SSLMODE", "require")
    if env.get("DB_IAM_AUTH", "true").lower() != "true":
        raise ConfigError("DB_IAM_AUTH must be true: the proxy accepts only IAM authentication")
    return lambda: rds_conninfo(
        host=host, port=port, dbname=dbname, user=user, region=region, sslmode=sslmode, rds_client=client("rds")
    )


def envelope_sealer() -> Sealer:
    """The collect/load envelope key: LOGLENS_ENVELOPE_KEY or the secret at LOGLENS_ENVELOPE_SECRET_ARN."""
    from loglens.ingest.envelope import Sealer, sealer_from_env

    sealer = sealer_from_env()
    if sealer is not None:
        return sealer
    secret = client("secretsmanager").get_secret_value(SecretId=require("LOGLENS_ENVELOPE_SECRET_ARN"))
    return Sealer(str(secret["SecretString"]).strip().encode())
