"""The local API Gateway: HTTP on 127.0.0.1 turned into REST proxy events for the same handlers.

Like the deployed API: routes that need an API key answer 403 without a matching `x-api-key`,
an unknown path 404, both in the one error shape with API Gateway's configured texts
(loglens.http.gateway); bodies are passed base64-encoded (the deployed API declares every media
type binary, so gzip and protobuf arrive intact). A route may end in one `{name}` segment, as API
Gateway resources do (/api/v1/saved/{id}); a path no route has goes to `fallback` when one is set
(the console's static files), else 404.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from loglens.http.gateway import FORBIDDEN, INTERNAL, NO_ROUTE
from loglens.ingest.limits import MAX_BODY_BYTES

log = logging.getLogger(__name__)
EventHandler = Callable[[dict[str, Any]], dict[str, Any]]
LOCAL_API_KEY_ID = "local-dev-key"
_DRAIN_LIMIT = 64 * 1024 * 1024
# The same preflight answer the deployed API's CORS configuration gives.
CORS_PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET,POST,OPTIONS",
    "Access-Control-Allow-Headers": "content-type,content-encoding,x-api-key",
    "Access-Control-Max-Age": "600",
}


@dataclass
class Route:
    handler: EventHandler
    api_key_required: bool = True


@dataclass
class LocalApi:
    api_key: str
    routes: dict[str, Route] = field(default_factory=dict)
    fallback: Route | None = None  # for paths no route has (API Gateway: 404); the console's files

    def add(self, path: str, handler: EventHandler, *, api_key_required: bool = True) -> None:
        """`path` may end in one `{name}` segment, as API Gateway resources do (/api/v1/ask/{id})."""
        self.routes[path] = Route(handler, api_key_required)

    def _match(self, path: str) -> tuple[str, Route | None, dict[str, str]]:
        """(the resource template, its route, the path parameters) for a request path."""
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

    def dispatch(
        self, method: str, target: str, headers: dict[str, str], body: bytes, client_ip: str
    ) -> dict[str, Any]:
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        resource, route, path_parameters = self._match(path)
        if route is None:
            return _json(404, {"error": NO_ROUTE})
        if method == "OPTIONS":  # CORS preflight, answered by API Gateway itself (no key, no Lambda)
            return {"statusCode": 204, "headers": dict(CORS_PREFLIGHT_HEADERS), "body": ""}
        if route.api_key_required and not hmac.compare_digest(
            headers.get("x-api-key", "").encode(), self.api_key.encode()
        ):
            return _json(403, {"error": FORBIDDEN})
        event = {
            "version": "1.0",
            "resource": resource,
            "path": path,
            "pathParameters": path_parameters or None,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": dict(parse_qsl(parts.query)) or None,
            "body": base64.b64encode(body).decode() if body else None,
            "isBase64Encoded": bool(body),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "httpMethod": method,
                "resourcePath": resource,
                "stage": "local",
                "identity": {"sourceIp": client_ip, "apiKeyId": LOCAL_API_KEY_ID if route.api_key_required else None},
            },
        }
        try:
            return route.handler(event)
        except Exception:
            log.exception("handler for %s failed", path)
            return _json(500, {"error": INTERNAL})


def _json(status: int, body: Any) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES * 2:
            # Too big for any route. Read (and drop) up to a bound so the client sees the answer
            # rather than a broken pipe, then close the connection.
            remaining = min(length, _DRAIN_LIMIT)
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1024 * 1024))
                if not chunk:
                    break
                remaining -= len(chunk)
            self.close_connection = True
            self._send(_json(413, {"error": f"body is {length} bytes; the limit is {MAX_BODY_BYTES}"}))
            return
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        response = self.server.api.dispatch(self.command, self.path, headers, body, self.client_address[0])
        self._send(response)

    def __getattr__(self, name: str) -> Any:
        # Every method (TRACE, QUERY, ...) reaches the routes, which answer 405 with the one error shape,
        # instead of http.server's HTML 501.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _send(self, response: dict[str, Any]) -> None:
        raw = response.get("body") or ""
        data = base64.b64decode(raw) if response.get("isBase64Encoded") else str(raw).encode()
        self.send_response(int(response.get("statusCode", 500)))
        for key, value in (response.get("headers") or {}).items():
            self.send_header(key, str(value))
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], api: LocalApi) -> None:
        super().__init__(address, _Handler)
        self.api = api


class LocalHttpServer:
    def __init__(self, api: LocalApi, port: int, host: str = "127.0.0.1") -> None:
        self._server = _Server((host, port), api)
        self._thread = threading.Thread(target=self._server.serve_forever, name="loglens-http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
