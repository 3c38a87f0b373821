"""The load path's hand-off to the lake: rows it validated, delivered before its PostgreSQL transaction commits.

The loader opens one delivery per object, adds every row it validated (the same tuples it COPYs, in
LOG_COLUMNS order), and calls ``deliver()`` just before it commits. Delivered first, the lake can only ever
hold more than PostgreSQL: when the commit fails the object is loaded again later and delivered again, and
the lake's dedup on (created_at, event_id) drops the second copy. A delivery that is abandoned (the loader
starts the object over) is discarded.

``encode_rows`` is the wire form of a batch: a JSON array of row arrays in LOG_COLUMNS order, times in ISO
8601 with their UTC offset, ``event_id`` as text, ``metadata`` as the JSON object it is (sealed lines bring it
as JSON text, passed through untouched), addresses as text. One orjson call encodes a whole batch
(~1-3 µs a row); the local buffer stores it and DuckDB reads it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import msgspec
import orjson

Row = tuple[Any, ...]


class LakeDelivery(Protocol):
    def add(self, rows: Sequence[Row]) -> None:
        """Rows in LOG_COLUMNS order (called from the loader's parsing thread)."""
        ...

    def deliver(self) -> None:
        """Hand everything added to the lake; durable once this returns. Raises when it cannot."""
        ...

    def discard(self) -> None:
        """Forget everything added (the loader starts the object over)."""
        ...


class LakeFeed(Protocol):
    def begin(self, source: str) -> LakeDelivery:
        """A delivery for the rows of one object (`source` names it, for logs and file names)."""
        ...


def _lake_value(value: Any) -> Any:
    if isinstance(value, msgspec.Raw):
        return orjson.Fragment(bytes(value))  # metadata a sealed line brought: already JSON
    return str(value)  # IPv4Address / IPv6Address


def encode_rows(rows: Sequence[Row]) -> bytes:
    """The batch as one JSON array of row arrays (see the module docstring)."""
    return orjson.dumps(rows, default=_lake_value)
