"""Slack commands answered once: a signed request seen again within its window is a replay.

Slack signs `v0:{timestamp}:{body}`, and a copy of a request (from a proxy's log, a leaked HAR file, a
network tap) verifies again for the five minutes its timestamp is accepted: measured before this module,
three copies of one command posted three answers. Slack does not retry slash commands, so a signature seen
twice is a replay, never a retry.

Where the cache lives, and why there: the asynchronous worker claims the signature in PostgreSQL
(`slack_requests_seen`, migration 0011) before it asks the agent, with one
``INSERT ... ON CONFLICT DO NOTHING``, atomic across concurrent copies and Lambda containers. The worker
already connects to PostgreSQL as the writer login for conversation turns, so the claim costs one
statement on a connection it opens anyway, needs no new AWS service, IAM grant or VPC endpoint, and works
the same under `loglens dev`. The acknowledgement path stays free of I/O (Slack's 3-second limit, and an
acknowledgement that must not wait for a database), which is why the claim is not made there: a copy is
still acknowledged (an ephemeral "Looking into it" only its sender sees) but never answered. A DynamoDB
table with a TTL would let the acknowledgement refuse copies too, at the price of a table, a gateway
endpoint in the VPC and an extra call on the 3-second path; copies are rare and the API's throttle bounds
them. Rows expire with the window; the maintain job deletes expired ones (lifecycle.maintenance).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from loglens.db.connect import ConnectionProvider


class ReplayGuard(Protocol):
    def first_time(self, signature: str, expires_at: datetime) -> bool:
        """True exactly once per signature until `expires_at`; raises when it cannot tell."""
        ...


class PostgresReplayGuard:
    """Claims in `slack_requests_seen`, as loglens_writer."""

    def __init__(self, connections: ConnectionProvider) -> None:
        self.connections = connections
        self._lock = threading.Lock()  # one connection, shared by the worker threads of `loglens dev`

    def first_time(self, signature: str, expires_at: datetime) -> bool:
        with self._lock:
            conn = self.connections.get()
            try:
                with conn.transaction():
                    row = conn.execute(
                        """INSERT INTO slack_requests_seen (signature, expires_at) VALUES (%s, %s)
                           ON CONFLICT (signature) DO NOTHING RETURNING 1""",
                        (signature, expires_at),
                    ).fetchone()
            except Exception:
                self.connections.discard()  # a broken connection is reopened by the next claim
                raise
        return row is not None


class MemoryReplayGuard:
    """Claims in process memory: tests, and an AskApi built without a database."""

    def __init__(self) -> None:
        self._seen: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def first_time(self, signature: str, expires_at: datetime) -> bool:
        now = datetime.now(UTC)
        with self._lock:
            for key in [k for k, until in self._seen.items() if until < now]:
                del self._seen[key]
            if signature in self._seen:
                return False
            self._seen[signature] = expires_at
            return True
