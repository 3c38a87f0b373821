"""Every deploy-time setting of loglens, in one typed model read from cdk.json context.

cdk.json holds ``"loglens": {"defaults": {...}, "stages": {"dev": {...}, "prod": {...}}}`` and a
default ``"stage"``; ``cdk synth -c stage=prod`` picks another. The stage's block is deep-merged over
the defaults and validated here, before any construct exists, so a typo or a missing value stops the
synth with a message naming the setting instead of deploying a silently defaulted stack.

This module must not import aws_cdk: layers/deps/build.py reads the Lambda architecture from it.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

REPO_ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = REPO_ROOT / "cdk.json"
CONTEXT_KEY = "loglens"
STAGE_CONTEXT_KEY = "stage"

# One entry per module in functions/; memory settings must name each of them.
FUNCTION_NAMES = ("collect", "load", "maintain", "archive", "ask", "query", "migrate", "lakegate", "alerts")

# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)

# Parameters the data layer depends on for security; stage overrides may not change them.
PINNED_DB_PARAMETERS = frozenset({"rds.force_ssl", "shared_preload_libraries"})

Architecture = Literal["arm64", "x86_64"]
ModelProvider = Literal["anthropic", "bedrock"]


class ConfigError(ValueError):
    """The cdk.json context does not describe a deployable stage."""


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DatabaseSettings(_Settings):
    instance_class: str = Field(pattern=r"^[a-z][a-z0-9]*\.[a-z0-9]+$", description="e.g. t4g.medium")
    allocated_storage_gib: int = Field(ge=20, le=65536)
    max_allocated_storage_gib: int = Field(ge=20, le=65536)
    multi_az: bool
    backup_retention_days: int = Field(ge=7, le=35)
    performance_insights: bool
    proxy_max_connections_percent: int = Field(ge=1, le=100)
    # Tuning knobs (work_mem, maintenance_work_mem, ...) go here per stage once measured.
    parameters: dict[str, str]

    @field_validator("parameters")
    @classmethod
    def _not_pinned(cls, value: dict[str, str]) -> dict[str, str]:
        pinned = sorted(PINNED_DB_PARAMETERS & value.keys())
        if pinned:
            raise ValueError(f"{', '.join(pinned)} is fixed by infra/components/database.py")
        return value

    @model_validator(mode="after")
    def _storage_can_grow(self) -> DatabaseSettings:
        if self.max_allocated_storage_gib < self.allocated_storage_gib:
            raise ValueError("max_allocated_storage_gib must be >= allocated_storage_gib")
        return self


class LambdaSettings(_Settings):
    architecture: Architecture
    memory_mb: dict[str, int]
    load_batch_size: int = Field(ge=1, le=10)
    load_max_concurrency: int = Field(ge=2, le=1000)
    # None leaves load unreserved (new accounts have too little concurrency to reserve any).
    load_reserved_concurrency: int | None = Field(default=None, ge=2)

    @field_validator("memory_mb")
    @classmethod
    def _every_function(cls, value: dict[str, int]) -> dict[str, int]:
        missing = sorted(set(FUNCTION_NAMES) - value.keys())
        unknown = sorted(value.keys() - set(FUNCTION_NAMES))
        if missing or unknown:
            raise ValueError(f"needs exactly {', '.join(FUNCTION_NAMES)}; missing {missing}, unknown {unknown}")
        bad = {name: mb for name, mb in value.items() if not 128 <= mb <= 10240}
        if bad:
            raise ValueError(f"Lambda memory must be 128..10240 MB: {bad}")
        return value

    @model_validator(mode="after")
    def _reserved_covers_pollers(self) -> LambdaSettings:
        reserved = self.load_reserved_concurrency
        if reserved is not None and reserved < self.load_max_concurrency:
            raise ValueError("load_reserved_concurrency must be >= load_max_concurrency or SQS polls get throttled")
        return self


class FirehoseSettings(_Settings):
    buffer_interval_seconds: int = Field(ge=0, le=900)
    buffer_size_mib: int = Field(ge=1, le=128)


class ApiSettings(_Settings):
    # Per API key (its usage plan).
    ingest_rate_limit: int = Field(ge=1)
    ingest_burst_limit: int = Field(ge=1)
    ingest_quota_per_day: int = Field(ge=1)
    # Per API key on the query API: ask's own limit (each question calls the model) within the key's limit for
    # every route of that API (a tail polls twice a second), and the key's daily quota over all of them.
    ask_rate_limit: int = Field(ge=1)
    ask_burst_limit: int = Field(ge=1)
    query_rate_limit: int = Field(ge=1)
    query_burst_limit: int = Field(ge=1)
    query_quota_per_day: int = Field(ge=1)
    # Per stage, all keys together: above one key's limit, so one busy key leaves room for the others (and
    # within the account's regional API Gateway limit, 10,000 requests/s by default). ask_stage_* is the query
    # API's stage, every route of it.
    ingest_stage_rate_limit: int = Field(default=2000, ge=1, le=10_000)
    ingest_stage_burst_limit: int = Field(default=4000, ge=1, le=5000)
    ask_stage_rate_limit: int = Field(default=10, ge=1)
    ask_stage_burst_limit: int = Field(default=20, ge=1)
    # Slack's route needs no API key, so it has a budget of its own: slash commands come at a person's pace.
    slack_rate_limit: int = Field(default=2, ge=1)
    slack_burst_limit: int = Field(default=10, ge=1)
    # "*" or one https:// origin; the collect function echoes it on its responses.
    cors_allow_origin: str = Field(pattern=r"^(\*|https://[A-Za-z0-9.-]+(:\d+)?)$")

    @model_validator(mode="after")
    def _limits_nest(self) -> ApiSettings:
        for stage_api, key_api in (("ingest", "ingest"), ("ask", "query")):
            for kind in ("rate", "burst"):
                key, stage = getattr(self, f"{key_api}_{kind}_limit"), getattr(self, f"{stage_api}_stage_{kind}_limit")
                if stage <= key:
                    raise ValueError(
                        f"{stage_api}_stage_{kind}_limit ({stage}) must be above {key_api}_{kind}_limit ({key})"
                    )
        if self.ask_rate_limit > self.query_rate_limit or self.ask_burst_limit > self.query_burst_limit:
            raise ValueError("ask_rate_limit and ask_burst_limit must not exceed the query_* limits of a key")
        if self.slack_rate_limit > self.ask_stage_rate_limit or self.slack_burst_limit > self.ask_stage_burst_limit:
            raise ValueError("slack_rate_limit and slack_burst_limit must not exceed the ask stage's limits")
        return self


class ConsoleSettings(_Settings):
    # The console's public address, for links in Slack answers (the ConsoleUrl output after the first deploy,
    # or a custom domain in front of it); None: Slack answers carry no link.
    url: str | None = Field(default=None, pattern=r"^https://[A-Za-z0-9.-]+(:\d+)?(/[A-Za-z0-9._~/-]*)?$")
    # The Cognito hosted UI's domain prefix (unique in the region); None: loglens-<stage>-<account id>.
    auth_domain_prefix: str | None = Field(default=None, pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
    # The console's API (all signed-in users together; each request also passes the Cognito authorizer).
    rate_limit: int = Field(ge=1)
    burst_limit: int = Field(ge=1)

    @field_validator("auth_domain_prefix")
    @classmethod
    def _allowed_prefix(cls, value: str | None) -> str | None:
        if value is not None and any(word in value for word in ("aws", "amazon", "cognito")):
            raise ValueError("Cognito refuses domain prefixes containing aws, amazon or cognito")
        return value


class RetentionSettings(_Settings):
    log_retention_days: int
    raw_expire_days: int = Field(ge=1)
    access_log_expire_days: int = Field(ge=1)
    db_retention_days: int = Field(ge=1)
    partition_days_ahead: int = Field(ge=1, le=90)
    archive_cold_after_days: int = Field(ge=1)
    # The archive bucket is versioned (it holds the only copy): an overwritten or deleted object's old
    # version is kept this long, then expires.
    archive_noncurrent_expire_days: int = Field(default=30, ge=1)
    # Optional settings default to None: CDK drops null context values, so "absent" and null must agree.
    archive_expire_days: int | None = Field(default=None, ge=1)

    @field_validator("log_retention_days")
    @classmethod
    def _cloudwatch_value(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"CloudWatch Logs accepts only {sorted(LOG_RETENTION_DAYS)}")
        return value

    @model_validator(mode="after")
    def _ordering(self) -> RetentionSettings:
        if self.archive_expire_days is not None and self.archive_expire_days <= self.archive_cold_after_days:
            raise ValueError("archive_expire_days must be after archive_cold_after_days")
        return self


class ScheduleSettings(_Settings):
    partitions: str = Field(pattern=r"^(cron|rate)\(.+\)$")
    views: str = Field(pattern=r"^(cron|rate)\(.+\)$")
    archive: str = Field(pattern=r"^(cron|rate)\(.+\)$")


class AlarmSettings(_Settings):
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    queue_age_seconds: int = Field(ge=60)
    db_cpu_percent: int = Field(ge=1, le=100)


class AlertsSettings(_Settings):
    """The alerts function (issue #19): its schedules, where its e-mail goes, and per-service thresholds."""

    schedule: str = Field(pattern=r"^(cron|rate)\(.+\)$")
    digest_schedule: str = Field(pattern=r"^(cron|rate)\(.+\)$")
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    console_url: str | None = Field(default=None, pattern=r"^https://[A-Za-z0-9.-]+(:\d+)?(/[^\s]*)?$")
    explain_with_model: bool
    # Per-service threshold overrides (loglens.alerts.settings.Thresholds), passed as LOGLENS_ALERT_SERVICES.
    services: dict[str, dict[str, float | int | bool]] = Field(default_factory=dict)


class ModelSettings(_Settings):
    provider: ModelProvider
    model_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9._:-]+$")


