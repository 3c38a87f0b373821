"""What the detectors consider an incident, and where alerts go: read from the environment, failing loudly.

Thresholds have defaults chosen on the demo's incidents over many seeds and times (bench/alerts.py) and can be
set per service: ``LOGLENS_ALERT_SERVICES='{"payment-api": {"error_ratio": 2}, "batch-job": {"silence": false}}'``
overrides any field of `Thresholds` for the services it names. Every detector pairs a size (a ratio, a number of
events) with a significance (how unlikely the count is if nothing changed), so a quiet service does not alert on
three errors and a busy one does not alert on a 5% wobble that is statistically certain.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from loglens.settings import from_environment

_ENV = "env"


def _env(name: str) -> Any:
    return {_ENV: name}


class Thresholds(BaseModel):
    """One service's thresholds (the defaults, or a service's overrides of them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Error-rate spike: errors (ERROR/FATAL) per record against the baseline's rate.
    error_ratio: float = Field(default=3.0, ge=1.1, le=1000)
    min_errors: int = Field(default=5, ge=1, le=1_000_000)
    # A new error type or message template: this many within a day of its first appearance.
    new_error_min: int = Field(default=5, ge=1, le=1_000_000)
    # Latency: the percentile per endpoint against the baseline's, by a ratio and an absolute step.
    latency_percentile: float = Field(default=0.95, gt=0.5, lt=1.0)
    latency_ratio: float = Field(default=2.0, ge=1.1, le=1000)
    latency_min_delta_ms: float = Field(default=100.0, ge=0, le=3_600_000)
    min_requests: int = Field(default=8, ge=1, le=1_000_000)
    # Silence: alert when at least this many records were expected and (almost) none came.
    silence: bool = True
    silence_min_expected: float = Field(default=20.0, ge=1, le=1e9)
    # How unlikely (if nothing changed) a count must be to open an incident, and to keep one open.
    significance: float = Field(default=1e-6, gt=0, lt=0.1)
    continue_significance: float = Field(default=1e-3, gt=0, lt=0.5)
    # A weaker change (this ratio, `continue_significance`) alerts when a new release appeared at its start.
    release_ratio: float = Field(default=1.5, ge=1.05, le=1000)


class AlertSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    defaults: Thresholds = Field(default_factory=Thresholds)
    services: dict[str, Thresholds] = Field(default_factory=dict, json_schema_extra=_env("LOGLENS_ALERT_SERVICES"))
    # Environments watched (comma-separated); empty watches every environment.
    environments: tuple[str, ...] = Field(default=(), json_schema_extra=_env("LOGLENS_ALERT_ENVIRONMENTS"))
    # The baseline: the same hour on up to this many previous days, and this many previous hours.
    baseline_days: int = Field(default=7, ge=1, le=28, json_schema_extra=_env("LOGLENS_ALERT_BASELINE_DAYS"))
    baseline_hours: int = Field(default=6, ge=1, le=48, json_schema_extra=_env("LOGLENS_ALERT_BASELINE_HOURS"))
    # No alert for a service with less history than this (its "usual" is not known yet).
    min_history_hours: int = Field(default=24, ge=1, le=24 * 28, json_schema_extra=_env("LOGLENS_ALERT_MIN_HISTORY"))
    # An incident resolves once this many of its anomalous events would have been expected since it was last seen.
    resolve_events: float = Field(default=5.0, ge=1, le=1e6, json_schema_extra=_env("LOGLENS_ALERT_RESOLVE_EVENTS"))
    resolve_minutes: int = Field(default=30, ge=5, le=1440, json_schema_extra=_env("LOGLENS_ALERT_RESOLVE_MINUTES"))
    # The same service firing again this soon after a resolution reopens the incident instead of a new alert.
    cooldown_minutes: int = Field(default=180, ge=0, le=10_080, json_schema_extra=_env("LOGLENS_ALERT_COOLDOWN"))
    # Metadata keys that name a release (a version), looked for in the rows of a change.
    release_keys: tuple[str, ...] = Field(
        default=("version", "release", "app_version", "service_version", "service.version"),
        json_schema_extra=_env("LOGLENS_ALERT_RELEASE_KEYS"),
    )
    console_url: str | None = Field(default=None, json_schema_extra=_env("LOGLENS_CONSOLE_URL"))

    @field_validator("services", mode="before")
    @classmethod
    def _services_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as error:
                raise ValueError(f"not JSON: {error.msg} at character {error.pos}") from None
            if not isinstance(value, dict):
                raise ValueError('must be a JSON object: {"service": {"threshold": value}}')
        return value

    @field_validator("environments", "release_keys", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("console_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise ValueError("must be an https:// URL")
        return value.rstrip("/") if value else value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> AlertSettings:
        return from_environment(cls, environ, what="alert configuration", overrides=overrides)

    def for_service(self, service: str) -> Thresholds:
        """The service's thresholds: its overrides over the defaults."""
        override = self.services.get(service)
        if override is None:
            return self.defaults
        return self.defaults.model_copy(update=override.model_dump(exclude_unset=True))

    def watches(self, environment: str) -> bool:
        return not self.environments or environment in self.environments
