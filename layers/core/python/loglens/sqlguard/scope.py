"""The scopes the resolver builds: each SELECT is a Level of FROM items (Sources), and each query yields a Shape."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlglot import exp


@dataclass(frozen=True)
class Range:
    """Portable bounds of a column's values, when known (a column that came from a bounded scan)."""

    lower: exp.Expr | None
    upper: exp.Expr | None


@dataclass(frozen=True)
class Shape:
    """What a query yields: its column names (None when unknown) and what is known of their values."""

    columns: tuple[str, ...] | None
    ranges: Mapping[str, Range] = field(default_factory=dict)



@dataclass(eq=False)
class Source:
    """One FROM item of a SELECT, as its columns are resolved against it."""

    name: str
    relation: str | None
    columns: tuple[str, ...] | None
    join: exp.Join | None
    level: Level
    ranges: Mapping[str, Range] = field(default_factory=dict)


@dataclass(eq=False)
class Level:
    """One SELECT: its FROM items so far, where it sits in the statement, and the SELECTs around it."""

    select: exp.Select
    label: str
    outer: tuple[Level, ...]
    sources: list[Source] = field(default_factory=list)

    @property
    def chain(self) -> tuple[Level, ...]:
        return (self, *self.outer)
