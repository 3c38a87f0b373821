"""PostgreSQL on RDS, reached by the Lambdas only through RDS Proxy with IAM authentication.

- Engine: PostgreSQL 18, the major version the embedded local server runs.
- Encrypted with its own KMS key (storage, Performance Insights, the master secret), TLS forced
  by the parameter group, IAM database authentication on, never publicly accessible.
- The master password lives in Secrets Manager, rotated by a hosted single-user rotation function
  inside the VPC; only the migration function and the rotation function use it, connecting to the
  instance directly (the proxy admits IAM tokens only).
- RDS Proxy uses end-to-end IAM authentication (``DefaultAuthScheme.IAM_AUTH``): clients present
  IAM tokens and the proxy authenticates to PostgreSQL with IAM as well, so the writer, owner,
  analyst and reader logins need no passwords anywhere (the migration grants them ``rds_iam``, and a
  role's own ALTER ROLE ... PASSWORD cannot lock an IAM login out). TLS is required. People get the
  reader's connect policy (an output), never the analyst's: the analyst is the agent's own login.
- Enhanced Monitoring is off: Performance Insights and the instance's CloudWatch metrics cover what
  the dashboard and alarms use, and it would need another role with an AWS-managed policy.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Fn, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.components.common import log_retention, removal_policy, secret_name
from infra.components.network import POSTGRES_PORT
from infra.config import LoglensConfig
from infra.nag import acknowledge

ENGINE_VERSION = rds.PostgresEngineVersion.VER_18_3
DATABASE_NAME = "loglens"
MASTER_USERNAME = "loglens_admin"
# The IAM-auth logins (created by the migrations; see layers/core/python/loglens/db/migrations).
WRITER_LOGIN = "loglens_writer"
OWNER_LOGIN = "loglens_owner"
ANALYST_LOGIN = "loglens_analyst"  # the agent's own: only the ask function may connect as it
READER_LOGIN = "loglens_reader"  # people's read-only login (psql, BI tools): its connect policy is an output
ALERTER_LOGIN = "loglens_alerter"  # the alerts function (migration 0014)
IAM_LOGINS = (WRITER_LOGIN, OWNER_LOGIN, ANALYST_LOGIN, READER_LOGIN, ALERTER_LOGIN)

# Fixed for every stage: security and the extensions the schema relies on.
BASE_PARAMETERS = {
    "rds.force_ssl": "1",
    "shared_preload_libraries": "pg_stat_statements",
    "log_min_duration_statement": "1000",
    "log_lock_waits": "1",
    "log_temp_files": "0",
    # 32 MB per sort/hash (default 4 MB): bench/queries.py on 10M rows measured the analyst's percentile
    # and hourly-bucket questions read straight from logs 30% faster (112 -> 79 ms, 29 -> 21 ms) with it.
    # Only the analyst and maintenance sessions sort much, and the analyst role's connections are capped.
    "work_mem": "32768",
}


class Database(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LoglensConfig,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        lambda_sg: ec2.ISecurityGroup,
        admin_sg: ec2.ISecurityGroup,
    ) -> None:
        super().__init__(scope, construct_id)
        settings = config.database
        removal = removal_policy(config)
        self.identifier = f"loglens-{config.stage}"
        self.name = DATABASE_NAME
        self.port = POSTGRES_PORT

        # Created here, not in the network stack: CDK adds the proxy → database rule on the instance's
        # port attribute, which the network stack cannot reference without a cycle.
        self.database_sg = ec2.SecurityGroup(
            self,
            "DatabaseSecurityGroup",
            vpc=vpc,
            description="PostgreSQL: RDS Proxy and the migration/rotation functions only",
            allow_all_outbound=False,
        )
        self.proxy_sg = ec2.SecurityGroup(
            self,
            "ProxySecurityGroup",
            vpc=vpc,
            description="RDS Proxy: loglens Lambdas in, PostgreSQL out",
            allow_all_outbound=False,
        )
        postgres = ec2.Port.tcp(POSTGRES_PORT)
        self.proxy_sg.connections.allow_from(lambda_sg, postgres, "loglens Lambdas to RDS Proxy")
        self.database_sg.connections.allow_from(admin_sg, postgres, "migrations and rotation to PostgreSQL")

        self.key = kms.Key(
            self,
            "Key",
            description=f"loglens {config.stage}: PostgreSQL storage, Performance Insights and master secret",
            enable_key_rotation=True,
            removal_policy=removal,
        )
        engine = rds.DatabaseInstanceEngine.postgres(version=ENGINE_VERSION)
        parameter_group = rds.ParameterGroup(
            self,
            "Parameters",
            engine=engine,
            description=f"loglens {config.stage}",
            # Stage tuning (work_mem, maintenance_work_mem, ...) comes from cdk.json: database.parameters.
            parameters={**BASE_PARAMETERS, **settings.parameters},
        )
        # Created before the instance (whose name is fixed) so we own its retention.
        self.postgres_logs = logs.LogGroup(
            self,
            "PostgresLogs",
            log_group_name=f"/aws/rds/instance/{self.identifier}/postgresql",
            retention=log_retention(config),
            removal_policy=removal,
        )
        self.instance = rds.DatabaseInstance(
            self,
            "Instance",
            engine=engine,
            # A fixed identifier also makes CloudFormation refuse a silent replacement of the database.
            instance_identifier=self.identifier,
            instance_type=ec2.InstanceType(settings.instance_class),
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.database_sg],
            publicly_accessible=False,
            port=POSTGRES_PORT,
            database_name=DATABASE_NAME,
            credentials=rds.Credentials.from_generated_secret(
                MASTER_USERNAME, encryption_key=self.key, secret_name=secret_name(config, "database-master")
            ),
            iam_authentication=True,
            parameter_group=parameter_group,
            ca_certificate=rds.CaCertificate.RDS_CA_RSA2048_G1,
            storage_type=rds.StorageType.GP3,
            allocated_storage=settings.allocated_storage_gib,
            max_allocated_storage=settings.max_allocated_storage_gib,
            storage_encrypted=True,
            storage_encryption_key=self.key,
            multi_az=settings.multi_az,
            backup_retention=Duration.days(settings.backup_retention_days),
            copy_tags_to_snapshot=True,
            delete_automated_backups=not config.retain_data,
            deletion_protection=config.retain_data,
            removal_policy=removal,
            auto_minor_version_upgrade=True,
            enable_performance_insights=settings.performance_insights,
            performance_insight_encryption_key=self.key if settings.performance_insights else None,
            cloudwatch_logs_exports=["postgresql"],
        )
        self.instance.node.add_dependency(self.postgres_logs)
        acknowledge(
            self.instance,
            "AwsSolutions-RDS11",
            "PostgreSQL keeps its default port: the instance is in isolated subnets and its security group "
            "admits only RDS Proxy and the migration/rotation functions, so a non-default port adds nothing.",
        )
        if not config.retain_data:
            acknowledge(
                self.instance,
                "AwsSolutions-RDS10",
                f"Stage {config.stage} is disposable (cdk.json removal_policy 'destroy'); every retained stage gets "
                "deletion protection and the config refuses 'destroy' for prod.",
            )
        if not settings.multi_az:
            acknowledge(
                self.instance,
                "AwsSolutions-RDS3",
                f"Stage {config.stage} runs single-AZ to save cost (cdk.json database.multi_az); accepted logs wait "
                "durably in S3 and SQS during an outage, and the defaults (used by prod) are multi-AZ.",
            )

        secret = self.instance.secret
        assert secret is not None
        self.master_secret: secretsmanager.ISecret = secret
        self.master_secret.add_rotation_schedule(
            "Rotation",
            hosted_rotation=secretsmanager.HostedRotation.postgre_sql_single_user(
                vpc=vpc, vpc_subnets=subnets, security_groups=[admin_sg]
            ),
            automatically_after=Duration.days(30),
        )

        self.proxy = rds.DatabaseProxy(
            self,
            "Proxy",
            proxy_target=rds.ProxyTarget.from_instance(self.instance),
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.proxy_sg],
            default_auth_scheme=rds.DefaultAuthScheme.IAM_AUTH,
            iam_auth=True,
            require_tls=True,
            max_connections_percent=settings.proxy_max_connections_percent,
            idle_client_timeout=Duration.minutes(30),
            borrow_timeout=Duration.seconds(30),
        )
        # End-to-end IAM: the proxy itself connects to PostgreSQL as each login with an IAM token.
        proxy_role = self.proxy.node.find_child("IAMRole")
        assert isinstance(proxy_role, iam.Role)
        resource_id = self.instance.instance_resource_id
        assert resource_id is not None
        proxy_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["rds-db:connect"],
                resources=[
                    Stack.of(self).format_arn(
                        service="rds-db",
                        resource="dbuser",
                        resource_name=f"{resource_id}/{login}",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                    for login in IAM_LOGINS
                ],
            )
        )

        # One policy per login, built here where the proxy's resource id (the 7th field of its ARN)
        # is a local attribute; other stacks attach them. Splitting a value imported from another
        # stack is not something every CloudFormation function accepts.
        proxy_resource_id = Fn.select(6, Fn.split(":", self.proxy.db_proxy_arn))
        self.connect_policies = {
            login: iam.ManagedPolicy(
                self,
                f"ConnectAs{login.removeprefix('loglens_').title()}",
                description=f"loglens {config.stage}: connect through RDS Proxy as {login} (IAM auth)",
                statements=[
                    iam.PolicyStatement(
                        actions=["rds-db:connect"],
                        resources=[
                            Stack.of(self).format_arn(
                                service="rds-db",
                                resource="dbuser",
                                resource_name=f"{proxy_resource_id}/{login}",
                                arn_format=ArnFormat.COLON_RESOURCE_NAME,
                            )
                        ],
                    )
                ],
            )
            for login in IAM_LOGINS
        }

    def grant_connect(self, role: iam.IRole, login: str) -> None:
        """rds-db:connect through the proxy as one IAM login."""
        if login not in IAM_LOGINS:
            raise ValueError(f"{login} is not one of the IAM logins {IAM_LOGINS}")
        role.add_managed_policy(self.connect_policies[login])

    def connection_environment(self, login: str) -> dict[str, str]:
        """The DB_* variables a function needs to reach PostgreSQL through the proxy as `login`."""
        return {
            "DB_HOST": self.proxy.endpoint,
            "DB_PORT": str(POSTGRES_PORT),
            "DB_NAME": DATABASE_NAME,
            "DB_USER": login,
            "DB_IAM_AUTH": "true",
        }
