"""Defence in depth: with the SQL guard switched off, the analyst role and the agent's session still hold.

Every hostile statement of the guard's case table runs directly on loglens_analyst, each in its own
connection over the simple query protocol (so stacked statements really are sent as several), and the
data, the catalog, the roles and the settings are compared before and after. Escalations that need two
statements in one transaction run through the agent's own session with the guard bypassed.

The other way round: the queries the guard now lets through (windows combined with OR, join windows, trace
lookups, bounded recursion, series and string builders within their caps) run as the guard returns them, on
the analyst role, and the bounds the guard writes into a join window change no result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from loglens.agent.catalog import OFFLINE_VIEW_COLUMNS, read_view_columns
from loglens.agent.tools import AnalystSession, QueryFailed, QueryTools
from loglens.db.connect import ConnectionProvider, connect
from loglens.devtools.demo import DemoPlan
from loglens.sqlguard import Catalog, GuardResult, check_sql
from tests.demo_data import load_demo
from tests.factories import insert_records, make_record
from tests.unit.sqlguard_cases import BENIGN_BOUNDS, CATALOG, DANGEROUS_CALLS, DANGEROUS_KEYWORDS, HOSTILE

# The database itself must refuse these (not merely find them pointless): writes, DDL, privileged reads
# and privileged functions. Everything else in the table may run or fail; neither may change anything.
DATABASE_REFUSES = {
    case_id for case_id, _, code in HOSTILE if code in ("write_node", "select_into") and case_id != "copy_stdout"
} | {
    "for_update", "for_share", "for_no_key_update", "for_key_share", "for_update_of", "for_update_in_subquery",
    "pg_authid", "pg_shadow", "pg_catalog_qualified", "scalar_subquery_pg_shadow", "union_pg_authid",
    "cte_reads_pg_authid", "to_jsonb_whole_row_pg_authid", "query_to_xml", "pg_hba_file_rules", "pg_largeobject",
    "pg_read_file", "pg_read_binary_file", "pg_ls_dir_select_list", "from_pg_ls_dir", "pg_stat_file",
    "convert_from_binary_file", "lo_import", "lo_export", "lo_get", "lo_from_bytea", "dblink_select_list",
    "dblink_exec", "dblink_connect", "from_dblink", "current_setting", "pg_catalog_current_setting",
    "pg_reload_conf", "pg_switch_wal", "alter_system", "alter_role", "set_role", "stacked_set_role",
    "set_session_authorization", "create_extension", "load_library", "refresh_materialized_view", "reindex",
    "lock_table", "stacked_drop", "stacked_delete_after_bounded", "explain_analyze_delete", "do_block_quoted",
    "call_procedure",
}  # fmt: skip
HOSTILE_STATEMENTS = (
    [(case_id, text) for case_id, text, _ in HOSTILE]
    + [(f"call:{call}", f"SELECT {call}") for call in DANGEROUS_CALLS]
    + [(f"keyword:{word}", f"SELECT {word}") for word in DANGEROUS_KEYWORDS]
)
# Statements that would need a writable transaction; the agent's session never lets them have one.
ESCALATIONS = [
    "SET TRANSACTION READ WRITE",
    "BEGIN READ WRITE",
    "COMMIT",
    "ALTER ROLE loglens_analyst SET statement_timeout = 0",
    "ALTER ROLE loglens_analyst SET default_transaction_read_only = off",
    "SET default_transaction_read_only = off; ALTER ROLE loglens_analyst SET statement_timeout = 0",
    "BEGIN READ WRITE; SELECT lo_create(0); COMMIT",
    "COMMIT; BEGIN READ WRITE; SELECT lo_create(0)",
    "SELECT lo_create(0)",
    "SELECT lo_from_bytea(0, 'x')",
    "CREATE TEMP TABLE loot AS SELECT 1",
    "SELECT set_config('default_transaction_read_only', 'off', false)",
    "SELECT set_config('statement_timeout', '0', false)",
    "INSERT INTO logs (event_id) VALUES (gen_random_uuid())",
    "DELETE FROM logs",
    "CREATE TABLE public.loot (a int)",
]
TIMEOUT = "300ms"
_LOGS_CHECKSUM = (
    "SELECT count(*), md5(string_agg(event_id::text || level || message, ',' ORDER BY created_at, event_id)) FROM logs"
)
_ROLES = (
    "SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls, "
    "rolconnlimit FROM pg_roles ORDER BY 1"
)  # tighter than the role's default, so the sleeps and the memory bomb end quickly


def _digest(conn: psycopg.Connection[Any], query: str) -> str:
    rows = conn.execute(query).fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def snapshot(admin_url: str, analyst_url: str) -> dict[str, str]:
    """Everything a hostile statement could change: data, objects, large objects, roles, grants, settings."""
    with connect(admin_url) as conn:
        state = {
            "logs": _digest(conn, _LOGS_CHECKSUM),
            "conversation_turns": _digest(conn, "SELECT * FROM conversation_turns ORDER BY 1, 2"),
            "load_ledger": _digest(conn, "SELECT * FROM load_ledger ORDER BY 1, 2"),
            "schema_migrations": _digest(conn, "SELECT version, checksum FROM schema_migrations ORDER BY 1"),
            "views": _digest(conn, "SELECT count(*) FROM daily_log_summary"),
            "relations": _digest(
                conn,
                "SELECT n.nspname, c.relname, c.relkind, c.relacl::text FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace ORDER BY 1, 2",
            ),
            "functions": _digest(conn, "SELECT oid, proname, proacl::text FROM pg_proc ORDER BY 1"),
            "large_objects": _digest(conn, "SELECT oid FROM pg_largeobject_metadata ORDER BY 1"),
            "roles": _digest(conn, _ROLES),
            "memberships": _digest(conn, "SELECT roleid, member FROM pg_auth_members ORDER BY 1, 2"),
            "role_settings": _digest(conn, "SELECT setdatabase, setrole, setconfig FROM pg_db_role_setting ORDER BY 1"),
            "database_acl": _digest(conn, "SELECT datname, datacl::text FROM pg_database ORDER BY 1"),
            "namespaces": _digest(conn, "SELECT nspname, nspacl::text FROM pg_namespace ORDER BY 1"),
            "server_settings": _digest(conn, "SELECT name, setting FROM pg_settings ORDER BY 1"),
            "file_settings": _digest(conn, "SELECT name, setting FROM pg_file_settings ORDER BY 1"),
        }
    # What a new analyst session starts with: role and database defaults included.
    with connect(analyst_url) as conn:
        state["analyst_session"] = _digest(conn, "SELECT name, setting FROM pg_settings ORDER BY 1")
    return state


OLD_TRACE = "trace-from-ten-days-ago"


@pytest.fixture(scope="module")
def prepared(db_url: str) -> Iterator[str]:
    load_demo(db_url, DemoPlan(records=3_000, days=2))
    ten_days_ago = datetime.now(UTC) - timedelta(days=10)
    with connect(db_url) as conn:
        insert_records(conn, [make_record(service="guard-probe")])
        old = [make_record(trace_id=OLD_TRACE, created_at=ten_days_ago + timedelta(seconds=i)) for i in range(3)]
        insert_records(conn, old)
        conn.execute("INSERT INTO conversation_turns (conversation_id, turn, question) VALUES ('c', 1, 'q')")
        conn.commit()
    set_analyst_default(db_url, "statement_timeout", TIMEOUT)
    yield db_url


def run_raw(analyst_url: str, text: str) -> str | None:
    """Run one statement string as the analyst over the simple protocol; return the error, if any."""
    try:
        with psycopg.connect(
            analyst_url, autocommit=True, cursor_factory=psycopg.ClientCursor, connect_timeout=10
        ) as conn:
            conn.cursor().execute(text)
    except psycopg.Error as error:
        return f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
    return None


@pytest.mark.slow
def test_every_hostile_statement_on_the_analyst_role_changes_nothing(prepared: str, analyst_url: str) -> None:
    # Given the state of the database with the guard out of the way
    assert len(HOSTILE_STATEMENTS) >= 150
    before = snapshot(prepared, analyst_url)

    # When every hostile statement runs directly as the analyst, each on its own connection
    outcomes = {case_id: run_raw(analyst_url, text) for case_id, text in HOSTILE_STATEMENTS}

    # Then nothing changed, and every write, privileged read and privileged call was refused by PostgreSQL
    after = snapshot(prepared, analyst_url)
    assert {k: v for k, v in after.items() if before[k] != v} == {}
    ran = sorted(case_id for case_id in DATABASE_REFUSES if outcomes[case_id] is None)
    assert ran == [], f"the database let these run: {ran}"


def bypassed_guard(text: str, catalog: Catalog, *, max_rows: int) -> GuardResult:
    return GuardResult(True, text, "guard bypassed by the test", "ok")


def test_escalations_through_the_agent_session_change_nothing(prepared: str, analyst_url: str) -> None:
    # Given the agent's own session with the guard replaced by one that allows everything
    before = snapshot(prepared, analyst_url)
    provider = ConnectionProvider(lambda: analyst_url, application="loglens-test")
    session = AnalystSession(provider, statement_timeout_ms=300)
    tools = QueryTools(session, lambda: pytest.fail("the bypassed guard needs no catalog"), max_rows=10)
    tools.check = lambda text: bypassed_guard(text, Catalog({}), max_rows=10)  # type: ignore[method-assign]

    # When each escalation runs as the agent would run a statement
    outcomes = {}
    for text in ESCALATIONS:
        try:
            tools.run(text)
            outcomes[text] = None
        except (QueryFailed, psycopg.Error) as error:
            outcomes[text] = str(error)

    # Then no write happened, no default changed, and the session is still read-only with its timeout
    assert snapshot(prepared, analyst_url) == before
    writes = [text for text in ESCALATIONS if "lo_" in text or "INSERT" in text or "ALTER" in text or "CREATE" in text]
    assert all(outcomes[text] is not None for text in writes), outcomes
    with session.read_only_transaction() as conn:
        assert conn.execute("SHOW transaction_read_only").fetchone() == ("on",)
        assert conn.execute("SHOW statement_timeout").fetchone() == ("300ms",)


def test_the_agent_session_ignores_tampered_role_defaults(prepared: str, analyst_url: str) -> None:
    # Given role defaults that someone with the analyst's raw credentials could set for themselves
    set_analyst_default(prepared, "default_transaction_read_only", "off")
    set_analyst_default(prepared, "statement_timeout", "0")
    try:
        session = AnalystSession(ConnectionProvider(lambda: analyst_url), statement_timeout_ms=1234)
        # Then the agent's transactions are still read-only and bounded by its own timeout
        with session.read_only_transaction() as conn:
            assert conn.execute("SHOW transaction_read_only").fetchone() == ("on",)
            assert conn.execute("SHOW statement_timeout").fetchone() == ("1234ms",)
            # Refused twice over: the transaction is read-only, and migration 0010 revoked the function
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT lo_create(0)")
    finally:
        set_analyst_default(prepared, "default_transaction_read_only", None)
        set_analyst_default(prepared, "statement_timeout", TIMEOUT)


def set_analyst_default(admin_url: str, setting: str, value: str | None) -> None:
    """ALTER ROLE loglens_analyst IN DATABASE <this one> SET (or RESET) a setting."""
    with connect(admin_url, autocommit=True) as conn:
        database = sql.Identifier(str(conn.info.dbname))
        if value is None:
            statement = sql.SQL("ALTER ROLE loglens_analyst IN DATABASE {} RESET {}").format(
                database, sql.Identifier(setting)
            )
        else:
            statement = sql.SQL("ALTER ROLE loglens_analyst IN DATABASE {} SET {} = {}").format(
                database, sql.Identifier(setting), sql.Literal(value)
            )
        conn.execute(statement)


def test_conversation_turns_are_the_writers_to_append_and_invisible_to_the_analyst(
    prepared: str, analyst_url: str, writer_url: str
) -> None:
    with connect(analyst_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT * FROM conversation_turns")
    with connect(writer_url) as conn:
        conn.execute("INSERT INTO conversation_turns (conversation_id, turn, question) VALUES ('w', 1, 'q')")
        assert conn.execute("SELECT count(*) FROM conversation_turns WHERE conversation_id = 'w'").fetchone() == (1,)
        conn.rollback()
    for statement in ("UPDATE conversation_turns SET question = 'x'", "DELETE FROM conversation_turns"):
        with connect(writer_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def test_the_offline_catalog_matches_the_views_in_the_database(prepared: str, analyst_url: str) -> None:
    with connect(analyst_url) as conn:
        live = {view: tuple(name for name, _ in columns) for view, columns in read_view_columns(conn).items()}
    assert {view: live.get(view) for view in OFFLINE_VIEW_COLUMNS} == dict(OFFLINE_VIEW_COLUMNS)


def analyst_session(analyst_url: str) -> AnalystSession:
    provider = ConnectionProvider(lambda: analyst_url, application="loglens-test")
    return AnalystSession(provider, statement_timeout_ms=5000)


@pytest.mark.parametrize("sql", [case[1] for case in BENIGN_BOUNDS], ids=[case[0] for case in BENIGN_BOUNDS])
def test_newly_allowed_query_runs_on_the_analyst_role(prepared: str, analyst_url: str, sql: str) -> None:
    # Given a query the guard used to refuse (or never saw), as the guard returns it
    verdict = check_sql(sql, CATALOG, max_rows=1000)
    assert verdict.allowed and verdict.sql is not None, verdict.reason

    # When the agent's session runs it, then PostgreSQL executes it without an error
    with analyst_session(analyst_url).read_only_transaction() as conn:
        rows = conn.execute(verdict.sql).fetchall()
    assert len(rows) <= 1000


WRITTEN = [case for case in BENIGN_BOUNDS if "implied by the join window" in check_sql(case[1], CATALOG).reason]


@pytest.mark.parametrize("sql", [case[1] for case in WRITTEN], ids=[case[0] for case in WRITTEN])
def test_a_written_down_join_bound_changes_no_result(prepared: str, analyst_url: str, sql: str) -> None:
    # Given a join window whose derived bound the guard wrote into the query
    verdict = check_sql(sql, CATALOG, max_rows=100_000)
    assert verdict.sql is not None and verdict.sql != sql

    # When the query as written and the query as guarded run in one transaction (one now())
    with analyst_session(analyst_url).read_only_transaction() as conn:
        original = conn.execute(sql).fetchall()
        guarded = conn.execute(verdict.sql).fetchall()

    # Then they return the same rows
    assert sorted(map(repr, guarded)) == sorted(map(repr, original))


def test_the_join_windows_see_rows(prepared: str, analyst_url: str) -> None:
    # The comparison above means something only if the windows match rows in the demo data.
    with analyst_session(analyst_url).read_only_transaction() as conn:
        matched = [bool(conn.execute(sql).fetchall()) for _, sql in WRITTEN]
    assert len(WRITTEN) >= 10 and sum(matched) >= len(WRITTEN) // 2


def test_an_old_trace_is_found_by_its_id_alone(prepared: str, analyst_url: str) -> None:
    # Given a trace from ten days ago, outside any "last 24 hours" window
    verdict = check_sql(f"SELECT service, created_at FROM logs WHERE trace_id = '{OLD_TRACE}'", CATALOG)
    assert verdict.allowed and verdict.sql is not None, verdict.reason

    # When it is looked up by trace_id, then all its rows come back
    with analyst_session(analyst_url).read_only_transaction() as conn:
        rows = conn.execute(verdict.sql).fetchall()
        plan = conn.execute("EXPLAIN (FORMAT JSON) " + verdict.sql).fetchone()
    assert len(rows) == 3
    # ...through the trace index (small partitions may still be read whole: the planner's choice)
    assert "trace_id_idx" in repr(plan)
