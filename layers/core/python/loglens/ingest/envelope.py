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

Load verifies a block over its exact bytes before parsing anything in it. Its lines were
validated by collect, so load decodes the whole block straight into COPY rows (`decode_block`:
msgspec, typed by the same LogRecord fields, metadata kept as the JSON text it already is)
instead of validating each line again. Anything else — a line outside a block, a block that
does not verify or is cut short, a line that does not decode cleanly — is validated in full;
a block that fails to verify is read again line by line, so a forged header cannot swallow the
genuine blocks after it.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import msgspec
import orjson

from loglens.ingest.inflate import ObjectBytes
from loglens.ingest.limits import MAX_FIREHOSE_RECORD_BYTES
from loglens.record import LOG_COLUMNS, LogRecord

MARKER: Final = "_loglens"
VERSION: Final = 1
SEAL_PREFIX: Final = b'{"_loglens_seal":'
_MAC_HEX: Final = 32
_HEX_DIGITS: Final = frozenset("0123456789abcdef")
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
        return signer.digest()[: _MAC_HEX // 2].hex()

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


Reject = Callable[[int, list[str], bytes], None]


def open_blocks(reader: ObjectBytes, sealer: Sealer | None, reject: Reject) -> Iterator[tuple[int, bytes, bool]]:
    """(number of its first line, data, sealed): a verified block's whole body when sealed, else
    one non-blank line. A header that fails is reported through `reject` (without a key there
    is nothing to verify: headers are skipped) and the bytes it claimed are read again as lines."""
    while (line := reader.line()) is not None:
        number = reader.count
        if not line.startswith(SEAL_PREFIX):
            if line.strip():
                yield number, line, False
            continue
        try:
            size, mac = _header(line)
        except ValueError as exc:
            reject(number, [f"unreadable seal header: {exc}"], line)
            continue
        body = reader.take(size)
        if len(body) < size:
            why = "is cut short (the object ends first)"
        elif not body.endswith(b"\n"):
            why = "does not end where a line ends"
        elif sealer is not None and sealer.verify(mac, body):
            yield number + 1, body, True
            continue
        else:
            why = "does not verify (another key, or altered)"
        if sealer is not None:
            reject(number, [f"sealed block of {size} bytes {why}: its lines are validated as client input"], line)
        reader.push_back(body)


def _header(line: bytes) -> tuple[int, str]:
    try:
        header = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("_loglens_seal") != VERSION:
        raise ValueError("not a version 1 header")
    size, mac = header.get("bytes"), header.get("mac")
    if type(size) is not int or not 0 < size <= MAX_FIREHOSE_RECORD_BYTES:
        raise ValueError(f"bytes must be a count up to {MAX_FIREHOSE_RECORD_BYTES}")
    # compare_digest raises on non-ASCII text: a hostile header must be refused here, not crash the load
    if not isinstance(mac, str) or len(mac) != _MAC_HEX or not _HEX_DIGITS.issuperset(mac):
        raise ValueError(f"mac must be {_MAC_HEX} hex digits")
    return size, mac


def is_envelope(data: dict[str, Any]) -> bool:
    return data.get(MARKER) == VERSION


def _sealed_line_type() -> Any:
    """A msgspec Struct with LogRecord's columns in order, typed as collect writes them."""
    fields: list[Any] = []
    for name in LOG_COLUMNS:
        info = LogRecord.model_fields[name]
        kind: Any = info.annotation
        if name == "metadata":
            kind = msgspec.Raw  # stays JSON text: PostgreSQL parses jsonb itself
        elif name == "source_ip":
            kind = str | None  # msgspec has no ip types; the COPY dumper converts (write.py)
        elif kind is datetime:
            kind = Annotated[datetime, msgspec.Meta(tz=True)]
        if info.is_required():
            fields.append((name, kind))
        else:
            default = msgspec.Raw(b"{}") if name == "metadata" else info.default
            fields.append((name, kind, default))
    fields.append(("marker", Literal[1], msgspec.field(name=MARKER, default=1)))  # last: dropped from rows
    return msgspec.defstruct("SealedLine", fields, kw_only=True, forbid_unknown_fields=True)


_DECODER: Final = msgspec.json.Decoder(_sealed_line_type())
_astuple: Final = msgspec.structs.astuple
DecodeError: Final = (msgspec.DecodeError, msgspec.ValidationError)


def decode_block(body: bytes) -> list[tuple[Any, ...]]:
    """COPY rows (LOG_COLUMNS order) from a verified block's lines; raises DecodeError when any
    line does not decode (version skew or a collect bug), and the caller goes line by line."""
    return [_astuple(line)[:-1] for line in _DECODER.decode_lines(body)]


def decode_line(line: bytes) -> tuple[Any, ...]:
    return _astuple(_DECODER.decode(line))[:-1]
