"""The Firehose stream (Direct PUT) that turns accepted records into gzip objects under raw/.

Written at the CloudFormation level so its role holds exactly the S3, KMS and log permissions the
Firehose documentation lists; the L2 construct grants read/write on the whole bucket and key.
Producers: the collect function and ECS tasks through FireLens, which attach ``sender_policy``.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.components.common import log_group, removal_policy
from infra.components.log_storage import ERRORS_PREFIX, RAW_PREFIX
from infra.config import LoglensConfig
from infra.nag import acknowledge_wildcard_resources

DATA_PREFIX = f"{RAW_PREFIX}!{{timestamp:yyyy/MM/dd/HH}}/"
ERROR_PREFIX = f"{ERRORS_PREFIX}!{{firehose:error-output-type}}/!{{timestamp:yyyy/MM/dd}}/"


class RawDeliveryStream(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: LoglensConfig,
        bucket_arn: str,
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        removal = removal_policy(config)

        self.log_group = log_group(self, "DeliveryLogs", config)
        log_stream = logs.LogStream(self, "S3Delivery", log_group=self.log_group, removal_policy=removal)

        object_arns = [f"{bucket_arn}/{RAW_PREFIX}*", f"{bucket_arn}/{ERRORS_PREFIX}*"]
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com", conditions={"StringEquals": {"sts:ExternalId": Aws.ACCOUNT_ID}}
            ),
            description="loglens Firehose: write gzip objects under raw/ and errors/",
        )
        policy = iam.Policy(
            self,
            "RolePolicy",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                    resources=[bucket_arn],
                ),
                iam.PolicyStatement(
                    actions=["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                    resources=object_arns,
                ),
                iam.PolicyStatement(
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=[key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}},
                ),
                iam.PolicyStatement(
                    actions=["logs:PutLogEvents"],
                    resources=[
                        stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name=f"{self.log_group.log_group_name}:log-stream:{log_stream.log_stream_name}",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    ],
                ),
            ],
        )

        self.stream = firehose.CfnDeliveryStream(
            self,
            "Stream",
            delivery_stream_type="DirectPut",
            delivery_stream_encryption_configuration_input=(
                firehose.CfnDeliveryStream.DeliveryStreamEncryptionConfigurationInputProperty(key_type="AWS_OWNED_CMK")
            ),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=bucket_arn,
                role_arn=role.role_arn,
                prefix=DATA_PREFIX,
                error_output_prefix=ERROR_PREFIX,
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=config.firehose.buffer_interval_seconds,
                    size_in_m_bs=config.firehose.buffer_size_mib,
                ),
                compression_format="GZIP",
                encryption_configuration=firehose.CfnDeliveryStream.EncryptionConfigurationProperty(
                    kms_encryption_config=firehose.CfnDeliveryStream.KMSEncryptionConfigProperty(
                        awskms_key_arn=key.key_arn
                    )
                ),
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=self.log_group.log_group_name,
                    log_stream_name=log_stream.log_stream_name,
                ),
            ),
        )
        acknowledge_wildcard_resources(
            policy,
            object_arns,
            "Firehose names each object itself (time-keyed under raw/, error type under errors/); "
            "the grant stops at those two prefixes.",
        )
        # Firehose checks its role can write when the stream is created.
        self.stream.node.add_dependency(policy)
        self.stream_name = self.stream.ref
        self.stream_arn = self.stream.attr_arn

        self.sender_policy = iam.ManagedPolicy(
            self,
            "SenderPolicy",
            description=(
                f"loglens {config.stage}: send records to the loglens Firehose stream "
                "(attach to ECS task roles that use FireLens)"
            ),
            statements=[
                iam.PolicyStatement(
                    actions=["firehose:PutRecord", "firehose:PutRecordBatch"], resources=[self.stream_arn]
                )
            ],
        )
