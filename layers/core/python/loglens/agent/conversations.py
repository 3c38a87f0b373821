"""Follow-up questions: the earlier turns of a conversation, stored in PostgreSQL (or in memory for the CLI).

The analyst role is read-only, so conversation state is written through a separate connection as
loglens_writer, which may only SELECT and INSERT `conversation_turns` (migration 0005): turns are appended,
never changed. A turn keeps what the model was shown (the SQL, the summary and a few redacted rows), not
the full result, so a follow-up gives the model the same context it had.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from loglens.db.connect import ConnectionProvider

# A follow-up sees this many earlier turns: enough for "and yesterday?", without growing every prompt.
HISTORY_TURNS = 5
PREVIEW_ROWS = 5
_KEY = re.compile(r"[A-Za-z0-9:_.\-]{1,200}\Z")


@dataclass(frozen=True)
class Turn:
    question: str
    sql: str | None
    summary: str
    columns: list[str] = field(default_factory=list)
    preview: list[list[Any]] = field(default_factory=list)  # first rows as the model saw them (redacted)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class Conversations(Protocol):
    def history(self, key: str, *, max_age: timedelta, limit: int = HISTORY_TURNS) -> list[Turn]: ...

    def append(self, key: str, turn: Turn) -> None: ...


def http_key(api_key_id: str | None, conversation_id: str) -> str:
    """Storage key of an HTTP conversation: scoped to the API key, so another key cannot read it."""
    return f"http:{api_key_id or 'none'}:{conversation_id}"


def slack_key(team_id: str, channel_id: str, user_id: str) -> str:
    """Slash commands carry no thread, so one person's recent questions in one channel are a conversation."""
    return f"slack:{team_id}:{channel_id}:{user_id}"


def new_conversation_id() -> str:
    return str(uuid.uuid4())


def parse_conversation_id(value: object) -> str:
    """A client-supplied conversation id must be a UUID, so it cannot name another kind of conversation."""
    if not isinstance(value, str):
        raise ValueError("conversation_id must be a string (a UUID returned by an earlier answer)")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError("conversation_id must be a UUID returned by an earlier answer") from None


def check_key(key: str) -> str:
    if not _KEY.match(key):
        raise ValueError(f"invalid conversation key {key[:40]!r}")
    return key


class PostgresConversations:
    """Turns in `conversation_turns`, written and read as loglens_writer."""

    def __init__(self, connections: ConnectionProvider) -> None:
        self.connections = connections
        self._lock = threading.Lock()  # one connection, shared by the request threads of `loglens dev`

    def history(self, key: str, *, max_age: timedelta, limit: int = HISTORY_TURNS) -> list[Turn]:
        with self._lock:
            conn = self.connections.get()
            with conn.transaction():
                rows = conn.execute(
                    """SELECT question, sql, summary, preview, created_at FROM conversation_turns
                       WHERE conversation_id = %s AND created_at >= now() - %s
                       ORDER BY turn DESC LIMIT %s""",
                    (check_key(key), max_age, limit),
                ).fetchall()
        turns = []
        for question, sql, summary, preview, created_at in reversed(rows):
            data = preview if isinstance(preview, dict) else {}
            turns.append(
                Turn(question, sql, summary, list(data.get("columns", [])), list(data.get("rows", [])), created_at)
            )
        return turns

    def append(self, key: str, turn: Turn) -> None:
        preview = json.dumps({"columns": turn.columns, "rows": turn.preview}, default=str)
        for attempt in range(3):
            try:
                with self._lock:
                    conn = self.connections.get()
                    with conn.transaction():
                        # The next turn number; two concurrent answers in one conversation meet the primary key.
                        conn.execute(
                            """INSERT INTO conversation_turns (conversation_id, turn, question, sql, summary, preview)
                               SELECT %s, coalesce(max(turn), 0) + 1, %s, %s, %s, %s::jsonb
                               FROM conversation_turns WHERE conversation_id = %s""",
                            (check_key(key), turn.question, turn.sql, turn.summary, preview, key),
                        )
                return
            except Exception as error:
                from psycopg.errors import UniqueViolation

                if not isinstance(error, UniqueViolation) or attempt == 2:
                    raise


class MemoryConversations:
    """Turns in process memory: the CLI's REPL, and tests."""

    def __init__(self) -> None:
        self._turns: dict[str, list[Turn]] = {}
        self._lock = threading.Lock()

    def history(self, key: str, *, max_age: timedelta, limit: int = HISTORY_TURNS) -> list[Turn]:
        cutoff = datetime.now(UTC) - max_age
        with self._lock:
            turns = [t for t in self._turns.get(key, []) if t.created_at >= cutoff]
        return turns[-limit:]

    def append(self, key: str, turn: Turn) -> None:
        with self._lock:
            self._turns.setdefault(check_key(key), []).append(turn)


def history_messages(turns: Sequence[Turn]) -> list[dict[str, Any]]:
    """Earlier turns as user/assistant message pairs of plain text."""
    messages: list[dict[str, Any]] = []
    for turn in turns:
        messages.append({"role": "user", "content": f"Earlier question: {turn.question}"})
        parts = []
        if turn.sql:
            parts.append(f"I ran:\n{turn.sql}")
        if turn.columns:
            parts.append(f"Columns: {json.dumps(turn.columns)}\nFirst rows: {json.dumps(turn.preview, default=str)}")
        parts.append(f"My answer: {turn.summary}")
        messages.append({"role": "assistant", "content": "\n".join(parts)})
    return messages
