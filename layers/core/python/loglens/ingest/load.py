"""load: one raw object (gzip NDJSON from Firehose, or the local spool) into PostgreSQL, once.

An object is loaded in one transaction together with its row in load_ledger, so a crash
mid-object leaves nothing behind and a redelivered object (an S3 event sent twice, a Lambda
retry, a replay) is skipped. Records carry their event ids, so even a replay of a different
object with the same records stores nothing twice. Lines that do not validate go to
`rejected/` with their reasons before the transaction commits: nothing vanishes silently.

Each line is, in this order of checks:
- inside a sealed block that verifies (see envelope.py): the whole block is decoded into rows
  at once;
- a FireLens record: mapped (firelens.py), validated, redacted;
- an unsealed collect-shaped line: trusted only when no envelope key is configured at all
  (otherwise validated as client input, its server fields kept in metadata, never believed);
- anything else: rejected with the reason.
Parsing and COPY formatting run in a background thread, a chunk or two ahead, and the whole
object goes to PostgreSQL as one COPY (see write.py for the rare object with duplicates), so
Python's work overlaps PostgreSQL's and PostgreSQL never waits on a round trip between chunks.

Where the time goes (bench/ingest.py, README "Performance"): PostgreSQL needs ~30 µs to store a
row with every index; the loader's Python, per sealed line, ~1.5 µs to inflate, ~0.4 µs to
find and verify its block, ~3 µs to decode and ~2.7 µs to format it for COPY. What brought the
load path from 60% to the speed of a raw binary COPY: one MAC per block instead of per line
(OpenSSL 3's per-call setup was ~4 µs), msgspec decoding a block straight into typed rows with
metadata left as JSON text, ISA-L's inflate, pausing the cyclic garbage collector while rows
stream (it was a third of the Python time), and one COPY per object instead of one per chunk
(between statements PostgreSQL idled while the client thread waited for the GIL).
"""

from __future__ import annotations

import gc
import gzip
import json
import queue
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

import psycopg
from pydantic import ValidationError

from loglens.ingest import firelens
from loglens.ingest.blocks import DecodeError, decode_block, decode_line, open_blocks
from loglens.ingest.envelope import MARKER, Sealer, is_envelope
from loglens.ingest.inflate import ObjectBytes
from loglens.ingest.objects import ObjectInfo, ObjectStore
from loglens.ingest.privacy import Redactor, redact
from loglens.ingest.write import CopyStream, Row, can_stream, copy_all, format_copy_data, write_rows
from loglens.lake.forward import LakeSink
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
    lake: LakeSink | None = None
    rejected: _Rejected = field(default_factory=_Rejected)
    redactions: Counter[str] = field(default_factory=Counter)

    def rows(self) -> Iterator[list[Row]]:
        """batches(), each also handed to the lake when it is on (loglens.lake.forward)."""
        for batch in self.batches():
            if self.lake is not None:
                self.lake.add(batch)
            yield batch

    def batches(self) -> Iterator[list[Row]]:
        """The object's rows: a sealed block's at once, any other record's on its own."""
        received = self.info.last_modified
        window = self.settings.window
        trusted = self._collected()
        from_client = IngestContext(source=Source.API, received_at=received, window=window)
        from_ecs = IngestContext(source=Source.FIRELENS, received_at=received, window=window)
        for number, item in firelens.join_partials(self._decoded()):
            if isinstance(item, list):
                yield item
                continue
            if firelens.is_firelens(item):
                raw, ctx = firelens.to_raw_record(item, self.info.key, number), from_ecs
            elif is_envelope(item):
                del item[MARKER]
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
                yield [record.db_row()]

    def _validate(self, raw: dict[str, Any], ctx: IngestContext, number: int) -> LogRecord | None:
        try:
            return LogRecord.model_validate(raw, context=ctx)
        except ValidationError as exc:
            text = json.dumps(raw, ensure_ascii=False, default=str)
            self.rejected.add(self.info.key, number, describe_errors(exc, raw), text)
            return None

    def _collected(self) -> IngestContext:
        window = self.settings.window
        return IngestContext(source=Source.API, received_at=self.info.last_modified, window=window, trusted=True)

    def _decoded(self) -> Iterator[tuple[int, list[Row] | dict[str, Any]]]:
        """(line number, ready rows from a sealed block, else one line's parsed JSON object)."""
        for number, data, sealed in self._lines():
            if sealed:
                try:
                    yield number, decode_block(data)
                except DecodeError:
                    yield from self._sealed_lines(number, data)
                continue
            parsed = self._json_object(number, data)
            if parsed is not None:
                yield number, parsed

    def _json_object(self, number: int, line: bytes) -> dict[str, Any] | None:
        """The line's JSON object, or None with the reason recorded in rejected/."""
        text = line.decode("utf-8", "replace")
        try:
            parsed = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            self.rejected.add(self.info.key, number, [f"not valid JSON: {exc}"], text)
            return None
        if not isinstance(parsed, dict):
            self.rejected.add(self.info.key, number, ["not a JSON object"], text)
            return None
        return parsed

    def _sealed_lines(self, first: int, body: bytes) -> Iterator[tuple[int, list[Row]]]:
        """A verified block with a line that does not decode: collect wrote it (a newer field,
        say), so each such line is validated in full — still trusted — and the rest decoded."""
        for number, line in enumerate(body.split(b"\n")[:-1], start=first):
            try:
                yield number, [decode_line(line)]
                continue
            except DecodeError:
                pass
            data = self._json_object(number, line)
            if data is None:
                continue
            record = self._validate({k: v for k, v in data.items() if k != MARKER}, self._collected(), number)
            if record is not None:
                yield number, [record.db_row()]

    def _lines(self) -> Iterator[tuple[int, bytes, bool]]:
        def reject(number: int, errors: list[str], line: bytes) -> None:
            self.rejected.add(self.info.key, number, errors, line.decode("utf-8", "replace"))

        with self.store.open(self.info.key) as raw:
            reader = ObjectBytes(raw)
            yield from open_blocks(reader, self.sealer, reject)
        if reader.damage is not None:
            # The object itself is damaged (S3 reads are length-checked, so this is not a network
            # hiccup): keep every line before the damage and say where it stopped.
            reject(reader.count + 1, [f"object is damaged after line {reader.count}: {reader.damage}"], reader.fragment)


