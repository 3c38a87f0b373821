"""Archive partitions past retention to object storage, verify the copy, then detach and drop them.

Format: gzip JSON lines, not Parquet. Measured for the Lambda target (arm64, CPython 3.12): the
pyarrow 26.0.1 manylinux_2_28_aarch64 wheel is 51.8 MB zipped and 156.4 MB unzipped (145.6 MB of
shared libraries). The deps layer as layers/deps/build.py builds it today is 45.5 MB unzipped, the
core layer 0.3 MB, so pyarrow would take every function to ~202 MB of Lambda's 250 MB (262,144,000
bytes) limit for code plus layers. It fits, but the deps layer is shared: collect, load and ask would
carry 156 MB they never import, and every later dependency would have ~48 MB left. Parquet's gains
(smaller objects, column pruning) matter little for an archive read only in investigations, one day
at a time (the Athena table projects `day`); gzip JSON lines cost nothing to ship (stdlib), stream
in bounded memory, and are what the Athena table in infra/components/archive_catalog.py reads.

Layout (Hive-style, so Athena's partition projection finds a day without a crawler):

    archive/day=YYYY-MM-DD/part-00000.json.gz   one JSON object per row, keys = LOG_COLUMNS,
    archive/day=YYYY-MM-DD/part-00001.json.gz   timestamps ISO 8601 in UTC, metadata as JSON text
    archive/day=YYYY-MM-DD/_manifest.json       rows, checksum, and each part's rows/size/sha256

Athena skips names starting with "_", so the manifest never shows up as data. Rows come from a
server-side cursor (FETCH_ROWS at a time) and parts close at PartLimits (rows or uncompressed
bytes), so memory is bounded by one compressed part, a few queued chunks and one fetch, whatever
the partition's size. Rows are exported in primary-key order, so an export of the same rows writes
the same keys with the same bytes (gzip mtime is 0); an interrupted export resumes after its last
complete part, and a Lambda run pauses between parts when its time is nearly up.

Checksum: the sum modulo 2**64 of a 64-bit hash of each row's key, the first 8 bytes of
md5("<created_at as integer microseconds since the epoch>|<event_id>"). A sum is order-independent
and, unlike XOR, a duplicated row changes it. PostgreSQL computes it over the table with one
aggregate and, per row, while exporting (the part checksums in the manifest); verification
recomputes every row's hash in Python from the bytes read back from the store, so the archive is
trusted only when both implementations agree on the partition's exact set of rows. Each part's
sha256 proves its bytes are the ones written. PostgreSQL 14+ is needed (extract(epoch) is an exact
numeric there).

Each partition goes through a ledger (table archive_ledger, same database) with the states
exported → verified → detached → dropped. Database steps change the ledger in the same transaction;
store writes are whole-object and idempotent; so a crash at any point, then a re-run, ends with one
archive copy and no lost row. Before the detached table is dropped its rows are checked against the archive
once more, because rows can reach an old partition until it is detached (a replay of old raw data).
Rows that reach an archived day later land in DEFAULT, get a partition from the maintain job, and are
archived as the next generation (`g1-part-00000.json.gz`, `_manifest-g1.json`) beside the first.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Protocol

import psycopg
from psycopg import sql

from loglens.ingest.objects import LocalObjectStore, ObjectMissing, ObjectStore, S3ObjectStore
from loglens.partitions import PARENT, list_partitions
from loglens.record import LOG_COLUMNS, column_sql_types
from loglens.settings import Settings

log = logging.getLogger(__name__)

ARCHIVE_PREFIX: Final = "archive/"
MANIFEST_FORMAT: Final = "loglens-archive/1"
CHECKSUM_ALGORITHM: Final = "sum mod 2^64 of md5(created_at_us|event_id)[0:8]"
FETCH_ROWS: Final = 2_000  # server-side cursor fetch size: the rows held in memory at once
_MOD64: Final = 1 << 64
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_DAY: Final = timedelta(days=1)
_MICROSECOND: Final = timedelta(microseconds=1)
# Another fixed 64-bit key (partitions and migrations use their own): one archive run per database.
_LOCK_KEY: Final = 0x6C6F676C656E7361
_EMPTY_PART: Final = gzip.compress(b"", mtime=0)
_DETACH_ATTEMPTS: Final = 3
_VERIFY_ATTEMPTS: Final = 3
# A run stops starting partitions when less than this is left of the Lambda's time, and an
# export pauses after its current part when less than _MIN_SECONDS_TO_CONTINUE is left.
_MIN_SECONDS_PER_PARTITION: Final = 120.0
_MIN_SECONDS_TO_CONTINUE: Final = 60.0

# row_hash() in SQL: the first 8 bytes of the md5, read as a (signed) bigint; sums agree mod 2**64.
_ROW_HASH_SQL: Final = (
    "('x' || left(md5((extract(epoch FROM created_at) * 1000000)::bigint::text || '|' || event_id::text), 16))"
    "::bit(64)::bigint"
)
_CHECKSUM_SQL: Final = f"""
    SELECT count(*), coalesce(sum({_ROW_HASH_SQL}::numeric), 0)
    FROM {{table}} WHERE created_at >= %s AND created_at < %s"""


class ArchiveError(RuntimeError):
    """The archive cannot be written, read or trusted; the message says which object or table."""


class ArchiveStoreMissing(ArchiveError):
    """The configured bucket does not exist."""


class VerificationFailed(ArchiveError):
    """The archive and the table disagree; the partition is kept."""


class ExportPaused(Exception):
    """The export stopped after a complete part because the run's time is nearly up."""


