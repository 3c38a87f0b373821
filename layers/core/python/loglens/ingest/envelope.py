"""The NDJSON line collect writes and load reads back: a validated record, sealed.

Firehose takes records from two writers: collect, and every ECS task allowed to send FireLens
logs. A task could therefore put a line into the stream that *claims* to come from collect and
sets server-owned fields (source, api_key_id, received_at). So collect seals each line with an
HMAC over its exact bytes, keyed by a secret only collect and load hold:

    {"_sig":"<32 hex>",<the rest of the record's JSON object>

Load verifies the seal on the raw bytes before parsing (no re-serialisation, so nothing can
differ). A sealed line was validated by collect, so load turns it into a row directly
(`row_from_sealed`: a handful of type conversions instead of a full model validation — the
difference between keeping up with COPY or not). Anything else — an unsealed line, a bad seal,
a line that does not convert cleanly — is validated in full and never trusted.
"""

from __future__ import annotations

import hmac
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from ipaddress import ip_address
from pathlib import Path
from typing import Any, Final

import orjson

from loglens.record import LOG_COLUMNS, Level, LogRecord, Source

MARKER: Final = "_loglens"
VERSION: Final = 1
_PREFIX: Final = b'{"_sig":"'
_SIG_HEX: Final = 32
_HEAD: Final = len(_PREFIX) + _SIG_HEX + 2  # the prefix, the signature, then '",'
_LEVELS: Final = {level.value: level for level in Level}
_SOURCES: Final = {source.value: source for source in Source}
_INDEX: Final = {name: i for i, name in enumerate(LOG_COLUMNS)}
_SEALED_KEYS: Final = frozenset(LOG_COLUMNS) | {MARKER, "_sig"}


@dataclass(frozen=True)
class Sealer:
    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) < 16:
            raise ValueError("the envelope key must be at least 16 bytes")

    def _mac(self, body: bytes) -> bytes:
        # hmac.digest is the one-shot C path: a quarter of the cost of hmac.new(...).hexdigest() per line
        return hmac.digest(self.key, body, "sha256")[: _SIG_HEX // 2].hex().encode()

    def seal(self, body: bytes) -> bytes:
        """`body` is a JSON object's bytes starting with '{' (no trailing newline)."""
        return _PREFIX + self._mac(body) + b'",' + body[1:]

    def open(self, line: bytes) -> bytes | None:
        """The signed JSON body when the seal is valid, else None."""
        if not line.startswith(_PREFIX) or len(line) <= _HEAD:
            return None
        body = b"{" + line[_HEAD:]
        if hmac.compare_digest(line[len(_PREFIX) : len(_PREFIX) + _SIG_HEX], self._mac(body.rstrip(b"\r\n"))):
            return body
        return None


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


def to_line(record: LogRecord, sealer: Sealer | None) -> bytes:
    data = record.model_dump(mode="json", exclude_none=True)
    data[MARKER] = VERSION
    body = orjson.dumps(data)
    return (sealer.seal(body) if sealer is not None else body) + b"\n"


def is_envelope(data: dict[str, Any]) -> bool:
    return data.get(MARKER) == VERSION


def row_from_sealed(data: dict[str, Any]) -> tuple[Any, ...]:
    """A COPY row from a sealed (already validated) record; raises on anything unexpected."""
    if not data.keys() <= _SEALED_KEYS:
        raise ValueError(f"unexpected fields {sorted(data.keys() - _SEALED_KEYS)}")
    row: list[Any] = [data.get(name) for name in LOG_COLUMNS]
    i = _INDEX
    row[i["event_id"]] = uuid.UUID(row[i["event_id"]])
    row[i["received_at"]] = _aware(row[i["received_at"]])
    row[i["created_at"]] = _aware(row[i["created_at"]])
    row[i["level"]] = _LEVELS[row[i["level"]]]
    row[i["source"]] = _SOURCES[row[i["source"]]]
    if not isinstance(row[i["service"]], str) or not isinstance(row[i["message"]], str):
        raise ValueError("service and message must be text")
    if row[i["log_type"]] is None:
        row[i["log_type"]] = "BACKEND"
    if row[i["environment"]] is None:
        row[i["environment"]] = "development"
    if row[i["metadata"]] is None:
        row[i["metadata"]] = {}
    elif not isinstance(row[i["metadata"]], dict):
        raise ValueError("metadata must be an object")
    if row[i["duration_ms"]] is not None:
        row[i["duration_ms"]] = float(row[i["duration_ms"]])
    if row[i["source_ip"]] is not None:
        row[i["source_ip"]] = ip_address(row[i["source_ip"]])
    return tuple(row)


def _aware(value: Any) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("timestamps in sealed lines carry their zone")
    return parsed
