"""load: one raw object (gzip NDJSON from Firehose, or the local spool) into PostgreSQL, once.

An object is loaded in one transaction together with its row in load_ledger, so a crash
mid-object leaves nothing behind and a redelivered object (an S3 event sent twice, a Lambda
retry, a replay) is skipped. Records carry their event ids, so even a replay of a different
object with the same records stores nothing twice. Lines that do not validate go to
`rejected/` with their reasons before the transaction commits: nothing vanishes silently.

Each line is, in this order of checks:
- sealed by collect (see envelope.py): turned into a row directly;
- a FireLens record: mapped (firelens.py), validated, redacted;
- an unsealed collect-shaped line: trusted only when no envelope key is configured at all
  (otherwise validated as client input, its server fields kept in metadata, never believed);
- anything else: rejected with the reason.
Parsing and COPY formatting run in a background thread, one chunk ahead, so Python's work on
the next chunk overlaps PostgreSQL's work on the current COPY (they run on different cores).

Where the time goes (bench/ingest.py, README "Performance"): per sealed line about 20 µs of
Python — seal check, JSON parse, row building, binary formatting — against 19-33 µs for
PostgreSQL to store a row with every index. On two cores shared with the server that keeps the
load path at about 60% of a raw binary COPY of ready-made rows. A timeline of one 60k-row object
shows the COPYs running back to back only when parsing keeps up; while a COPY streams, parsing
slows to ~30 µs per row (the GIL and the cores are shared), so PostgreSQL waits between chunks.
What would close the rest: parsing in a worker process (its own interpreter, handing formatted
bytes and keys back), sealing whole Firehose records (one MAC per batch instead of per line),
and building the COPY bytes straight from the JSON without Python objects in between.
"""

from __future__ import annotations

import gzip
import io
import json
import queue
import threading
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Final, TypeVar

import orjson
import psycopg
from pydantic import ValidationError

from loglens.ingest import firelens
from loglens.ingest.envelope import MARKER, Sealer, is_envelope, row_from_sealed
from loglens.ingest.objects import ObjectInfo, ObjectStore
from loglens.ingest.privacy import Redactor, redact
from loglens.ingest.write import Row, format_copy_data, write_rows
from loglens.record import IngestContext, LogRecord, Source
from loglens.settings import Settings
from loglens.validate import describe_errors

RAW_PREFIX: Final = "raw/"
REJECTED_PREFIX: Final = "rejected/"
CHUNK_ROWS: Final = 5000
_MAX_REJECTED_TEXT: Final = 64 * 1024
T = TypeVar("T")


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


