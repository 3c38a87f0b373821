"""Text hygiene shared by every ingest path.

PostgreSQL `text` and `jsonb` cannot hold NUL characters, and lone UTF-16 surrogates (which
JSON's \\uD800 escapes can produce) cannot be encoded as UTF-8. Both are repaired here rather
than rejected, because a log line with one bad byte is still worth keeping.
"""

from __future__ import annotations

import re

TRUNCATION_MARKER = "…[truncated]"
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: str) -> str:
    """Drop NUL characters and replace unencodable surrogates with U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # Any surrogate left in a Python str is unpaired (json.loads joins valid pairs).
        value = _SURROGATE.sub("\ufffd", value)
    return value


def truncate(value: str, limit: int) -> str:
    """Cut `value` to at most `limit` characters, ending with a visible marker when cut."""
    if len(value) <= limit:
        return value
    return value[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


def decode_utf8(raw: bytes) -> str:
    """Decode bytes as UTF-8, replacing invalid sequences instead of failing."""
    return raw.decode("utf-8", "replace")
