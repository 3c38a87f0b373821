"""Where log data rests outside PostgreSQL: the raw and archive buckets, their key, and the load queue.

Encryption: the raw and archive buckets use SSE-KMS with one customer-managed key for log data
(bucket keys on, so KMS sees one request per object batch, not per object). Log lines can carry
personal data; with a CMK, reading them needs both S3 and KMS permission and every decrypt is in
CloudTrail. The server-access-log bucket uses SSE-S3 because S3 log delivery cannot write to
SSE-KMS buckets.

The load path: S3 ObjectCreated under ``raw/`` → SQS queue → load Lambda (event source mapping in
the ingest stack) → DLQ after ``MAX_RECEIVES`` failures. The queue is the backpressure during a
database outage and holds events for 14 days, so it lives here with the other stateful resources.
The notification is plain CloudFormation (no custom-resource Lambda): the raw bucket's name is
fixed in advance, so the queue policy names the bucket ARN without a dependency cycle. S3 sends a
one-off ``s3:TestEvent`` message when the notification is created; the load handler skips it.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.components.common import access_logs_bucket, data_bucket, removal_policy
from infra.components.functions import TIMEOUTS
from infra.config import LoglensConfig

RAW_PREFIX = "raw/"
ERRORS_PREFIX = "errors/"
REJECTED_PREFIX = "rejected/"
ARCHIVE_PREFIX = "archive/"
MAX_RECEIVES = 5
QUEUE_RETENTION = Duration.days(14)


def data_bucket_names(config: LoglensConfig) -> tuple[str, str]:
    """The raw and the archive bucket's names: fixed, so other stacks (and the S3 endpoint's policy in the
    network stack, which deploys first) can name them without a reference."""
    return (
        f"loglens-{config.stage}-raw-{Aws.ACCOUNT_ID}-{Aws.REGION}",
        f"loglens-{config.stage}-archive-{Aws.ACCOUNT_ID}-{Aws.REGION}",
    )


class LogStorage(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: LoglensConfig) -> None:
        super().__init__(scope, construct_id)
        removal = removal_policy(config)
        retention = config.retention

        self.key = kms.Key(
            self,
            "LogDataKey",
            description=f"loglens {config.stage}: log data at rest in the raw and archive buckets",
            enable_key_rotation=True,
            removal_policy=removal,
        )

        self.access_logs_bucket = access_logs_bucket(self, config, logs_of="raw and archive buckets")

        self.dead_letter_queue = sqs.Queue(
            self,
            "LoadDeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=QUEUE_RETENTION,
            removal_policy=removal,
        )
        self.load_queue = sqs.Queue(
            self,
            "LoadQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=QUEUE_RETENTION,
            # Lambda's guidance for SQS sources: at least six times the function timeout.
            visibility_timeout=Duration.seconds(6 * TIMEOUTS["load"]),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=MAX_RECEIVES),
            removal_policy=removal,
        )

        # Fixed names: the queue policy needs the raw bucket's ARN before the bucket exists, and
        # object-level grants in other stacks read as plain ARNs (reviewable, and stable for cdk-nag).
        self.raw_bucket_name, self.archive_bucket_name = data_bucket_names(config)
        raw_bucket_arn = _bucket_arn(self, self.raw_bucket_name)
        self.raw_bucket_arn = raw_bucket_arn
        self.archive_bucket_arn = _bucket_arn(self, self.archive_bucket_name)
        self.load_queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="RawObjectCreatedFromS3",
                principals=[iam.ServicePrincipal("s3.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[self.load_queue.queue_arn],
                conditions={
                    "ArnEquals": {"aws:SourceArn": raw_bucket_arn},
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                },
            )
        )
        self.raw_bucket = self._data_bucket(
            "Raw",
            self.raw_bucket_name,
            removal,
            [
                *(
                    s3.LifecycleRule(
                        id=f"expire-{prefix.rstrip('/')}",
                        prefix=prefix,
                        expiration=Duration.days(retention.raw_expire_days),
                    )
                    for prefix in (RAW_PREFIX, ERRORS_PREFIX, REJECTED_PREFIX)
                ),
            ],
        )
        cfn_raw = self.raw_bucket.node.default_child
        assert isinstance(cfn_raw, s3.CfnBucket)
        cfn_raw.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            queue_configurations=[
                s3.CfnBucket.QueueConfigurationProperty(
                    event="s3:ObjectCreated:*",
                    queue=self.load_queue.queue_arn,
                    filter=s3.CfnBucket.NotificationFilterProperty(
                        s3_key=s3.CfnBucket.S3KeyFilterProperty(
                            rules=[s3.CfnBucket.FilterRuleProperty(name="prefix", value=RAW_PREFIX)]
                        )
                    ),
                )
            ]
        )
        # S3 checks it may send to the queue when the notification is created.
        queue_policy = self.load_queue.node.find_child("Policy")
        cfn_raw.node.add_dependency(queue_policy)

        # Versioned: the archive holds the only copy of a day once its partition is dropped, so an overwrite
        # or a delete (a bug, a wrong command) must leave the earlier version behind for a while.
        self.archive_bucket = self._data_bucket(
            "Archive",
            self.archive_bucket_name,
            removal,
            [
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=Duration.days(retention.archive_noncurrent_expire_days),
                ),
                s3.LifecycleRule(id="remove-expired-delete-markers", expired_object_delete_marker=True),
                s3.LifecycleRule(
                    id="archive-to-glacier-ir",
                    prefix=ARCHIVE_PREFIX,
                    # Glacier Instant Retrieval: Athena and restore still read it synchronously.
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                            transition_after=Duration.days(retention.archive_cold_after_days),
                        )
                    ],
                    expiration=(
                        Duration.days(retention.archive_expire_days)
                        if retention.archive_expire_days is not None
                        else None
                    ),
                ),
            ],
            versioned=True,
        )

    def _data_bucket(
        self,
        construct_id: str,
        name: str,
        removal: RemovalPolicy,
        rules: list[s3.LifecycleRule],
        *,
        versioned: bool = False,
    ) -> s3.Bucket:
        return data_bucket(
            self,
            construct_id,
            name,
            removal,
            rules,
            key=self.key,
            access_logs=self.access_logs_bucket,
            versioned=versioned,
        )


def _bucket_arn(scope: Construct, bucket_name: str) -> str:
    return Stack.of(scope).format_arn(service="s3", region="", account="", resource=bucket_name)
