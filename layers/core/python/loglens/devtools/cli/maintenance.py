"""`loglens maintain`, `loglens archive`, `loglens restore`: the scheduled jobs, run by hand.

The archive goes to the S3 bucket given by --bucket or LOGLENS_ARCHIVE_BUCKET, else to the
directory LOGLENS_HOME/archive. With the home's lake on (loglens.devtools.lake.wiring), partitions
are verified in the local lake instead of exported, and a day is restored from the lake when the
archive has none of it.
"""

from __future__ import annotations

import argparse
import os
from datetime import date
from types import TracebackType
from typing import TYPE_CHECKING, Any

from loglens.devtools.cli.output import error, table
from loglens.settings import Settings

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from loglens.ingest.objects import ObjectStore
    from loglens.lifecycle.archive import ArchiveResult, LakeTier

BUCKET_ENV = "LOGLENS_ARCHIVE_BUCKET"


def register(commands: Any) -> None:
    maintain = commands.add_parser(
        "maintain", help="create partitions ahead, move rows out of DEFAULT, refresh the summary views"
    )
    only = maintain.add_mutually_exclusive_group()
    only.add_argument("--views-only", action="store_true", help="only refresh the summary views (the hourly task)")
    only.add_argument("--partitions-only", action="store_true", help="only create partitions (the daily task)")
    maintain.set_defaults(handler=maintain_command)

    archive = commands.add_parser(
        "archive", help="export partitions past retention to the archive, verify, then detach and drop them"
    )
    archive.add_argument("--dry-run", action="store_true", help="say what would be done; change nothing")
    archive.add_argument("--bucket", help=f"S3 bucket (default ${BUCKET_ENV}; unset: LOGLENS_HOME/archive)")
    archive.set_defaults(handler=archive_command)

    restore = commands.add_parser("restore", help="bring an archived day back into PostgreSQL")
    restore.add_argument("--day", required=True, type=date.fromisoformat, metavar="YYYY-MM-DD", help="UTC day")
    restore.add_argument("--bucket", help=f"S3 bucket (default ${BUCKET_ENV}; unset: LOGLENS_HOME/archive)")
    restore.add_argument(
        "--keep-days", type=int, default=7, help="keep the day out of archiving for this many days (default 7)"
    )
    restore.add_argument(
        "--from",
        dest="source",
        choices=("archive", "lake"),
        help="where the day is (default: the archive when it has the day, else the lake when it is on)",
    )
    restore.set_defaults(handler=restore_command)


def maintain_command(args: argparse.Namespace) -> int:
    from rich.console import Console

    from loglens.devtools.database import admin_url
    from loglens.lifecycle.maintenance import Task, maintain, owner_connection

    task = Task.VIEWS if args.views_only else Task.PARTITIONS if args.partitions_only else Task.ALL
    settings = Settings.from_env()
    with Console(stderr=True).status(f"maintain: {task}…"), owner_connection(admin_url(settings)) as conn:
        report = maintain(conn, settings, task)
    rows: list[tuple[str, str, str]] = []
    if report.partitions is not None:
        for name in report.partitions.created:
            moved = report.partitions.moved_rows.get(name, 0)
            why = "rows waiting in DEFAULT" if name in report.partitions.from_default else "ahead"
            rows.append((f"partition {name}", f"created ({why}), analyzed", f"{moved} rows moved from DEFAULT"))
        if not report.partitions.created:
            rows.append(("partitions", "all present", ""))
    for view in report.views:
        how = "refreshed concurrently" if view.concurrently else "populated (first refresh)"
        rows.append((f"view {view.view}", how, f"{view.seconds:.2f} s"))
    table(f"maintain: {task}", ["object", "action", "detail"], rows)
    return 0


def _store(settings: Settings, bucket: str | None) -> ObjectStore:
    from loglens.lifecycle.archive import open_archive_store

    return open_archive_store(settings.home, bucket or os.environ.get(BUCKET_ENV) or None)


