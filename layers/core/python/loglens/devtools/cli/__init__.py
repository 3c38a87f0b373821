"""The `loglens` command. Each sub-command lives in its own module and registers itself here.

Heavy imports (psycopg, boto3, anthropic, rich) happen inside the commands, so `loglens --help`
stays instant. Every failure is one line on stderr (`--debug` adds the traceback), and the home
folder is found the same way for every command (loglens.devtools.home).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence

from loglens import __version__
from loglens.devtools.cli import alerts, ask, db, demo, dev, guard, lake, maintenance, partitions, query, replay
from loglens.devtools.cli import eval as eval_command
from loglens.devtools.cli.failures import describe_failure
from loglens.devtools.home import HomeError, require_home, resolve_home

Command = Callable[[argparse.Namespace], int]


def _needs_existing_home(args: argparse.Namespace) -> bool:
    """Commands that read a home's embedded database or keys, rather than create one."""
    if args.command == "demo":
        return not args.url
    # tail, sql and search talk HTTP and say themselves when no server can be found.
    if os.environ.get("DATABASE_URL") or args.command in ("dev", "guard", "tail", "sql", "search"):
        return False
    return not (args.command == "db" and args.db_command in ("start", "migrate"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loglens",
        description="Collect application logs and ask questions about them in plain language.",
    )
    parser.add_argument("--version", action="version", version=f"loglens {__version__}")
    parser.add_argument("--debug", action="store_true", help="print the traceback of a failure")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (db, partitions, maintenance, dev, demo, replay, ask, guard, lake, query, eval_command, alerts):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Command = args.handler
    try:
        home = resolve_home()
        if home.how == "running":
            print(f"loglens: using LOGLENS_HOME={home.path} (the running loglens dev)", file=sys.stderr)
        if _needs_existing_home(args):
            require_home(home)
        os.environ["LOGLENS_HOME"] = str(home.path)
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except HomeError as exc:
        print(f"loglens: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # one clear line; the traceback only when asked for
        if args.debug:
            traceback.print_exc()
        message, code = describe_failure(exc)
        hint = "" if args.debug else " (--debug shows the traceback)"
        print(f"loglens: {message}{hint}", file=sys.stderr)
        return code
