"""The local HTTP server: uvicorn on 127.0.0.1 in front of the local API Gateway (gateway.py).

Why uvicorn with httptools (measured with wrk, 32 connections, one small POST each, on the
2-core dev machine): 17,000-25,000 answers/s for an empty app, against ~13,000 for granian
(embedded), ~5,900 for waitress and ~5,000 for uvicorn's pure-Python h11 parser; the handlers
themselves take ~60 µs a request, so the server stays a small part of the cost. It parses
chunked bodies and pipelined requests in C (llhttp), refuses malformed framing (a negative
Content-Length, Content-Length beside Transfer-Encoding), caps connections and closes idle
ones; protocol.py adds the head's time and size limits it lacks.

What this module adds: the body is counted as it streams in and refused with 413 as soon as it
passes the limit (or at once when Content-Length already says so), and must arrive within the
body timeout (408); both answers close the connection, since the rest of the body is not read.
The route handlers are synchronous and may block (the spool's fsync, the agent's model calls),
so they run in thread pools, one per route group: slow asks never hold up ingest.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import socket
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from loglens.devtools.local.gateway import LOCAL_API_KEY_ID, LocalApi, Route
from loglens.ingest.limits import MAX_BODY_BYTES

__all__ = ["LOCAL_API_KEY_ID", "HttpLimits", "LocalApi", "LocalHttpServer", "Route"]

log = logging.getLogger(__name__)
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class HttpLimits:
    max_body_bytes: int = MAX_BODY_BYTES
    drain_bytes: int = 64 << 20  # an over-limit body is read and dropped up to here before the 413
    body_timeout: float = 30.0  # the whole body, from the end of the head
    head_timeout: float = 10.0  # the whole head, from its first byte
    max_head_bytes: int = 64 * 1024
    keep_alive: int = 75  # idle seconds before a connection is closed (longer than clients' pools keep them)
    max_connections: int = 256  # beyond: 503 and close
    threads: dict[str, int] | None = None  # per route group; default 32 for any group


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Gone(Exception):
    """The client went away before its body arrived: nothing to answer."""


class GatewayApp:
    """ASGI: read a bounded body, then let the local API Gateway answer (in a thread pool)."""

    def __init__(self, api: LocalApi, limits: HttpLimits) -> None:
        self.api = api
        self.limits = limits
        self._pools: dict[str, ThreadPoolExecutor] = {}

    def _pool(self, group: str) -> ThreadPoolExecutor:
        pool = self._pools.get(group)
        if pool is None:
            size = (self.limits.threads or {}).get(group, 32)
            pool = self._pools[group] = ThreadPoolExecutor(size, thread_name_prefix=f"loglens-http-{group}")
        return pool

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers: dict[str, list[str]] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
        try:
            body = await self._body(headers, receive)
        except _Refused as refused:
            body_text = json.dumps({"error": str(refused)})
            await _send(send, refused.status, {"Content-Type": "application/json", "Connection": "close"}, body_text)
            return
        except _Gone:
            return
        method, path = scope["method"], scope["path"]
        single = {name: values[-1] for name, values in headers.items()}
        response = self.api.refusal(method, path, single)
        if response is None:
            query = scope["query_string"].decode("latin-1")
            client = scope.get("client") or ("127.0.0.1", 0)
            route = self.api.route(path)
            event = self.api.event(method, path, query, headers, body, client[0])
            loop = asyncio.get_running_loop()
            response = await loop.run_in_executor(self._pool(route.group), self.api.invoke, route, event)
        await _send_proxy(send, response)

    async def _body(self, headers: dict[str, list[str]], receive: Receive) -> bytes:
        """The whole body, or _Refused. Past the limit the rest is read and dropped (up to
        `drain_bytes`), so a client that sends it all before reading sees the 413, not a reset."""
        limit, drain = self.limits.max_body_bytes, self.limits.drain_bytes
        declared = int(headers.get("content-length", ["0"])[-1])  # the parser accepted it: a number
        waits_for_continue = headers.get("expect", [""])[-1].lower() == "100-continue"
        if declared > limit and (waits_for_continue or declared > drain):
            raise _Refused(413, f"body is {declared} bytes; the limit is {limit}")
        parts: list[bytes] = []
        size = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.body_timeout
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                if size > limit:
                    break
                raise _Refused(
                    408, f"body not received within {self.limits.body_timeout:g} s ({size} bytes arrived)"
                ) from None
            if message["type"] == "http.disconnect":
                raise _Gone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= limit:
                parts.append(chunk)
            elif size > drain:
                break
            if not message.get("more_body", False):
                break
        if size > limit:
            told = f"{declared} bytes" if declared else f"over {limit} bytes"
            raise _Refused(413, f"body is {told}; the limit is {limit}")
        return b"".join(parts)


async def _send(send: Send, status: int, headers: dict[str, str], body: str | bytes) -> None:
    data = body.encode() if isinstance(body, str) else body
    raw = [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in headers.items()]
    raw.append((b"content-length", str(len(data)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": data})


async def _send_proxy(send: Send, response: dict[str, Any]) -> None:
    """A Lambda proxy response onto the wire; a malformed one is API Gateway's 502."""
    try:
        status = int(response["statusCode"])
        headers = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers[str(name)] = ", ".join(str(v) for v in values)
        raw = response.get("body") or ""
        data = base64.b64decode(raw, validate=True) if response.get("isBase64Encoded") else str(raw).encode()
    except (KeyError, TypeError, ValueError, binascii.Error):
        log.exception("a handler returned a malformed proxy response")
        status, headers, data = 502, {"Content-Type": "application/json"}, b'{"message": "Internal server error"}'
    headers.pop("Content-Length", None)
    headers.pop("content-length", None)
    await _send(send, status, headers, data)


def _listen(host: str, port: int) -> socket.socket:
    # proto=IPPROTO_TCP, not socket.create_server's 0: asyncio turns Nagle off only on sockets that
    # say TCP, and with Nagle on every answer waited ~40 ms for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock


class LocalHttpServer:
    """uvicorn in a background thread with its own event loop; the port is bound in __init__, so
    a busy port fails (OSError) before anything else starts."""

    def __init__(self, api: LocalApi, port: int, host: str = "127.0.0.1", limits: HttpLimits | None = None) -> None:
        import uvicorn

        from loglens.devtools.local.protocol import GuardedHttpToolsProtocol

        self.limits = limits or HttpLimits()
        self._socket = _listen(host, port)
        self.app = GatewayApp(api, self.limits)
        config = uvicorn.Config(
            self.app,
            http=GuardedHttpToolsProtocol.configured(
                head_timeout=self.limits.head_timeout, max_head_bytes=self.limits.max_head_bytes
            ),
            loop="asyncio",
            ws="none",
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # sourceIp is the peer, as API Gateway's is
            server_header=False,
            limit_concurrency=self.limits.max_connections,
            timeout_keep_alive=self.limits.keep_alive,
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="loglens-http", daemon=True)
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        host, port = self._socket.getsockname()[:2]
        return f"http://{host!s}:{port}"

    def _run(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._socket]))
        except BaseException as exc:  # reported by start(), or logged if it happens later
            self._failure = exc
            log.exception("the HTTP server stopped")

    def start(self, timeout: float = 30.0) -> None:
        self._thread.start()
        waited = 0.0
        while not self._server.started:
            if not self._thread.is_alive() or waited > timeout:
                raise RuntimeError(f"the HTTP server did not start: {self._failure!r}")
            self._thread.join(0.01)
            waited += 0.01

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(15)
        self._socket.close()
        self.app.close()
