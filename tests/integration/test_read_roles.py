"""The read roles with their raw credentials, on the real PostgreSQL: every escape issue #17 measured.

loglens_analyst is the agent's login; loglens_reader is people's. With either one's password, after
`SET default_transaction_read_only = off`, nothing may last (large objects), nothing may block the migrator
(advisory locks), the temp-file and connection caps must hold, and the reader must not reach the agent's
role at all. What PostgreSQL cannot stop (a role altering its own defaults) must not loosen the agent,
which sets its own limits in every transaction, and the agent's login is not handed out.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from loglens.agent.tools import AnalystSession
from loglens.db.connect import ConnectionProvider, connect, with_user
from loglens.db.migrate import _LOCK_KEY, MigrationError, migrate
from loglens.db.read_roles import READ_ROLES, open_escapes
from loglens.devtools.embedded import EmbeddedPostgres
from tests.factories import insert_records, make_record

WRITABLE = "SET default_transaction_read_only = off"
LARGE_OBJECT_WRITES = [
    "SELECT lo_from_bytea(0, convert_to(repeat('x', 1024), 'UTF8')) FROM generate_series(1, 50)",
    "SELECT lo_create(0)",
    "SELECT lo_creat(-1)",
    "SELECT lo_import('/etc/hostname')",
    "SELECT lo_put(1, 0, 'x')",
    "SELECT lo_open(1, 131072)",
    "SELECT lowrite(0, 'x')",
    "SELECT lo_unlink(1)",
]
ADVISORY_LOCKS = [
    f"SELECT pg_advisory_lock({_LOCK_KEY})",
    f"SELECT pg_try_advisory_lock({_LOCK_KEY})",
    f"SELECT pg_advisory_lock_shared({_LOCK_KEY})",
    "SELECT pg_advisory_lock(1, 2)",
    f"BEGIN; SELECT pg_advisory_xact_lock({_LOCK_KEY}); COMMIT",
    f"SELECT pg_try_advisory_xact_lock({_LOCK_KEY})",
]


def run_raw(url: str, *texts: str) -> str | None:
    """Run statement strings in turn on one autocommit session over the simple protocol; the first error.

    Each string is its own transaction (stacked statements in one string share one implicit transaction,
    so a `SET default_transaction_read_only = off` must come as a string of its own to take effect).
    """
    try:
        with psycopg.connect(url, autocommit=True, cursor_factory=psycopg.ClientCursor, connect_timeout=10) as conn:
            for text in texts:
                conn.cursor().execute(text)
    except psycopg.Error as error:
        return f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"
    return None


def role_settings(admin_url: str, role: str) -> dict[str, list[str]]:
    """Every stored default of `role`: database name ('' for all databases) -> its settings."""
    with connect(admin_url) as conn:
        rows = conn.execute(
            """SELECT coalesce(d.datname, ''), s.setconfig FROM pg_db_role_setting s
               JOIN pg_roles r ON r.oid = s.setrole LEFT JOIN pg_database d ON d.oid = s.setdatabase
               WHERE r.rolname = %s""",
            (role,),
        ).fetchall()
    return {database: sorted(config) for database, config in rows}


@contextlib.contextmanager
def restored_role(admin_url: str, role: str) -> Iterator[None]:
    """Put a role's stored defaults and password back after a test let it tamper with them."""
    saved = role_settings(admin_url, role)
    try:
        yield
    finally:
        with connect(admin_url, autocommit=True) as conn:
            for database in {*saved, *role_settings(admin_url, role)}:
                scope = sql.SQL(" IN DATABASE {}").format(sql.Identifier(database)) if database else sql.SQL("")
                conn.execute(sql.SQL("ALTER ROLE {}{} RESET ALL").format(sql.Identifier(role), scope))
                for entry in saved.get(database, []):
                    name, _, value = entry.partition("=")
                    conn.execute(
                        sql.SQL("ALTER ROLE {}{} SET {} = {}").format(
                            sql.Identifier(role), scope, sql.Identifier(name), sql.Literal(value)
                        )
                    )
        assert role_settings(admin_url, role) == saved


