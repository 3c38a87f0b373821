"""load: one raw object (gzip NDJSON from Firehose, or the local spool) into PostgreSQL, once.

An object is loaded in one transaction together with its row in load_ledger, so a crash
mid-object leaves nothing behind and a redelivered object (an S3 event sent twice, a Lambda
retry, a replay) is skipped. Records carry their event ids, so even a replay of a different
object with the same records stores nothing twice. Lines that do not validate go to
`rejected/` with their reasons before the transaction commits: nothing vanishes silently.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Final

import psycopg
from pydantic import ValidationError

from loglens.ingest import firelens
from loglens.ingest.envelope import MARKER, is_envelope
from loglens.ingest.objects import ObjectInfo, ObjectStore
from loglens.ingest.privacy import Redactor, redact
from loglens.ingest.write import write_batch
from loglens.record import IngestContext, LogRecord, Source
from loglens.settings import Settings
from loglens.validate import describe_errors

RAW_PREFIX: Final = "raw/"
REJECTED_PREFIX: Final = "rejected/"
CHUNK_ROWS: Final = 5000
_MAX_REJECTED_TEXT: Final = 64 * 1024


@dataclass
class LoadResult:
    key: str
    version: str
    loaded: int = 0
    duplicates: int = 0
    rejected: int = 0
    redactions: Counter[str] = field(default_factory=Counter)
    skipped: bool = False  # already loaded earlier
    rejected_key: str | None = None


@dataclass
class _Rejected:
    items: list[bytes] = field(default_factory=list)

    def add(self, key: str, line: int, errors: list[str] | tuple[str, ...], text: str) -> None:
        entry = {"object": key, "line": line, "errors": list(errors), "record": text[:_MAX_REJECTED_TEXT]}
        self.items.append(json.dumps(entry, ensure_ascii=False).encode() + b"\n")


def rejected_key(key: str) -> str:
    return REJECTED_PREFIX + key.removeprefix(RAW_PREFIX) + ".rejected.ndjson.gz"


def load_object(
    conn: psycopg.Connection[Any],
    store: ObjectStore,
    info: ObjectInfo,
    settings: Settings,
    *,
    redactor: Redactor | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> LoadResult:
    result = LoadResult(info.key, info.version)
    with conn.transaction():
        claimed = conn.execute(
            "INSERT INTO load_ledger (object_key, object_version) VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING 1",
            (info.key, info.version),
        ).fetchone()
        if claimed is None:
            result.skipped = True
            return result
        rejected = _Rejected()
        seen: set[tuple[Any, Any]] = set()
        chunk: list[LogRecord] = []
        for record in _records(store, info, settings, rejected, redactor, result.redactions):
            chunk.append(record)
            if len(chunk) >= chunk_rows:
                _flush(conn, chunk, seen, result)
        _flush(conn, chunk, seen, result)
        result.rejected = len(rejected.items)
        if rejected.items:
            result.rejected_key = rejected_key(info.key)
            store.put(result.rejected_key, gzip.compress(b"".join(rejected.items)))
        conn.execute(
            """UPDATE load_ledger SET rows_loaded = %s, rows_duplicate = %s, rows_rejected = %s
               WHERE object_key = %s AND object_version = %s""",
            (result.loaded, result.duplicates, result.rejected, info.key, info.version),
        )
    return result


def _flush(
    conn: psycopg.Connection[Any], chunk: list[LogRecord], seen: set[tuple[Any, Any]], result: LoadResult
) -> None:
    if not chunk:
        return
    written = write_batch(conn, chunk, seen)
    result.loaded += written.inserted
    result.duplicates += written.duplicates
    chunk.clear()


def _records(
    store: ObjectStore,
    info: ObjectInfo,
    settings: Settings,
    rejected: _Rejected,
    redactor: Redactor | None,
    redactions: Counter[str],
) -> Iterator[LogRecord]:
    trusted = IngestContext(source=Source.API, received_at=info.last_modified, window=settings.window, trusted=True)
    from_ecs = IngestContext(source=Source.FIRELENS, received_at=info.last_modified, window=settings.window)
    for number, data in firelens.join_partials(_json_lines(store, info, rejected)):
        if is_envelope(data):
            del data[MARKER]
            ctx = trusted
        elif firelens.is_firelens(data):
            data = firelens.to_raw_record(data, info.key, number)
            ctx = from_ecs
        else:
            rejected.add(
                info.key,
                number,
                ["not a loglens or FireLens record (no _loglens marker, no log field)"],
                json.dumps(data, ensure_ascii=False),
            )
            continue
        try:
            record = LogRecord.model_validate(data, context=ctx)
        except ValidationError as exc:
            rejected.add(
                info.key, number, describe_errors(exc, data), json.dumps(data, ensure_ascii=False, default=str)
            )
            continue
        if ctx is from_ecs:  # collect already redacted its own records
            redact(redactor, record, redactions)
        yield record


def _json_lines(store: ObjectStore, info: ObjectInfo, rejected: _Rejected) -> Iterator[tuple[int, dict[str, Any]]]:
    number = 0
    with store.open(info.key) as raw:
        stream = _decompressed(raw)
        try:
            for number, line in enumerate(stream, start=1):
                if not line.strip():
                    continue
                text = line.decode("utf-8", "replace")
                try:
                    data = json.loads(text)
                except (json.JSONDecodeError, RecursionError) as exc:
                    rejected.add(info.key, number, [f"not valid JSON: {exc}"], text)
                    continue
                if not isinstance(data, dict):
                    rejected.add(info.key, number, ["not a JSON object"], text)
                    continue
                yield number, data
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            # The object itself is damaged (S3 reads are length-checked, so this is not a network
            # hiccup): keep every line before the damage and say where it stopped.
            rejected.add(info.key, number + 1, [f"object is damaged after line {number}: {exc}"], "")


def _decompressed(raw: IO[bytes]) -> IO[bytes]:
    if not isinstance(raw, io.BufferedReader):
        raise TypeError("object stores open objects as io.BufferedReader (they need peek)")
    buffered = raw
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
    return buffered  # Firehose with compression off: plain NDJSON