class LakeSettings(_Settings):
    """The lake tier (loglens.lake): every accepted record also in an Iceberg table, asked with Athena.

    ``enabled`` adds it beside PostgreSQL (load forwards what it validated); ``only`` is the lake-only
    preset: no database, no RDS Proxy, no VPC — collect and FireLens write to the Iceberg stream
    and the agent has the lake tool alone (docs/deploy.md compares the bills).
    """

    enabled: bool = False
    only: bool = False
    # Rows older than this are deleted by a daily Athena DELETE; snapshots and orphans then go with
    # Glue's table optimizers (infra/components/lake.py).
    retention_days: int = Field(default=400, ge=1, le=3650)
    # Athena cancels a query that would scan more (workgroup cutoff); at $5/TB, 10 GiB is ~5 cents.
    bytes_scanned_cutoff_gib: int = Field(default=10, ge=1, le=10240)
    results_expire_days: int = Field(default=7, ge=1, le=90)
    # Firehose's Iceberg buffering: a flush writes one file per day touched and commits a snapshot;
    # fewer, larger flushes are cheaper to query, more frequent ones fresher (compaction merges the
    # small files). A record is in the lake about 10 s (the gate's batch) + this + the commit after
    # collect answered; the lake-only stage uses 15 s, where the lake is the only store.
    buffer_interval_seconds: int = Field(default=60, ge=0, le=900)
    buffer_size_mib: int = Field(default=64, ge=1, le=128)
    snapshot_retention_days: int = Field(default=5, ge=1, le=90)

    @model_validator(mode="after")
    def _only_implies_enabled(self) -> LakeSettings:
        if self.only and not self.enabled:
            raise ValueError("lake.only needs lake.enabled: a lake-only stage stores everything in the lake")
        return self


