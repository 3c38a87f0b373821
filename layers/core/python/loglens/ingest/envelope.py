"""The raw/ object format collect writes and load reads back: NDJSON lines in sealed blocks.

Firehose takes records from two writers: collect, and every ECS task allowed to send FireLens
logs. A task could therefore put a line into the stream that *claims* to come from collect and
sets server-owned fields (source, api_key_id, received_at). So collect seals every Firehose
record it writes with an HMAC, keyed by a secret only collect and load hold. A record is a
header line followed by exactly the bytes it covers, whole lines of validated records:

    {"_loglens_seal":1,"bytes":1234,"mac":"<32 hex>"}
    {"event_id":"…","created_at":"…",…,"_loglens":1}
    {"event_id":"…",…,"_loglens":1}

Firehose writes each record's bytes contiguously into the S3 object, so a block arrives whole.
One MAC per block rather than per line because OpenSSL 3 spends ~4 µs setting up each HMAC —
more than hashing a 700-byte line — and that was a fifth of the load path's time.

This module is the writing side and what both sides share; reading blocks back is blocks.py,
kept apart so collect's cold start does not load the decoder and the inflater it never uses.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from loglens.ingest.limits import MAX_FIREHOSE_RECORD_BYTES
from loglens.record import LogRecord

MARKER: Final = "_loglens"
VERSION: Final = 1
SEAL_PREFIX: Final = b'{"_loglens_seal":'
MAC_HEX: Final = 32
_DOMAIN: Final = b"loglens sealed block v1\n"  # keeps these MACs apart from anything else the key might sign
# Room for the header in a Firehose record; the longest one is about 70 bytes.
HEADER_RESERVE: Final = 128
# The longest line collect may write: a sealed record holds its header and at least this one line.
MAX_LINE_BYTES: Final = MAX_FIREHOSE_RECORD_BYTES - HEADER_RESERVE


@dataclass(frozen=True)
class Sealer:
    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) < 16:
            raise ValueError("the envelope key must be at least 16 bytes")

    def mac(self, body: bytes) -> str:
        signer = hmac.new(self.key, _DOMAIN, "sha256")
        signer.update(body)
        return signer.digest()[: MAC_HEX // 2].hex()

    def seal(self, body: bytes) -> bytes:
        """`body` (whole lines, each ending in a newline) behind its header line."""
        header = orjson.dumps({"_loglens_seal": VERSION, "bytes": len(body), "mac": self.mac(body)})
        return header + b"\n" + body

    def verify(self, mac: str, body: bytes) -> bool:
        return hmac.compare_digest(mac, self.mac(body))


def sealer_from_env(home: Path | None = None) -> Sealer | None:
    """LOGLENS_ENVELOPE_KEY, or a key kept in `home` for local use, else None (no sealing)."""
    value = os.environ.get("LOGLENS_ENVELOPE_KEY")
    if value:
        return Sealer(value.encode())
    if home is None:
        return None
    path = home / "envelope-key"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return Sealer(path.read_text().strip().encode())


def to_line(record: LogRecord) -> bytes:
    data = record.model_dump(mode="json", exclude_none=True)
    data[MARKER] = VERSION
    return orjson.dumps(data) + b"\n"


def pack_records(lines: Sequence[bytes], sealer: Sealer | None, limit: int = MAX_FIREHOSE_RECORD_BYTES) -> list[bytes]:
    """Lines packed into Firehose records of at most `limit` bytes, each sealed when there is a key.

    Firehose bills and throttles per record (rounded up to 5 KB), and its S3 output is just the
    records' bytes in order, so whole lines packed together arrive intact and cheaper.
    """
    budget = limit - HEADER_RESERVE if sealer is not None else limit
    bodies: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for line in lines:
        if len(line) > budget:
            raise ValueError(f"a line of {len(line)} bytes cannot fit in a Firehose record")
        if size + len(line) > budget and current:
            bodies.append(b"".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        bodies.append(b"".join(current))
    return [sealer.seal(body) for body in bodies] if sealer is not None else bodies


def is_envelope(data: dict[str, Any]) -> bool:
    return data.get(MARKER) == VERSION