@pytest.fixture(scope="module")
def prepared(db_url: str) -> str:
    with connect(db_url) as conn:
        insert_records(conn, [make_record(service="read-role-probe")])
        conn.commit()
    return db_url


@pytest.fixture(params=READ_ROLES)
def role_url(request: pytest.FixtureRequest, analyst_url: str, reader_url: str) -> str:
    return analyst_url if request.param == "loglens_analyst" else reader_url


def large_objects(admin_url: str) -> int:
    with connect(admin_url) as conn:
        row = conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()
    return int(row[0]) if row else -1


@pytest.mark.parametrize("statement", LARGE_OBJECT_WRITES)
def test_no_read_role_can_write_a_large_object_even_in_a_writable_transaction(
    prepared: str, role_url: str, statement: str
) -> None:
    # Given a raw session that has turned its default read-only transactions off
    before = large_objects(prepared)
    # When it writes large objects (50 KiB of them in one statement, the way 50 MiB went in 0.3 s)
    error = run_raw(role_url, WRITABLE, statement)
    # Then PostgreSQL refuses the function itself, and nothing was stored
    assert error is not None and "permission denied for function" in error, error
    assert large_objects(prepared) == before


@pytest.mark.parametrize("statement", ADVISORY_LOCKS)
def test_no_read_role_can_take_an_advisory_lock(prepared: str, role_url: str, statement: str) -> None:
    error = run_raw(role_url, statement)
    assert error is not None and "permission denied for function" in error, error


def test_the_migrator_is_not_blocked_and_names_whoever_holds_its_lock(prepared: str) -> None:
    # Given the migration lock held by a session that went idle (here: an admin's, which may take it)
    holder = connect(prepared, autocommit=True, application="stuck-holder")
    try:
        holder.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        # When a migration runs with a short wait
        with connect(prepared, autocommit=True) as conn, pytest.raises(MigrationError) as raised:
            migrate(conn, lock_wait_seconds=0.3)
        # Then it stops with the holder named instead of hanging
        assert "stuck-holder" in str(raised.value) and "still held" in str(raised.value)
    finally:
        holder.close()
    # And once the holder is gone it runs
    with connect(prepared, autocommit=True) as conn:
        assert migrate(conn, lock_wait_seconds=5) == []


def test_every_escape_function_is_closed_on_this_server(prepared: str) -> None:
    with connect(prepared) as conn:
        assert open_escapes(conn) == []


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER ROLE loglens_analyst SET statement_timeout = 0",
        "ALTER ROLE loglens_analyst SET default_transaction_read_only = off",
        "ALTER ROLE loglens_analyst RESET ALL",
        "ALTER ROLE loglens_analyst PASSWORD 'taken-over'",
        "ALTER ROLE loglens_analyst CONNECTION LIMIT -1",
        "GRANT loglens_reader TO loglens_analyst",
        "SET ROLE loglens_analyst",
        "SET SESSION AUTHORIZATION loglens_analyst",
    ],
)
def test_the_reader_cannot_touch_the_agents_role(prepared: str, reader_url: str, statement: str) -> None:
    before = role_settings(prepared, "loglens_analyst")
    error = run_raw(reader_url, WRITABLE, statement)
    assert error is not None and "InsufficientPrivilege" in error, error
    assert role_settings(prepared, "loglens_analyst") == before


