"""Structured search: filters in, a page of matching records (newest first) and their histogram out.

The server builds the SQL from the filters and runs it like any other analyst statement (guard, read-only
role, timeout, row cap). Pages are keyset pages on (created_at DESC, event_id DESC), the primary key's order:
the cursor holds the last row's key and the window resolved for the first page, so page two neither skips
nor repeats a row while new ones arrive (a new row is newer than the first page's top, or if it arrived late
with an old time, it appears once, on the page where its time belongs). The histogram counts the same
matching records per bucket over the window, in the same transaction as the page.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from loglens.query import cursor as cursors
from loglens.query import window as windows
from loglens.query.errors import QueryInputError, from_validation_error
from loglens.query.filters import Filters, literal, timestamp_literal
from loglens.query.runner import QueryRunner
from loglens.record import LOG_COLUMNS

MAX_LIMIT: Final = 500
DEFAULT_LIMIT: Final = 100
_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)  # a Saturday at midnight UTC: buckets start on whole minutes/hours/days
BucketName = Literal["1m", "5m", "1h", "1d"]
# The bucket for a window: the smallest that keeps the chart at no more than ~170 bars.
_BUCKETS: Final[tuple[tuple[timedelta, BucketName, timedelta], ...]] = (
    (timedelta(hours=2), "1m", timedelta(minutes=1)),
    (timedelta(hours=12), "5m", timedelta(minutes=5)),
    (timedelta(days=7), "1h", timedelta(hours=1)),
)
_DAY: Final[tuple[BucketName, timedelta]] = ("1d", timedelta(days=1))
_INTERVALS: Final = {"1m": "1 minute", "5m": "5 minutes", "1h": "1 hour", "1d": "1 day"}


class SearchFilters(Filters):
    since: str | None = Field(
        default=None, min_length=1, max_length=64, description="Start (inclusive): ISO 8601, or 15m, 24h, 7d ago."
    )
    until: str | None = Field(
        default=None, min_length=1, max_length=64, description="End (exclusive): ISO 8601, or 15m, 24h, 7d ago; now."
    )


class SearchRequest(BaseModel):
    """`POST /api/v1/query` with filters: a structured search."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    filters: SearchFilters = Field(default_factory=SearchFilters)
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Records per page.")
    cursor: str | None = Field(
        default=None, min_length=1, max_length=cursors.MAX_CURSOR_CHARS, description="The previous page's cursor."
    )
    histogram: bool = Field(default=False, description="Also count the matching records over time.")


class HistogramBucket(BaseModel):
    start: datetime
    count: int


class Histogram(BaseModel):
    bucket: BucketName = Field(description="Bucket width, chosen from the window: 1m, 5m, 1h or 1d.")
    since: datetime
    until: datetime
    buckets: list[HistogramBucket] = Field(description="Every bucket of the window in order, empty ones as 0.")
    sql: str
    elapsed_ms: float