def load_object(
    conn: psycopg.Connection[Any],
    store: ObjectStore,
    info: ObjectInfo,
    settings: Settings,
    *,
    redactor: Redactor | None = None,
    sealer: Sealer | None = None,
    chunk_rows: int = CHUNK_ROWS,
    lake: LakeSink | None = None,
) -> LoadResult:
    """Load one raw object, once. With `lake`, every row read is also handed to it and flushed
    before the commit, so a crash in between loads and forwards the object again (the lake
    upserts on the row's key) instead of leaving the lake without it."""
    result = LoadResult(info.key, info.version)
    with conn.transaction():
        claimed = conn.execute(
            "INSERT INTO load_ledger (object_key, object_version) VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING 1",
            (info.key, info.version),
        ).fetchone()
        if claimed is None:
            result.skipped = True
            return result
        reader = _Reader(store, info, settings, sealer, redactor, lake)
        with _without_cycle_collection():
            try:
                if not can_stream():
                    raise _ChunkByChunk
                result.loaded = _copy_in_one(conn, reader, chunk_rows)
            except (psycopg.errors.UniqueViolation, _ChunkByChunk):
                # Something in the object is stored already (a client's retry, a replay): read it
                # again and COPY it chunk by chunk, leaving out what is there.
                reader = _Reader(store, info, settings, sealer, redactor, lake)
                _copy_skipping_stored(conn, reader, chunk_rows, result)
        if lake is not None:
            lake.flush()  # raises when the lake stream refuses: nothing commits, the object is retried
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


class _ChunkByChunk(Exception):
    """psycopg has no COPY formatter to stream with (see write.py)."""


def _copy_in_one(conn: psycopg.Connection[Any], reader: _Reader, chunk_rows: int) -> int:
    """The common case, nothing stored yet: the whole object in one COPY; returns the rows."""
    stream = CopyStream()
    count = 0

    def pieces() -> Iterator[bytes]:
        nonlocal count
        for chunk in _gathered(reader.rows(), chunk_rows):
            count += len(chunk)
            yield stream.rows(chunk)
        yield stream.end()

    copy_all(conn, _ahead(pieces()))
    return count


def _copy_skipping_stored(conn: psycopg.Connection[Any], reader: _Reader, chunk_rows: int, result: LoadResult) -> None:
    formatted = ((chunk, format_copy_data(chunk)) for chunk in _gathered(reader.rows(), chunk_rows))
    for chunk, copy_data in _ahead(formatted):
        written = write_rows(conn, chunk, copy_data)
        result.loaded += written.inserted
        result.duplicates += written.duplicates


@contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while rows stream through.

    Every row is a few dozen new objects, so the collector runs every few hundred rows and each
    run walks everything alive, including the chunks in flight: in bench/ingest.py that was a
    third of the load's Python time. The pipeline makes no reference cycles (reference counting
    frees each chunk once COPYed), and the collector is back on before the commit.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _gathered(batches: Iterable[list[Row]], size: int) -> Iterator[list[Row]]:
    """Batches joined into chunks of about `size` rows (a sealed block is never split). The first
    chunk is small: PostgreSQL idles until it arrives, once per object."""
    chunk: list[Row] = []
    target = max(1, size // 8)
    for batch in batches:
        chunk.extend(batch)
        if len(chunk) >= target:
            yield chunk
            chunk, target = [], size
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
