"""The agent's settings, read from the environment like loglens.settings; a bad value fails loudly."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from loglens.settings import from_environment

# The newest Claude Sonnet the installed anthropic SDK (2.14) lists; claude-sonnet-4-5 is deprecated there.
DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-5-5"


class Provider(StrEnum):
    ANTHROPIC = "anthropic"
    BEDROCK = "bedrock"


class RowPrivacy(StrEnum):
    """What the model sees of the rows a query returns (the person who asked always gets the real rows)."""

    REDACT = "redact"  # every text value passes the redactor with all rules on, IP addresses and phones included
    OFF = "off"  # rows go to the model as stored (they were redacted at ingest with the ingest rules)


class AgentSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: Provider = Field(default=Provider.ANTHROPIC, json_schema_extra={"env": "MODEL_PROVIDER"})
    # Empty means the provider's default; Bedrock has none (its ids name a region or inference profile).
    model_id: str = Field(default="", json_schema_extra={"env": "MODEL_ID"})
    max_steps: int = Field(default=8, ge=2, le=30, json_schema_extra={"env": "LOGLENS_AGENT_MAX_STEPS"})
    max_tokens: int = Field(default=4096, ge=256, le=64_000, json_schema_extra={"env": "LOGLENS_AGENT_MAX_TOKENS"})
    # Rows a query may return to the person (the guard's LIMIT cap) and rows shown to the model per result.
    max_rows: int = Field(default=1000, ge=1, le=100_000, json_schema_extra={"env": "LOGLENS_AGENT_MAX_ROWS"})
    model_rows: int = Field(default=30, ge=1, le=500, json_schema_extra={"env": "LOGLENS_AGENT_MODEL_ROWS"})
    model_cell_chars: int = Field(default=300, ge=20, le=10_000, json_schema_extra={"env": "LOGLENS_AGENT_CELL_CHARS"})
    # Set on every agent transaction, so it holds whatever the role's default says.
    statement_timeout_ms: int = Field(
        default=10_000, ge=10, le=600_000, json_schema_extra={"env": "LOGLENS_AGENT_TIMEOUT_MS"}
    )
    # Work memory per sort or hash of an agent query, set on every transaction (the RDS parameter group's value).
    work_mem_mb: int = Field(default=32, ge=1, le=1024, json_schema_extra={"env": "LOGLENS_AGENT_WORK_MEM_MB"})
    row_privacy: RowPrivacy = Field(default=RowPrivacy.REDACT, json_schema_extra={"env": "LOGLENS_AGENT_ROW_PRIVACY"})
    # Database facts in the prompt (values present, partitions, time range) are refreshed this often.
    facts_ttl_seconds: int = Field(default=600, ge=0, le=86_400, json_schema_extra={"env": "LOGLENS_AGENT_FACTS_TTL"})
    # One model call's limit, and the whole question's (every model call and query); the SDK never retries.
    model_timeout_seconds: float = Field(
        default=60.0, gt=0, le=600, json_schema_extra={"env": "LOGLENS_AGENT_MODEL_TIMEOUT"}
    )
    # How long POST /api/v1/ask waits for the answer before it answers 202 with an id to poll: under API
    # Gateway's 29 s integration timeout, with room for the request around it.
    http_wait_seconds: float = Field(default=20.0, ge=0, le=25, json_schema_extra={"env": "LOGLENS_ASK_WAIT"})
    # Inside the ask function's 300 s, with room to store the answer and post it to Slack.
    deadline_seconds: float = Field(default=240.0, ge=5, le=3600, json_schema_extra={"env": "LOGLENS_AGENT_DEADLINE"})

    @model_validator(mode="after")
    def _bedrock_needs_a_model(self) -> AgentSettings:
        if self.provider is Provider.BEDROCK and not self.model_id:
            raise ValueError("MODEL_ID is required with MODEL_PROVIDER=bedrock (a model or inference profile id)")
        return self

    @property
    def model(self) -> str:
        return self.model_id or DEFAULT_ANTHROPIC_MODEL

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> AgentSettings:
        return from_environment(cls, environ, what="agent configuration", overrides=overrides)
