"""A scriptable fake of the loglens ingest API on 127.0.0.1.

It speaks the real contract (POST /api/v1/logs/batch, gzip, 200 with accepted/rejected,
400/401/403/413/429/5xx) so the client is exercised over real sockets, not mocks. Replies can be
scripted per request (`script`) or decided by a rule on what arrived (`rule`); `hang` holds the
connection open without answering.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    reject: tuple[int, ...] = ()  # indices to reject in a 200 answer
    hang: float = 0.0  # seconds to hold the connection without answering


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    raw_size: int
    logs: list[dict[str, Any]]
    status: int
    rejected: tuple[int, ...]


class FakeIngest:
    def __init__(self) -> None:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[Received] = []
        self._script: deque[Reply] = deque()
        self.rule: Callable[[Received], Reply | None] | None = None
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control --
    def start(self) -> FakeIngest:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                fake._handle(self)

        self.release.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def script(self, *replies: Reply) -> None:
        with self.lock:
            self._script.extend(replies)

    # -- what arrived --
    def accepted(self) -> list[dict[str, Any]]:
        with self.lock:
            out = []
            for request in self.requests:
                if request.status == 200:
                    out.extend(r for i, r in enumerate(request.logs) if i not in request.rejected)
            return out

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                got = sum(
                    len(r.logs) - len(r.rejected) for r in self.requests if r.status == 200
                )
                if got >= count:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.changed.wait(remaining)
        return self.accepted()

    def wait_requests(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.requests) < count and time.monotonic() < deadline:
                self.changed.wait(deadline - time.monotonic())
            return list(self.requests)

    # -- the handler --
    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length", "0"))
        raw = request.rfile.read(length)
        body = gzip.decompress(raw) if request.headers.get("Content-Encoding") == "gzip" else raw
        logs = json.loads(body)["logs"]
        headers = {k.lower(): v for k, v in request.headers.items()}
        received = Received(time.monotonic(), headers, len(body), logs, 0, ())
        with self.lock:
            reply = self._script.popleft() if self._script else None
        if reply is None and self.rule is not None:
            reply = self.rule(received)
        reply = reply or Reply()
        if reply.hang:
            self.release.wait(reply.hang)
            request.close_connection = True
            return
        received.status = reply.status
        received.rejected = reply.reject if reply.status == 200 else ()
        payload = reply.body
        if payload is None and reply.status == 200:
            payload = {
                "accepted": len(logs) - len(reply.reject),
                "rejected": [{"index": i, "errors": ["level: not a level"]} for i in reply.reject],
            }
        data = json.dumps(payload or {"error": "scripted"}).encode()
        with self.lock:
            self.requests.append(received)
            self.changed.notify_all()
        request.send_response(reply.status)
        for name, value in reply.headers.items():
            request.send_header(name, value)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
