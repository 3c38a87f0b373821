"""Routing API Gateway REST proxy events to handlers, with one error shape and CORS on every answer."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loglens.http.request import HttpError, raw_body
from loglens.http.response import HttpResponse

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Request:
    """One proxy event, read once: the route's view of it."""

    method: str
    path: str  # the route template (`resource`), e.g. /api/v1/ask/{id}
    headers: Mapping[str, str]  # lower-case names
    query: Mapping[str, str]
    path_params: Mapping[str, str]
    event: Mapping[str, Any]

    @property
    def body(self) -> bytes:
        return raw_body(self.event.get("body"), bool(self.event.get("isBase64Encoded")))

    @property
    def identity(self) -> Mapping[str, Any]:
        return (self.event.get("requestContext") or {}).get("identity") or {}

    @property
    def api_key_id(self) -> str | None:
        value = self.identity.get("apiKeyId")
        return str(value) if value else None

    @property
    def source_ip(self) -> str | None:
        value = self.identity.get("sourceIp")
        return str(value).split("/", 1)[0] if value else None

    @property
    def claims(self) -> Mapping[str, Any]:
        """A Cognito authorizer's claims (the console's sign-in), or empty."""
        authorizer = (self.event.get("requestContext") or {}).get("authorizer") or {}
        claims = authorizer.get("claims") if isinstance(authorizer, Mapping) else None
        return claims if isinstance(claims, Mapping) else {}

    @property
    def caller(self) -> str | None:
        """Who sends the request: the console user's Cognito subject (the console's API has no keys), else the
        API key's id; None when neither (a route API Gateway lets through without either, like Slack's)."""
        subject = self.claims.get("sub")
        return f"user:{subject}" if subject else self.api_key_id

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> Request:
        headers = event.get("headers") or {}
        query = event.get("queryStringParameters") or {}
        params = event.get("pathParameters") or {}
        # `resource` is the route template; `path` may carry a stage prefix on custom domains.
        path = str(event.get("resource") or event.get("path") or "").rstrip("/") or "/"
        return cls(
            method=str(event.get("httpMethod") or "").upper(),
            path=path,
            headers={str(k).lower(): str(v) for k, v in headers.items()} if isinstance(headers, Mapping) else {},
            query={str(k): str(v) for k, v in query.items()} if isinstance(query, Mapping) else {},
            path_params={str(k): str(v) for k, v in params.items()} if isinstance(params, Mapping) else {},
            event=event,
        )


Handler = Callable[[Request], HttpResponse]


@dataclass
class Router:
    """Exact route templates → {method: handler}. Unknown path: 404; known path, other method: 405."""

    cors_origin: str = "*"
    routes: dict[str, dict[str, Handler]] = field(default_factory=dict)
    # Errors that are not HttpError but mean a known answer (e.g. the sink is unavailable → 503).
    error_answers: list[tuple[type[Exception], Callable[[Exception], HttpResponse]]] = field(default_factory=list)

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(method, path, handler)
            return handler

        return register

    def add(self, method: str, path: str, handler: Handler) -> None:
        self.routes.setdefault(path.rstrip("/") or "/", {})[method.upper()] = handler

    def on_error(self, kind: type[Exception], answer: Callable[[Exception], HttpResponse]) -> None:
        self.error_answers.append((kind, answer))

    def handles(self, path: str) -> bool:
        return (path.rstrip("/") or "/") in self.routes

    def resolve(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The proxy response for a proxy event; never raises."""
        return self.answer(event).to_proxy(self.cors_origin)

    def answer(self, event: Mapping[str, Any]) -> HttpResponse:
        request = Request.from_event(event)
        try:
            methods = self.routes.get(request.path)
            if methods is None:
                raise HttpError(404, f"no route for {request.path}")
            handler = methods.get(request.method)
            if handler is None:
                allowed = ", ".join(sorted(methods))
                raise HttpError(405, f"use {' or '.join(sorted(methods))}", {"Allow": allowed})
            return handler(request)
        except HttpError as error:
            return HttpResponse.error(error.status, error.message, error.headers)
        except Exception as error:
            for kind, answer in self.error_answers:
                if isinstance(error, kind):
                    return answer(error)
            # A bug, not the client's fault: logged with its stack, answered without it.
            log.exception("%s %s failed", request.method, request.path)
            return HttpResponse.error(500, "internal error; the function's log has the details")
