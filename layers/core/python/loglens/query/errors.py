"""What can go wrong in a query request, and the HTTP answer for each failure (one table for every edge)."""

from __future__ import annotations

from pydantic import Field, ValidationError

from loglens.agent.tools import DatabaseUnavailable, QueryFailed
from loglens.http.response import ErrorAnswer

UNAVAILABLE_RETRY_S = 5  # a database that went away is usually back (failover, restart) within seconds


class QueryInputError(ValueError):
    """The request cannot be turned into a query; `field` names the part of the request at fault."""

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid_request") -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.message = str(self)
        self.field = field
        self.code = code


class NotFound(LookupError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Forbidden(PermissionError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TooLarge(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ErrorBody(ErrorAnswer):
    """The routes' one error shape ({"error", "retry_after"?}) with what a query client can act on."""

    code: str = Field(description="Stable machine-readable code: invalid_request, a SQL guard code, timeout, ...")
    field: str | None = Field(default=None, description="The request field at fault, as a dotted path.")


def from_validation_error(error: ValidationError) -> QueryInputError:
    """The first problem pydantic found, as one message that names the field (`filters.level`, `limit`)."""
    first = error.errors(include_url=False)[0]
    path = ".".join(str(part) for part in first["loc"]) or None
    kind = first["type"]
    if kind == "extra_forbidden":
        return QueryInputError("unknown field", field=path)
    message = str(first["msg"])
    # pydantic prefixes messages of errors raised in validators with "Value error, "
    message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return QueryInputError(message, field=path)


def error_status(error: BaseException) -> tuple[int, ErrorBody] | None:
    """The HTTP status and body for a failure of this package, or None for an unexpected one (a 500).

    The edge answers `HttpResponse.json(status, body.model_dump(exclude_none=True))`, plus a Retry-After
    header when `retry_after` is set."""
    if isinstance(error, QueryInputError):
        return 400, ErrorBody(error=error.message, code=error.code, field=error.field)
    if isinstance(error, QueryFailed):
        if error.kind == "refused":
            return 400, ErrorBody(error=error.message, code=error.code)
        # A valid request the database could not finish: a timeout or an error in the SQL as written.
        return 422, ErrorBody(error=error.message, code="timeout" if error.kind == "timeout" else "database_error")
    if isinstance(error, DatabaseUnavailable):
        return 503, ErrorBody(
            error=f"the log database cannot be reached right now: {error}",
            code="unavailable",
            retry_after=UNAVAILABLE_RETRY_S,
        )
    if isinstance(error, NotFound):
        return 404, ErrorBody(error=error.message, code="not_found")
    if isinstance(error, Forbidden):
        return 403, ErrorBody(error=error.message, code="forbidden")
    if isinstance(error, TooLarge):
        return 413, ErrorBody(error=error.message, code="too_large")
    return None
