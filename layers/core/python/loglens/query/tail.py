"""Live tail: the records stored since the last poll that match the filters, in the order they were stored.

"Stored after" cannot be read from a timestamp. created_at is the event's own time (a late record keeps an
old one), and received_at is set by collect before Firehose buffers the record: loads commit out of that order
(concurrent load functions, a backlog after an outage), so a received_at cursor would step over records that
commit later with an earlier time. Instead every row carries the id of the transaction that stored it
(`stored_xid`, migration 0012), and each poll compares those ids with PostgreSQL snapshots, as PgQ batches
events: a cursor holds the snapshot the previous poll read up to, a poll takes a new one, and the records of
transactions visible in the new snapshot but not in the old are exactly those stored in between, each
returned once, whenever its transaction commits. A long transaction elsewhere delays nothing: only its own
rows wait for it. A page that is full keeps the new snapshot in the cursor and continues from the last
returned row's key, so a burst is read in bounded pages without losing the snapshot it belongs to.

The first poll (no cursor) returns the newest matching records of the last few minutes as context, then
follows from the snapshot it read them in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from loglens.query import cursor as cursors
from loglens.query.errors import QueryInputError, from_validation_error
from loglens.query.filters import Filters, literal, timestamp_literal
from loglens.query.runner import STORED_XID, QueryRunner
from loglens.record import LOG_COLUMNS

MAX_LIMIT: Final = 500
DEFAULT_LIMIT: Final = 100
BACKFILL: Final = timedelta(minutes=10)
MAX_IN_PROGRESS: Final = 1000  # transactions writing at once, cluster-wide; a handful in practice


class TailFilters(Filters):
    """The search filters without a time range: tail follows what is stored from now on."""


class TailRequest(BaseModel):
    """`GET /api/v1/tail?cursor=&service=&level=&contains=...`"""

    model_config = ConfigDict(extra="forbid", frozen=True)

    filters: TailFilters = Field(default_factory=TailFilters)
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Records per poll at most.")
    cursor: str | None = Field(
        default=None, min_length=1, max_length=cursors.MAX_CURSOR_CHARS, description="The previous poll's cursor."
    )


class TailResult(BaseModel):
    columns: list[str]
    rows: list[list[Any]] = Field(description="Records in the order they were stored (oldest first).")
    sql: str = Field(description="The statement that ran, as the SQL guard regenerated it.")
    elapsed_ms: float
    cursor: str = Field(description="Pass back on the next poll.")
    limit_reached: bool = Field(description="More records are waiting: poll again right away.")


class Snapshot(BaseModel):
    """A PostgreSQL snapshot (pg_current_snapshot()): which transactions had committed when it was taken."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    xmin: int = Field(ge=1, lt=2**63)
    xmax: int = Field(ge=1, lt=2**63)
    xip: list[int] = Field(default_factory=list, max_length=MAX_IN_PROGRESS)

    @model_validator(mode="after")
    def _consistent(self) -> Snapshot:
        if self.xmin > self.xmax:
            raise ValueError("xmin after xmax")
        if any(not self.xmin <= x < self.xmax for x in self.xip) or self.xip != sorted(set(self.xip)):
            raise ValueError("in-progress ids outside [xmin, xmax) or not sorted")
        return self

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        xmin, xmax, xip = text.split(":")
        return cls(xmin=int(xmin), xmax=int(xmax), xip=sorted({int(x) for x in xip.split(",") if x}))

    def visible(self) -> list[str]:
        """Conditions: the row's transaction had committed when this snapshot was taken."""
        out = [f"{STORED_XID} < {self.xmax}"]
        if self.xip:
            out.append(f"NOT {STORED_XID} IN ({', '.join(map(str, self.xip))})")
        return out

    def not_visible(self) -> list[str]:
        """Conditions: the row's transaction had not committed when this snapshot was taken."""
        later = f"{STORED_XID} >= {self.xmax}"
        if self.xip:
            later = f"({later} OR {STORED_XID} IN ({', '.join(map(str, self.xip))}))"
        return [f"{STORED_XID} >= {self.xmin}", later]


