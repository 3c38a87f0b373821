"""Re-driving the load: raw/ objects of a time range, or the messages parked in the DLQ.

Safe to run any number of times: objects already in load_ledger are skipped, and records that
are already stored are recognised by their event ids even when `force` makes the ledger forget
an object.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from loglens.ingest.load import RAW_PREFIX, LoadResult
from loglens.ingest.notifications import Loader, ObjectRef, s3_refs
from loglens.ingest.objects import ObjectInfo, ObjectStore

log = logging.getLogger(__name__)


@dataclass
class ReplaySummary:
    objects: int = 0
    skipped: int = 0
    loaded_rows: int = 0
    duplicate_rows: int = 0
    rejected_rows: int = 0
    failed: list[str] = field(default_factory=list)

    def add(self, result: LoadResult | None) -> None:
        if result is None:
            return
        self.objects += 1
        self.skipped += int(result.skipped)
        self.loaded_rows += result.loaded
        self.duplicate_rows += result.duplicates
        self.rejected_rows += result.rejected


def raw_objects_between(store: ObjectStore, start: datetime, end: datetime) -> Iterator[ObjectInfo]:
    """Objects under raw/YYYY/MM/DD/HH/ (Firehose's time-keyed layout) for every hour in [start, end]."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    last = end.astimezone(UTC)
    while hour <= last:
        yield from store.list(f"{RAW_PREFIX}{hour:%Y/%m/%d/%H}/")
        hour += timedelta(hours=1)


def replay_range(
    loader: Loader,
    start: datetime,
    end: datetime,
    *,
    force: bool = False,
    progress: Callable[[ObjectInfo], None] | None = None,
) -> ReplaySummary:
    summary = ReplaySummary()
    for info in raw_objects_between(loader.store, start, end):
        if progress is not None:
            progress(info)
        if force:
            _forget(loader, info)
        try:
            summary.add(loader.load(ObjectRef(None, info.key, None)))
        except Exception as exc:
            log.warning("replaying %s failed: %s", info.key, exc)
            summary.failed.append(info.key)
    return summary


def _forget(loader: Loader, info: ObjectInfo) -> None:
    conn = loader.connections.get()
    with conn.transaction():
        conn.execute("DELETE FROM load_ledger WHERE object_key = %s", (info.key,))


def replay_dlq(loader: Loader, sqs: Any, queue_url: str, *, max_messages: int = 1000) -> ReplaySummary:
    """Load what each DLQ message names; delete a message only after all its objects loaded."""
    summary = ReplaySummary()
    handled = 0
    while handled < max_messages:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=300
        ).get("Messages", [])
        if not batch:
            break
        for message in batch:
            handled += 1
            try:
                body = json.loads(message.get("Body") or "{}")
                for ref in s3_refs(body):
                    summary.add(loader.load(ref))
            except Exception as exc:
                log.warning("DLQ message %s failed again: %s", message.get("MessageId"), exc)
                summary.failed.append(str(message.get("MessageId")))
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return summary
