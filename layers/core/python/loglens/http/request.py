"""Reading an HTTP request body safely: base64, gzip with a bound, content types, JSON with positions."""

from __future__ import annotations

import base64
import binascii
import json
import sys
import zlib
from dataclasses import dataclass
from typing import Any

from loglens.ingest.limits import MAX_BODY_BYTES, MAX_DECOMPRESSED_BYTES

_GZIP_MAGIC = b"\x1f\x8b"


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
    """Apply Content-Encoding (identity or gzip) within the size limits.

    gzip bodies may hold several members (RFC 1952; `cat a.gz b.gz`, some exporters' streaming
    writers): every member is read, and bytes after the last member that are not one are refused
    rather than ignored, so nothing a client sent is silently dropped.
    """
    if len(data) > MAX_BODY_BYTES:
        raise HttpError(413, f"body is {len(data)} bytes; the limit is {MAX_BODY_BYTES}")
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding not in ("gzip", "x-gzip"):
        raise HttpError(415, f"Content-Encoding {encoding!r} is not supported; use gzip or none")
    return _gunzip(data)


def _gunzip(data: bytes) -> bytes:
    view = memoryview(data)
    out: list[bytes] = []
    size = pos = member = 0
    while member == 0 or pos < len(data):
        if member and not data.startswith(_GZIP_MAGIC, pos):
            raise HttpError(
                400,
                f"body is not valid gzip: the {len(data) - pos} bytes after gzip member {member} "
                f"(from byte {pos}) are not another gzip member",
            )
        member += 1
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        # Input goes in doubling pieces: at the end of a member zlib copies the rest of its input
        # (unused_data), and a body of many tiny members must not copy the whole body each time.
        piece = 1024
        while not inflater.eof:
            given = view[pos : pos + piece]
            if not given:
                raise HttpError(400, f"body is not valid gzip: member {member} is truncated")
            try:
                chunk = inflater.decompress(given, MAX_DECOMPRESSED_BYTES - size + 1)
            except zlib.error as exc:
                raise HttpError(400, f"body is not valid gzip: {exc} (member {member}, near byte {pos})") from None
            size += len(chunk)
            if size > MAX_DECOMPRESSED_BYTES or inflater.unconsumed_tail:
                raise HttpError(413, f"body expands past {MAX_DECOMPRESSED_BYTES} bytes when decompressed")
            out.append(chunk)
            pos += len(given) - len(inflater.unused_data)
            piece *= 2
    return out[0] if len(out) == 1 else b"".join(out)


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_json(data: bytes) -> Any:
    """JSON with the position of the first error; invalid UTF-8 is replaced, not fatal.

    Python refuses to turn more than 4,300 digits into an int (a guard against quadratic-time
    conversion, CVE-2020-10735), and json.loads lets that ValueError out. Such a number is kept
    as its digits, as text: validation then refuses it where a number is needed (saying which
    field) and keeps it where text is fine, as metadata integers beyond 64 bits already are.
    """
    text = data.decode("utf-8", "replace")
    try:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise
        except ValueError:  # only the integer-length guard gets here; rare, so parse again
            return json.loads(text, parse_int=_int_or_digits)
    except json.JSONDecodeError as exc:
        raise HttpError(
            400, f"body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} (character {exc.pos})"
        ) from None
    except RecursionError:
        raise HttpError(400, "body is not valid JSON: nested too deeply") from None


def _int_or_digits(literal: str) -> int | str:
    limit = sys.get_int_max_str_digits()  # 0: no limit
    return literal if limit and len(literal) - literal.startswith("-") > limit else int(literal)
