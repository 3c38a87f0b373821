"""The NDJSON line collect writes (and load reads back): a stored record plus a marker.

The `_loglens` marker tells the loader that the line came from collect, so its server-set
fields (received_at, source, api key id) are kept as written instead of treated as client input.
"""

from __future__ import annotations

import json
from typing import Any, Final

from loglens.record import LogRecord

MARKER: Final = "_loglens"
VERSION: Final = 1


def to_line(record: LogRecord) -> bytes:
    data = record.model_dump(mode="json", exclude_none=True)
    data[MARKER] = VERSION
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def is_envelope(data: dict[str, Any]) -> bool:
    return data.get(MARKER) == VERSION
