"""Maintenance stack: the scheduled maintain and archive functions and the Athena catalog of the archive."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.components.archive_catalog import ArchiveCatalog
from infra.components.database import OWNER_LOGIN
from infra.components.functions import LoglensFunction
from infra.components.log_storage import ARCHIVE_PREFIX
from infra.components.schedules import ScheduledTask
from infra.config import LoglensConfig
from infra.stacks.data import DataStack
from infra.stacks.lake import LakeStack
from infra.stacks.network import NetworkStack

# The archive's per-day count and checksum in Athena: well inside the function's 900 s, far past the agent's 60 s.
ARCHIVE_LAKE_QUERY_TIMEOUT_S = 600


class MaintenanceStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LoglensConfig,
        network: NetworkStack,
        data: DataStack,
        lake: LakeStack | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        net = network.network
        storage = data.storage
        database = data.database
        placement = net.function_placement()

        self.maintain = LoglensFunction(
            self,
            "Maintain",
            config=config,
            module="maintain",
            description="loglens: create partitions ahead, bring the summary views up to date",
            environment={
                "LOGLENS_PARTITION_DAYS_AHEAD": str(config.retention.partition_days_ahead),
                **database.connection_environment(OWNER_LOGIN),
            },
            **placement,
        )
        database.grant_connect(self.maintain.role, OWNER_LOGIN)

        # With the lake, a partition past retention is verified there (count + checksum per day, by Athena)
        # instead of exported; the statement reads two columns of whole days, so it gets most of the
        # function's time rather than the agent's one-minute deadline.
        lake_environment = (
            {
                "LOGLENS_LAKE": "athena",
                "ATHENA_WORKGROUP": lake.storage.workgroup_name,
                "LAKE_DATABASE": lake.storage.database_name,
                "LAKE_TABLE": lake.storage.table_name,
                "LAKE_QUERY_TIMEOUT_S": str(ARCHIVE_LAKE_QUERY_TIMEOUT_S),
            }
            if lake is not None
            else {}
        )
        self.archive = LoglensFunction(
            self,
            "Archive",
            config=config,
            module="archive",
            description="loglens: export partitions past retention to S3 (or verify them in the lake), detach, drop",
            environment={
                "ARCHIVE_BUCKET": storage.archive_bucket_name,
                "ARCHIVE_WORKERS": str(config.functions.archive_workers),
                "LOGLENS_RETENTION_DAYS": str(config.retention.db_retention_days),
                **lake_environment,
                **database.connection_environment(OWNER_LOGIN),
            },
            # The workers that may run at once: this caps the self-invoking chain (lifecycle/archive/workers.py).
            reserved_concurrency=config.functions.archive_workers,
            **placement,
        )
        database.grant_connect(self.archive.role, OWNER_LOGIN)
        # A worker starts its siblings and continues itself by invoking this function asynchronously. A policy
        # of its own (not the role's default one, which the function depends on) names the function's ARN
        # without a circular reference.
        iam.Policy(
            self,
            "ArchiveSelfInvoke",
            roles=[self.archive.role],
            statements=[
                iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.archive.function.function_arn])
            ],
        )
        self.archive.grant(
            ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
            [f"{storage.archive_bucket_arn}/{ARCHIVE_PREFIX}*"],
            wildcard_reason="archive writes, verifies and restores one folder of objects per day under archive/.",
        )
        self.archive.grant(
            ["s3:ListBucket"],
            [storage.archive_bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{ARCHIVE_PREFIX}*"]}},
        )
        self.archive.grant(["kms:Decrypt", "kms:GenerateDataKey"], [storage.key.key_arn])
        if lake is not None:
            # Athena on the one workgroup, read on the table's catalog entries and files, results, the lake's key:
            # the same read-only grant as the ask function's (no write to the table or its catalog entry).
            lake.storage.grant_query(self, self.archive.role, construct_id="ArchiveLakeQuery")

        schedules = config.schedules
        ScheduledTask(
            self,
            "PartitionsDaily",
            schedule=schedules.partitions,
            handler=self.maintain.function,
            payload={"task": "partitions"},
            description="loglens: create the partitions ahead and move DEFAULT rows",
        )
        ScheduledTask(
            self,
            "ViewsSchedule",
            schedule=schedules.views,
            handler=self.maintain.function,
            payload={"task": "views"},
            description="loglens: bring the summary views up to date for the hours that received rows",
            # A refresh that could not start before the next one is due has nothing left to do.
            max_event_age=Duration.minutes(5),
        )
        ScheduledTask(
            self,
            "ArchiveSchedule",
            schedule=schedules.archive,
            handler=self.archive.function,
            payload={"task": "archive"},
            description="loglens: archive partitions past retention to S3, with workers until caught up",
        )

        self.catalog = ArchiveCatalog(self, "ArchiveCatalog", config=config, bucket_name=storage.archive_bucket_name)
        CfnOutput(
            self,
            "ArchiveTable",
            value=f"{self.catalog.database_name}.{self.catalog.table_name}",
            description="Athena table over the archive (filter on day)",
        )
