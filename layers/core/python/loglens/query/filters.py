"""The filters of search, histogram and tail, and the SQL conditions they become.

Each value ends up as a string literal printed by sqlglot (quotes doubled), and the whole statement then
passes the SQL guard, which parses it again; so a filter value can only ever be a value. Values the guard
could not accept as literals (NUL, a backslash before a quote) are refused here with a message naming the
filter, before any SQL exists. Every condition is one an index answers: service/level (idx_service_level_time),
contains (the trigram index on message), trace_id, user_id, and metadata containment (the GIN index).
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlglot import exp

from loglens.record import LEVEL_ALIASES, TEXT_LIMITS, Level

MAX_CONTAINS_CHARS: Final = 500
MAX_METADATA_KEYS: Final = 10
MAX_METADATA_VALUE_CHARS: Final = 1024
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
# In a LIKE pattern with ESCAPE '!': the wildcards, the escape itself, and the quote (escaping it keeps a
# backslash from ever standing right before a quote, which the guard refuses in any literal).
_LIKE_SPECIAL = frozenset("%_!'")

MetadataValue = str | bool | int | float | None


def _exact_text(name: str, limit: int) -> Any:
    return Field(default=None, min_length=1, max_length=limit, description=f"Exact {name}.")


class Filters(BaseModel):
    """What a record must match; every filter is optional and they combine with AND."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str | None = _exact_text("service", TEXT_LIMITS["service"])
    level: list[Level] | None = Field(
        default=None,
        description="One level or a list (TRACE, DEBUG, INFO, WARN, ERROR, FATAL; warning, err, ... are accepted).",
    )
    environment: str | None = _exact_text("environment", TEXT_LIMITS["environment"])
    contains: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CONTAINS_CHARS,
        description="Text the message contains, case-insensitive (no wildcards: % and _ are matched literally).",
    )
    trace_id: str | None = _exact_text("trace id", TEXT_LIMITS["trace_id"])
    user_id: str | None = _exact_text("user id", TEXT_LIMITS["user_id"])
    metadata: Annotated[dict[str, MetadataValue], Field(max_length=MAX_METADATA_KEYS)] | None = Field(
        default=None,
        description="Top-level metadata keys and the values they must hold; a string that reads as a number or "
        "boolean also matches that number or boolean.",
    )

    @field_validator("level", mode="before")
    @classmethod
    def _levels(cls, value: object) -> object:
        if value is None:
            return None
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ValueError("give at least one level, or leave the filter out")
        levels: list[Level] = []
        for item in values:
            found = LEVEL_ALIASES.get(item.strip().lower()) if isinstance(item, str) else None
            if found is None:
                shown = repr(item)[:40]
                raise ValueError(f"{shown} is not a level; expected one of {', '.join(Level)}")
            if found not in levels:
                levels.append(found)
        return levels

    @field_validator("service", "environment", "trace_id", "user_id", mode="after")
    @classmethod
    def _exact(cls, value: str | None) -> str | None:
        if value is not None:
            _printable(value)
            if value.endswith("\\") or "\\'" in value:
                raise ValueError("values with a backslash at the end or before a quote cannot be searched for")
        return value

    @field_validator("contains", mode="after")
    @classmethod
    def _contains(cls, value: str | None) -> str | None:
        if value is not None:
            _printable(value)
            if not value.strip():
                raise ValueError("must contain something besides spaces")
        return value

    @field_validator("metadata", mode="before")
    @classmethod
    def _scalars(cls, value: object) -> object:
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(item, str | bool | int | float | None):
                    raise ValueError(f"the value of {str(key)[:40]!r} must be a string, number, boolean or null")
        return value

    @field_validator("metadata", mode="after")
    @classmethod
    def _metadata(cls, value: dict[str, MetadataValue] | None) -> dict[str, MetadataValue] | None:
        if value is None:
            return None
        for key, item in value.items():
            if not _PLAIN_KEY.match(key):
                raise ValueError(
                    f"key {key[:40]!r} is not a plain identifier (letters, digits and _, at most 64, not starting "
                    "with a digit)"
                )
            if isinstance(item, str):
                _printable(item)
                if len(item) > MAX_METADATA_VALUE_CHARS:
                    raise ValueError(f"the value of {key!r} is longer than {MAX_METADATA_VALUE_CHARS} characters")
            elif isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"the value of {key!r} is not a finite number")
        return value

    def conditions(self) -> list[str]:
        """SQL conditions on `logs`, to be joined with AND (the time bound is added by the caller)."""
        out: list[str] = []
        for column in ("service", "environment", "trace_id", "user_id"):
            value = getattr(self, column)
            if value is not None:
                out.append(f"{column} = {literal(value)}")
        if self.level:
            if len(self.level) == 1:
                out.append(f"level = {literal(self.level[0].value)}")
            else:
                out.append(f"level IN ({', '.join(literal(level.value) for level in self.level)})")
        if self.contains is not None:
            out.append(f"message ILIKE {literal(like_pattern(self.contains))} ESCAPE '!'")
        for key, value in (self.metadata or {}).items():
            out.append(_metadata_condition(key, value))
        return out

    def canonical(self) -> dict[str, Any]:
        """The filters as given, for cursor digests (a cursor only continues the filters it came from)."""
        return self.model_dump(mode="json", exclude_none=True)


def literal(value: str) -> str:
    """A PostgreSQL string literal, printed by sqlglot."""
    return str(exp.Literal.string(value).sql(dialect="postgres"))


def timestamp_literal(moment: datetime) -> str:
    return f"CAST({literal(moment.astimezone(UTC).isoformat())} AS TIMESTAMPTZ)"


def like_pattern(text: str) -> str:
    """`%text%` for LIKE/ILIKE with ESCAPE '!', every character matched literally."""
    return "%" + "".join("!" + ch if ch in _LIKE_SPECIAL else ch for ch in text) + "%"


def _metadata_condition(key: str, value: MetadataValue) -> str:
    alternatives = [value]
    if isinstance(value, str):
        typed = _typed(value)
        if typed is not None:
            alternatives.append(typed)
    tests = [f"metadata @> CAST({literal(_json({key: item}))} AS JSONB)" for item in alternatives]
    return tests[0] if len(tests) == 1 else "(" + " OR ".join(tests) + ")"


def _typed(text: str) -> MetadataValue:
    """What a string from a form field may have been stored as: a JSON number or boolean."""
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?(0|[1-9]\d{0,17})", text):
        return int(text)
    if re.fullmatch(r"-?(0|[1-9]\d{0,17})\.\d{1,17}", text):
        number = float(text)
        return number if math.isfinite(number) else None
    return None


def _json(value: dict[str, MetadataValue]) -> str:
    # ASCII-only with the quote as \u0027: the literal holds no quote and no non-ASCII character at all.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("'", "\\u0027")


def _printable(value: str) -> None:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
