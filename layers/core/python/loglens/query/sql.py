"""Raw SQL from a person: the same guard, analyst role, timeout and row cap as the agent's run_query.

`POST /api/v1/query` takes either `{"sql": "..."}` or a structured search; `parse_query` tells them apart.
`check` returns the guard's verdict (and the SQL as it would run) without running anything, for the
console's editor to show while someone types.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from loglens.query.errors import QueryInputError, from_validation_error
from loglens.query.runner import QueryRunner
from loglens.query.search import SearchRequest, parse_search

MAX_SQL_CHARS: Final = 20_000


class SqlRequest(BaseModel):
    """`POST /api/v1/query {"sql"}` and `POST /api/v1/query/check {"sql"}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sql: str = Field(min_length=1, max_length=MAX_SQL_CHARS, description="One read-only SELECT.")

    @field_validator("sql")
    @classmethod
    def _text(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        if not value.strip():
            raise ValueError("is empty")
        return value


class SqlResult(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    sql: str = Field(description="The statement that ran, as the SQL guard regenerated it (a LIMIT may be added).")
    elapsed_ms: float
    limit_reached: bool = Field(description="The row cap was reached, so there may be more rows.")
    note: str = Field(description="What the guard changed, e.g. 'allowed; LIMIT 1000 added'.")


class SqlCheck(BaseModel):
    allowed: bool
    code: str = Field(description="'ok', or the guard's reason code (unknown_column, unbounded_time, ...).")
    reason: str
    sql: str | None = Field(description="The SQL as it would run, when allowed.")


def parse_sql(payload: object) -> SqlRequest:
    if not isinstance(payload, dict):
        raise QueryInputError('send {"sql": "SELECT ..."}')
    try:
        return SqlRequest.model_validate(payload)
    except ValidationError as error:
        raise from_validation_error(error) from None


def parse_query(payload: object) -> SqlRequest | SearchRequest:
    """The body of POST /api/v1/query: raw SQL when it has "sql", a structured search otherwise."""
    if isinstance(payload, dict) and "sql" in payload:
        return parse_sql(payload)
    return parse_search(payload)


def run_sql(runner: QueryRunner, request: SqlRequest) -> SqlResult:
    result = runner.run(request.sql)
    return SqlResult(
        columns=result.columns,
        rows=result.rows,
        sql=result.sql,
        elapsed_ms=result.elapsed_ms,
        limit_reached=result.limit_reached,
        note=result.guard_note,
    )


def check(runner: QueryRunner, request: SqlRequest) -> SqlCheck:
    verdict = runner.verdict(request.sql)
    return SqlCheck(allowed=verdict.allowed, code=verdict.code, reason=verdict.reason, sql=verdict.sql)