def archive_command(args: argparse.Namespace) -> int:
    from loglens.devtools.database import admin_url
    from loglens.lifecycle.archive import ArchiveError, archive_expired
    from loglens.lifecycle.maintenance import owner_connection

    settings = Settings.from_env()
    try:
        store = _store(settings, args.bucket)
    except ArchiveError as exc:
        error(str(exc))
        return 2
    with owner_connection(admin_url(settings), application="loglens-archive") as conn, RichProgress() as progress:
        result = archive_expired(
            conn, store, settings, dry_run=args.dry_run, progress=progress, lake=_lake_tier(settings)
        )
    _print_archive(result)
    if result.skipped:
        error(result.skipped)
    return 1 if result.failed else 0


def _print_archive(result: ArchiveResult) -> None:
    title = f"archive → {result.store} (before {result.cutoff:%Y-%m-%d})" + (" — dry run" if result.dry_run else "")
    rows: list[tuple[Any, ...]] = [
        (
            o.partition,
            f"{o.start:%Y-%m-%d} … {o.end:%Y-%m-%d}",
            ", ".join(o.actions) or "-",
            o.rows,
            o.parts or "",
            _size(o.bytes),
            f"{o.seconds:.1f} s",
            o.error or "",
        )
        for o in result.outcomes
    ]
    if not rows:
        rows.append(("(none)", "", "no partition is past retention", "", "", "", "", ""))
    table(title, ["partition", "range", "done", "rows", "parts", "size", "time", "error"], rows)


def _lake_tier(settings: Settings) -> LakeTier | None:
    """The local lake as the archive's copy, when the home has the lake on."""
    from loglens.devtools.lake.flush import flush
    from loglens.devtools.lake.wiring import lake_enabled, layout_of, local_lake
    from loglens.lifecycle.archive import LakeTier

    if not lake_enabled(settings):
        return None
    layout = layout_of(settings)
    return LakeTier(local_lake(settings), deliver_pending=lambda: flush(layout))


def restore_command(args: argparse.Namespace) -> int:
    from loglens.devtools.database import admin_url
    from loglens.lifecycle.archive import ArchiveError, day_manifests
    from loglens.lifecycle.maintenance import owner_connection
    from loglens.lifecycle.restore import restore_day
    from loglens.lifecycle.restore_lake import restore_day_from_lake

    settings = Settings.from_env()
    try:
        store = _store(settings, args.bucket)
        tier = _lake_tier(settings)
        source = args.source or ("lake" if tier is not None and not day_manifests(store, args.day) else "archive")
        if source == "lake" and tier is None:
            error("the lake is off for this home (LOGLENS_LAKE=off, or `loglens dev` never ran with it)")
            return 2
        with owner_connection(admin_url(settings), application="loglens-restore") as conn, RichProgress() as bar:
            if source == "lake" and tier is not None:
                result = restore_day_from_lake(
                    conn, tier.lake, settings, args.day, keep_days=args.keep_days, progress=bar
                )
            else:
                result = restore_day(conn, store, settings, args.day, keep_days=args.keep_days, progress=bar)
    except ArchiveError as exc:
        error(str(exc))
        return 1
    rows = [
        ("from", result.store),
        ("manifests / parts", f"{result.manifests} / {result.parts}"),
        ("rows in the archive", result.archived_rows),
        ("inserted", result.inserted),
        ("already present", result.duplicates),
        ("partitions created", ", ".join(result.partitions_created) or "-"),
        ("verified by", result.verified_by),
        ("kept from archiving until", f"{result.held_until:%Y-%m-%d %H:%M} UTC"),
    ]
    table(f"restored {result.day}", ["", ""], rows)
    return 0


def _size(n: int) -> str:
    if not n:
        return ""
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


class RichProgress:
    """loglens.lifecycle.archive.Progress drawn as rich progress bars on stderr (one bar per step)."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bars: Progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        self._bars.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._bars.stop()

    def begin(self, label: str, total: int | None) -> None:
        self._task = self._bars.add_task(label, total=total)

    def advance(self, rows: int) -> None:
        if self._task is not None and rows:
            self._bars.advance(self._task, rows)

    def end(self) -> None:
        if self._task is not None:
            done = next(t.completed for t in self._bars.tasks if t.id == self._task)
            self._bars.update(self._task, total=done, completed=done)  # estimates were only estimates
            self._task = None
