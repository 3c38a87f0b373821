"""`loglens dev`: run the whole system locally until interrupted."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from loglens.settings import Settings


def register(commands: Any) -> None:
    parser = commands.add_parser("dev", help="run loglens locally: embedded PostgreSQL, HTTP API, loader")
    parser.add_argument("--port", type=int, default=8000, help="HTTP port on 127.0.0.1 (default 8000; 0 picks one)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from loglens.devtools.local.stack import LocalStack, local_api_key

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    stack = LocalStack(settings, args.port, local_api_key(settings))
    try:
        url = stack.start()
    except OSError as exc:
        print(
            f"loglens dev: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}; another program has it: "
            f"choose another port (make dev PORT=8001, or loglens dev --port 0 for any free one)",
            file=sys.stderr,
        )
        return 1
    print(f"loglens dev: {url}", flush=True)
    print(
        f"  console: {stack.console_url}   (signs one browser in; `loglens console` prints the next link)", flush=True
    )
    print(f"  api key: {stack.api_key}   (send it as the x-api-key header)", flush=True)
    print(
        f"  try: curl -s -H 'x-api-key: {stack.api_key}' -H 'content-type: application/json' "
        f'-d \'{{"level":"INFO","service":"demo","message":"hello"}}\' {url}/api/v1/logs',
        flush=True,
    )
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    stack.stop()
    print("loglens dev: stopped", flush=True)
    return 0
