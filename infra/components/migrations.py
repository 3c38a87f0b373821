"""Deploy-time schema migrations: a custom resource backed by functions/migrate.py.

The CDK ``Provider`` framework sends CloudFormation its responses; the handler only applies the
SQL migrations as the RDS master user (from the master secret, straight to the instance) and
grants ``rds_iam`` to the IAM logins. The resource carries a hash of the migration files, so a
deploy that changes a migration changes the resource and runs the handler again; every other
deploy leaves it alone. A Delete event must leave the database untouched.
"""

from __future__ import annotations

import hashlib

from aws_cdk import CustomResource
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra.components.common import log_group
from infra.components.database import IAM_LOGINS, Database
from infra.components.functions import LoglensFunction
from infra.config import LoglensConfig
from infra.nag import acknowledge_wildcard_resources
from infra.paths import MIGRATIONS_DIR


def migrations_hash() -> str:
    """SHA-256 over the migration files' names and contents, in apply order."""
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


class Migrations(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LoglensConfig,
        database: Database,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        admin_sg: ec2.ISecurityGroup,
        framework_sg: ec2.ISecurityGroup,
        vpc_access_policy: iam.IManagedPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.handler = LoglensFunction(
            self,
            "Migrate",
            config=config,
            module="migrate",
            description="loglens: apply SQL migrations and create the IAM-auth logins (custom resource)",
            vpc=vpc,
            subnets=subnets,
            security_group=admin_sg,
            vpc_access_policy=vpc_access_policy,
            environment={
                "DB_HOST": database.instance.db_instance_endpoint_address,
                "DB_PORT": database.instance.db_instance_endpoint_port,
                "DB_NAME": database.name,
                "DB_SECRET_ARN": database.master_secret.secret_arn,
                "DB_IAM_AUTH": "false",
            },
        )
        database.master_secret.grant_read(self.handler.role)

        framework_role = iam.Role(
            self,
            "FrameworkRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="loglens migrations: CloudFormation custom-resource framework",
            managed_policies=[vpc_access_policy],
        )
        framework_logs = log_group(self, "FrameworkLogs", config)
        framework_logs.grant_write(framework_role)
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.handler.function,
            framework_on_event_role=framework_role,
            log_group=framework_logs,
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[framework_sg],
        )
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.provider.service_token,
            resource_type="Custom::LoglensMigrations",
            properties={
                "MigrationsHash": migrations_hash(),
                "IamLogins": list(IAM_LOGINS),
                "Database": database.name,
            },
        )

        acknowledge_wildcard_resources(
            framework_role.node.find_child("DefaultPolicy"),
            [f"{self.handler.function.function_arn}:*"],
            "The Provider framework may invoke any version or alias of the one migrate function it fronts.",
        )
