"""`loglens partitions ensure|list`."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, timedelta
from typing import Any

from loglens.devtools.cli.output import table
from loglens.settings import Settings


def register(commands: Any) -> None:
    parser = commands.add_parser("partitions", help="create and list the daily partitions of `logs`")
    sub = parser.add_subparsers(dest="partitions_command", metavar="ACTION", required=True)
    ensure = sub.add_parser("ensure", help="create missing partitions (today and the days ahead)")
    ensure.add_argument("--from", dest="first", type=date.fromisoformat, help="first day (default today, UTC)")
    ensure.add_argument("--days-ahead", type=int, help="days after today (default LOGLENS_PARTITION_DAYS_AHEAD)")
    ensure.set_defaults(handler=ensure_command)
    sub.add_parser("list", help="list partitions with their ranges and sizes").set_defaults(handler=list_command)


def ensure_command(args: argparse.Namespace) -> int:
    from loglens.db.connect import connect
    from loglens.db.partitions import ensure_partitions
    from loglens.devtools.database import admin_url

    settings = Settings.from_env()
    today = datetime.now(UTC).date()
    first = args.first or today
    last = today + timedelta(days=args.days_ahead if args.days_ahead is not None else settings.partition_days_ahead)
    with connect(admin_url(settings), autocommit=True) as conn:
        conn.execute("SET ROLE loglens_owner")
        result = ensure_partitions(conn, first, max(first, last), settings.partition_granularity)
    rows = [(name, result.moved_rows.get(name, 0)) for name in result.created]
    table(f"created {len(rows)} partition(s)", ["partition", "rows moved from DEFAULT"], rows)
    return 0


def list_command(args: argparse.Namespace) -> int:
    from loglens.db.connect import connect
    from loglens.db.partitions import list_partitions
    from loglens.devtools.database import admin_url

    settings = Settings.from_env()
    with connect(admin_url(settings)) as conn:
        found = list_partitions(conn)
    rows = [
        (
            p.name,
            "DEFAULT" if p.is_default else f"{p.start:%Y-%m-%d %H:%M}",
            "" if p.end is None else f"{p.end:%Y-%m-%d %H:%M}",
            p.rows_estimate,
            f"{p.size_bytes / 1024:.0f} KiB",
        )
        for p in found
    ]
    table("partitions of logs", ["partition", "from", "to", "rows (est.)", "size"], rows)
    return 0