def test_what_the_reader_changes_on_itself_stops_at_its_caps(prepared: str, reader_url: str) -> None:
    with restored_role(prepared, "loglens_reader"):
        # PostgreSQL lets a role change its own user settings, and they persist for its later sessions
        assert run_raw(reader_url, WRITABLE, "ALTER ROLE loglens_reader SET statement_timeout = 0") is None
        assert run_raw(reader_url, WRITABLE, "ALTER ROLE loglens_reader RESET ALL") is None
        # but not the superuser-only temp_file_limit (RESET ALL by the role itself keeps it) ...
        for statement in (
            "SET temp_file_limit = -1",
            "ALTER ROLE loglens_reader SET temp_file_limit = -1",
            "ALTER ROLE loglens_reader RESET temp_file_limit",
            "ALTER ROLE loglens_reader CONNECTION LIMIT 100",
            "ALTER ROLE loglens_reader CREATEROLE",
        ):
            error = run_raw(reader_url, WRITABLE, statement)
            assert error is not None and "InsufficientPrivilege" in error, (statement, error)
        with connect(reader_url) as conn:
            assert conn.execute("SHOW temp_file_limit").fetchone() == ("2GB",)
        with connect(prepared) as conn:
            row = conn.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = 'loglens_reader'").fetchone()
        assert row == (5,)


def test_the_temp_file_limit_stops_a_spilling_query_and_the_reader_cannot_lift_it(
    prepared: str, reader_url: str
) -> None:
    # Given a tiny cap set by the owner for this database (the same mechanism as the role's 2 GB)
    with restored_role(prepared, "loglens_reader"), connect(prepared, autocommit=True) as conn:
        database = sql.Identifier(str(conn.info.dbname))
        conn.execute(sql.SQL("ALTER ROLE loglens_reader IN DATABASE {} SET temp_file_limit = '1MB'").format(database))
        # When the reader tries to lift it, then sorts more than fits in memory
        lift = sql.SQL("ALTER ROLE loglens_reader IN DATABASE {} RESET ALL").format(database).as_string(conn)
        assert run_raw(reader_url, WRITABLE, lift) is None  # its own user settings go; the superuser-only cap stays
        error = run_raw(
            reader_url,
            "SET work_mem = '64kB'",
            "SELECT count(*) FROM (SELECT g FROM generate_series(1, 500000) g ORDER BY g DESC) s",
        )
        # Then PostgreSQL stops the query at the cap
        assert error is not None and "temp_file_limit" in error, error


def test_the_reader_has_a_connection_limit_of_its_own(prepared: str, reader_url: str) -> None:
    opened: list[psycopg.Connection[Any]] = []
    try:
        for _ in range(5):
            opened.append(connect(reader_url))
        with pytest.raises(psycopg.OperationalError, match="too many connections for role"):
            connect(reader_url).close()
    finally:
        for conn in opened:
            conn.close()


def test_the_reader_reads_what_the_analyst_reads_and_nothing_else(prepared: str, reader_url: str) -> None:
    with connect(reader_url) as conn:
        assert conn.execute("SHOW transaction_read_only").fetchone() == ("on",)
        assert conn.execute(
            "SELECT count(*) FROM logs WHERE service = 'read-role-probe' AND created_at > now() - interval '1 day'"
        ).fetchone() == (1,)
        for view in ("daily_log_summary", "error_patterns", "performance_metrics", "hourly_log_rollup"):
            conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(view)))
        conn.rollback()
    for statement in (
        "SELECT * FROM conversation_turns",
        "SELECT * FROM ask_answers",
        "SELECT * FROM load_ledger",
        "SELECT * FROM schema_migrations",
        "INSERT INTO logs (event_id) VALUES (gen_random_uuid())",
        "CREATE TEMP TABLE loot AS SELECT 1",
        "CREATE TABLE public.loot (a int)",
    ):
        error = run_raw(reader_url, WRITABLE, statement)
        assert error is not None and "InsufficientPrivilege" in error, (statement, error)


