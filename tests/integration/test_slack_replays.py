"""The Slack replay claim on real PostgreSQL, as the writer login the ask worker uses."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from loglens.agent.replays import PostgresReplayGuard
from loglens.db.connect import ConnectionProvider, connect
from loglens.lifecycle.maintenance import prune_slack_claims

SIGNATURE = "v0=" + "ab" * 32


def guard(url: str) -> PostgresReplayGuard:
    return PostgresReplayGuard(ConnectionProvider(lambda: url, application="loglens-test"))


def test_a_signature_is_claimed_once_even_by_concurrent_workers(writer_url: str) -> None:
    until = datetime.now(UTC) + timedelta(minutes=6)
    guards = [guard(writer_url) for _ in range(4)]  # four Lambda containers, one connection each
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda g: g.first_time(SIGNATURE, until), guards))
    assert sorted(results) == [False, False, False, True]
    assert guards[0].first_time("v0=" + "cd" * 32, until) is True


def test_the_writer_cannot_delete_claims_and_the_maintain_job_prunes_expired_ones(
    writer_url: str, db_url: str
) -> None:
    now = datetime.now(UTC)
    claims = guard(writer_url)
    assert claims.first_time("v0=old", now - timedelta(minutes=1))
    assert claims.first_time("v0=live", now + timedelta(minutes=5))
    with connect(writer_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM slack_requests_seen")
    with connect(db_url, autocommit=True) as conn:
        assert prune_slack_claims(conn) == 1
        rows = conn.execute("SELECT signature FROM slack_requests_seen WHERE signature IN ('v0=old', 'v0=live')")
        assert rows.fetchall() == [("v0=live",)]


def test_a_database_that_is_down_raises_rather_than_answering_a_copy() -> None:
    down = guard("postgresql://loglens_writer@127.0.0.1:1/loglens?connect_timeout=1")
    with pytest.raises(psycopg.OperationalError):
        down.first_time(SIGNATURE, datetime.now(UTC) + timedelta(minutes=6))
