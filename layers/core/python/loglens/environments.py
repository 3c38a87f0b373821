"""Each Lambda's environment as one typed model, validated when the function first builds its service.

A missing or malformed variable fails the invocation with a ConfigError that names it (never a silent
default); the CDK stacks set exactly these variables (tests/infra checks each function's environment
against its model). The core knobs shared with the CLI (retention, partitions, CORS, ...) stay in
`loglens.settings.Settings`, which every model carries as `settings`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from loglens.lake.settings import LakeMode, LakeSettings
from loglens.settings import Settings, from_environment


def _env(name: str) -> Any:
    return {"env": name}


class FunctionEnvironment(BaseModel):
    # Other variables (AWS_*, POWERTOOLS_*, LOGLENS_* knobs of Settings) are the runtime's or Settings' business.
    model_config = ConfigDict(frozen=True, extra="ignore")

    settings: Settings = Field(default_factory=Settings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        env = os.environ if environ is None else environ
        overrides: dict[str, Any] = {"settings": Settings.from_env(env)}
        if "lake" in cls.model_fields:  # LOGLENS_LAKE, ATHENA_WORKGROUP, LAKE_*: the lake's own model reads them
            overrides["lake"] = LakeSettings.from_env(env)
        return from_environment(cls, env, what=f"{cls.__name__} (environment)", overrides=overrides)


class DatabaseEnvironment(FunctionEnvironment):
    """DATABASE_URL (local, tests), or RDS Proxy with IAM authentication from the DB_* variables."""

    database_url: str | None = Field(default=None, json_schema_extra=_env("DATABASE_URL"))
    db_host: str | None = Field(default=None, json_schema_extra=_env("DB_HOST"))
    db_port: int = Field(default=5432, ge=1, le=65535, json_schema_extra=_env("DB_PORT"))
    db_name: str | None = Field(default=None, json_schema_extra=_env("DB_NAME"))
    db_user: str | None = Field(default=None, json_schema_extra=_env("DB_USER"))
    aws_region: str | None = Field(default=None, json_schema_extra=_env("AWS_REGION"))
    db_sslmode: str = Field(default="require", json_schema_extra=_env("DB_SSLMODE"))
    db_iam_auth: bool = Field(default=True, json_schema_extra=_env("DB_IAM_AUTH"))

    @model_validator(mode="after")
    def _a_database_is_named(self) -> Self:
        self._check_database()
        return self

    def _check_database(self) -> None:
        if self.database_url:
            return
        missing = [
            var
            for var, value in (
                ("DB_HOST", self.db_host),
                ("DB_NAME", self.db_name),
                ("DB_USER", self.db_user),
                ("AWS_REGION", self.aws_region),
            )
            if not value
        ]
        if missing:
            raise ValueError(f"{', '.join(missing)} must be set (or DATABASE_URL)")
        if not self.db_iam_auth:
            raise ValueError("DB_IAM_AUTH must be true: the proxy accepts only IAM authentication")

    def conninfo_factory(self, *, user: str | None = None) -> Callable[[], str]:
        """A fresh connection string per connection: IAM tokens expire after 15 minutes."""
        from loglens.aws import client
        from loglens.db.connect import rds_conninfo

        url = self.database_url
        if url:
            return lambda: url
        host, dbname, region = str(self.db_host), str(self.db_name), str(self.aws_region)
        login = user or str(self.db_user)
        return lambda: rds_conninfo(
            host=host,
            port=self.db_port,
            dbname=dbname,
            user=login,
            region=region,
            sslmode=self.db_sslmode,
            rds_client=client("rds"),
        )


class EnvelopeKey(BaseModel):
    """The collect/load sealing key: LOGLENS_ENVELOPE_KEY itself, or the secret that holds it."""

    model_config = ConfigDict(frozen=True)

    envelope_key: str | None = Field(default=None, json_schema_extra=_env("LOGLENS_ENVELOPE_KEY"))
    envelope_secret_arn: str | None = Field(default=None, json_schema_extra=_env("LOGLENS_ENVELOPE_SECRET_ARN"))

    @model_validator(mode="after")
    def _one_key_source(self) -> Self:
        if not self.envelope_key and not self.envelope_secret_arn:
            raise ValueError("LOGLENS_ENVELOPE_SECRET_ARN (or LOGLENS_ENVELOPE_KEY) must be set")
        return self

    def sealer(self) -> Any:
        from loglens.ingest.envelope import Sealer

        if self.envelope_key:
            return Sealer(self.envelope_key.encode())
        from loglens.aws import client

        secret = client("secretsmanager").get_secret_value(SecretId=self.envelope_secret_arn)
        return Sealer(str(secret["SecretString"]).strip().encode())


class CollectEnvironment(FunctionEnvironment, EnvelopeKey):
    firehose_stream_name: str = Field(min_length=1, json_schema_extra=_env("FIREHOSE_STREAM_NAME"))
    # "raw": packed blocks for the raw/ stream and the load path; "lake": a lake-only stage's
    # Iceberg stream, one sealed row per record (loglens.lake.rows).
    delivery: Literal["raw", "lake"] = Field(default="raw", json_schema_extra=_env("LOGLENS_DELIVERY"))


class LoadEnvironment(DatabaseEnvironment, EnvelopeKey):
    raw_bucket: str = Field(min_length=1, json_schema_extra=_env("RAW_BUCKET"))
    dlq_url: str | None = Field(default=None, json_schema_extra=_env("DLQ_URL"))
    # With the lake on: the Iceberg stream load forwards every validated row to (loglens.lake.forward).
    lake_stream_name: str | None = Field(default=None, min_length=1, json_schema_extra=_env("LAKE_STREAM_NAME"))


class LakeGateEnvironment(FunctionEnvironment, EnvelopeKey):
    """The lake stream's transformation Lambda: the table it routes rows to, the key it verifies."""

    lake_database: str = Field(min_length=1, json_schema_extra=_env("LAKE_DATABASE"))
    lake_table: str = Field(min_length=1, json_schema_extra=_env("LAKE_TABLE"))


