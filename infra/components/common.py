"""Small helpers every component uses so stage-dependent defaults are decided in one place."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import LOG_RETENTION_DAYS, LoglensConfig

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
