"""Reading sealed blocks back out of a raw object (the load side of envelope.py's format).

Load verifies a block over its exact bytes before parsing anything in it. Its lines were
validated by collect, so load decodes the whole block straight into COPY rows (`decode_block`:
msgspec, typed by the same LogRecord fields, metadata kept as the JSON text it already is)
instead of validating each line again. Anything else — a line outside a block, a block that
does not verify or is cut short, a line that does not decode cleanly — is validated in full;
a block that fails to verify is read again line by line, so a forged header cannot swallow the
genuine blocks after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, Any, Final, Literal

import msgspec
import orjson

from loglens.ingest.envelope import MAC_HEX, MARKER, SEAL_PREFIX, VERSION, Sealer
from loglens.ingest.inflate import ObjectBytes
from loglens.ingest.limits import MAX_FIREHOSE_RECORD_BYTES
from loglens.record import LOG_COLUMNS, LogRecord

_HEX_DIGITS: Final = frozenset("0123456789abcdef")


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
    if not isinstance(mac, str) or len(mac) != MAC_HEX or not _HEX_DIGITS.issuperset(mac):
        raise ValueError(f"mac must be {MAC_HEX} hex digits")
    return size, mac


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
