"""Saved questions, searches and SQL, and answers behind shareable links, in PostgreSQL as loglens_writer.

The analyst role is read-only and stays so: these tables (migration 0012) are written through the writer
connection, which may SELECT, INSERT and DELETE saved entries and only SELECT and INSERT shared answers, so
a link once shared always shows what was shared. A saved body is validated by the same models that run it
(a saved search is a search request without a cursor), so whatever is saved can be run again. Everyone
who may query sees every saved entry (they are a team's); only who saved an entry may delete it.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from loglens.agent.answer import Answer
from loglens.agent.tools import DatabaseUnavailable
from loglens.query.errors import Forbidden, NotFound, QueryInputError, TooLarge, from_validation_error
from loglens.query.search import DEFAULT_LIMIT, MAX_LIMIT, SearchFilters
from loglens.query.sql import SqlRequest

if TYPE_CHECKING:
    import psycopg

    from loglens.db.connect import ConnectionProvider

MAX_NAME_CHARS: Final = 200
MAX_QUESTION_CHARS: Final = 2000  # as the ask route takes
MAX_SAVED: Final = 5000
MAX_ANSWER_BYTES: Final = 1024 * 1024
LIST_LIMIT: Final = 500
_ANSWER_ID = re.compile(r"[A-Za-z0-9_-]{22}\Z")


class SavedKind(StrEnum):
    QUESTION = "question"
    SEARCH = "search"
    SQL = "sql"


class QuestionBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)


class SearchBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    filters: SearchFilters = Field(default_factory=SearchFilters)
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


_BODIES: Final[dict[SavedKind, type[BaseModel]]] = {
    SavedKind.QUESTION: QuestionBody,
    SavedKind.SEARCH: SearchBody,
    SavedKind.SQL: SqlRequest,
}


class SavedCreate(BaseModel):
    """`POST /api/v1/saved`: {"kind": "question"|"search"|"sql", "name", "body"}."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: SavedKind
    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    body: dict[str, Any] = Field(
        description='{"question": "..."} for a question, {"filters": {...}, "limit"} for a search, {"sql": "..."}.'
    )

    @model_validator(mode="before")
    @classmethod
    def _body_fits_kind(cls, data: Any) -> Any:
        """The body checked by the model that runs it, and stored as that model reads it (levels normalised)."""
        if not isinstance(data, dict) or not isinstance(data.get("body"), dict):
            return data
        try:
            model = _BODIES[SavedKind(str(data.get("kind")))]
        except ValueError:
            return data  # the kind's own validation says what is wrong
        try:
            checked = model.model_validate(data["body"])
        except ValidationError as error:
            raise ValueError(f"body of a saved {data['kind']}: {from_validation_error(error).message}") from None
        return {**data, "body": checked.model_dump(mode="json", exclude_none=True)}

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if "\x00" in value or not value.strip():
            raise ValueError("must be printable text")
        return value


class SavedItem(BaseModel):
    id: uuid.UUID
    kind: SavedKind
    name: str
    body: dict[str, Any]
    created_by: str
    created_at: datetime


class SavedList(BaseModel):
    items: list[SavedItem] = Field(description=f"Newest first, at most {LIST_LIMIT}.")


class ShareRequest(BaseModel):
    """`POST /api/v1/answers {"answer": <Answer>}`: store an answer for a shareable link."""

    model_config = ConfigDict(extra="forbid")

    answer: Answer


class SharedAnswer(BaseModel):
    id: str = Field(description="The link is /#/answers/<id>.")
    answer: Answer
    created_by: str
    created_at: datetime


def parse_saved(payload: object) -> SavedCreate:
    if not isinstance(payload, dict):
        raise QueryInputError('send {"kind": "question"|"search"|"sql", "name": "...", "body": {...}}')
    try:
        return SavedCreate.model_validate(payload)
    except ValidationError as error:
        raise from_validation_error(error) from None


def parse_share(payload: object, raw_size: int) -> ShareRequest:
    if raw_size > MAX_ANSWER_BYTES:
        raise TooLarge(f"the answer is {raw_size:,} bytes; a shared answer is at most {MAX_ANSWER_BYTES:,}")
    if not isinstance(payload, dict):
        raise QueryInputError('send {"answer": {...}} with an answer from /api/v1/ask')
    try:
        return ShareRequest.model_validate(payload)
    except ValidationError as error:
        raise from_validation_error(error) from None


def parse_saved_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound(f"no saved entry {text[:40]!r}") from None


