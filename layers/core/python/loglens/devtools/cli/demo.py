"""`loglens demo`: fill a running loglens (local or deployed) with realistic logs through its HTTP API.

The records come from loglens.devtools.demo: several services over a few days with three incidents
worth asking about (a payment error spike, a search latency regression, a Safari-only checkout
error). They are sent like any client would: gzip batches to /api/v1/logs/batch with the API key.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

from loglens.devtools.cli.output import error, table
from loglens.settings import Settings


def register(commands: Any) -> None:
    parser = commands.add_parser("demo", help="send a few days of realistic demo logs to a running loglens")
    parser.add_argument("--url", help="loglens base URL (default: the running loglens dev of LOGLENS_HOME)")
    parser.add_argument("--api-key", help="API key (default: LOGLENS_API_KEY, else the local dev key)")
    parser.add_argument("--days", type=int, default=3, help="days of history ending now (1-29)")
    parser.add_argument("--records", type=int, default=20_000, help="how many records in all")
    parser.add_argument("--batch", type=int, default=500, help="records per request")
    parser.add_argument("--seed", type=int, default=7, help="the generator's seed (default 7)")
    parser.add_argument(
        "--incident-start",
        action="append",
        default=[],
        metavar="NAME=TIME",
        help="move an incident: payment_db_timeouts, search_latency_regression or safari_checkout_error, "
        "to start at an ISO time (UTC when no zone is given); repeatable",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the planted incidents (name, service, start, end) as JSON"
    )
    parser.add_argument(
        "--end",
        type=_moment,
        help="the end of the history (ISO 8601, UTC if no zone; default now): the same --end sends the same "
        "records again, as a client retrying its requests would",
    )
    parser.set_defaults(handler=run)


def _moves(values: list[str]) -> tuple[tuple[str, datetime], ...]:
    moves = []
    for value in values:
        name, sep, when = value.partition("=")
        if not sep:
            raise ValueError(f"--incident-start {value!r}: expected NAME=TIME")
        moment = datetime.fromisoformat(when.strip())
        moves.append((name.strip(), moment if moment.tzinfo else moment.replace(tzinfo=UTC)))
    return tuple(moves)


def incidents_json(plan: Any) -> list[dict[str, str]]:
    """The planted incidents as `loglens demo --json` prints them (a check can match alerts against them)."""
    return [
        {
            "name": i.name,
            "service": i.service,
            "start": i.start.isoformat(),
            "end": i.end.isoformat(),
            "description": i.description,
        }
        for i in plan.incidents()
    ]


def _moment(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _api_key(args: argparse.Namespace) -> str | None:
    if args.api_key:
        return str(args.api_key)
    if os.environ.get("LOGLENS_API_KEY"):
        return os.environ["LOGLENS_API_KEY"]
    path = Settings.from_env().home / "api-key"
    return path.read_text().strip() if path.exists() else None


def _base_url(args: argparse.Namespace) -> str | None:
    from loglens.devtools.home import running_server

    if args.url:
        return str(args.url).rstrip("/")
    server = running_server(Settings.from_env().home)
    return server.url if server else None


def _post(url: str, key: str, batch: list[dict[str, Any]]) -> dict[str, Any]:
    body = gzip.compress(json.dumps({"logs": batch}).encode())
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip", "x-api-key": key}
    for attempt in range(5):
        # run() allows only http(s) URLs, so no file: or custom scheme reaches urllib here.
        request = urllib.request.Request(f"{url}/api/v1/logs/batch", data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as exc:
            if exc.code not in (429, 500, 502, 503, 504) or attempt == 4:
                raise
            time.sleep(float(exc.headers.get("Retry-After") or 2**attempt))
    raise RuntimeError("unreachable")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from loglens.devtools.demo import DemoPlan, generate

    if not 1 <= args.days <= 29:
        error("--days must be between 1 and 29 (the server accepts events up to 30 days old)")
        return 2
    key = _api_key(args)
    if not key:
        error("no API key: pass --api-key, set LOGLENS_API_KEY, or start `loglens dev` once to create one")
        return 2
    url = _base_url(args)
    if url is None:
        home = Settings.from_env().home
        error(
            f"no loglens dev is running with LOGLENS_HOME={home}: start `make dev` (or `loglens dev`), "
            "or pass --url for a deployed stack"
        )
        return 1
    if not url.startswith(("http://", "https://")):
        error(f"--url must be an http(s) URL, not {url!r}")
        return 2
    try:
        plan = DemoPlan(
            end=args.end or datetime.now(UTC),
            days=args.days,
            records=args.records,
            seed=args.seed,
            incident_starts=_moves(args.incident_start),
        )
    except ValueError as exc:
        error(str(exc))
        return 2
    accepted = rejected = 0
    batch: list[dict[str, Any]] = []
    # With --json, stdout carries only the JSON; progress and tables go to stderr.
    console = Console(stderr=True) if args.json else None
    try:
        with Progress(console=console) as progress:
            task = progress.add_task("sending demo logs", total=args.records)
            for record in generate(plan):
                batch.append(record)
                if len(batch) >= args.batch:
                    answer = _post(url, key, batch)
                    accepted += int(answer["accepted"])
                    rejected += len(answer["rejected"])
                    progress.advance(task, len(batch))
                    batch = []
            if batch:
                answer = _post(url, key, batch)
                accepted += int(answer["accepted"])
                rejected += len(answer["rejected"])
                progress.advance(task, len(batch))
    except (urllib.error.URLError, OSError) as exc:
        error(f"cannot send to {url}: {exc} (is `loglens dev` running?)")
        return 1
    if args.json:
        print(json.dumps(incidents_json(plan), indent=2))
        print(f"demo logs sent: {accepted} accepted, {rejected} rejected", file=sys.stderr)
        return 0 if rejected == 0 else 1
    table("demo logs sent", ["accepted", "rejected"], [(accepted, rejected)])
    rows = [
        (i.name, f"{i.start:%Y-%m-%d %H:%M}", f"{i.end:%Y-%m-%d %H:%M}", i.service, i.description)
        for i in plan.incidents()
    ]
    table("incidents planted (UTC)", ["incident", "from", "to", "service", "what"], rows)
    return 0 if rejected == 0 else 1
