"""The local API Gateway: HTTP requests turned into REST proxy events for the same handlers.

Answers what the deployed REST API answers before a function runs, with the texts its gateway
responses are configured with (loglens.http.gateway, infra/components/rest_api.py), in the one
error shape: an unknown path is 404, a route that needs an API key is 403 without a matching
`x-api-key`; OPTIONS on a route is the CORS preflight, with no key and no function. A known path
with another method reaches the route, which answers 405 (API Gateway cannot tell that from an
unknown path and says 404). A route may end in one `{name}` segment, as API Gateway resources do
(/api/v1/saved/{id}); a path no route has goes to `fallback` when one is set (the console's static
files), else 404. Gateway answers carry the CORS origin, as the deployed ones do.
Bodies are passed base64-encoded, since the deployed API declares every media type binary (so
gzip and protobuf arrive intact).
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from loglens.http.gateway import FORBIDDEN, INTERNAL, NO_ROUTE

log = logging.getLogger(__name__)
EventHandler = Callable[[dict[str, Any]], dict[str, Any]]
LOCAL_API_KEY_ID = "local-dev-key"
# The deployed preflight's answer (LoglensRestApi._add_preflight).
CORS_ALLOW_HEADERS = "Content-Type,Content-Encoding,X-Api-Key,X-Amz-Date,Authorization"
CORS_ALLOW_METHODS = "OPTIONS,GET,POST"


@dataclass
class Route:
    handler: EventHandler
    api_key_required: bool = True
    group: str = "ingest"  # routes of one group share a thread pool in the server


@dataclass
class LocalApi:
    api_key: str
    cors_origin: str = "*"
    routes: dict[str, Route] = field(default_factory=dict)
    fallback: Route | None = None  # for paths no route has (API Gateway: 404); the console's files

    def add(self, path: str, handler: EventHandler, *, api_key_required: bool = True, group: str = "ingest") -> None:
        """`path` may end in one `{name}` segment, as API Gateway resources do (/api/v1/ask/{id})."""
        self.routes[path] = Route(handler, api_key_required, group)

    def match(self, path: str) -> tuple[str, Route | None, dict[str, str]]:
        """(the resource template, its route, the path parameters) for a request path."""
        path = _route_path(path)
        if path in self.routes:
            return path, self.routes[path], {}
        head, _, last = path.rpartition("/")
        for template, route in self.routes.items():
            prefix, _, name = template.rpartition("/")
            if name.startswith("{") and name.endswith("}") and prefix == head and last:
                return template, route, {name[1:-1]: unquote(last)}
        if self.fallback is not None:
            return "/{proxy+}", self.fallback, {"proxy": path.lstrip("/")}
        return path, None, {}

    def route(self, path: str) -> Route:
        route = self.match(path)[1]
        if route is None:
            raise KeyError(path)
        return route

    def refusal(self, method: str, path: str, headers: dict[str, str]) -> dict[str, Any] | None:
        """API Gateway's own answer, decided from the request line and headers alone; None when the
        route's handler is to be called."""
        route = self.match(path)[1]
        if route is not None and method == "OPTIONS":
            return self._proxy(204, None, self._preflight_headers())
        if route is None:
            return self._proxy(404, {"error": NO_ROUTE})
        if route.api_key_required and not hmac.compare_digest(
            headers.get("x-api-key", "").encode(), self.api_key.encode()
        ):
            return self._proxy(403, {"error": FORBIDDEN})
        return None

    def dispatch(
        self, method: str, path: str, query: str, headers: dict[str, list[str]], body: bytes, client_ip: str
    ) -> dict[str, Any]:
        """The proxy response for one request: a gateway refusal, or the route handler's answer."""
        refused = self.refusal(method, path, {name: values[-1] for name, values in headers.items()})
        if refused is not None:
            return refused
        return self.invoke(self.route(path), self.event(method, path, query, headers, body, client_ip))

    def event(
        self, method: str, path: str, query: str, headers: dict[str, list[str]], body: bytes, client_ip: str
    ) -> dict[str, Any]:
        """The REST (payload 1.0) proxy event API Gateway would send for this request."""
        single = {name: values[-1] for name, values in headers.items()}  # API Gateway keeps the last
        resource, route, path_parameters = self.match(path)
        if route is None:
            raise KeyError(path)
        multi_query: dict[str, list[str]] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            multi_query.setdefault(name, []).append(value)
        return {
            "version": "1.0",
            "resource": resource,
            "path": path,
            "httpMethod": method,
            "headers": single,
            "multiValueHeaders": headers,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_parameters or None,
            "stageVariables": None,
            "body": base64.b64encode(body).decode() if body else None,
            "isBase64Encoded": bool(body),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "httpMethod": method,
                "resourcePath": resource,
                "path": path,
                "stage": "local",
                "protocol": "HTTP/1.1",
                "requestTimeEpoch": int(time.time() * 1000),
                "identity": {
                    "sourceIp": client_ip,
                    "userAgent": single.get("user-agent"),
                    "apiKeyId": LOCAL_API_KEY_ID if route.api_key_required else None,
                },
            },
        }

    def invoke(self, route: Route, event: dict[str, Any]) -> dict[str, Any]:
        try:
            return route.handler(event)
        except Exception:
            log.exception("handler for %s failed", event.get("resource"))
            return self._proxy(500, {"error": INTERNAL})

    def _proxy(self, status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
        all_headers = {"Access-Control-Allow-Origin": self.cors_origin, **(headers or {})}
        if body is None:
            return {"statusCode": status, "headers": all_headers, "body": ""}
        all_headers["Content-Type"] = "application/json"
        return {"statusCode": status, "headers": all_headers, "body": json.dumps(body)}

    def _preflight_headers(self) -> dict[str, str]:
        return {
            "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
            "Access-Control-Allow-Methods": CORS_ALLOW_METHODS,
            "Access-Control-Max-Age": "600",
        }


def _route_path(path: str) -> str:
    return path.rstrip("/") or "/"