class MaintainEnvironment(DatabaseEnvironment):
    pass


class ArchiveEnvironment(DatabaseEnvironment):
    archive_bucket: str = Field(min_length=1, json_schema_extra=_env("ARCHIVE_BUCKET"))
    # Partitions archived at once (one invocation each) when a backlog waits; the stage preset sets it.
    archive_workers: int = Field(default=1, ge=1, le=16, json_schema_extra=_env("ARCHIVE_WORKERS"))
    # With LOGLENS_LAKE=athena a partition past retention is verified in the lake instead of exported.
    lake: LakeSettings = Field(default_factory=LakeSettings)


class AskEnvironment(DatabaseEnvironment):
    """With PostgreSQL (DB_* or DATABASE_URL, and CONVERSATION_DB_USER), or lake-only: no database variables
    at all, LOGLENS_LAKE=athena, and ASK_STATE_TABLE (the DynamoDB table that holds what PostgreSQL would:
    conversation turns, HTTP answers, Slack replay claims; loglens.agent.dynamo_state)."""

    # The Anthropic key's secret is needed only with MODEL_PROVIDER=anthropic (AgentSettings checks the provider).
    anthropic_secret_arn: str | None = Field(default=None, json_schema_extra=_env("ANTHROPIC_SECRET_ARN"))
    slack_secret_arn: str | None = Field(default=None, json_schema_extra=_env("SLACK_SECRET_ARN"))
    # Conversation turns are written as their own login (the analyst login is read-only).
    conversation_db_user: str | None = Field(default=None, min_length=1, json_schema_extra=_env("CONVERSATION_DB_USER"))
    # The web console's address: Slack answers link to the answer there (shared as the conversation login).
    console_url: str | None = Field(default=None, pattern=r"^https://", json_schema_extra=_env("LOGLENS_CONSOLE_URL"))
    ask_state_table: str | None = Field(default=None, min_length=1, json_schema_extra=_env("ASK_STATE_TABLE"))
    lake: LakeSettings = Field(default_factory=LakeSettings)

    @model_validator(mode="after")
    def _a_database_is_named(self) -> Self:
        """Overrides DatabaseEnvironment's check (same name): a lake-only ask names no database."""
        if self.has_database:
            self._check_database()
            if not self.conversation_db_user:
                raise ValueError("CONVERSATION_DB_USER is required but not set")
            return self
        if self.lake.mode is not LakeMode.ATHENA:
            self._check_database()  # names what is missing for the database
        if not self.ask_state_table:
            raise ValueError("ASK_STATE_TABLE must be set on a lake-only stage (no DB_HOST, LOGLENS_LAKE=athena)")
        return self

    @property
    def has_database(self) -> bool:
        """False on a lake-only stage: no database variable is set at all."""
        return bool(self.database_url or self.db_host or self.db_name or self.db_user)


class QueryEnvironment(DatabaseEnvironment):
    """The query API: searches and SQL as DB_USER (the analyst login), saved entries and shared answers as
    SAVED_DB_USER (they are written; the analyst login is read-only)."""

    saved_db_user: str = Field(min_length=1, json_schema_extra=_env("SAVED_DB_USER"))


class AlertsEnvironment(DatabaseEnvironment):
    """The alerts function: detects and keeps state as DB_USER (loglens_alerter); the model's guarded queries run
    as the analyst login, like ask's."""

    analyst_db_user: str = Field(min_length=1, json_schema_extra=_env("ANALYST_DB_USER"))
    # JSON: {"webhook_url": ...} or {"bot_token": ..., "channel": ...}, and "signing_secret" for the buttons.
    slack_secret_arn: str | None = Field(default=None, json_schema_extra=_env("ALERTS_SLACK_SECRET_ARN"))
    sns_topic_arn: str | None = Field(default=None, json_schema_extra=_env("ALERTS_TOPIC_ARN"))
    anthropic_secret_arn: str | None = Field(default=None, json_schema_extra=_env("ANTHROPIC_SECRET_ARN"))
    # Claude writes the explanations (through the ask agent's guarded tools); off: the templated ones.
    explain_with_model: bool = Field(default=False, json_schema_extra=_env("LOGLENS_ALERT_EXPLAIN_WITH_MODEL"))


class MigrateEnvironment(FunctionEnvironment):
    """The deploy-time migration connects directly (not through the proxy) as the master user."""

    db_host: str = Field(min_length=1, json_schema_extra=_env("DB_HOST"))
    db_port: int = Field(default=5432, ge=1, le=65535, json_schema_extra=_env("DB_PORT"))
    db_name: str = Field(min_length=1, json_schema_extra=_env("DB_NAME"))
    db_secret_arn: str = Field(min_length=1, json_schema_extra=_env("DB_SECRET_ARN"))
