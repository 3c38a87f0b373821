"""The migration runner: ordered, recorded, idempotent, and safe when two runs race."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from loglens.db.connect import connect, with_database
from loglens.db.migrate import MigrationError, applied, load_migrations, migrate

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def empty_db(pg_admin_url: str) -> Iterator[str]:
    """A database with nothing in it (not cloned from the migrated template)."""
    name = f"empty_{os.getpid()}"
    with connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    yield with_database(pg_admin_url, name)
    with connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrations_are_numbered_uniquely_from_one() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions[0] == 1
    assert versions == sorted(set(versions))


def test_second_run_applies_nothing(empty_db: str) -> None:
    with connect(empty_db, autocommit=True) as conn:
        first = migrate(conn)
        second = migrate(conn)
        recorded = applied(conn)
    assert [m.version for m in first] == [m.version for m in load_migrations()]
    assert second == []
    assert [r.version for r in recorded] == [m.version for m in first]


def test_objects_are_owned_by_the_owner_role(empty_db: str) -> None:
    with connect(empty_db, autocommit=True) as conn:
        migrate(conn)
        owners = conn.execute(
            """SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class
               WHERE relnamespace = 'public'::regnamespace AND relname NOT LIKE 'schema_migrations%'"""
        ).fetchall()
    assert owners == [("loglens_owner",)]


def test_edited_migration_is_refused(empty_db: str) -> None:
    with connect(empty_db, autocommit=True) as conn:
        migrate(conn)
        conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 2")
        with pytest.raises(MigrationError, match="0002_logs was edited after it was applied"):
            migrate(conn)


def test_migrate_needs_autocommit(empty_db: str) -> None:
    with connect(empty_db) as conn, pytest.raises(MigrationError, match="autocommit"):
        migrate(conn)


def test_two_processes_racing_apply_each_migration_once(empty_db: str) -> None:
    env = {**os.environ, "DATABASE_URL": empty_db}
    command = [sys.executable, "-m", "loglens", "db", "migrate"]
    runs = [subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    with connect(empty_db) as conn:
        rows = conn.execute("SELECT version, count(*) FROM schema_migrations GROUP BY version ORDER BY 1").fetchall()
    assert rows == [(m.version, 1) for m in load_migrations()]
    applied_lines = [out for out, _ in outputs if "0001_roles" in out]
    assert len(applied_lines) == 1, outputs  # exactly one runner applied them; the other found nothing to do


def test_failing_migration_leaves_nothing_behind(empty_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from loglens.db import migrate as runner

    broken = [*load_migrations(), runner.Migration(99, "broken", "CREATE TABLE half_done (x int);\nSELECT 1/0;")]
    monkeypatch.setattr(runner, "load_migrations", lambda: broken)
    with connect(empty_db, autocommit=True) as conn:
        with pytest.raises(MigrationError, match="0099_broken failed: division by zero"):
            runner.migrate(conn)
        assert conn.execute("SELECT to_regclass('half_done')").fetchone() == (None,)
        assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone() == (load_migrations()[-1].version,)


def test_status_command_lists_applied_migrations(empty_db: str) -> None:
    env = {**os.environ, "DATABASE_URL": empty_db, "COLUMNS": "200"}
    before = subprocess.run([sys.executable, "-m", "loglens", "db", "status"], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=60, check=True)
    assert before.stdout.count("pending") == len(load_migrations())
    subprocess.run([sys.executable, "-m", "loglens", "db", "migrate"], env=env, cwd=REPO,
                   capture_output=True, text=True, timeout=60, check=True)
    after = subprocess.run([sys.executable, "-m", "loglens", "db", "status"], env=env, cwd=REPO,
                           capture_output=True, text=True, timeout=60, check=True)
    assert "pending" not in after.stdout
    assert "summary_views" in after.stdout


def test_unreachable_database_gives_a_clear_error() -> None:
    env = {**os.environ, "DATABASE_URL": "postgresql://nobody:x@127.0.0.1:1/none?connect_timeout=2"}
    result = subprocess.run([sys.executable, "-m", "loglens", "db", "status"], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "cannot connect to nobody@127.0.0.1:1/none" in result.stderr
    assert "x@" not in result.stderr  # the password is not echoed


def test_connection_refused_is_an_operational_error() -> None:
    with pytest.raises(psycopg.OperationalError):
        connect("postgresql://nobody:x@127.0.0.1:1/none?connect_timeout=2")
