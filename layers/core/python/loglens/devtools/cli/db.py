"""`loglens db start|stop|status|migrate|url`: the database, embedded or at DATABASE_URL."""

from __future__ import annotations

import argparse
from typing import Any

from loglens.devtools.cli.output import error, table
from loglens.settings import Settings


def register(commands: Any) -> None:
    parser = commands.add_parser("db", help="start, stop, migrate and inspect the database")
    sub = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    sub.add_parser("start", help="start the embedded PostgreSQL and apply migrations").set_defaults(handler=start)
    sub.add_parser("stop", help="stop the embedded PostgreSQL").set_defaults(handler=stop)
    sub.add_parser("status", help="show the server and the applied migrations").set_defaults(handler=status)
    sub.add_parser("migrate", help="apply pending migrations (safe to repeat)").set_defaults(handler=migrate)
    url = sub.add_parser("url", help="print a connection URL (contains a password)")
    # loglens_analyst is accepted only to say why it is not handed out (and what to use instead).
    url.add_argument(
        "--role",
        choices=["admin", "loglens_reader", "loglens_writer", "loglens_analyst"],
        default="admin",
        help="loglens_reader: the read-only login for people (psql, BI tools)",
    )
    url.set_defaults(handler=print_url)


def start(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if settings.database_url:
        error("DATABASE_URL is set, so there is no embedded server to start; use `loglens db migrate`")
        return 1
    return migrate(args)


def stop(args: argparse.Namespace) -> int:
    from loglens.devtools.database import embedded

    settings = Settings.from_env()
    stopped = embedded(settings).stop()
    print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
    return 0


def migrate(args: argparse.Namespace) -> int:
    from loglens.db.connect import describe
    from loglens.db.prepare import prepare
    from loglens.devtools.database import admin_url, embedded

    settings = Settings.from_env()
    url = admin_url(settings)
    result = prepare(url, settings)
    if not settings.database_url:
        embedded(settings).set_role_passwords(url)
    applied = ", ".join(f"{m.version:04d}_{m.name}" for m in result.applied) or "none (up to date)"
    print(f"database: {describe(url)}")
    print(f"migrations applied: {applied}")
    print(f"partitions created: {len(result.partitions.created)}")
    return 0


def status(args: argparse.Namespace) -> int:
    import psycopg

    from loglens.db.connect import connect, describe
    from loglens.db.migrate import applied, pending
    from loglens.devtools.database import embedded

    settings = Settings.from_env()
    if settings.database_url:
        url = settings.database_url
        print("server: DATABASE_URL")
    else:
        server = embedded(settings)
        info = server.status()
        print(
            f"server: embedded PostgreSQL {info['version'] or '-'} at 127.0.0.1:{info['port']}, "
            f"data {info['data_directory']}, {'running' if info['running'] else 'stopped'}"
        )
        if not info["running"]:
            return 0
        url = server.url()
    try:
        with connect(url) as conn:
            done = applied(conn)
            waiting = pending(conn)
    except psycopg.OperationalError as exc:
        error(f"cannot connect to {describe(url)}: {exc}")
        return 1
    rows = [(f"{m.version:04d}", m.name, m.applied_at.isoformat(timespec="seconds"), m.checksum[:12]) for m in done]
    rows += [(f"{m.version:04d}", m.name, "pending", m.checksum[:12]) for m in waiting]
    table("migrations", ["version", "name", "applied", "checksum"], rows)
    return 0


def print_url(args: argparse.Namespace) -> int:
    from loglens.devtools.database import embedded

    if args.role == "loglens_analyst":
        # A role may change its own settings and password; whoever held the agent's login could loosen the
        # agent's limits or lock it out. People get the reader, whose changes to itself reach nobody else.
        error(
            "loglens_analyst is the agent's own login and is not handed out; "
            "use `loglens db url --role loglens_reader` for a read-only connection"
        )
        return 2
    settings = Settings.from_env()
    if settings.database_url and args.role == "admin":
        print(settings.database_url)
        return 0
    if settings.database_url:
        error("role URLs are only known for the embedded server; set them up for your own database")
        return 1
    server = embedded(settings)
    if args.role == "admin":
        print(server.url())
        return 0
    if server.is_running():  # the password in the URL is the one the server has (a role may have changed its own)
        import psycopg

        try:
            server.set_role_passwords(server.url())
        except psycopg.Error as failure:
            error(f"the embedded database is not set up ({failure}); run `loglens db migrate` first")
            return 1
    print(server.role_url(args.role))
    return 0
