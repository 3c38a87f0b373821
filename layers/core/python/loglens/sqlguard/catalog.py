"""What a query may read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Catalog:
    """Relation name -> column names; the time column each big table must be bounded on; and its lookup keys.

    A lookup key is a column whose equality lookup is an index probe on every partition (``trace_id``): in
    PostgreSQL such a lookup stands in for the time bound. The lake ignores lookup keys.
    """

    relations: Mapping[str, Sequence[str]]
    time_bounded: Mapping[str, str] = field(default_factory=dict)
    lookup_keys: Mapping[str, Sequence[str]] = field(default_factory=dict)
