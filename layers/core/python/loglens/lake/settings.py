"""The lake's settings, from the environment, and which tiers a deployment has.

``LOGLENS_LAKE``: ``off`` (the default: PostgreSQL only), ``athena`` (AWS: Firehose → Iceberg,
queried by Athena) or ``local`` (Parquet under LOGLENS_HOME/lake, DuckDB). A lake-only stage sets
``athena`` and no database variables at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from loglens.lake.schema import TABLE
from loglens.settings import from_environment


class LakeMode(StrEnum):
    OFF = "off"
    ATHENA = "athena"
    LOCAL = "local"


class Tier(StrEnum):
    POSTGRES = "postgres"
    LAKE = "lake"


class LakeSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: LakeMode = Field(default=LakeMode.OFF, json_schema_extra={"env": "LOGLENS_LAKE"})
    database: str = Field(default="loglens", pattern=r"^[a-z0-9_]{1,128}$", json_schema_extra={"env": "LAKE_DATABASE"})
    table: str = Field(default=TABLE, pattern=r"^[a-z0-9_]{1,128}$", json_schema_extra={"env": "LAKE_TABLE"})
    workgroup: str | None = Field(default=None, min_length=1, json_schema_extra={"env": "ATHENA_WORKGROUP"})
    # The Firehose stream rows are forwarded to (load, with PostgreSQL; collect, lake-only).
    stream_name: str | None = Field(default=None, min_length=1, json_schema_extra={"env": "LAKE_STREAM_NAME"})
    query_timeout_s: float = Field(default=60.0, gt=0, le=900, json_schema_extra={"env": "LAKE_QUERY_TIMEOUT_S"})
    max_rows: int = Field(default=1000, ge=1, le=100_000, json_schema_extra={"env": "LAKE_MAX_ROWS"})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        return from_environment(cls, environ, what="lake configuration")

    @model_validator(mode="after")
    def _athena_needs_a_workgroup(self) -> Self:
        if self.mode is LakeMode.ATHENA and not self.workgroup:
            raise ValueError("ATHENA_WORKGROUP must be set when LOGLENS_LAKE=athena")
        return self

    @property
    def enabled(self) -> bool:
        return self.mode is not LakeMode.OFF


def tiers(environ: Mapping[str, str], *, has_database: bool) -> tuple[Tier, ...]:
    """The stores this deployment answers from, in the order the agent should prefer them.

    This is how the agent learns which tools exist: one tool per tier (``run_query`` for
    PostgreSQL, ``run_lake_query`` for the lake). A lake-only stage has no database, so its agent
    gets the lake tool alone and its prompt names only the lake's range.
    """
    found: list[Tier] = [Tier.POSTGRES] if has_database else []
    if LakeSettings.from_env(environ).enabled:
        found.append(Tier.LAKE)
    if not found:
        raise ValueError("neither a database nor a lake is configured: nothing to ask")
    return tuple(found)
