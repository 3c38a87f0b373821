"""Turning the events that announce raw objects into object keys, and loading them.

The load Lambda is fed by an SQS queue that receives the raw bucket's S3 ObjectCreated
notifications (so a database outage backs the work up in the queue, and repeated failures
move a message to the DLQ). It also accepts plain S3 notification events, which is what
`loglens replay` and the tests send. A failed object fails only its own SQS message
(ReportBatchItemFailures); the others in the batch are not retried.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import psycopg

from loglens.db.connect import ConnectionProvider
from loglens.ingest.envelope import Sealer
from loglens.ingest.load import RAW_PREFIX, LoadResult, load_object
from loglens.ingest.objects import ObjectMissing, ObjectStore
from loglens.ingest.privacy import Redactor
from loglens.lake.forward import LakeSink
from loglens.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ObjectRef:
    bucket: str | None
    key: str
    version: str | None  # the S3 eTag, when the event carries it


def s3_refs(event: dict[str, Any]) -> Iterator[ObjectRef]:
    """Objects named by an S3 event notification (keys arrive URL-encoded, '+' for spaces)."""
    for record in event.get("Records") or []:
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        s3 = record.get("s3") or {}
        key = unquote_plus(str((s3.get("object") or {}).get("key", "")))
        if key.startswith(RAW_PREFIX):
            etag = (s3.get("object") or {}).get("eTag")
            yield ObjectRef((s3.get("bucket") or {}).get("name"), key, str(etag) if etag else None)


@dataclass
class Loader:
    store: ObjectStore
    connections: ConnectionProvider
    settings: Settings
    redactor: Redactor | None = None
    sealer: Sealer | None = None
    on_result: Callable[[LoadResult], None] | None = None
    # With the lake on: a fresh sink per object, which load_object feeds and flushes (loglens.lake.forward).
    lake: Callable[[], LakeSink] | None = None

    def load(self, ref: ObjectRef) -> LoadResult | None:
        """Load one object; None when it no longer exists (nothing to do). Raises on database errors."""
        try:
            info = self.store.head(ref.key)
        except ObjectMissing:
            log.warning("object %s is gone; nothing to load", ref.key)
            return None
        try:
            result = load_object(
                self.connections.get(),
                self.store,
                info,
                self.settings,
                redactor=self.redactor,
                sealer=self.sealer,
                lake=self.lake() if self.lake is not None else None,
            )
        except psycopg.OperationalError:
            self.connections.discard()  # a broken connection is replaced on the next attempt
            raise
        if self.on_result is not None:
            self.on_result(result)
        return result

    def handle_sqs_event(self, event: dict[str, Any]) -> dict[str, Any]:
        failures: list[dict[str, str]] = []
        for message in event.get("Records") or []:
            try:
                body = json.loads(message.get("body") or "{}")
                if body.get("Event") == "s3:TestEvent":
                    continue  # S3 sends one when the notification is configured
                for ref in s3_refs(body):
                    self.load(ref)
            except Exception:
                log.exception("loading the objects of message %s failed", message.get("messageId"))
                failures.append({"itemIdentifier": str(message.get("messageId"))})
        return {"batchItemFailures": failures}

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        """Either an SQS batch of S3 notifications or one S3 notification event."""
        records = event.get("Records") or []
        if records and records[0].get("eventSource") == "aws:sqs":
            return self.handle_sqs_event(event)
        results = [self.load(ref) for ref in s3_refs(event)]
        return {"loaded": [r.__dict__ for r in results if r is not None]}