class State(StrEnum):
    EXPORTED = "exported"
    VERIFIED = "verified"
    DETACHED = "detached"
    DROPPED = "dropped"


@dataclass(frozen=True)
class PartLimits:
    """When a part is closed: whichever comes first. 64 MiB of JSON is ~5-8 MiB gzipped."""

    max_rows: int = 250_000
    max_bytes: int = 64 * 1024 * 1024  # uncompressed


class Progress(Protocol):
    """Where long steps report how far they are (the CLI draws bars; Lambdas pass nothing)."""

    def begin(self, label: str, total: int | None) -> None: ...
    def advance(self, rows: int) -> None: ...
    def end(self) -> None: ...


class NoProgress:
    """Reports nowhere (Lambdas, tests)."""

    def begin(self, label: str, total: int | None) -> None:
        pass

    def advance(self, rows: int) -> None:
        pass

    def end(self) -> None:
        pass


@dataclass(frozen=True)
class Checksum:
    rows: int = 0
    value: int = 0

    def __add__(self, other: Checksum) -> Checksum:
        return Checksum(self.rows + other.rows, (self.value + other.value) % _MOD64)


def row_hash(created_at: datetime, event_id: uuid.UUID | str) -> int:
    """The row's 64-bit hash; event_id as a UUID or as PostgreSQL writes it (lower-case, hyphenated)."""
    micros = (created_at - _EPOCH) // _MICROSECOND
    digest = hashlib.md5(f"{micros}|{event_id}".encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big")


def total_of(checksums: Iterable[Checksum]) -> Checksum:
    out = Checksum()
    for item in checksums:
        out = out + item
    return out


def table_checksum(conn: psycopg.Connection[Any], table: str, start: datetime, end: datetime) -> Checksum:
    """Rows and checksum of `table` in [start, end), computed by PostgreSQL."""
    row = conn.execute(sql.SQL(_CHECKSUM_SQL).format(table=sql.Identifier(table)), (start, end)).fetchone()
    rows, value = row if row else (0, Decimal(0))
    return Checksum(int(rows), int(value) % _MOD64)


def day_prefix(day: date) -> str:
    return f"{ARCHIVE_PREFIX}day={day.isoformat()}/"


def part_key(day: date, generation: int, index: int) -> str:
    return f"{day_prefix(day)}{_part_stem(generation)}{index:05d}.json.gz"


def manifest_key(day: date, generation: int) -> str:
    suffix = "" if generation == 0 else f"-g{generation}"
    return f"{day_prefix(day)}_manifest{suffix}.json"


def _part_stem(generation: int) -> str:
    return "part-" if generation == 0 else f"g{generation}-part-"


@dataclass(frozen=True)
class PartEntry:
    key: str
    rows: int
    bytes: int
    sha256: str
    checksum: int


@dataclass(frozen=True)
class Manifest:
    day: date
    generation: int
    partition: str
    row_count: int
    checksum: int
    parts: tuple[PartEntry, ...]
    exported_at: datetime

    @property
    def key(self) -> str:
        return manifest_key(self.day, self.generation)

    @property
    def total(self) -> Checksum:
        return Checksum(self.row_count, self.checksum)

    @property
    def size(self) -> int:
        return sum(p.bytes for p in self.parts)

    def to_json(self) -> bytes:
        start = datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC)
        document = {
            "format": MANIFEST_FORMAT,
            "table": PARENT,
            "day": self.day.isoformat(),
            "generation": self.generation,
            "partition": self.partition,
            "range": {"start": start.isoformat(), "end": (start + _ONE_DAY).isoformat()},
            "encoding": {
                "format": "json-lines",
                "compression": "gzip",
                "columns": list(LOG_COLUMNS),
                "timestamps": "ISO 8601, UTC",
                "json_columns_as_text": [n for n, t in column_sql_types().items() if t == "jsonb"],
            },
            "row_count": self.row_count,
            # A string: JSON readers that use doubles would round a 64-bit value.
            "checksum": {"algorithm": CHECKSUM_ALGORITHM, "value": str(self.checksum)},
            "parts": [
                {"key": p.key, "rows": p.rows, "bytes": p.bytes, "sha256": p.sha256, "checksum": str(p.checksum)}
                for p in self.parts
            ],
            "exported_at": self.exported_at.isoformat(),
        }
        return json.dumps(document, indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes, key: str) -> Manifest:
        try:
            doc = json.loads(data)
            if doc.get("format") != MANIFEST_FORMAT:
                raise ArchiveError(f"{key}: unknown manifest format {doc.get('format')!r}")
            if doc["checksum"]["algorithm"] != CHECKSUM_ALGORITHM:
                raise ArchiveError(f"{key}: unknown checksum algorithm {doc['checksum']['algorithm']!r}")
            parts = tuple(
                PartEntry(str(p["key"]), int(p["rows"]), int(p["bytes"]), str(p["sha256"]), int(p["checksum"]))
                for p in doc["parts"]
            )
            return cls(
                day=date.fromisoformat(doc["day"]),
                generation=int(doc["generation"]),
                partition=str(doc["partition"]),
                row_count=int(doc["row_count"]),
                checksum=int(doc["checksum"]["value"]),
                parts=parts,
                exported_at=datetime.fromisoformat(doc["exported_at"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ArchiveError(f"{key}: not a readable archive manifest ({exc})") from None


def read_manifest(store: ObjectStore, key: str) -> Manifest:
    return Manifest.from_json(read_object(store, key), key)


def day_manifests(store: ObjectStore, day: date) -> list[Manifest]:
    """Every generation's manifest for `day`, oldest first."""
    prefix = day_prefix(day)
    keys = [info.key for info in store.list(prefix + "_manifest")]
    found = [read_manifest(store, key) for key in keys if key.endswith(".json")]
    return sorted(found, key=lambda m: m.generation)


def read_object(store: ObjectStore, key: str) -> bytes:
    """One whole object; parts are bounded by PartLimits, so this is bounded too."""
    with store.open(key) as fh:
        return fh.read()


def part_lines(data: bytes) -> Iterator[bytes]:
    """The part's JSON lines, split at \\n only (U+2028 may appear inside a line), read 1 MiB at a time."""
    with gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as fh:
        rest = b""
        while chunk := fh.read(1 << 20):
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            yield from (line for line in lines if line)
        if rest:
            yield rest


# The export writes columns in LOG_COLUMNS order, so a line starts with these keys; reading just
# them is ~3x faster than json.loads. Any other line (a future column order) is parsed in full.
_KEY_PREFIX = re.compile(rb'^\{"event_id":"([0-9a-f-]{36})","received_at":"[^"]*","created_at":"([^"]+)"')


def line_key(line: bytes) -> tuple[datetime, str]:
    """(created_at, event_id text) of one archived JSON line."""
    match = _KEY_PREFIX.match(line)
    if match is not None:
        return datetime.fromisoformat(match.group(2).decode()), match.group(1).decode()
    row = json.loads(line)
    return datetime.fromisoformat(row["created_at"]), str(uuid.UUID(row["event_id"]))


def part_checksum(data: bytes) -> Checksum:
    rows = value = 0
    for line in part_lines(data):
        rows += 1
        value += row_hash(*line_key(line))
    return Checksum(rows, value % _MOD64)


def _read_if_present(store: ObjectStore, key: str) -> bytes | None:
    try:
        return read_object(store, key)
    except ObjectMissing:
        return None


def part_problem(part: PartEntry, data: bytes | None) -> str | None:
    """Why a stored part (None: missing) does not match its manifest entry, or None when it does."""
    if data is None:
        return f"{part.key} is missing"
    if len(data) != part.bytes or hashlib.sha256(data).hexdigest() != part.sha256:
        return f"{part.key} has changed since it was written ({len(data)} bytes, manifest says {part.bytes})"
    found = part_checksum(data)
    if found != Checksum(part.rows, part.checksum):
        return f"{part.key} holds {found.rows} rows (checksum {found.value}), its manifest entry says {part.rows}"
    return None


def manifest_problem(store: ObjectStore, manifest: Manifest) -> str | None:
    """Re-read every part from the store and check it against the manifest."""
    # The next part downloads while this one is checked: two parts in memory at most.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive-verify") as pool:
        parts = list(manifest.parts)
        upcoming = pool.submit(_read_if_present, store, parts[0].key) if parts else None
        for index, part in enumerate(parts):
            assert upcoming is not None
            data = upcoming.result()
            if index + 1 < len(parts):
                upcoming = pool.submit(_read_if_present, store, parts[index + 1].key)
            problem = part_problem(part, data)
            if problem is not None:
                return problem
    parts_total = total_of(Checksum(p.rows, p.checksum) for p in manifest.parts)
    if parts_total != manifest.total:
        return f"{manifest.key}: its parts add up to {parts_total.rows} rows, it says {manifest.row_count}"
    return None


def open_archive_store(home: Path, bucket: str | None = None, *, s3_client: Any = None) -> ObjectStore:
    """S3 `bucket` when given (checked to exist), else the directory LOGLENS_HOME/archive."""
    if not bucket:
        return LocalObjectStore(home)  # keys start with archive/, so files land in LOGLENS_HOME/archive
    if s3_client is None:
        from loglens.aws import client

        s3_client = client("s3")
    store = S3ObjectStore(bucket, s3_client)
    check_bucket(store)
    return store


def check_bucket(store: S3ObjectStore) -> None:
    """Fail before any work when the bucket is missing, naming it (a ListObjects under archive/,
    which is what the archive function's IAM policy allows)."""
    from botocore.exceptions import ClientError

    try:
        next(iter(store.list(ARCHIVE_PREFIX)), None)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
            raise ArchiveStoreMissing(
                f"archive bucket {store.bucket!r} does not exist; create it or point "
                "LOGLENS_ARCHIVE_BUCKET / --bucket (ARCHIVE_BUCKET in AWS) at an existing one"
            ) from None
        raise


def describe_store(store: ObjectStore) -> str:
    if isinstance(store, S3ObjectStore):
        return f"s3://{store.bucket}/{ARCHIVE_PREFIX}"
    if isinstance(store, LocalObjectStore):
        return str(store.root / ARCHIVE_PREFIX)
    return type(store).__name__


@dataclass(frozen=True)
class _PartEnd:
    rows: int
    checksum: int


class _PartWriter:
    """Gzip JSON-lines parts of bounded size, each uploaded as soon as it is full.

    Compression and upload run in one background thread (zlib releases the GIL) fed through a
    short queue, so they overlap with fetching rows; the queue bounds memory to a few chunks.
    Use it as a context manager: leaving the block stops the thread whatever happened.
    """

    _CHUNK_BYTES = 256 * 1024  # lines reach gzip in chunks: one call per line is slow
    _QUEUE_CHUNKS = 8
    _COMPRESS_LEVEL = 5  # measured on demo rows: 69 MB/s, 7.4x; level 6 is 56 MB/s for 5% less

    def __init__(
        self, store: ObjectStore, day: date, generation: int, limits: PartLimits, done: Sequence[PartEntry] = ()
    ) -> None:
        self._store = store
        self._day = day
        self._generation = generation
        self._limits = limits
        self.parts: list[PartEntry] = list(done)  # written by an interrupted export; numbering continues
        self._queue: queue.Queue[bytes | _PartEnd | None] = queue.Queue(maxsize=self._QUEUE_CHUNKS)
        self._failure: BaseException | None = None
        self._pending: list[bytes] = []
        self._pending_bytes = self._rows = self._bytes = self._checksum = 0
        self._thread = threading.Thread(target=self._compress_and_upload, name="archive-parts", daemon=True)
        self._thread.start()

    def __enter__(self) -> _PartWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._thread.is_alive():
            self._send(None)
            self._thread.join()

    def add(self, hash64: int, line: str) -> bool:
        """Queue one row; True when it completed a part."""
        data = line.encode()
        self._pending.append(data)
        self._pending_bytes += len(data) + 1
        self._rows += 1
        self._bytes += len(data) + 1
        self._checksum += hash64
        if self._pending_bytes >= self._CHUNK_BYTES:
            self._send_pending()
        if self._rows >= self._limits.max_rows or self._bytes >= self._limits.max_bytes:
            self._end_part()
            return True
        return False

    def finish(self) -> list[PartEntry]:
        """Upload the last part, wait for every upload, and return the parts in order."""
        if self._rows:
            self._end_part()
        self._send(None)
        self._thread.join()
        if self._failure is not None:
            raise self._failure
        return self.parts

    def _send_pending(self) -> None:
        if self._pending:
            self._send(b"\n".join(self._pending) + b"\n")
            self._pending.clear()
            self._pending_bytes = 0

    def _end_part(self) -> None:
        self._send_pending()
        self._send(_PartEnd(self._rows, self._checksum % _MOD64))
        self._rows = self._bytes = self._checksum = 0

    def _send(self, item: bytes | _PartEnd | None) -> None:
        while True:
            if self._failure is not None:  # the uploader has stopped: nobody will take the item
                if item is None:
                    return
                raise self._failure
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def _compress_and_upload(self) -> None:
        try:
            buffer = io.BytesIO()
            packer = gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=self._COMPRESS_LEVEL, mtime=0)
            while (item := self._queue.get()) is not None:
                if isinstance(item, bytes):
                    packer.write(item)
                    continue
                packer.close()
                data = buffer.getvalue()
                key = part_key(self._day, self._generation, len(self.parts))
                self._store.put(key, data)
                digest = hashlib.sha256(data).hexdigest()
                self.parts.append(PartEntry(key, item.rows, len(data), digest, item.checksum))
                buffer = io.BytesIO()
                packer = gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=self._COMPRESS_LEVEL, mtime=0)
        except BaseException as exc:  # handed to the exporting thread, which raises it
            self._failure = exc


def _export_query(table: str, *, resume: bool) -> sql.Composed:
    # JSON is built by PostgreSQL (row_to_json): one text value per row instead of 33 parsed ones.
    # jsonb columns become JSON text, which the Athena table reads as a string (json_extract).
    types = column_sql_types()
    columns = sql.SQL(", ").join(
        sql.SQL("{0}::text AS {0}").format(sql.Identifier(name)) if types[name] == "jsonb" else sql.Identifier(name)
        for name in LOG_COLUMNS
    )
    # Each row's hash comes from PostgreSQL too (work done in the server process, in parallel);
    # verification recomputes every one in Python from the stored bytes, so the two must agree.
    return sql.SQL(
        "SELECT " + _ROW_HASH_SQL + ", row_to_json(r)::text "
        "FROM (SELECT {columns} FROM {table} WHERE created_at >= %s AND created_at < %s{after}) r "
        "ORDER BY r.created_at, r.event_id"  # primary-key order: a re-export writes the same parts
    ).format(
        columns=columns,
        table=sql.Identifier(table),
        after=sql.SQL(" AND (created_at, event_id) > (%s, %s::uuid)" if resume else ""),
    )


def export_day(
    conn: psycopg.Connection[Any],
    store: ObjectStore,
    *,
    table: str,
    partition: str,
    day: date,
    generation: int,
    limits: PartLimits = PartLimits(),
    progress: Progress | None = None,
    resume: bool = False,
    should_pause: Callable[[], bool] | None = None,
) -> Manifest:
    """Stream one UTC day of `table` into parts, then write its manifest (last, so a manifest
    exists only for a complete set of parts).

    `resume` keeps the complete parts an interrupted export left (objects appear whole or not at
    all) and continues after the last row they hold; verification catches the case where rows
    changed meanwhile, and exports again from scratch. `should_pause` is asked after each part;
    True stops with ExportPaused, the parts so far uploaded.
    """
    progress = progress or NoProgress()
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    done, last_key = _complete_parts(store, day, generation) if resume else ([], None)
    params: tuple[Any, ...] = (start, start + _ONE_DAY, *(last_key or ()))
    progress.advance(sum(p.rows for p in done))
    # A named cursor is a server-side cursor: PostgreSQL hands rows over FETCH_ROWS at a time.
    with (
        _PartWriter(store, day, generation, limits, done) as writer,
        conn.transaction(),
        conn.cursor(name=f"archive_export_{generation}") as cur,
    ):
        cur.itersize = FETCH_ROWS
        cur.execute(_export_query(table, resume=last_key is not None), params)
        since_report = 0
        for hash64, line in cur:
            part_done = writer.add(hash64, line)
            since_report += 1
            if since_report == FETCH_ROWS:
                progress.advance(since_report)
                since_report = 0
            if part_done and should_pause is not None and should_pause():
                raise ExportPaused(f"export of {table} paused after {len(writer.parts) + 1} part(s) of {day}")
        progress.advance(since_report)
        parts = writer.finish()
    _clear_stale_parts(store, day, generation, {p.key for p in parts})
    total = total_of(Checksum(p.rows, p.checksum) for p in parts)
    manifest = Manifest(day, generation, partition, total.rows, total.value, tuple(parts), datetime.now(UTC))
    store.put(manifest.key, manifest.to_json())
    return manifest


def _complete_parts(store: ObjectStore, day: date, generation: int) -> tuple[list[PartEntry], tuple[Any, ...] | None]:
    """Parts 0, 1, … of an interrupted export, and the key of the last row they hold."""
    done: list[PartEntry] = []
    last: tuple[Any, ...] | None = None
    while True:
        key = part_key(day, generation, len(done))
        data = _read_if_present(store, key)
        if data is None or data == _EMPTY_PART:
            return done, last
        rows = value = 0
        for line in part_lines(data):
            created_at, event_id = line_key(line)
            rows += 1
            value += row_hash(created_at, event_id)
            last = (created_at, event_id)
        done.append(PartEntry(key, rows, len(data), hashlib.sha256(data).hexdigest(), value % _MOD64))


def _clear_stale_parts(store: ObjectStore, day: date, generation: int, keep: set[str]) -> None:
    """Parts left by an earlier, interrupted export that this one did not rewrite (it had more
    parts: rows were deleted since, or PartLimits changed). The archive role may not delete
    objects, so they are emptied: Athena and restore then read nothing from them."""
    stem = day_prefix(day) + _part_stem(generation)
    for info in list(store.list(stem)):
        if info.key not in keep and info.size != len(_EMPTY_PART):
            log.warning("emptying stale archive part %s", info.key)
            store.put(info.key, _EMPTY_PART)


@dataclass(frozen=True)
class LedgerEntry:
    partition: str
    generation: int
    start: datetime
    end: datetime
    state: State
    manifest_keys: tuple[str, ...]
    row_count: int
    checksum: int
    bytes: int
    detached_as: str | None

    @property
    def total(self) -> Checksum:
        return Checksum(self.row_count, self.checksum)


_LEDGER_COLUMNS: Final = (
    "partition_name, generation, range_start, range_end, state, manifest_keys, row_count, checksum, bytes, detached_as"
)


def ledger_entries(conn: psycopg.Connection[Any], start: datetime, end: datetime) -> list[LedgerEntry]:
    """Entries whose range overlaps [start, end), oldest generation first."""
    rows = conn.execute(
        f"SELECT {_LEDGER_COLUMNS} FROM archive_ledger WHERE range_start < %s AND range_end > %s "
        "ORDER BY generation, partition_name",
        (end, start),
    ).fetchall()
    return [_entry(row) for row in rows]


def unfinished_entries(conn: psycopg.Connection[Any]) -> list[LedgerEntry]:
    rows = conn.execute(
        f"SELECT {_LEDGER_COLUMNS} FROM archive_ledger WHERE state <> 'dropped' ORDER BY range_start, generation"
    ).fetchall()
    return [_entry(row) for row in rows]


def _entry(row: Sequence[Any]) -> LedgerEntry:
    name, generation, start, end, state, keys, rows, checksum, size, detached_as = row
    return LedgerEntry(name, generation, start, end, State(state), tuple(keys), rows, int(checksum), size, detached_as)


def _save_entry(conn: psycopg.Connection[Any], entry: LedgerEntry) -> None:
    conn.execute(
        f"""INSERT INTO archive_ledger ({_LEDGER_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (partition_name, generation) DO UPDATE SET
                state = EXCLUDED.state, manifest_keys = EXCLUDED.manifest_keys, row_count = EXCLUDED.row_count,
                checksum = EXCLUDED.checksum, bytes = EXCLUDED.bytes, detached_as = EXCLUDED.detached_as,
                updated_at = now()""",
        (
            entry.partition,
            entry.generation,
            entry.start,
            entry.end,
            str(entry.state),
            list(entry.manifest_keys),
            entry.row_count,
            Decimal(entry.checksum),
            entry.bytes,
            entry.detached_as,
        ),
    )


def active_holds(conn: psycopg.Connection[Any], now: datetime) -> dict[date, datetime]:
    """Days a restore asked to keep in PostgreSQL, and until when."""
    rows = conn.execute("SELECT day, hold_until FROM archive_holds WHERE hold_until > %s", (now,)).fetchall()
    return {day: until for day, until in rows}


@dataclass(frozen=True)
class ArchiveTarget:
    """One partition the run has to finish: past retention, or left unfinished by an earlier run."""

    name: str
    start: datetime
    end: datetime
    table: str | None  # the table holding its rows now: the partition, its detached copy, or none
    rows_estimate: int
    entry: LedgerEntry | None  # its latest ledger entry
    held_until: datetime | None

    def days(self) -> list[date]:
        return days_between(self.start, self.end)

    def next_steps(self) -> list[str]:
        state = None if self.entry is None else self.entry.state
        if state is None or state is State.DROPPED:
            return ["export", "verify", "detach", "drop"] if self.table else []
        return {
            State.EXPORTED: ["verify", "detach", "drop"],
            State.VERIFIED: ["detach", "drop"],
            State.DETACHED: ["re-check", "drop"],
        }[state]


def days_between(start: datetime, end: datetime) -> list[date]:
    """The UTC days in [start, end): one for a daily partition, seven for a weekly one."""
    first = start.astimezone(UTC).date()
    return [first + timedelta(days=n) for n in range((end - start).days)]


def retention_cutoff(now: datetime, retention_days: int) -> datetime:
    """Partitions ending at or before this UTC midnight are past retention."""
    day = now.astimezone(UTC).date() - timedelta(days=retention_days)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def plan_archive(conn: psycopg.Connection[Any], settings: Settings, now: datetime) -> list[ArchiveTarget]:
    cutoff = retention_cutoff(now, settings.retention_days)
    holds = active_holds(conn, now)
    latest: dict[str, LedgerEntry] = {}
    for entry in conn.execute(f"SELECT {_LEDGER_COLUMNS} FROM archive_ledger ORDER BY generation").fetchall():
        parsed = _entry(entry)
        latest[parsed.partition] = parsed
    targets: dict[str, ArchiveTarget] = {}
    for p in list_partitions(conn):
        if p.start is None or p.end is None or p.end > cutoff:
            continue
        targets[p.name] = ArchiveTarget(
            p.name, p.start, p.end, p.name, p.rows_estimate, latest.get(p.name), _held(holds, p.start, p.end)
        )
    for entry in unfinished_entries(conn):
        if entry.partition in targets or latest.get(entry.partition) != entry:
            continue
        table = entry.detached_as if entry.state is State.DETACHED else entry.partition
        exists = table is not None and _table_exists(conn, table)
        targets[entry.partition] = ArchiveTarget(
            entry.partition,
            entry.start,
            entry.end,
            table if exists else None,
            entry.row_count,
            entry,
            None,  # work already under way is finished whatever a later restore asked
        )
    return sorted(targets.values(), key=lambda t: (t.start, t.name))


def _held(holds: dict[date, datetime], start: datetime, end: datetime) -> datetime | None:
    until = [u for day, u in holds.items() if start.date() <= day < end.date()]
    return max(until) if until else None


def _table_exists(conn: psycopg.Connection[Any], table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (sql.Identifier(table).as_string(conn),)).fetchone()
    return bool(row and row[0])


def _is_attached(conn: psycopg.Connection[Any], table: str) -> bool:
    row = conn.execute(
        """SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'logs'::regclass AND c.relname = %s""",
        (table,),
    ).fetchone()
    return bool(row and row[0])


@dataclass
class PartitionOutcome:
    partition: str
    start: datetime
    end: datetime
    actions: list[str] = field(default_factory=list)
    rows: int = 0
    bytes: int = 0
    parts: int = 0
    seconds: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "actions": self.actions,
            "rows": self.rows,
            "bytes": self.bytes,
            "parts": self.parts,
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


@dataclass
class ArchiveResult:
    store: str
    dry_run: bool
    cutoff: datetime
    outcomes: list[PartitionOutcome] = field(default_factory=list)
    skipped: str | None = None  # why the whole run did nothing

    @property
    def failed(self) -> list[PartitionOutcome]:
        return [o for o in self.outcomes if o.error is not None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": "archive",
            "store": self.store,
            "dry_run": self.dry_run,
            "cutoff": self.cutoff.isoformat(),
            "partitions": [o.to_dict() for o in self.outcomes],
            "dropped": sum(1 for o in self.outcomes if "dropped" in o.actions),
            "rows": sum(o.rows for o in self.outcomes),
            "failed": len(self.failed),
            "skipped": self.skipped,
        }


StepHook = Callable[[str, State], None]


class Archiver:
    """One archive run: one autocommit connection acting as loglens_owner, one store."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        store: ObjectStore,
        settings: Settings,
        *,
        limits: PartLimits = PartLimits(),
        progress: Progress | None = None,
        after_step: StepHook | None = None,
        time_left: Callable[[], float] | None = None,
    ) -> None:
        if not conn.autocommit:
            raise ValueError("the archive needs an autocommit connection: each step is its own transaction")
        self.conn = conn
        self.store = store
        self.settings = settings
        self.limits = limits
        self.progress: Progress = progress or NoProgress()
        self._after_step = after_step
        self._time_left = time_left

    def run(self, *, now: datetime | None = None, dry_run: bool = False) -> ArchiveResult:
        now = now or datetime.now(UTC)
        result = ArchiveResult(describe_store(self.store), dry_run, retention_cutoff(now, self.settings.retention_days))
        locked = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_KEY,)).fetchone()
        if not locked or not locked[0]:
            result.skipped = "another archive run is in progress"
            return result
        try:
            for target in plan_archive(self.conn, self.settings, now):
                outcome = PartitionOutcome(target.name, target.start, target.end)
                result.outcomes.append(outcome)
                if dry_run:
                    outcome.actions = self._planned_actions(target)
                elif target.held_until is not None:
                    outcome.actions = [f"held until {target.held_until:%Y-%m-%d %H:%M} (restored)"]
                elif self._out_of_time():
                    outcome.actions = ["deferred to the next run (time limit)"]
                else:
                    self._archive_logged(target, outcome)
        finally:
            self.conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
        return result

    def _planned_actions(self, target: ArchiveTarget) -> list[str]:
        if target.held_until is not None:
            return [f"held until {target.held_until:%Y-%m-%d %H:%M} (restored)"]
        state = "new" if target.entry is None or target.entry.state is State.DROPPED else str(target.entry.state)
        steps = " → ".join(target.next_steps()) or "nothing"
        return [f"would {steps} (ledger: {state}; ~{target.rows_estimate} rows)"]

    def _out_of_time(self) -> bool:
        return self._time_left is not None and self._time_left() < _MIN_SECONDS_PER_PARTITION

    def _must_pause(self) -> bool:
        return self._time_left is not None and self._time_left() < _MIN_SECONDS_TO_CONTINUE

    def _archive_logged(self, target: ArchiveTarget, outcome: PartitionOutcome) -> None:
        started = time.perf_counter()
        try:
            self.archive(target, outcome)
        except ExportPaused as paused:
            outcome.actions.append(f"paused for the time limit; the next run resumes ({paused})")
        except Exception as exc:  # one partition's failure must not stop the others; the ledger resumes it
            log.exception("archiving %s failed", target.name)
            outcome.error = f"{type(exc).__name__}: {exc}"
        finally:
            outcome.seconds = time.perf_counter() - started

    def archive(self, target: ArchiveTarget, outcome: PartitionOutcome) -> None:
        """Take one partition from wherever its ledger entry stands to dropped."""
        entry = target.entry
        if entry is None or entry.state is State.DROPPED:
            if target.table is None:
                return
            entry = self._export_generation(target, outcome)
        if entry.state is State.EXPORTED:
            entry = self._verify(target, entry, outcome)
        if entry.state is State.VERIFIED:
            entry = self._detach(entry, outcome)
        if entry.state is State.DETACHED:
            self._drop(entry, outcome)

    def _step_done(self, entry: LedgerEntry, outcome: PartitionOutcome) -> None:
        outcome.actions.append(str(entry.state))
        outcome.rows, outcome.bytes = entry.row_count, entry.bytes
        if self._after_step is not None:
            self._after_step(entry.partition, entry.state)

    def _export_generation(self, target: ArchiveTarget, outcome: PartitionOutcome) -> LedgerEntry:
        assert target.table is not None
        earlier = ledger_entries(self.conn, target.start, target.end)
        generation = max((e.generation for e in earlier), default=-1) + 1
        archived = self._archived_manifests(target, earlier)
        current = table_checksum(self.conn, target.table, target.start, target.end)
        if archived and total_of(m.total for m in archived) == current:
            # A restored day whose hold ended: the archive already holds exactly these rows.
            manifests = archived
            outcome.actions.append("already archived")
        else:
            # No ledger entry yet: an earlier run may have died mid-export; keep its complete parts.
            manifests = self._export(
                target.table, target.name, target.days(), generation, target.rows_estimate, resume=True
            )
            outcome.parts = sum(len(m.parts) for m in manifests)
        entry = self._entry_for(target.name, generation, target.start, target.end, State.EXPORTED, manifests, None)
        _save_entry(self.conn, entry)
        self._step_done(entry, outcome)
        return entry

    def _archived_manifests(self, target: ArchiveTarget, earlier: list[LedgerEntry]) -> list[Manifest]:
        """Manifests of earlier, finished generations for this partition's days."""
        days = set(target.days())
        # A set: a generation that found its rows already archived points at an earlier one's manifests.
        keys = sorted({key for e in earlier if e.state is State.DROPPED for key in e.manifest_keys})
        out: list[Manifest] = []
        for key in keys:
            try:
                manifest = read_manifest(self.store, key)
            except ObjectMissing:
                return []  # the old copy is gone: archive these rows afresh
            if manifest.day in days:
                out.append(manifest)
        return out

    def _export(
        self, table: str, partition: str, days: list[date], generation: int, rows_estimate: int, *, resume: bool = False
    ) -> list[Manifest]:
        self.progress.begin(f"{partition} export", rows_estimate or None)
        try:
            return [
                export_day(
                    self.conn,
                    self.store,
                    table=table,
                    partition=partition,
                    day=day,
                    generation=generation,
                    limits=self.limits,
                    progress=self.progress,
                    resume=resume,
                    should_pause=self._must_pause,
                )
                for day in days
            ]
        finally:
            self.progress.end()

    @staticmethod
    def _entry_for(
        partition: str,
        generation: int,
        start: datetime,
        end: datetime,
        state: State,
        manifests: Sequence[Manifest],
        detached_as: str | None,
    ) -> LedgerEntry:
        total = total_of(m.total for m in manifests)
        keys = tuple(m.key for m in manifests)
        size = sum(m.size for m in manifests)
        return LedgerEntry(partition, generation, start, end, state, keys, total.rows, total.value, size, detached_as)

    def _verify(self, target: ArchiveTarget, entry: LedgerEntry, outcome: PartitionOutcome) -> LedgerEntry:
        table = target.table or entry.partition
        problem: str | None = None
        for _ in range(_VERIFY_ATTEMPTS):
            problem = self._verification_problem(table, entry)
            if problem is None:
                entry = replace(entry, state=State.VERIFIED)
                _save_entry(self.conn, entry)
                self._step_done(entry, outcome)
                return entry
            log.warning("archive of %s does not verify (%s); exporting it again", entry.partition, problem)
            outcome.actions.append(f"re-exported ({problem})")
            entry = self._reexport(table, entry, target.rows_estimate, outcome)
        raise VerificationFailed(f"{entry.partition}: {problem}")

    def _verification_problem(self, table: str, entry: LedgerEntry) -> str | None:
        self.progress.begin(f"{entry.partition} verify", len(entry.manifest_keys))
        try:
            manifests: list[Manifest] = []
            for key in entry.manifest_keys:
                try:
                    manifest = read_manifest(self.store, key)
                except ObjectMissing:
                    return f"{key} is missing"
                problem = manifest_problem(self.store, manifest)
                if problem is not None:
                    return problem
                manifests.append(manifest)
                self.progress.advance(1)
        finally:
            self.progress.end()
        archived = total_of(m.total for m in manifests)
        if archived != entry.total:
            return f"the manifests hold {archived.rows} rows, the ledger expected {entry.row_count}"
        stored = table_checksum(self.conn, table, entry.start, entry.end)
        if stored != archived:
            return f"{table} holds {stored.rows} rows (checksum {stored.value}), the archive {archived.rows}"
        return None

    def _reexport(self, table: str, entry: LedgerEntry, rows_estimate: int, outcome: PartitionOutcome) -> LedgerEntry:
        days = days_between(entry.start, entry.end)
        manifests = self._export(table, entry.partition, days, entry.generation, rows_estimate)
        outcome.parts = sum(len(m.parts) for m in manifests)
        fresh = self._entry_for(
            entry.partition, entry.generation, entry.start, entry.end, entry.state, manifests, entry.detached_as
        )
        _save_entry(self.conn, fresh)
        return fresh

    def _detach(self, entry: LedgerEntry, outcome: PartitionOutcome) -> LedgerEntry:
        name = entry.partition
        detached_as = f"{name}_detached"  # frees the name: maintain may need it again for late rows
        if _is_attached(self.conn, name) and not self._detach_concurrently(name):
            return self._detach_briefly_locking(entry, detached_as, outcome)
        with self.conn.transaction():
            self.conn.execute(
                sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(name), sql.Identifier(detached_as))
            )
            entry = replace(entry, state=State.DETACHED, detached_as=detached_as)
            _save_entry(self.conn, entry)
        self._step_done(entry, outcome)
        return entry

    def _detach_concurrently(self, name: str) -> bool:
        """DETACH ... CONCURRENTLY (no lock that blocks queries on logs); False when the server
        refuses it, as PostgreSQL does whenever the table has a DEFAULT partition, like ours."""
        pending = self.conn.execute(
            """SELECT i.inhdetachpending FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = 'logs'::regclass AND c.relname = %s""",
            (name,),
        ).fetchone()
        try:
            if pending and pending[0]:  # an earlier concurrent detach was interrupted half-way
                self.conn.execute(sql.SQL("ALTER TABLE logs DETACH PARTITION {} FINALIZE").format(sql.Identifier(name)))
            else:
                self.conn.execute(
                    sql.SQL("ALTER TABLE logs DETACH PARTITION {} CONCURRENTLY").format(sql.Identifier(name))
                )
        except psycopg.Error as exc:
            log.info("DETACH CONCURRENTLY of %s refused (%s); detaching with a short lock", name, exc)
            return False
        return True

    def _detach_briefly_locking(self, entry: LedgerEntry, detached_as: str, outcome: PartitionOutcome) -> LedgerEntry:
        """Plain DETACH takes an ACCESS EXCLUSIVE lock on logs for an instant (no rows are moved
        or scanned); lock_timeout keeps it from queueing queries behind a long one, retried a few
        times, then left to the next run."""
        name = sql.Identifier(entry.partition)
        for attempt in range(1, _DETACH_ATTEMPTS + 1):
            try:
                with self.conn.transaction():
                    self.conn.execute("SET LOCAL lock_timeout = '5s'")
                    self.conn.execute(sql.SQL("ALTER TABLE logs DETACH PARTITION {}").format(name))
                    self.conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(name, sql.Identifier(detached_as)))
                    entry = replace(entry, state=State.DETACHED, detached_as=detached_as)
                    _save_entry(self.conn, entry)
                break
            except psycopg.errors.LockNotAvailable:
                if attempt == _DETACH_ATTEMPTS:
                    raise
                time.sleep(attempt)
        self._step_done(entry, outcome)
        return entry

    def _drop(self, entry: LedgerEntry, outcome: PartitionOutcome) -> None:
        table = entry.detached_as or entry.partition
        if _table_exists(self.conn, table):
            entry = self._recheck_detached(table, entry, outcome)
            with self.conn.transaction():
                self.conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))
                entry = replace(entry, state=State.DROPPED)
                _save_entry(self.conn, entry)
        else:  # dropped by hand: the archive is all that is left
            entry = replace(entry, state=State.DROPPED)
            _save_entry(self.conn, entry)
        self._step_done(entry, outcome)

    def _recheck_detached(self, table: str, entry: LedgerEntry, outcome: PartitionOutcome) -> LedgerEntry:
        """Nothing can write to the detached table, so this check is final: rows that reached the
        partition after it was verified are archived now, before the table goes."""
        if table_checksum(self.conn, table, entry.start, entry.end) == entry.total:
            return entry
        outcome.actions.append("re-exported (rows arrived after verification)")
        entry = self._reexport(table, entry, entry.row_count, outcome)
        problem = self._verification_problem(table, entry)
        if problem is not None:
            raise VerificationFailed(f"{entry.partition}: {problem}")
        return entry


def archive_expired(
    conn: psycopg.Connection[Any],
    store: ObjectStore,
    settings: Settings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    limits: PartLimits = PartLimits(),
    progress: Progress | None = None,
    after_step: StepHook | None = None,
    time_left: Callable[[], float] | None = None,
) -> ArchiveResult:
    """Archive every partition past settings.retention_days, and finish any earlier run's work.

    `conn` is an autocommit connection acting as loglens_owner (see maintenance.owner_connection).
    """
    archiver = Archiver(
        conn, store, settings, limits=limits, progress=progress, after_step=after_step, time_left=time_left
    )
    return archiver.run(now=now, dry_run=dry_run)
