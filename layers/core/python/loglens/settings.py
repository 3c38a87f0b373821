"""Typed settings read from the environment; a malformed value fails loudly with its variable name.

Every knob has one home here. Lambdas and the CLI both call `Settings.from_env()`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loglens.record import AcceptanceWindow


class Granularity(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class ConfigError(RuntimeError):
    """Configuration is missing or malformed; the message names the variable."""


SettingsT = TypeVar("SettingsT", bound=BaseModel)


def from_environment(
    cls: type[SettingsT], environ: Mapping[str, str] | None, *, what: str, overrides: Mapping[str, Any] | None = None
) -> SettingsT:
    """Build a settings model from the variables its fields name (json_schema_extra={"env": ...}).

    Unset or empty variables take the field's default; a malformed value raises ConfigError
    naming the variable and what was wrong, never silently falling back."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name, info in cls.model_fields.items():
        extra = info.json_schema_extra
        var = extra.get("env") if isinstance(extra, dict) else None
        if isinstance(var, str) and env.get(var, "") != "":
            values[name] = env[var]
    values.update(overrides or {})
    try:
        return cls.model_validate(values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            field = str(err["loc"][0]) if err["loc"] else ""
            extra = cls.model_fields[field].json_schema_extra if field in cls.model_fields else None
            var = extra.get("env") if isinstance(extra, dict) else None
            if var and err["type"] == "missing":
                problems.append(f"{var} is required but not set")
                continue
            label = f"{var}={err.get('input')!r}" if var else what
            problems.append(f"{label}: {err['msg'].removeprefix('Value error, ')}")
        raise ConfigError(f"invalid {what}: " + "; ".join(problems)) from None


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # LOGLENS_HOME holds local state: the embedded database, the spool, the local archive.
    home: Path = Field(default=Path(".loglens"), json_schema_extra={"env": "LOGLENS_HOME"})
    database_url: str | None = Field(default=None, json_schema_extra={"env": "DATABASE_URL"})
    embedded_port: int = Field(default=54329, ge=1024, le=65535, json_schema_extra={"env": "LOGLENS_PG_PORT"})
    partition_granularity: Granularity = Field(
        default=Granularity.DAY, json_schema_extra={"env": "LOGLENS_PARTITION_GRANULARITY"}
    )
    partition_days_ahead: int = Field(
        default=14, ge=1, le=366, json_schema_extra={"env": "LOGLENS_PARTITION_DAYS_AHEAD"}
    )
    retention_days: int = Field(default=30, ge=1, le=3650, json_schema_extra={"env": "LOGLENS_RETENTION_DAYS"})
    accept_days_back: int = Field(default=30, ge=1, le=3650, json_schema_extra={"env": "LOGLENS_ACCEPT_DAYS_BACK"})
    accept_hours_ahead: int = Field(default=1, ge=0, le=48, json_schema_extra={"env": "LOGLENS_ACCEPT_HOURS_AHEAD"})
    # Client addresses are personal data in many places: stored only when asked for.
    record_source_ip: bool = Field(default=False, json_schema_extra={"env": "LOGLENS_RECORD_SOURCE_IP"})
    cors_origin: str = Field(default="*", json_schema_extra={"env": "LOGLENS_CORS_ORIGIN"})
    # Answers shared as links (the console, Slack) are deleted by the maintain job after this many days.
    shared_answer_days: int = Field(default=90, ge=1, le=3650, json_schema_extra={"env": "LOGLENS_SHARED_ANSWER_DAYS"})
    analyst_statement_timeout_ms: int = Field(
        default=15_000, ge=100, le=600_000, json_schema_extra={"env": "LOGLENS_ANALYST_TIMEOUT_MS"}
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        return from_environment(cls, environ, what="configuration")

    @property
    def window(self) -> AcceptanceWindow:
        return AcceptanceWindow(
            back=timedelta(days=self.accept_days_back), ahead=timedelta(hours=self.accept_hours_ahead)
        )

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"
