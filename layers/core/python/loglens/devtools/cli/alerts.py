"""`loglens alerts`: the incident detectors by hand.

    loglens alerts check [--since 72h] [--json]    replay the detectors over a period; nothing is stored or sent
    loglens alerts run                             one scheduled run: store incidents, print and send what is due
    loglens alerts digest [--day D] [--send]       yesterday's digest (printed; --send: to Slack/SNS as well)
    loglens alerts list [--json]                   incidents of the last days, as stored by the runs
    loglens alerts ack ID / mute SERVICE --for 2h / unmute SERVICE

They work against `loglens dev`'s embedded database or DATABASE_URL, as loglens_alerter.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from loglens.devtools.cli.output import error, table
from loglens.settings import Settings

if TYPE_CHECKING:
    from loglens.alerts.incidents import Incident

_DURATION = re.compile(r"^\s*(\d{1,5})\s*([mhdw])\s*$")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
MAX_SINCE = timedelta(days=30)


def duration(text: str) -> timedelta:
    """'90m', '72h', '3d', '1w'."""
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90m, 72h, 3d or 1w")
    value = int(match.group(1)) * _UNITS[match.group(2)]
    if value <= timedelta(0):
        raise argparse.ArgumentTypeError("the duration must be positive")
    return value


def register(commands: Any) -> None:
    parser = commands.add_parser("alerts", help="incident detection: check, run, digest, list, ack, mute")
    sub = parser.add_subparsers(dest="alerts_command", metavar="SUBCOMMAND", required=True)

    check = sub.add_parser("check", help="replay the detectors over a period and report the incidents")
    check.add_argument("--since", type=duration, default=timedelta(hours=72), help="how far back (default 72h)")
    check.add_argument("--json", action="store_true", help="print a JSON array of incidents")
    check.set_defaults(handler=check_command)

    run = sub.add_parser("run", help="one scheduled run: detect, store, print and send what is due")
    run.add_argument("--json", action="store_true", help="print the run's report as JSON")
    run.set_defaults(handler=run_command)

    digest = sub.add_parser("digest", help="yesterday's digest: volume, top and new errors, slow endpoints")
    digest.add_argument("--day", type=date.fromisoformat, metavar="YYYY-MM-DD", help="the UTC day (default yesterday)")
    digest.add_argument("--send", action="store_true", help="send it to the configured Slack/SNS channels too")
    digest.add_argument("--json", action="store_true", help="print it as JSON")
    digest.set_defaults(handler=digest_command)

    listing = sub.add_parser("list", help="the incidents the runs stored (open ones and the last days')")
    listing.add_argument("--since", type=duration, default=timedelta(days=7), help="how far back (default 7d)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=list_command)

    ack = sub.add_parser("ack", help="acknowledge an incident: no more updates, only its end")
    ack.add_argument("incident", type=int, help="the incident's number")
    ack.add_argument("--by", default="", help="who (default: $USER)")
    ack.set_defaults(handler=ack_command)

    mute = sub.add_parser("mute", help="stop sending a service's incidents for a while")
    mute.add_argument("service")
    mute.add_argument("--for", dest="length", type=duration, default=timedelta(hours=1), help="default 1h")
    mute.add_argument("--kind", choices=["error_rate", "new_error", "latency", "silence", "release"])
    mute.add_argument("--reason", default="")
    mute.add_argument("--by", default="")
    mute.set_defaults(handler=mute_command)

    unmute = sub.add_parser("unmute", help="end a service's mutes")
    unmute.add_argument("service")
    unmute.set_defaults(handler=unmute_command)


def _url(settings: Settings) -> str:
    from loglens.devtools.database import admin_url

    return admin_url(settings)


def _who(given: str) -> str:
    import getpass

    return given.strip() or getpass.getuser()


def incident_json(incident: Incident) -> dict[str, Any]:
    """What `check --json` and `list --json` print for one incident."""
    facts = incident.facts
    return {
        "id": incident.id,
        "kind": incident.kinds[0] if incident.kinds else None,
        "kinds": incident.kinds,
        "service": incident.service,
        "services": incident.services,
        "start": incident.started_at.isoformat(),
        "end": incident.end.isoformat(),
        "status": incident.status,
        "noticed_at": incident.opened_at.isoformat(),
        "summary": incident.summary,
        "cause": incident.cause,
        "explanation": incident.explanation,
        "changes": facts.get("changes", []),
        "top_errors": facts.get("top_errors", []),
        "affected": facts.get("affected", {}),
        "sql": facts.get("sql", []),
        "links": facts.get("links", {}),
    }


def check_command(args: argparse.Namespace) -> int:
    from loglens.alerts import explain
    from loglens.alerts.check import replay
    from loglens.alerts.settings import AlertSettings
    from loglens.devtools.local.alerts import alerter_connection

    if args.since > MAX_SINCE:
        error(f"--since may reach back at most {MAX_SINCE.days} days")
        return 2
    settings = Settings.from_env()
    alert_settings = AlertSettings.from_env()
    with alerter_connection(_url(settings)) as conn:
        result = replay(conn, alert_settings, since=args.since, now=datetime.now(UTC))
        for incident in result.incidents:
            incident.facts = explain.gather(conn, incident, alert_settings, result.facts)
            incident.summary = explain.summary_line(incident)
            incident.explanation = explain.templated(incident, incident.facts)
    incidents = sorted(result.incidents, key=lambda i: i.started_at)
    if args.json:
        print(json.dumps([incident_json(i) for i in incidents], indent=2, default=str))
        return 0
    if result.frontier is None:
        print("no logs yet")
        return 0
    rows = [
        (i.kinds[0] if i.kinds else "", i.service, f"{i.started_at:%m-%d %H:%M}", f"{i.end:%m-%d %H:%M}", i.status,
         i.summary)
        for i in incidents
    ]  # fmt: skip
    table(
        f"incidents in the {args.since} before {result.frontier:%Y-%m-%d %H:%M} UTC",
        ["kind", "service", "start", "end", "status", "summary"],
        rows,
    )
    return 0


def run_command(args: argparse.Namespace) -> int:
    from loglens.devtools.local.alerts import run_and_print

    settings = Settings.from_env()
    report = run_and_print(
        _url(settings), settings, write=(lambda text: print(text, file=sys.stderr)) if args.json else print
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    elif report.skipped:
        print(f"skipped: {report.skipped}")
    else:
        reached = f"{report.frontier:%Y-%m-%d %H:%M:%S}" if report.frontier else "?"
        print(f"evaluated {len(report.hours)} hours up to {reached} UTC in {report.seconds:.2f} s")
    return 0


def digest_command(args: argparse.Namespace) -> int:
    from loglens.alerts import digest as digest_module
    from loglens.devtools.local.alerts import alerter_connection, channels_from_env

    settings = Settings.from_env()
    now = datetime.now(UTC)
    with alerter_connection(_url(settings)) as conn:
        if args.send:
            channels = channels_from_env()
            if not channels:
                error("no channel: set LOGLENS_SLACK_WEBHOOK_URL (or a bot token) or LOGLENS_ALERT_SNS_TOPIC_ARN")
                return 2
            built, report = digest_module.run_digest(conn, now=now, channels=channels, day=args.day, force=True)
            if report.skipped:
                error(report.skipped)
        else:
            built = digest_module.build(conn, args.day or (now.date() - timedelta(days=1)))
    if built is None:
        return 1
    if args.json:
        print(json.dumps(built.to_dict(), indent=2, default=str))
    else:
        print(built.title)
        for name, body in built.sections:
            print(f"\n{name}\n{body or '(nothing)'}")
    return 0


def list_command(args: argparse.Namespace) -> int:
    from loglens.alerts import store
    from loglens.devtools.local.alerts import alerter_connection

    settings = Settings.from_env()
    with alerter_connection(_url(settings)) as conn:
        incidents = store.recent_incidents(conn, since=datetime.now(UTC) - args.since)
    if args.json:
        print(json.dumps([incident_json(i) for i in incidents], indent=2, default=str))
        return 0
    rows = [
        (i.id, i.service, i.status, f"{i.started_at:%m-%d %H:%M}", f"{i.end:%m-%d %H:%M}", i.acked_by or "", i.summary)
        for i in incidents
    ]
    table("incidents", ["#", "service", "status", "start", "end", "acked by", "summary"], rows)
    return 0


def ack_command(args: argparse.Namespace) -> int:
    from loglens.alerts import store
    from loglens.devtools.local.alerts import alerter_connection

    with alerter_connection(_url(Settings.from_env())) as conn:
        found = store.acknowledge(conn, args.incident, by=_who(args.by), at=datetime.now(UTC))
    if not found:
        error(f"no incident #{args.incident}")
        return 1
    print(f"incident #{args.incident} acknowledged")
    return 0


def mute_command(args: argparse.Namespace) -> int:
    from loglens.alerts import store
    from loglens.devtools.local.alerts import alerter_connection

    until = datetime.now(UTC) + args.length
    with alerter_connection(_url(Settings.from_env())) as conn:
        store.mute(conn, args.service, until=until, by=_who(args.by), reason=args.reason, kind=args.kind)
    print(f"{args.service} muted until {until:%Y-%m-%d %H:%M} UTC")
    return 0


def unmute_command(args: argparse.Namespace) -> int:
    from loglens.alerts import store
    from loglens.devtools.local.alerts import alerter_connection

    with alerter_connection(_url(Settings.from_env())) as conn:
        removed = store.unmute(conn, args.service)
    print(f"{removed} mute(s) of {args.service} ended")
    return 0
