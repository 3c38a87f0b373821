"""migrate: the deploy-time custom resource (CDK Provider framework on_event handler).

On Create and Update it migrates the database as the RDS master user (credentials from the
master secret) and grants the IAM logins rds_iam; on Delete it does nothing, so tearing down
the stack never touches data. The physical id is fixed, so an Update never replaces it.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from psycopg.conninfo import make_conninfo

from loglens.aws import client
from loglens.db.deploy import deploy_database
from loglens.environments import MigrateEnvironment

logger = Logger()
PHYSICAL_ID = "loglens-database-migrations"


def _admin_url(env: MigrateEnvironment) -> str:
    secret = json.loads(client("secretsmanager").get_secret_value(SecretId=env.db_secret_arn)["SecretString"])
    return make_conninfo(
        "",
        host=env.db_host,
        port=env.db_port,
        dbname="postgres",
        user=secret["username"],
        password=secret["password"],
        sslmode="require",
        connect_timeout=15,
    )


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = event.get("RequestType")
    if request == "Delete":
        return {"PhysicalResourceId": event.get("PhysicalResourceId", PHYSICAL_ID)}
    env = MigrateEnvironment.from_env()
    properties = event.get("ResourceProperties") or {}
    result = deploy_database(
        _admin_url(env),
        str(properties.get("Database") or env.db_name),
        [str(login) for login in properties.get("IamLogins") or []],
        env.settings,
    )
    logger.info("database deployed", extra={"result": result.__dict__})
    if result.open_escapes:
        # Not fatal: the agent never opens a writable transaction, and the reader's session caps still hold.
        logger.warning("read roles may still execute these functions", extra={"functions": result.open_escapes})
    return {
        "PhysicalResourceId": PHYSICAL_ID,
        "Data": {
            "MigrationsApplied": ",".join(result.migrations_applied) or "none",
            "OpenEscapes": ",".join(result.open_escapes) or "none",
        },
    }