def test_a_view_granted_to_the_analyst_later_reaches_the_reader_with_the_next_migration(
    fresh_db_url: str, pg_admin_url: str
) -> None:
    from tests.conftest import READER_PASSWORD

    reader = with_user(fresh_db_url, "loglens_reader", READER_PASSWORD)
    with connect(fresh_db_url, autocommit=True) as conn:
        conn.execute("SET ROLE loglens_owner")
        conn.execute("CREATE VIEW later_view AS SELECT 1 AS one")
        conn.execute("GRANT SELECT ON later_view TO loglens_analyst")
        conn.execute("RESET ROLE")
        migrate(conn)
    with connect(reader) as conn:
        assert conn.execute("SELECT one FROM later_view").fetchone() == (1,)
    with connect(fresh_db_url, autocommit=True) as conn:
        conn.execute("REVOKE SELECT ON later_view FROM loglens_analyst")
        migrate(conn)
    assert "permission denied" in (run_raw(reader, "SELECT one FROM later_view") or "")


def test_the_agent_keeps_its_own_limits_when_its_role_was_tampered_with(prepared: str, analyst_url: str) -> None:
    # Given someone with the agent's raw credentials loosening every default of its role
    with restored_role(prepared, "loglens_analyst"):
        for statement in (
            "ALTER ROLE loglens_analyst RESET ALL",
            "ALTER ROLE loglens_analyst SET default_transaction_read_only = off",
            "ALTER ROLE loglens_analyst SET statement_timeout = 0",
            "ALTER ROLE loglens_analyst SET lock_timeout = 0",
            "ALTER ROLE loglens_analyst SET idle_in_transaction_session_timeout = 0",
            "ALTER ROLE loglens_analyst SET work_mem = '4GB'",
            "ALTER ROLE loglens_analyst SET search_path = pg_catalog",
            "ALTER ROLE loglens_analyst SET TimeZone = 'Asia/Seoul'",
        ):
            assert run_raw(analyst_url, WRITABLE, statement) is None, statement
        # When the agent opens its transactions (a new connection picks the tampered defaults up)
        session = AnalystSession(ConnectionProvider(lambda: analyst_url), statement_timeout_ms=1500, work_mem_mb=16)
        try:
            with session.read_only_transaction() as conn:
                shown = {
                    name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
                    for name in ("transaction_read_only", *session.limits(), "temp_file_limit")
                }
                # Then every limit is the agent's own, and the superuser-only cap survived RESET ALL
                assert shown == {
                    "transaction_read_only": ("on",),
                    "statement_timeout": ("1500ms",),
                    "lock_timeout": ("2s",),
                    "idle_in_transaction_session_timeout": ("1min",),
                    "work_mem": ("16MB",),
                    "search_path": ("public",),
                    "TimeZone": ("UTC",),
                    "temp_file_limit": ("2GB",),
                }
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute("SELECT lo_create(0)")
        finally:
            session.connections.discard()


def test_a_statement_timeout_reset_by_the_role_does_not_let_the_agent_sleep(prepared: str, analyst_url: str) -> None:
    with restored_role(prepared, "loglens_analyst"):
        assert run_raw(analyst_url, WRITABLE, "ALTER ROLE loglens_analyst SET statement_timeout = 0") is None
        session = AnalystSession(ConnectionProvider(lambda: analyst_url), statement_timeout_ms=200)
        try:
            with pytest.raises(psycopg.errors.QueryCanceled), session.read_only_transaction() as conn:
                conn.execute("SELECT pg_sleep(5)")
        finally:
            session.connections.discard()


def test_the_agents_password_is_its_own_locally_and_db_url_does_not_hand_it_out(tmp_path: Path) -> None:
    from loglens.devtools.cli import db as db_cli

    # Given a pg.json written before the reader existed (one password for the writer and the analyst)
    (tmp_path / "pg.json").write_text(json.dumps({"port": 1, "password": "admin", "role_password": "shared"}))
    server = EmbeddedPostgres(tmp_path, 1)
    # Then each login gets its own password, kept from now on
    analyst, reader, writer = (server.role_url(r) for r in ("loglens_analyst", "loglens_reader", "loglens_writer"))
    passwords = {psycopg.conninfo.conninfo_to_dict(u)["password"] for u in (analyst, reader, writer)}
    assert len(passwords) == 3
    assert server.role_url("loglens_analyst") == analyst
    assert (tmp_path / "pg.json").stat().st_mode & 0o777 == 0o600
    # And `loglens db url` refuses the agent's login and says what to use instead
    args = type("Args", (), {"role": "loglens_analyst"})()
    assert db_cli.print_url(args) == 2  # type: ignore[arg-type]


