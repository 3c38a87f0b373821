"""Where collect puts accepted lines: Amazon Data Firehose in AWS, a spool directory locally.

Both take Firehose records (whole NDJSON lines, sealed in blocks: see envelope.py) and either
accept all of them durably or raise SinkUnavailable, in which case collect answers 503 with
Retry-After and the client resends (event ids make that idempotent).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from loglens.ingest.limits import MAX_FIREHOSE_BATCH_BYTES, MAX_FIREHOSE_BATCH_RECORDS, MAX_FIREHOSE_RECORD_BYTES

if TYPE_CHECKING:  # the spool is local only: collect's cold start does not import it
    from loglens.ingest.segments import SegmentWriter


class SinkUnavailable(RuntimeError):
    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Sink(Protocol):
    def put(self, records: Sequence[bytes]) -> None: ...


def batches(records: Sequence[bytes]) -> list[list[bytes]]:
    """Group records into PutRecordBatch calls: at most 500 records and 4 MiB each."""
    out: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    for record in records:
        if current and (len(current) >= MAX_FIREHOSE_BATCH_RECORDS or size + len(record) > MAX_FIREHOSE_BATCH_BYTES):
            out.append(current)
            current, size = [], 0
        current.append(record)
        size += len(record)
    if current:
        out.append(current)
    return out


@dataclass
class FirehoseSink:
    """PutRecordBatch with retries of only the failed entries, with exponential backoff and jitter."""

    stream_name: str
    client: Any  # a boto3 Firehose client
    attempts: int = 4
    base_delay: float = 0.1
    sleep: Callable[[float], None] = time.sleep

    def put(self, records: Sequence[bytes]) -> None:
        for record in records:
            if len(record) > MAX_FIREHOSE_RECORD_BYTES:
                raise ValueError(f"a record of {len(record)} bytes is over Firehose's limit")
        for batch in batches(records):
            self._put_batch(batch)

    def _put_batch(self, records: list[bytes]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        pending = records
        last_error = ""
        for attempt in range(self.attempts):
            if attempt:
                self.sleep(random.uniform(0, self.base_delay * 2**attempt))  # noqa: S311 - jitter, not crypto
            try:
                response = self.client.put_record_batch(
                    DeliveryStreamName=self.stream_name, Records=[{"Data": r} for r in pending]
                )
            except (ClientError, BotoCoreError) as exc:
                last_error = str(exc)
                continue
            if not response.get("FailedPutCount"):
                return
            results = response.get("RequestResponses", [])
            failed = [rec for rec, res in zip(pending, results, strict=True) if res.get("ErrorCode")]
            codes = {res.get("ErrorCode") for res in results if res.get("ErrorCode")}
            last_error = f"{len(failed)} of {len(pending)} records refused ({', '.join(sorted(map(str, codes)))})"
            pending = failed
        raise SinkUnavailable(f"Firehose did not accept the records after {self.attempts} attempts: {last_error}")


@dataclass
class SpoolSink:
    """The local stand-in for Firehose → S3: records appended to the spool's open segment, durable
    (fsync'd) before put() returns; segments are closed by size or age and become raw/ objects
    (see segments.py).

    Buffering is the caller's choice, as Firehose's buffer hints are: `loglens dev` closes at 1 MiB
    or 200 ms; with `max_seconds` <= 0 (the default) every put is an object of its own.
    """

    root: Path
    max_bytes: int = 1 << 20
    max_seconds: float = 0.0
    on_closed: Callable[[], None] | None = None  # a segment is ready for the loader
    _writer: SegmentWriter = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from loglens.ingest.segments import SegmentWriter

        self._writer = SegmentWriter(self.root, self.max_bytes, self.max_seconds, self.on_closed)

    def put(self, records: Sequence[bytes]) -> None:
        try:
            self._writer.append(b"".join(records))
        except OSError as exc:
            raise SinkUnavailable(f"local spool is not writable: {exc}", retry_after=1) from exc

    def close(self) -> None:
        """Close the open segment (the loader takes it from there); later puts answer SinkUnavailable."""
        self._writer.close()


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file, fsync and rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
