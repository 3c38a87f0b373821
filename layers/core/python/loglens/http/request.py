"""Reading an HTTP request body safely: base64, gzip with a bound, content types, JSON with positions."""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass
from typing import Any

from loglens.ingest.limits import MAX_BODY_BYTES, MAX_DECOMPRESSED_BYTES


@dataclass
class HttpError(Exception):
    """An answer to send instead of a result: status, a specific message, optional headers."""

    status: int
    message: str
    headers: dict[str, str] | None = None

    def __str__(self) -> str:
        return f"{self.status}: {self.message}"


def raw_body(body: str | None, is_base64: bool) -> bytes:
    if body is None:
        return b""
    if is_base64:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise HttpError(400, "body is marked base64 but is not valid base64") from None
    return body.encode("utf-8", "surrogatepass")


def decode_body(data: bytes, content_encoding: str | None) -> bytes:
    """Apply Content-Encoding (identity or gzip) within the size limits."""
    if len(data) > MAX_BODY_BYTES:
        raise HttpError(413, f"body is {len(data)} bytes; the limit is {MAX_BODY_BYTES}")
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding not in ("gzip", "x-gzip"):
        raise HttpError(415, f"Content-Encoding {encoding!r} is not supported; use gzip or none")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, MAX_DECOMPRESSED_BYTES + 1)
    except zlib.error as exc:
        raise HttpError(400, f"body is not valid gzip: {exc}") from None
    if len(out) > MAX_DECOMPRESSED_BYTES or inflater.unconsumed_tail:
        raise HttpError(413, f"body expands past {MAX_DECOMPRESSED_BYTES} bytes when decompressed")
    if not inflater.eof:
        raise HttpError(400, "body is not valid gzip: the stream is truncated")
    return out


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_json(data: bytes) -> Any:
    """JSON with the position of the first error; invalid UTF-8 is replaced, not fatal."""
    text = data.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise HttpError(
            400, f"body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} (character {exc.pos})"
        ) from None
    except RecursionError:
        raise HttpError(400, "body is not valid JSON: nested too deeply") from None
