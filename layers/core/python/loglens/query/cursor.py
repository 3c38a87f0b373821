"""Opaque cursors: base64url JSON that the server issues and validates strictly when it comes back.

Nothing in a cursor is trusted: it is decoded into a pydantic model (unknown keys, wrong types and absurd
values are refused), every value ends up as a checked literal in SQL that the guard checks again, and a
cursor carries a digest of the filters it was issued for, so it cannot be replayed against other filters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from loglens.query.errors import QueryInputError

MAX_CURSOR_CHARS = 32_768
CursorT = TypeVar("CursorT", bound=BaseModel)


def encode(cursor: BaseModel) -> str:
    data = cursor.model_dump_json(exclude_none=True).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode(text: str, model: type[CursorT]) -> CursorT:
    """The cursor in `text`, or QueryInputError(field="cursor") saying why it is not one this server issued."""
    if len(text) > MAX_CURSOR_CHARS:
        raise QueryInputError(f"is {len(text):,} characters; a cursor is at most {MAX_CURSOR_CHARS:,}", field="cursor")
    try:
        raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise QueryInputError(
            "is not a cursor issued by this server (pass back the `cursor` of the previous answer unchanged)",
            field="cursor",
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise QueryInputError(f"is malformed ({where}: {first['msg']})", field="cursor") from None


def digest(value: Any) -> str:
    """A short digest of the filters a cursor belongs to (canonical JSON, so key order does not matter)."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