class SavedStore:
    """Saved entries and shared answers through one writer connection, shared by request threads."""

    def __init__(self, writer: ConnectionProvider) -> None:
        self.writer = writer
        self._lock = threading.Lock()

    def list(self, kind: SavedKind | None = None) -> SavedList:
        with self._transaction() as conn:
            rows = conn.execute(
                """SELECT id, kind, name, body, created_by, created_at FROM saved_queries
                   WHERE %(kind)s::text IS NULL OR kind = %(kind)s
                   ORDER BY created_at DESC, id LIMIT %(limit)s""",
                {"kind": kind.value if kind else None, "limit": LIST_LIMIT},
            ).fetchall()
        return SavedList(items=[_item(row) for row in rows])

    def get(self, item_id: uuid.UUID) -> SavedItem:
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT id, kind, name, body, created_by, created_at FROM saved_queries WHERE id = %s", (item_id,)
            ).fetchone()
        if row is None:
            raise NotFound(f"no saved entry {item_id}")
        return _item(row)

    def create(self, item: SavedCreate, *, created_by: str) -> SavedItem:
        _check_principal(created_by)
        storable(item.body, "body")
        with self._transaction() as conn:
            (count,) = conn.execute("SELECT count(*) FROM saved_queries").fetchone() or (0,)
            if int(count) >= MAX_SAVED:
                raise QueryInputError(
                    f"there are {MAX_SAVED:,} saved entries already; delete some first", code="too_many"
                )
            row = conn.execute(
                """INSERT INTO saved_queries (id, kind, name, body, created_by) VALUES (%s, %s, %s, %s::jsonb, %s)
                   RETURNING id, kind, name, body, created_by, created_at""",
                (uuid.uuid4(), item.kind.value, item.name.strip(), json.dumps(item.body), created_by),
            ).fetchone()
        if row is None:
            raise RuntimeError("INSERT ... RETURNING returned no row")
        return _item(row)

    def delete(self, item_id: uuid.UUID, *, by: str) -> None:
        with self._transaction() as conn:
            # No SELECT ... FOR UPDATE: the writer may not UPDATE; the DELETE's own condition decides.
            deleted = conn.execute(
                "DELETE FROM saved_queries WHERE id = %s AND created_by = %s RETURNING id", (item_id, by)
            ).fetchone()
            if deleted is None:
                exists = conn.execute("SELECT 1 FROM saved_queries WHERE id = %s", (item_id,)).fetchone()
                if exists is None:
                    raise NotFound(f"no saved entry {item_id}")
                raise Forbidden("only who saved an entry may delete it")

    def share(self, answer: Answer, *, created_by: str) -> SharedAnswer:
        _check_principal(created_by)
        storable(answer.model_dump(mode="python"), "answer")
        data = answer.model_dump_json()
        if len(data.encode()) > MAX_ANSWER_BYTES:
            raise TooLarge(
                f"the answer is {len(data.encode()):,} bytes; a shared answer is at most {MAX_ANSWER_BYTES:,}"
            )
        answer_id = secrets.token_urlsafe(16)  # 128 random bits, 22 characters
        with self._transaction() as conn:
            row = conn.execute(
                """INSERT INTO shared_answers (id, answer, created_by) VALUES (%s, %s::jsonb, %s)
                   RETURNING created_at""",
                (answer_id, data, created_by),
            ).fetchone()
        if row is None:
            raise RuntimeError("INSERT ... RETURNING returned no row")
        return SharedAnswer(id=answer_id, answer=answer, created_by=created_by, created_at=row[0])

    def shared(self, answer_id: str) -> SharedAnswer:
        if not _ANSWER_ID.match(answer_id):
            raise NotFound(f"no shared answer {answer_id[:40]!r}")
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT answer, created_by, created_at FROM shared_answers WHERE id = %s", (answer_id,)
            ).fetchone()
        if row is None:
            raise NotFound(f"no shared answer {answer_id}")
        return SharedAnswer(id=answer_id, answer=Answer.model_validate(row[0]), created_by=row[1], created_at=row[2])

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        import psycopg
        from psycopg.pq import TransactionStatus

        with self._lock:
            try:
                conn = self.writer.get()
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    conn.rollback()
                with conn.transaction():
                    yield conn
            except psycopg.OperationalError as error:
                if error.sqlstate is None or error.sqlstate.startswith(("08", "57P")):
                    self.writer.discard()
                    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
                    raise DatabaseUnavailable(f"the database connection failed: {first}") from error
                raise


def storable(value: Any, field: str) -> None:
    """Refuse what PostgreSQL's jsonb cannot hold, naming the field: NUL characters and lone UTF-16 surrogates
    (which JSON's \\uD800 escapes can produce), in keys as in values. Anything else is stored as sent."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise QueryInputError("holds a NUL character, which cannot be stored", field=field)
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    raise QueryInputError(
                        "holds text that is not valid Unicode (a lone surrogate), which cannot be stored", field=field
                    ) from None


def answer_link(console_url: str, answer_id: str) -> str:
    """Where the console shows a shared answer."""
    return f"{console_url.rstrip('/')}/#/answers/{answer_id}"


def slack_share_link(store: SavedStore, console_url: str) -> Callable[[Answer], str]:
    """For Slack answers: share the answer (created by "slack") and link to it in the console."""

    def link(answer: Answer) -> str:
        return answer_link(console_url, store.share(answer, created_by="slack").id)

    return link


def _item(row: tuple[Any, ...]) -> SavedItem:
    item_id, kind, name, body, created_by, created_at = row
    return SavedItem(id=item_id, kind=kind, name=name, body=body, created_by=created_by, created_at=created_at)


def _check_principal(principal: str) -> None:
    if not 1 <= len(principal) <= 200:
        raise ValueError(f"a principal is 1 to 200 characters, got {len(principal)}")
