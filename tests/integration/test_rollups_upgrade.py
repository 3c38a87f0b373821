"""A stage migrated before 0008 (its five summary relations materialized views, migrations 0010-0013
applied) upgrades in place: 0008 applies after the later-numbered migrations, the same five names become
views over the incremental tables, every row already in `logs` is announced, and the next refreshes
rebuild the rollups equal to the aggregates from `logs`, readable by both read roles."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from loglens.db import migrate as migrate_module
from loglens.db.connect import connect, with_database, with_user
from loglens.db.migrate import applied, load_migrations, migrate
from loglens.lifecycle.maintenance import owner_connection
from loglens.lifecycle.rollups import ROLLUP_VIEWS, read_freshness, refresh_rollups
from tests.conftest import READER_PASSWORD, ROLE_PASSWORD
from tests.factories import insert_records
from tests.integration.test_rollups import _random_rows, assert_rollups_match_logs

ROLLUPS_MIGRATION = 8


@pytest.fixture
def before_rollups_db(pg_admin_url: str, template_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new database migrated with every migration but 0008: main's schema before the incremental rollups.

    `template_url` is asked for its side effect: the session's roles get their passwords there."""
    name = f"upgrade_{os.getpid()}"
    with connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    url = with_database(pg_admin_url, name)
    every = load_migrations()
    with monkeypatch.context() as patch:
        patch.setattr(migrate_module, "load_migrations", lambda: [m for m in every if m.version != ROLLUPS_MIGRATION])
        with connect(url, autocommit=True) as conn:
            migrate(conn)
    yield url
    with connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _kinds(conn: psycopg.Connection[object]) -> dict[str, str]:
    rows = conn.execute(
        "SELECT relname, relkind::text FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relname = ANY(%s)",
        (list(ROLLUP_VIEWS),),
    ).fetchall()
    return {str(name): str(kind) for name, kind in rows}


def test_a_stage_with_materialized_views_upgrades_to_the_incremental_rollups(before_rollups_db: str) -> None:
    url = before_rollups_db
    rows = _random_rows(random.Random(8), 500, oldest_hours=60)
    hours = {r.created_at.replace(minute=0, second=0, microsecond=0) for r in rows}
    # Given: main's schema (0010-0013 applied, 0008 not), rows written as main wrote them, the views refreshed
    with connect(url, autocommit=True) as conn:
        assert max(m.version for m in applied(conn)) > ROLLUPS_MIGRATION
        assert _kinds(conn) == dict.fromkeys(ROLLUP_VIEWS, "m")
        with conn.transaction():
            insert_records(conn, rows, announce=False)
        for view in ROLLUP_VIEWS:
            conn.execute(f"REFRESH MATERIALIZED VIEW {view}")
        before = {view: conn.execute(f"SELECT count(*) FROM {view}").fetchone() for view in ROLLUP_VIEWS}
    assert all(count and count[0] > 0 for count in before.values())

    # When: the deploy's migration run applies 0008 after the later-numbered ones
    with connect(url, autocommit=True) as conn:
        new = migrate(conn)
        freshness = read_freshness(conn)
        kinds = _kinds(conn)
    assert [m.version for m in new] == [ROLLUPS_MIGRATION]
    assert kinds == dict.fromkeys(ROLLUP_VIEWS, "v")
    # Then: every hour `logs` holds (and the hours between) is announced; nothing is complete yet
    assert freshness.complete_as_of is None
    span = (max(hours) - min(hours)) // timedelta(hours=1) + 1
    assert freshness.pending_hours == span

    # And the next refresh rebuilds the rollups from `logs`, complete, with the same rows
    with owner_connection(url) as conn:
        report = refresh_rollups(conn)
    assert (report.hours, report.pending_hours) == (span, 0)
    assert report.complete_as_of is not None
    assert_rollups_match_logs(url)
    with connect(url) as conn:
        after = {view: conn.execute(f"SELECT count(*) FROM {view}").fetchone() for view in ROLLUP_VIEWS}
    assert after == before

    # Both read roles read the five views (the reader's grants mirror the analyst's) but not the tables behind
    for user, password in (("loglens_analyst", ROLE_PASSWORD), ("loglens_reader", READER_PASSWORD)):
        with connect(with_user(url, user, password)) as conn:
            for view in ROLLUP_VIEWS:
                conn.execute(f"SELECT * FROM {view} LIMIT 1").fetchall()
        with connect(with_user(url, user, password)) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM rollup_log_hours")
    with connect(url, autocommit=True) as conn:
        assert migrate(conn) == []
