"""One HTTP/1.1 connection: uvicorn's httptools protocol plus the two guards it lacks.

uvicorn parses (llhttp: chunked bodies, pipelining, a Content-Length of -1 or beside
Transfer-Encoding refused with 400), pauses reading while the app has 64 KiB unread, closes idle
keep-alive connections and caps connections (`limit_concurrency`, 503). It does not bound the
time or the bytes a client may take to send a request's headers: a connection that never sends a
complete head would be held forever, and one sending endless headers would grow memory. So:
- a connection that sends nothing is closed after the keep-alive timeout, as an idle keep-alive
  connection is (uvicorn arms that only after a first answer);
- once a request's first byte arrives, its whole head must follow within `head_timeout`
  seconds, or it is answered 408 and closed (slowloris);
- a head over `max_head_bytes` is answered 431 and closed.
The body's size and time limits are the app's (server.py): there they are counted as the body
is read. This subclasses uvicorn's class, so tests/e2e/test_local_http.py pins the behaviour.
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    head_timeout: ClassVar[float] = 10.0
    max_head_bytes: ClassVar[int] = 64 * 1024

    @classmethod
    def configured(cls, *, head_timeout: float, max_head_bytes: int) -> type[GuardedHttpToolsProtocol]:
        return type(cls.__name__, (cls,), {"head_timeout": head_timeout, "max_head_bytes": max_head_bytes})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._awaiting_head = True
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._expect_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        waiting = self._awaiting_head
        if waiting and self._head_bytes == 0:
            self._arm(self.head_timeout)  # the head has begun
        super().data_received(data)
        # Counted after parsing: bytes of a body that came in the same read as its head don't count.
        if waiting and self._awaiting_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"over {self.max_head_bytes} bytes")

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Unless a pipelined request already started, the connection now waits for a new head.
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self._expect_head()

    def _expect_head(self) -> None:
        self._awaiting_head = True
        self._head_bytes = 0
        self._arm(self.timeout_keep_alive)

    def _arm(self, seconds: float) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(seconds, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._awaiting_head or self.transport.is_closing():
            return
        if self._head_bytes == 0:
            self.transport.close()  # idle: nothing to answer
        else:
            self._refuse(HTTPStatus.REQUEST_TIMEOUT, f"not received within {self.head_timeout:g} s")

    def _refuse(self, status: HTTPStatus, why: str) -> None:
        body = json.dumps({"error": f"request headers {why}"}).encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status.value, status.phrase.encode(), len(body), body)
        )
        self._cancel_head_timer()
        self.transport.close()
