"""`loglens dev`: the whole system on one machine (for now: the database, migrated)."""

from __future__ import annotations

import argparse
from typing import Any

from loglens.cli import db


def register(commands: Any) -> None:
    parser = commands.add_parser("dev", help="run loglens locally with an embedded PostgreSQL")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port on 127.0.0.1 (default 8000)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    return db.migrate(args)