@dataclass
class _Reader:
    """Turns an object's lines into COPY rows (see the module docstring for the order of checks)."""

    store: ObjectStore
    info: ObjectInfo
    settings: Settings
    sealer: Sealer | None
    redactor: Redactor | None
    rejected: _Rejected = field(default_factory=_Rejected)
    redactions: Counter[str] = field(default_factory=Counter)

    def rows(self) -> Iterator[Row]:
        received = self.info.last_modified
        window = self.settings.window
        trusted = IngestContext(source=Source.API, received_at=received, window=window, trusted=True)
        from_client = IngestContext(source=Source.API, received_at=received, window=window)
        from_ecs = IngestContext(source=Source.FIRELENS, received_at=received, window=window)
        for number, item in firelens.join_partials(self._decoded()):
            if isinstance(item, tuple):
                yield item
                continue
            if firelens.is_firelens(item):
                raw, ctx = firelens.to_raw_record(item, self.info.key, number), from_ecs
            elif is_envelope(item):
                del item[MARKER]
                item.pop("_sig", None)
                raw, ctx = item, (trusted if self.sealer is None else from_client)
            else:
                self.rejected.add(
                    self.info.key,
                    number,
                    ["not a loglens or FireLens record (no _loglens marker, no log field)"],
                    json.dumps(item, ensure_ascii=False),
                )
                continue
            record = self._validate(raw, ctx, number)
            if record is not None:
                if ctx is not trusted:  # collect already redacted what it sealed or wrote
                    redact(self.redactor, record, self.redactions)
                yield record.db_row()

    def _validate(self, raw: dict[str, Any], ctx: IngestContext, number: int) -> LogRecord | None:
        try:
            return LogRecord.model_validate(raw, context=ctx)
        except ValidationError as exc:
            text = json.dumps(raw, ensure_ascii=False, default=str)
            self.rejected.add(self.info.key, number, describe_errors(exc, raw), text)
            return None

    def _decoded(self) -> Iterator[tuple[int, Row | dict[str, Any]]]:
        """(line number, a ready row for a sealed line, else the parsed JSON object)."""
        for number, line in self._lines():
            body = self.sealer.open(line) if self.sealer is not None else None
            if body is not None:
                data = orjson.loads(body)
                try:
                    yield number, row_from_sealed(data)
                    continue
                except (KeyError, ValueError, TypeError):
                    del data["_sig"]  # a sealed line we cannot convert is still collect's: validate it
                    raw = {k: v for k, v in data.items() if k != MARKER}
                    ctx = IngestContext(
                        source=Source.API,
                        received_at=self.info.last_modified,
                        window=self.settings.window,
                        trusted=True,
                    )
                    record = self._validate(raw, ctx, number)
                    if record is not None:
                        yield number, record.db_row()
                    continue
            text = line.decode("utf-8", "replace")
            try:
                parsed = json.loads(text)
            except (json.JSONDecodeError, RecursionError) as exc:
                self.rejected.add(self.info.key, number, [f"not valid JSON: {exc}"], text)
                continue
            if not isinstance(parsed, dict):
                self.rejected.add(self.info.key, number, ["not a JSON object"], text)
                continue
            yield number, parsed

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        number = 0
        with self.store.open(self.info.key) as raw:
            stream = _decompressed(raw)
            try:
                for number, line in enumerate(stream, start=1):
                    if line.strip():
                        yield number, line
            except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
                # The object itself is damaged (S3 reads are length-checked, so this is not a network
                # hiccup): keep every line before the damage and say where it stopped.
                self.rejected.add(self.info.key, number + 1, [f"object is damaged after line {number}: {exc}"], "")


def load_object(
    conn: psycopg.Connection[Any],
    store: ObjectStore,
    info: ObjectInfo,
    settings: Settings,
    *,
    redactor: Redactor | None = None,
    sealer: Sealer | None = None,
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
        reader = _Reader(store, info, settings, sealer, redactor)
        seen: set[tuple[Any, Any]] = set()
        formatted = ((chunk, format_copy_data(chunk)) for chunk in chunked(reader.rows(), chunk_rows))
        for chunk, copy_data in _ahead(formatted):
            written = write_rows(conn, chunk, seen, copy_data)
            result.loaded += written.inserted
            result.duplicates += written.duplicates
        result.redactions = reader.redactions
        result.rejected = len(reader.rejected.items)
        if reader.rejected.items:
            result.rejected_key = rejected_key(info.key)
            store.put(result.rejected_key, gzip.compress(b"".join(reader.rejected.items)))
        conn.execute(
            """UPDATE load_ledger SET rows_loaded = %s, rows_duplicate = %s, rows_rejected = %s
               WHERE object_key = %s AND object_version = %s""",
            (result.loaded, result.duplicates, result.rejected, info.key, info.version),
        )
    return result


def chunked(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


_DONE = object()


def _ahead(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Produce `items` in a background thread, at most `depth` ahead of the consumer."""
    box: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                box.put(item)
            box.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            box.put(exc)

    worker = threading.Thread(target=produce, name="loglens-load-parse", daemon=True)
    worker.start()
    try:
        while True:
            item = box.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue, then let it end
            try:
                box.get_nowait()
            except queue.Empty:
                worker.join(0.05)


def _decompressed(raw: IO[bytes]) -> IO[bytes]:
    if not isinstance(raw, io.BufferedReader):
        raise TypeError("object stores open objects as io.BufferedReader (they need peek)")
    if raw.peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return raw  # Firehose with compression off: plain NDJSON
