"""Small helpers every component uses so stage-dependent defaults are decided in one place."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import LOG_RETENTION_DAYS, LoglensConfig
from infra.nag import acknowledge

# RetentionDays members are declared in ascending order of the days CloudWatch accepts.
_RETENTION = dict(
    zip(
        sorted(LOG_RETENTION_DAYS), [m for m in logs.RetentionDays if m is not logs.RetentionDays.INFINITE], strict=True
    )
)


def removal_policy(config: LoglensConfig) -> RemovalPolicy:
    """RETAIN stateful resources outside dev; DESTROY them where the stage says so."""
    return RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY


def log_group(scope: Construct, construct_id: str, config: LoglensConfig) -> logs.LogGroup:
    """A log group we own, with the stage's retention and removal policy."""
    return logs.LogGroup(
        scope,
        construct_id,
        retention=_RETENTION[config.retention.log_retention_days],
        removal_policy=removal_policy(config),
    )


def log_retention(config: LoglensConfig) -> logs.RetentionDays:
    return _RETENTION[config.retention.log_retention_days]


def secret_prefix(config: LoglensConfig) -> str:
    """Every secret of a stage is named under this prefix, so the Secrets Manager endpoint's policy can name
    them all without referencing stacks that deploy after the network."""
    return f"loglens/{config.stage}/"


def secret_name(config: LoglensConfig, name: str) -> str:
    return secret_prefix(config) + name


def access_logs_bucket(scope: Construct, config: LoglensConfig, *, logs_of: str) -> s3.Bucket:
    """The server-access-log destination of a component's buckets (`logs_of` names them), expiring with
    the stage's retention; it does not log itself."""
    bucket = s3.Bucket(
        scope,
        "AccessLogs",
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(config.retention.access_log_expire_days))],
        removal_policy=removal_policy(config),
    )
    acknowledge(
        bucket,
        "AwsSolutions-S1",
        f"This bucket is the server-access-log destination of the {logs_of}; logging it "
        "into itself would record its own log deliveries without end.",
    )
    return bucket


def data_bucket(
    scope: Construct,
    construct_id: str,
    name: str,
    removal: RemovalPolicy,
    rules: list[s3.LifecycleRule],
    *,
    key: kms.IKey,
    access_logs: s3.IBucket,
    versioned: bool = False,
) -> s3.Bucket:
    """A bucket holding log data: its component's KMS key, TLS only, private, access-logged, and
    incomplete multipart uploads cleaned up after a week."""
    return s3.Bucket(
        scope,
        construct_id,
        bucket_name=name,
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        bucket_key_enabled=True,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=f"{construct_id.lower()}-bucket/",
        versioned=versioned,
        lifecycle_rules=[
            *rules,
            s3.LifecycleRule(id="abort-incomplete-uploads", abort_incomplete_multipart_upload_after=Duration.days(7)),
        ],
        removal_policy=removal,
    )
