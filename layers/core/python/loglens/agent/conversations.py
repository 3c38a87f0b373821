"""Follow-up questions and answers that outlive a request, stored in PostgreSQL (or in memory for the CLI).

The analyst role is read-only, so conversation state is written through a separate connection as
loglens_writer, which may only SELECT and INSERT `conversation_turns` (migration 0007): turns are appended,
never changed. A turn keeps what the model was shown (the SQL, the summary, the key insight and a few
redacted rows), not the full result, so a follow-up gives the model the same context it had.

The same store keeps the answers of HTTP asks that take longer than API Gateway waits (`ask_answers`,
migration 0010): a 'running' row when the ask starts and one outcome row later, appended the same way, and
read back only with the requester key it was stored under.
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
    key_insight: str = ""  # what stood out, as the model said it (redacted): "and why?" builds on it


@dataclass(frozen=True)
class StoredAnswer:
    """Where an HTTP ask stands: 'running', or its outcome with the status it is answered with."""

    state: str  # running | done | failed
    http_status: int | None
    body: dict[str, Any]  # running: {"question", "conversation_id"}; done: the Answer; failed: {"error"}
    created_at: datetime  # when the ask started (for 'running') or ended


class Conversations(Protocol):
    def history(self, key: str, *, max_age: timedelta, limit: int = HISTORY_TURNS) -> list[Turn]: ...

    def append(self, key: str, turn: Turn) -> None: ...


class AnswerStore(Protocol):
    """Answers of HTTP asks, appended as they progress and read back by the same requester only."""

    def start_answer(self, ask_id: str, requester: str, body: dict[str, Any]) -> None: ...

    def finish_answer(
        self, ask_id: str, requester: str, *, done: bool, http_status: int, body: dict[str, Any]
    ) -> None: ...

    def stored_answer(self, ask_id: str, requester: str) -> StoredAnswer | None: ...


def http_key(api_key_id: str | None, conversation_id: str) -> str:
    """Storage key of an HTTP conversation: scoped to the API key, so another key cannot read it."""
    return f"{http_requester(api_key_id)}:{conversation_id}"


def http_requester(api_key_id: str | None) -> str:
    """Who may read an HTTP ask's answer: the API key that asked."""
    return f"http:{api_key_id or 'none'}"


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
                    """SELECT question, sql, summary, preview, created_at, key_insight FROM conversation_turns
                       WHERE conversation_id = %s AND created_at >= now() - %s
                       ORDER BY turn DESC LIMIT %s""",
                    (check_key(key), max_age, limit),
                ).fetchall()
        turns = []
        for question, sql, summary, preview, created_at, insight in reversed(rows):
            data = preview if isinstance(preview, dict) else {}
            columns, shown = list(data.get("columns", [])), list(data.get("rows", []))
            turns.append(Turn(question, sql, summary, columns, shown, created_at, insight))
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
                            """INSERT INTO conversation_turns
                                   (conversation_id, turn, question, sql, summary, preview, key_insight)
                               SELECT %s, coalesce(max(turn), 0) + 1, %s, %s, %s, %s::jsonb, %s
                               FROM conversation_turns WHERE conversation_id = %s""",
                            (check_key(key), turn.question, turn.sql, turn.summary, preview, turn.key_insight, key),
                        )
                return
            except Exception as error:
                from psycopg.errors import UniqueViolation

                if not isinstance(error, UniqueViolation) or attempt == 2:
                    raise

    def start_answer(self, ask_id: str, requester: str, body: dict[str, Any]) -> None:
        self._insert_answer(ask_id, requester, "running", None, body)

    def finish_answer(self, ask_id: str, requester: str, *, done: bool, http_status: int, body: dict[str, Any]) -> None:
        self._insert_answer(ask_id, requester, "done" if done else "failed", http_status, body)

    def stored_answer(self, ask_id: str, requester: str) -> StoredAnswer | None:
        with self._lock:
            conn = self.connections.get()
            with conn.transaction():
                # The outcome when there is one, else the 'running' row; another requester finds nothing.
                row = conn.execute(
                    """SELECT state, http_status, body, created_at FROM ask_answers
                       WHERE ask_id = %s AND requester = %s
                       ORDER BY state = 'running', created_at DESC LIMIT 1""",
                    (ask_id, requester),
                ).fetchone()
        if row is None:
            return None
        state, status, body, created_at = row
        return StoredAnswer(str(state), status, body if isinstance(body, dict) else {}, created_at)

    def _insert_answer(
        self, ask_id: str, requester: str, state: str, http_status: int | None, body: dict[str, Any]
    ) -> None:
        with self._lock:
            conn = self.connections.get()
            with conn.transaction():
                conn.execute(
                    """INSERT INTO ask_answers (ask_id, requester, state, http_status, body)
                       VALUES (%s, %s, %s, %s, %s::jsonb)""",
                    (ask_id, requester, state, http_status, json.dumps(_storable(body), default=str)),
                )


class MemoryConversations:
    """Turns in process memory: the CLI's REPL, and tests."""

    def __init__(self) -> None:
        self._turns: dict[str, list[Turn]] = {}
        self._answers: dict[tuple[str, str], list[StoredAnswer]] = {}
        self._lock = threading.Lock()

    def history(self, key: str, *, max_age: timedelta, limit: int = HISTORY_TURNS) -> list[Turn]:
        cutoff = datetime.now(UTC) - max_age
        with self._lock:
            turns = [t for t in self._turns.get(key, []) if t.created_at >= cutoff]
        return turns[-limit:]

    def append(self, key: str, turn: Turn) -> None:
        with self._lock:
            self._turns.setdefault(check_key(key), []).append(turn)

    def start_answer(self, ask_id: str, requester: str, body: dict[str, Any]) -> None:
        with self._lock:
            self._answers.setdefault((ask_id, requester), []).append(
                StoredAnswer("running", None, dict(body), datetime.now(UTC))
            )

    def finish_answer(self, ask_id: str, requester: str, *, done: bool, http_status: int, body: dict[str, Any]) -> None:
        outcome = StoredAnswer("done" if done else "failed", http_status, dict(body), datetime.now(UTC))
        with self._lock:
            stored = self._answers.setdefault((ask_id, requester), [])
            if any(a.state != "running" for a in stored):
                raise ValueError(f"ask {ask_id} already has an outcome")
            stored.append(outcome)

    def stored_answer(self, ask_id: str, requester: str) -> StoredAnswer | None:
        with self._lock:
            stored = list(self._answers.get((ask_id, requester), []))
        outcomes = [a for a in stored if a.state != "running"]
        found = outcomes or stored
        return found[-1] if found else None


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
        if turn.key_insight:
            parts.append(f"Key insight: {turn.key_insight}")
        messages.append({"role": "assistant", "content": "\n".join(parts)})
    return messages


def _storable(value: Any) -> Any:
    """`value` with what jsonb refuses replaced by U+FFFD: NUL, and unpaired surrogates (which cannot be UTF-8).

    The question was checked at the edge; a model's reply is not, and an answer that cannot be stored would
    leave its GET waiting for nothing.
    """
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_storable(str(k)): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    return value


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
