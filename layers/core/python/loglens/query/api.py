"""The query API's routes on the shared HTTP edge: a thin layer from proxy events to `loglens.query`.

    POST   /api/v1/query          {"sql"} or a structured search → SqlResult | SearchResult
    POST   /api/v1/query/check    {"sql"} → SqlCheck (nothing runs)
    GET    /api/v1/tail           ?cursor=&service=&level=&contains=... → TailResult
    GET    /api/v1/facts          → Facts (what the filters can choose from)
    GET    /api/v1/saved          ?kind= → SavedList;  POST /api/v1/saved → 201 SavedItem
    DELETE /api/v1/saved/{id}     → 204
    POST   /api/v1/answers        {"answer"} → 201 SharedAnswer;  GET /api/v1/answers/{id} → SharedAnswer

Failures answer with `loglens.query.errors.error_status` (the one error shape plus `code` and `field`).
Who is asking (`principal`) comes from API Gateway: the API key's id, or the console's Cognito claims; locally
`loglens dev` puts its key's id there for both its key and the console's session cookie. State-changing routes
read only `application/json` bodies (415 otherwise): a cross-site form cannot send that type without a CORS
preflight, which is what keeps a browser's cookie from being used against them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import BaseModel

from loglens.agent.tools import DatabaseUnavailable, QueryFailed
from loglens.http import HttpError, HttpResponse, Request, Router, decode_body, media_type, parse_json
from loglens.query.errors import ErrorBody, Forbidden, NotFound, QueryInputError, TooLarge, error_status
from loglens.query.facts import Facts, FactsCache, read_facts
from loglens.query.routes import (
    ANSWER_PATH,
    ANSWERS_PATH,
    CHECK_PATH,
    FACTS_PATH,
    QUERY_PATH,
    ROUTES,
    SAVED_ITEM_PATH,
    SAVED_PATH,
    TAIL_PATH,
)
from loglens.query.runner import QueryRunner
from loglens.query.saved import MAX_ANSWER_BYTES, SavedKind, SavedStore, parse_saved, parse_saved_id, parse_share
from loglens.query.search import SearchRequest, run_search
from loglens.query.sql import check, parse_query, parse_sql, run_sql
from loglens.query.tail import parse_tail_query, run_tail
from loglens.settings import ConfigError

log = logging.getLogger(__name__)

# A search or SQL body is small (SQL ≤ 20,000 characters, a cursor ≤ 32 KiB); a shared answer ≤ 1 MiB.
MAX_BODY_BYTES: Final = 128 * 1024
MAX_SHARE_BODY_BYTES: Final = MAX_ANSWER_BYTES + 64 * 1024
MAX_PRINCIPAL_CHARS: Final = 200
NOT_SIGNED_IN: Final = "sign in first: send an x-api-key header (or, in the console, sign in again)"


def principal(request: Request) -> str:
    """Who sends the request: the console's signed-in user, else the API key's id (saved entries are theirs)."""
    claims = request.claims
    who = claims.get("email") or claims.get("cognito:username") or claims.get("sub")
    if who:
        return f"user:{who}"[:MAX_PRINCIPAL_CHARS]
    if request.api_key_id:
        return f"key:{request.api_key_id}"[:MAX_PRINCIPAL_CHARS]
    # API Gateway lets nothing through without one of the two; this is a deployment mistake, said plainly.
    raise HttpError(401, NOT_SIGNED_IN)


@dataclass
class QueryApi:
    runner: Callable[[], QueryRunner]  # built on first use: importing the routes opens no connection
    store: Callable[[], SavedStore]
    cors_origin: str = "*"
    facts_ttl: float = 60.0
    router: Router = field(init=False)
    _facts: FactsCache = field(init=False)

    def __post_init__(self) -> None:
        self._facts = FactsCache(lambda: read_facts(self.runner()), self.facts_ttl)
        self.router = Router(self.cors_origin)
        handlers: dict[tuple[str, str], Callable[[Request], HttpResponse]] = {
            (QUERY_PATH, "POST"): self._query,
            (CHECK_PATH, "POST"): self._check,
            (TAIL_PATH, "GET"): self._tail,
            (FACTS_PATH, "GET"): self._facts_route,
            (SAVED_PATH, "GET"): self._saved_list,
            (SAVED_PATH, "POST"): self._saved_create,
            (SAVED_ITEM_PATH, "DELETE"): self._saved_delete,
            (ANSWERS_PATH, "POST"): self._share,
            (ANSWER_PATH, "GET"): self._shared,
        }
        for (path, method), handler in handlers.items():
            self.router.add(method, path, handler)
        for kind in (QueryInputError, QueryFailed, DatabaseUnavailable, NotFound, Forbidden, TooLarge):
            self.router.on_error(kind, _answer_error)
        self.router.on_error(ConfigError, _not_configured)

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        return self.router.resolve(event)

    def _query(self, request: Request) -> HttpResponse:
        _no_parameters(request)
        parsed = parse_query(_json_body(request, MAX_BODY_BYTES))
        result: BaseModel
        if isinstance(parsed, SearchRequest):
            result = run_search(self.runner(), parsed)
        else:
            result = run_sql(self.runner(), parsed)
        return _model(200, result)

    def _check(self, request: Request) -> HttpResponse:
        _no_parameters(request)
        return _model(200, check(self.runner(), parse_sql(_json_body(request, MAX_BODY_BYTES))))

    def _tail(self, request: Request) -> HttpResponse:
        return _model(200, run_tail(self.runner(), parse_tail_query(request.query)))

    def _facts_route(self, request: Request) -> HttpResponse:
        _no_parameters(request)
        return _model(200, self._facts.get())

    def _saved_list(self, request: Request) -> HttpResponse:
        kind: SavedKind | None = None
        for name, value in request.query.items():
            if name != "kind":
                raise QueryInputError("unknown parameter; the list takes kind", field=name[:64])
            try:
                kind = SavedKind(value)
            except ValueError:
                raise QueryInputError("is one of question, search, sql", field="kind") from None
        return _model(200, self.store().list(kind))

    def _saved_create(self, request: Request) -> HttpResponse:
        _no_parameters(request)
        item = parse_saved(_json_body(request, MAX_BODY_BYTES))
        return _model(201, self.store().create(item, created_by=principal(request)))

    def _saved_delete(self, request: Request) -> HttpResponse:
        _no_parameters(request)
        item_id = parse_saved_id(request.path_params.get("id", ""))
        self.store().delete(item_id, by=principal(request))
        return HttpResponse(204, b"")

    def _share(self, request: Request) -> HttpResponse:
        _no_parameters(request)
        body = _read_json_bytes(request, MAX_SHARE_BODY_BYTES)
        shared = parse_share(parse_json(body), len(body))
        return _model(201, self.store().share(shared.answer, created_by=principal(request)))

    def _shared(self, request: Request) -> HttpResponse:
        _no_parameters(request)
        return _model(200, self.store().shared(request.path_params.get("id", "")))


def _model(status: int, model: BaseModel) -> HttpResponse:
    return HttpResponse(status, model.model_dump_json().encode())


def _no_parameters(request: Request) -> None:
    if request.query:
        name = next(iter(request.query))
        raise QueryInputError("this route takes no query parameters", field=name[:64])


def _read_json_bytes(request: Request, limit: int) -> bytes:
    if media_type(request.headers.get("content-type")) != "application/json":
        raise HttpError(415, "send the body as JSON (Content-Type: application/json)")
    body = decode_body(request.body, request.headers.get("content-encoding"))
    if len(body) > limit:
        raise HttpError(413, f"body is {len(body):,} bytes; this route takes at most {limit:,}")
    return body


def _json_body(request: Request, limit: int) -> Any:
    return parse_json(_read_json_bytes(request, limit))


def _answer_error(error: Exception) -> HttpResponse:
    found = error_status(error)
    if found is None:  # only the kinds error_status knows are registered
        log.exception("unexpected query failure", exc_info=error)
        return HttpResponse.error(500, "internal error; the function's log has the details")
    status, body = found
    headers = {"Retry-After": str(body.retry_after)} if body.retry_after is not None else None
    return HttpResponse.json(status, body.model_dump(exclude_none=True), headers)


def _not_configured(error: Exception) -> HttpResponse:
    log.error("the query API is not configured: %s", error)
    body = ErrorBody(error=f"querying is not configured here: {error}", code="not_configured")
    return HttpResponse.json(503, body.model_dump(exclude_none=True))


__all__ = ["ROUTES", "Facts", "QueryApi", "principal"]
