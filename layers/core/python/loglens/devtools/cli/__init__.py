"""The `loglens` command. Each sub-command lives in its own module and registers itself here.

Heavy imports (psycopg, boto3, anthropic, rich) happen inside the commands, so `loglens --help`
stays instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from loglens import __version__
from loglens.devtools.cli import ask, db, demo, dev, guard, maintenance, partitions, replay
from loglens.devtools.cli import eval as eval_command
from loglens.settings import ConfigError

Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loglens",
        description="Collect application logs and ask questions about them in plain language.",
    )
    parser.add_argument("--version", action="version", version=f"loglens {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (db, partitions, maintenance, dev, demo, replay, ask, guard, eval_command):
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Command = args.handler
    try:
        return handler(args)
    except ConfigError as exc:
        print(f"loglens: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
