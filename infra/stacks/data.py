"""Data stack: everything that holds state and must outlive a redeploy of the compute around it.

The database (with its proxy, master secret and migrations), the raw and archive buckets, their
key and the load queue with its DLQ. Non-dev stages retain all of it on stack deletion.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.components.database import READER_LOGIN, Database
from infra.components.log_storage import LogStorage
from infra.components.migrations import Migrations
from infra.config import LoglensConfig
from infra.stacks.network import NetworkStack


class DataStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: LoglensConfig, network: NetworkStack, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        net = network.network
        self.storage = LogStorage(self, "Storage", config=config)
        self.database = Database(
            self,
            "Database",
            config=config,
            vpc=net.vpc,
            subnets=net.isolated_subnets,
            lambda_sg=net.lambda_sg,
            admin_sg=net.admin_sg,
        )
        self.migrations = Migrations(
            self,
            "Migrations",
            config=config,
            database=self.database,
            vpc=net.vpc,
            subnets=net.isolated_subnets,
            admin_sg=net.admin_sg,
            framework_sg=net.lambda_sg,
            vpc_access_policy=net.vpc_access_policy,
        )

        CfnOutput(self, "RawBucketName", value=self.storage.raw_bucket_name)
        CfnOutput(self, "ArchiveBucketName", value=self.storage.archive_bucket_name)
        CfnOutput(
            self,
            "LoadDeadLetterQueueArn",
            value=self.storage.dead_letter_queue.queue_arn,
            description="Re-drive with: aws sqs start-message-move-task --source-arn <this>",
        )
        CfnOutput(self, "LoadDeadLetterQueueUrl", value=self.storage.dead_letter_queue.queue_url)
        CfnOutput(self, "DatabaseProxyEndpoint", value=self.database.proxy.endpoint)
        CfnOutput(
            self,
            "ReaderConnectPolicyArn",
            value=self.database.connect_policies[READER_LOGIN].managed_policy_arn,
            description="Attach to people's IAM roles: read-only SQL as loglens_reader through the proxy (IAM auth)",
        )