class _After(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    x: int = Field(ge=1, lt=2**63)
    at: datetime
    id: UUID

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a time zone")
        return value.astimezone(UTC)


class _TailCursor(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1]
    f: str = Field(pattern=r"^[0-9a-f]{16}$")
    p: Snapshot  # everything visible in it has been returned
    t: Snapshot | None = None  # a page of the records between p and t is being read
    a: _After | None = None  # ... and this is the last one returned

    @model_validator(mode="after")
    def _ordered(self) -> _TailCursor:
        if self.t is not None and (self.t.xmin < self.p.xmin or self.t.xmax < self.p.xmax):
            raise ValueError("snapshots out of order")
        if (self.a is None) != (self.t is None):
            raise ValueError("a page position needs its snapshot")
        if self.a is not None and self.t is not None and not self.p.xmin <= self.a.x < self.t.xmax:
            raise ValueError("page position outside its snapshots")
        return self


def parse_tail_query(params: Mapping[str, str] | None) -> TailRequest:
    """Query-string parameters: cursor, limit, service, level (comma-separated), environment, contains,
    trace_id, user_id and metadata.<key>=<value>."""
    filters: dict[str, Any] = {}
    request: dict[str, Any] = {}
    for name, value in (params or {}).items():
        if name in ("cursor", "limit"):
            request[name] = value
        elif name == "level":
            filters["level"] = [part for part in value.split(",") if part.strip()] or value
        elif name.startswith("metadata."):
            filters.setdefault("metadata", {})[name.removeprefix("metadata.")] = value
        elif name in TailFilters.model_fields and name != "metadata":
            filters[name] = value
        else:
            known = "cursor, limit, " + ", ".join(f for f in TailFilters.model_fields if f != "metadata")
            raise QueryInputError(f"unknown parameter; tail takes {known} and metadata.<key>", field=name[:64])
    return parse_tail({**request, "filters": filters})


def parse_tail(payload: object) -> TailRequest:
    if not isinstance(payload, dict):
        raise QueryInputError('a tail request is a JSON object: {"filters": {...}, "cursor": "..."}')
    try:
        return TailRequest.model_validate(payload)
    except ValidationError as error:
        problem = from_validation_error(error)
        if problem.message.endswith(": unknown field") and (problem.field or "").startswith("filters."):
            known = ", ".join(TailFilters.model_fields)
            raise QueryInputError(
                f"unknown filter; tail takes {known} (no since/until: it follows what is stored from now on)",
                field=problem.field,
            ) from None
        raise problem from None


def run_tail(runner: QueryRunner, request: TailRequest, *, now: datetime | None = None) -> TailResult:
    moment = now or datetime.now(UTC)
    fingerprint = cursors.digest(request.filters.canonical())
    current = _current_snapshot(runner)
    bound = f"created_at >= {timestamp_literal(moment - runner.limits.tail_lookback)}"
    filters = request.filters.conditions()
    if request.cursor is None:
        return _first_poll(runner, request, fingerprint, current, filters, moment)
    position = cursors.decode(request.cursor, _TailCursor)
    if position.f != fingerprint:
        raise QueryInputError("belongs to a tail with other filters; start again without a cursor", field="cursor")
    if position.p.xmax > current.xmax or (position.t is not None and position.t.xmax > current.xmax):
        raise QueryInputError(
            "is ahead of this database (issued by another one, or before a restore); start again without a cursor",
            field="cursor",
        )
    target = position.t or current
    where = [bound, *position.p.not_visible(), *target.visible(), *filters]
    if position.a is not None:
        after = position.a
        where.append(
            f"({STORED_XID}, created_at, event_id) > ({after.x}, {timestamp_literal(after.at)}, "
            f"CAST({literal(str(after.id))} AS UUID))"
        )
    statement = (
        f"SELECT {STORED_XID}, {', '.join(LOG_COLUMNS)} FROM logs WHERE {' AND '.join(where)} "
        f"ORDER BY {STORED_XID}, created_at, event_id LIMIT {request.limit + 1}"
    )
    result = runner.run_tail(statement)
    rows = result.rows[: request.limit]
    more = len(result.rows) > request.limit
    if more:
        last = dict(zip(result.columns, rows[-1], strict=True))
        after = _After(
            x=int(last[STORED_XID]), at=datetime.fromisoformat(str(last["created_at"])), id=UUID(str(last["event_id"]))
        )
        next_position = _TailCursor(v=1, f=fingerprint, p=position.p, t=target, a=after)
    else:
        next_position = _TailCursor(v=1, f=fingerprint, p=target)
    return TailResult(
        columns=result.columns[1:],
        rows=[r[1:] for r in rows],
        sql=result.sql,
        elapsed_ms=result.elapsed_ms,
        cursor=cursors.encode(next_position),
        limit_reached=more,
    )


def _current_snapshot(runner: QueryRunner) -> Snapshot:
    with runner.transaction() as conn:
        (text,) = conn.execute("SELECT pg_current_snapshot()::text").fetchone() or ("",)
    return Snapshot.parse(str(text))


def _first_poll(
    runner: QueryRunner,
    request: TailRequest,
    fingerprint: str,
    current: Snapshot,
    filters: list[str],
    moment: datetime,
) -> TailResult:
    """The newest matching records of the last minutes that `current` sees; the cursor follows from there."""
    where = [f"created_at >= {timestamp_literal(moment - BACKFILL)}", *current.visible(), *filters]
    statement = (
        f"SELECT {', '.join(LOG_COLUMNS)} FROM logs WHERE {' AND '.join(where)} "
        f"ORDER BY created_at DESC, event_id DESC LIMIT {request.limit}"
    )
    result = runner.run_tail(statement)
    return TailResult(
        columns=result.columns,
        rows=list(reversed(result.rows)),
        sql=result.sql,
        elapsed_ms=result.elapsed_ms,
        cursor=cursors.encode(_TailCursor(v=1, f=fingerprint, p=current)),
        limit_reached=False,
    )