def test_the_readers_sessions_start_read_only_and_bounded(prepared: str, reader_url: str) -> None:
    # Defaults a tool that just connects gets (the reader may change them for itself; the caps above hold)
    with connect(reader_url) as conn:
        shown = {
            name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
            for name in ("default_transaction_read_only", "statement_timeout", "idle_in_transaction_session_timeout")
        }
    assert shown == {
        "default_transaction_read_only": ("on",),
        "statement_timeout": ("1min",),
        "idle_in_transaction_session_timeout": ("5min",),
    }


@pytest.mark.slow
def test_db_url_hands_people_the_reader_and_puts_back_a_password_the_agent_changed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an embedded server of this test's own, migrated, as `loglens dev` leaves it
    from loglens.db.prepare import prepare
    from loglens.devtools.cli import db as db_cli
    from loglens.settings import Settings
    from tests.conftest import _free_port

    port = _free_port()
    # Not under tmp_path: another pytest run on this machine may prune old basetemps under a running server.
    home = Path(tempfile.mkdtemp(prefix="loglens-db-url-")) / "home"
    server = EmbeddedPostgres(home, port, fast=True)
    monkeypatch.setenv("LOGLENS_HOME", str(home))
    monkeypatch.setenv("LOGLENS_PG_PORT", str(port))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    try:
        prepare(server.start(), Settings.from_env({}))
        server.set_role_passwords(server.url())
        agent = server.role_url("loglens_analyst")
        # And someone who had the agent's password changed it (PostgreSQL lets a role do that to itself)
        assert run_raw(agent, WRITABLE, "ALTER ROLE loglens_analyst PASSWORD 'taken-over'") is None
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            connect(agent).close()

        # When a person asks for a connection URL
        args = type("Args", (), {"role": "loglens_reader"})()
        assert db_cli.print_url(args) == 0  # type: ignore[arg-type]
        reader = capsys.readouterr().out.strip()

        # Then it is the reader's, read-only, and the agent's own password is back in force
        assert psycopg.conninfo.conninfo_to_dict(reader)["user"] == "loglens_reader"
        with connect(reader) as conn:
            assert conn.execute("SHOW transaction_read_only").fetchone() == ("on",)
        connect(agent).close()
    finally:
        server.destroy()


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT repeat('x', 1000000000)",
        "SELECT count(*) FROM generate_series(1, 10000000000) g",
        "SELECT set_config('statement_timeout', '0', false), pg_sleep(60)",
    ],
)
def test_what_bounds_no_session_setting_is_refused_before_it_reaches_the_agents_role(
    prepared: str, analyst_url: str, statement: str
) -> None:
    # A 1 GB allocation happens inside one function call: no timeout or work_mem bounds it, so the agent's
    # side of it is the SQL guard, which refuses it before the database sees it.
    from loglens.agent.catalog import read_layout
    from loglens.agent.tools import QueryFailed, QueryTools

    session = AnalystSession(ConnectionProvider(lambda: analyst_url), statement_timeout_ms=2000)
    try:
        with session.read_only_transaction() as conn:
            layout = read_layout(conn)
        tools = QueryTools(session, lambda: layout, max_rows=10)
        with pytest.raises(QueryFailed) as refused:
            tools.run(statement)
        assert refused.value.kind == "refused", refused.value.message
    finally:
        session.connections.discard()