class SearchResult(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    sql: str = Field(description="The statement that ran, as the SQL guard regenerated it.")
    elapsed_ms: float = Field(description="Database time of the page query.")
    cursor: str | None = Field(description="Pass back for the next page; null on the last page.")
    limit_reached: bool = Field(description="More records match than this page holds.")
    since: datetime = Field(description="The window searched (resolved on the first page, kept by the cursor).")
    until: datetime
    histogram: Histogram | None = None


class _SearchCursor(BaseModel):
    model_config = ConfigDict(extra="forbid")

    v: Literal[1]
    f: str = Field(pattern=r"^[0-9a-f]{16}$")
    since: datetime
    until: datetime
    at: datetime
    id: UUID

    @field_validator("since", "until", "at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must carry a time zone")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _inside(self) -> _SearchCursor:
        if not self.since <= self.at < self.until:
            raise ValueError("position outside its window")
        return self


def parse_search(payload: object) -> SearchRequest:
    """A request body as a SearchRequest, or QueryInputError naming the field that is wrong."""
    if not isinstance(payload, dict):
        raise QueryInputError('a search is a JSON object: {"filters": {...}, "limit": 100, "cursor": "..."}')
    try:
        return SearchRequest.model_validate(payload)
    except ValidationError as error:
        raise _named(from_validation_error(error)) from None


def _named(problem: QueryInputError) -> QueryInputError:
    """An unknown key, with the keys that are known there."""
    path = problem.field or ""
    if not problem.message.endswith(": unknown field"):
        return problem
    if path.startswith("filters."):
        return QueryInputError(f"unknown filter; the filters are {', '.join(SearchFilters.model_fields)}", field=path)
    return QueryInputError(f"unknown field; a search has {', '.join(SearchRequest.model_fields)}", field=path)


def run_search(runner: QueryRunner, request: SearchRequest, *, now: datetime | None = None) -> SearchResult:
    hot = runner.limits.hot_window
    fingerprint = cursors.digest(request.filters.canonical())
    position: _SearchCursor | None = None
    if request.cursor is not None:
        position = cursors.decode(request.cursor, _SearchCursor)
        if position.f != fingerprint:
            raise QueryInputError(
                "belongs to a search with other filters; start again without a cursor", field="cursor"
            )
        window = windows.check(windows.Window(position.since, position.until), hot_window=hot)
    else:
        moment = now or datetime.now(UTC)
        window = windows.resolve(request.filters.since, request.filters.until, now=moment, hot_window=hot)
    conditions = [*_window_conditions(window), *request.filters.conditions()]
    page_sql = page_statement(conditions, position, request.limit)
    statements = [page_sql]
    bucket = histogram_bucket(window) if request.histogram else None
    if bucket is not None:
        statements.append(histogram_statement(conditions, bucket[0]))
    results = runner.run_together(statements)
    page = results[0]
    rows = page.rows[: request.limit]
    more = len(page.rows) > request.limit
    next_cursor = None
    if more and rows:
        last = dict(zip(page.columns, rows[-1], strict=True))
        next_cursor = cursors.encode(
            _SearchCursor(
                v=1,
                f=fingerprint,
                since=window.since,
                until=window.until,
                at=datetime.fromisoformat(str(last["created_at"])),
                id=UUID(str(last["event_id"])),
            )
        )
    histogram = None
    if bucket is not None:
        counted = results[1]
        histogram = Histogram(
            bucket=bucket[0],
            since=window.since,
            until=window.until,
            buckets=fill_buckets(window, bucket[1], counted.rows),
            sql=counted.sql,
            elapsed_ms=counted.elapsed_ms,
        )
    return SearchResult(
        columns=page.columns,
        rows=rows,
        sql=page.sql,
        elapsed_ms=page.elapsed_ms,
        cursor=next_cursor,
        limit_reached=more,
        since=window.since,
        until=window.until,
        histogram=histogram,
    )


def page_statement(conditions: list[str], position: _SearchCursor | None, limit: int) -> str:
    where = list(conditions)
    if position is not None:
        at, event = timestamp_literal(position.at), f"CAST({literal(str(position.id))} AS UUID)"
        # The plain bound prunes partitions; the row comparison is the keyset condition on the primary key.
        where += [f"created_at <= {at}", f"(created_at, event_id) < ({at}, {event})"]
    return (
        f"SELECT {', '.join(LOG_COLUMNS)} FROM logs WHERE {' AND '.join(where)} "
        f"ORDER BY created_at DESC, event_id DESC LIMIT {limit + 1}"
    )


def histogram_bucket(window: windows.Window) -> tuple[BucketName, timedelta]:
    for longest, name, size in _BUCKETS:
        if window.length <= longest:
            return name, size
    return _DAY


def histogram_statement(conditions: list[str], bucket: BucketName) -> str:
    interval = _INTERVALS[bucket]
    return (
        f"SELECT date_bin(INTERVAL '{interval}', created_at, {timestamp_literal(_ORIGIN)}) AS bucket, "
        f"count(*) AS records FROM logs WHERE {' AND '.join(conditions)} GROUP BY 1 ORDER BY 1"
    )


def fill_buckets(window: windows.Window, size: timedelta, rows: list[list[Any]]) -> list[HistogramBucket]:
    counts = {datetime.fromisoformat(str(start)): int(count) for start, count in rows}
    first = _ORIGIN + ((window.since - _ORIGIN) // size) * size
    buckets = []
    start = first
    while start < window.until:
        buckets.append(HistogramBucket(start=start, count=counts.get(start, 0)))
        start += size
    return buckets


def _window_conditions(window: windows.Window) -> list[str]:
    return [f"created_at >= {timestamp_literal(window.since)}", f"created_at < {timestamp_literal(window.until)}"]
