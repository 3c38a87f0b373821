"""`loglens replay`: load raw objects of a time range again, or re-drive the load DLQ."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from loglens.devtools.cli.output import error, table
from loglens.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from loglens.lake.forward import LakeSink


def _when(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def register(commands: Any) -> None:
    parser = commands.add_parser("replay", help="load raw objects of a time range again, or drain the load DLQ")
    parser.add_argument("--from", dest="start", type=_when, help="start of the range (ISO 8601, UTC if no zone)")
    parser.add_argument("--to", dest="end", type=_when, help="end of the range (default: now)")
    parser.add_argument("--bucket", help="the raw S3 bucket (default: the local spool under LOGLENS_HOME)")
    parser.add_argument("--dlq", metavar="QUEUE_URL", help="re-drive the messages in this SQS dead-letter queue")
    parser.add_argument(
        "--force",
        action="store_true",
        help="reload objects the ledger marks as loaded (stored records are still not duplicated)",
    )
    parser.set_defaults(handler=run)


def _local_lake_sinks(settings: Settings) -> Callable[[], LakeSink] | None:
    """A local replay forwards to the home's lake too, as `loglens dev`'s loader does (its dedup keeps one copy)."""
    from loglens.devtools.lake.wiring import buffer_sinks, lake_enabled

    return buffer_sinks(settings) if lake_enabled(settings) else None


def run(args: argparse.Namespace) -> int:
    from loglens.db.connect import ConnectionProvider
    from loglens.devtools.database import admin_url
    from loglens.ingest.envelope import sealer_from_env
    from loglens.ingest.notifications import Loader
    from loglens.ingest.objects import LocalObjectStore, ObjectStore, S3ObjectStore
    from loglens.ingest.privacy import redactor_from_env
    from loglens.ingest.replay import replay_dlq, replay_range

    if (args.dlq is None) == (args.start is None):
        error("give either --from (a time range of raw objects) or --dlq QUEUE_URL")
        return 2
    settings = Settings.from_env()
    url = admin_url(settings)
    store: ObjectStore
    if args.bucket:
        from loglens.aws import client

        store = S3ObjectStore(args.bucket, client("s3"))
    else:
        store = LocalObjectStore(settings.home / "spool")
    # Locally the key lives in LOGLENS_HOME; for a bucket, LOGLENS_ENVELOPE_KEY must be set (else lines
    # sealed by collect are validated in full and their server fields are not trusted).
    loader = Loader(
        store,
        ConnectionProvider(lambda: url, application="loglens-replay"),
        settings,
        redactor=redactor_from_env(),
        sealer=sealer_from_env(None if args.bucket else settings.home),
        lake=_local_lake_sinks(settings) if not args.bucket else None,
    )
    if args.dlq:
        if not args.bucket:
            error("--dlq needs --bucket: the messages name objects in the raw bucket")
            return 2
        from loglens.aws import client

        summary = replay_dlq(loader, client("sqs"), args.dlq)
    else:
        end = args.end or datetime.now(UTC)
        summary = replay_range(loader, args.start, end, force=args.force)
    table(
        "replay",
        ["objects", "already loaded", "rows loaded", "duplicates", "rejected", "failed"],
        [
            (
                summary.objects,
                summary.skipped,
                summary.loaded_rows,
                summary.duplicate_rows,
                summary.rejected_rows,
                len(summary.failed),
            )
        ],
    )
    for key in summary.failed:
        error(f"failed: {key}")
    return 1 if summary.failed else 0
