"""The archive's format: object layout, manifests, the row checksum, and reading parts back to verify them.

See loglens.lifecycle.archive for the design (format, checksum, ledger states).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import re
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import psycopg
from psycopg import sql

from loglens.db.partitions import PARENT
from loglens.ingest.objects import LocalObjectStore, ObjectMissing, ObjectStore, S3ObjectStore
from loglens.record import LOG_COLUMNS, column_sql_types

log = logging.getLogger(__name__)


ARCHIVE_PREFIX: Final = "archive/"
MANIFEST_FORMAT: Final = "loglens-archive/1"
CHECKSUM_ALGORITHM: Final = "sum mod 2^64 of md5(created_at_us|event_id)[0:8]"
MOD64: Final = 1 << 64
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
ONE_DAY: Final = timedelta(days=1)
_MICROSECOND: Final = timedelta(microseconds=1)
EMPTY_PART: Final = gzip.compress(b"", mtime=0)
# row_hash() in SQL: the first 8 bytes of the md5, read as a (signed) bigint; sums agree mod 2**64.
ROW_HASH_SQL: Final = (
    "('x' || left(md5((extract(epoch FROM created_at) * 1000000)::bigint::text || '|' || event_id::text), 16))"
    "::bit(64)::bigint"
)


_CHECKSUM_SQL: Final = f"""
    SELECT count(*), coalesce(sum({ROW_HASH_SQL}::numeric), 0)
    FROM {{table}} WHERE created_at >= %s AND created_at < %s"""


class ArchiveError(RuntimeError):
    """The archive cannot be written, read or trusted; the message says which object or table."""


class ArchiveStoreMissing(ArchiveError):
    """The configured bucket does not exist."""


class VerificationFailed(ArchiveError):
    """The archive and the table disagree; the partition is kept."""


@dataclass(frozen=True)
class Checksum:
    rows: int = 0
    value: int = 0

    def __add__(self, other: Checksum) -> Checksum:
        return Checksum(self.rows + other.rows, (self.value + other.value) % MOD64)


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
    return Checksum(int(rows), int(value) % MOD64)


def day_prefix(day: date) -> str:
    return f"{ARCHIVE_PREFIX}day={day.isoformat()}/"


def part_key(day: date, generation: int, index: int) -> str:
    return f"{day_prefix(day)}{part_stem(generation)}{index:05d}.json.gz"


def manifest_key(day: date, generation: int) -> str:
    suffix = "" if generation == 0 else f"-g{generation}"
    return f"{day_prefix(day)}_manifest{suffix}.json"


def part_stem(generation: int) -> str:
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
            "range": {"start": start.isoformat(), "end": (start + ONE_DAY).isoformat()},
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
    return Checksum(rows, value % MOD64)


def read_if_present(store: ObjectStore, key: str) -> bytes | None:
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
        upcoming = pool.submit(read_if_present, store, parts[0].key) if parts else None
        for index, part in enumerate(parts):
            assert upcoming is not None
            data = upcoming.result()
            if index + 1 < len(parts):
                upcoming = pool.submit(read_if_present, store, parts[index + 1].key)
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