class LoglensConfig(_Settings):
    stage: str = Field(pattern=r"^[a-z][a-z0-9]{1,11}$")
    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    removal_policy: Literal["retain", "destroy"]
    vpc_cidr: str
    # Public subnets + one NAT gateway, used only by the ask function (Anthropic API, Slack response_url).
    internet_egress: bool
    database: DatabaseSettings
    functions: LambdaSettings
    firehose: FirehoseSettings
    api: ApiSettings
    console: ConsoleSettings
    retention: RetentionSettings
    schedules: ScheduleSettings
    alarms: AlarmSettings
    alerts: AlertsSettings
    model: ModelSettings
    lake: LakeSettings = Field(default_factory=LakeSettings)

    @field_validator("vpc_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        network = ipaddress.ip_network(value, strict=True)
        if network.version != 4 or not 16 <= network.prefixlen <= 22:
            raise ValueError("vpc_cidr must be an IPv4 block between /16 and /22")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> LoglensConfig:
        if self.removal_policy == "destroy" and self.stage in {"prod", "production"}:
            raise ValueError("the prod stage must use removal_policy 'retain'")
        # A lake-only stage has no VPC: its functions reach the internet like any Lambda outside one.
        if self.model.provider == "anthropic" and not self.internet_egress and not self.lake.only:
            raise ValueError(
                "model.provider 'anthropic' calls the Anthropic API on the internet: "
                "set internet_egress to true or use provider 'bedrock'"
            )
        return self

    @property
    def has_database(self) -> bool:
        """False on a lake-only stage: no RDS, no RDS Proxy, no VPC."""
        return not self.lake.only

    @property
    def retain_data(self) -> bool:
        return self.removal_policy == "retain"

    def stack_name(self, part: str) -> str:
        return f"loglens-{self.stage}-{part.lower()}"


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        lines.append(f"  {where}: {problem['msg']}")
    return "\n".join(lines)


def load_config(get_context: Callable[[str], Any]) -> LoglensConfig:
    """Build the configuration from a context getter (``app.node.try_get_context``)."""
    stage = get_context(STAGE_CONTEXT_KEY)
    block = get_context(CONTEXT_KEY)
    if not isinstance(stage, str) or not stage:
        raise ConfigError(f"context '{STAGE_CONTEXT_KEY}' is missing: set it in cdk.json or pass -c stage=<name>")
    if not isinstance(block, Mapping) or not isinstance(block.get("stages"), Mapping):
        raise ConfigError(f"context '{CONTEXT_KEY}' with 'defaults' and 'stages' is missing from cdk.json")
    stages: Mapping[str, Any] = block["stages"]
    if stage not in stages:
        raise ConfigError(f"stage {stage!r} is not defined; cdk.json defines {sorted(stages)}")
    merged = _merge(block.get("defaults", {}), stages[stage])
    merged["stage"] = stage
    try:
        return LoglensConfig.model_validate(merged)
    except ValidationError as error:
        raise ConfigError(f"invalid loglens configuration for stage {stage!r}:\n{_describe(error)}") from None


def load_config_from_cdk_json(stage: str | None = None, cdk_json: Path = CDK_JSON) -> LoglensConfig:
    """The same configuration, read straight from cdk.json (for scripts that run outside the CDK)."""
    context: dict[str, Any] = json.loads(cdk_json.read_text(encoding="utf-8")).get("context", {})
    if stage is not None:
        context = {**context, STAGE_CONTEXT_KEY: stage}
    return load_config(context.get)
