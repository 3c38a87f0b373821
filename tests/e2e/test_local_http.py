"""The local HTTP server over raw sockets: framing, limits, timeouts, the connection cap, keep-alive
and pipelining, and the local API Gateway's own answers.

Most cases run against a LocalHttpServer in this process whose route echoes what it received (so
a test sees exactly which bytes reached the handler) with small limits, so timeouts take a second;
the last ones run against a real `loglens dev` process (the module's `stack`) with its defaults.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from loglens.devtools.local.gateway import LocalApi
from loglens.devtools.local.server import HttpLimits, LocalHttpServer
from loglens.http.gateway import FORBIDDEN, INTERNAL, NO_ROUTE
from tests.e2e.conftest import LocalStack

KEY = "socket-test-key"
LIMITS = HttpLimits(
    max_body_bytes=64 * 1024,
    drain_bytes=1 << 20,
    body_timeout=1.0,
    head_timeout=1.0,
    max_head_bytes=8 * 1024,
    keep_alive=2,
    max_connections=4,
)


class Echo:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        body = base64.b64decode(event["body"]) if event["body"] else b""
        answer = {"length": len(body), "sha256": hashlib.sha256(body).hexdigest(), "path": event["path"]}
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(answer)}


def fail(_event: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("a bug in a handler")


@pytest.fixture(scope="module")
def echo() -> Echo:
    return Echo()


@pytest.fixture(scope="module")
def server(echo: Echo) -> Iterator[tuple[str, int]]:
    api = LocalApi(KEY)
    api.add("/echo", echo)
    api.add("/open", echo, api_key_required=False)
    api.add("/fail", fail)
    http = LocalHttpServer(api, 0, limits=LIMITS)
    http.start()
    host, port = http.url.removeprefix("http://").split(":")
    yield host, int(port)
    http.stop()


def connect(address: tuple[str, int], timeout: float = 10) -> socket.socket:
    return socket.create_connection(address, timeout=timeout)


def request(path: str, body: bytes = b"", *, key: str | None = KEY, extra: str = "", method: str = "POST") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: local\r\nContent-Length: {len(body)}\r\n"
    if key is not None:
        head += f"x-api-key: {key}\r\n"
    return (head + extra + "\r\n").encode() + body


class Reader:
    """Reads HTTP/1.1 answers off a socket, one at a time (keep-alive and pipelining)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _more(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            if not self._more():
                raise ConnectionError(f"closed before an answer: {self.buffer!r}")
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            if not self._more():
                raise ConnectionError("closed inside an answer")
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, headers, body

    def closed(self) -> bool:
        """True once the server has closed the connection (after any answers already read)."""
        try:
            return not self._more() and not self.buffer
        except ConnectionResetError:
            return True


def exchange(address: tuple[str, int], data: bytes) -> tuple[int, dict[str, str], bytes]:
    with connect(address) as sock:
        sock.sendall(data)
        return Reader(sock).answer()


def chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def test_a_chunked_body_reaches_the_handler_whole_and_the_connection_stays_usable(
    server: tuple[str, int], echo: Echo
) -> None:
    pieces = [b'{"logs": [', b'{"message": "a"}', b", " * 50, b'{"message": "b"}]}']
    body = b"".join(pieces)
    head = f"POST /echo HTTP/1.1\r\nHost: local\r\nx-api-key: {KEY}\r\nTransfer-Encoding: chunked\r\n\r\n"
    with connect(server) as sock:
        reader = Reader(sock)
        sock.sendall(head.encode())
        framed = chunked(*pieces)
        for at in range(0, len(framed), 7):  # trickled, cutting through sizes and CRLFs
            sock.sendall(framed[at : at + 7])
            time.sleep(0.002)
        status, _, answer = reader.answer()
        assert status == 200
        assert json.loads(answer) == {"length": len(body), "sha256": hashlib.sha256(body).hexdigest(), "path": "/echo"}
        # The chunk framing was not read as further requests: the next request on it is answered normally.
        calls = echo.calls
        sock.sendall(request("/echo", b"next"))
        status, _, answer = reader.answer()
        assert (status, json.loads(answer)["length"], echo.calls) == (200, 4, calls + 1)


@pytest.mark.parametrize(
    "framing",
    [
        "Content-Length: -1\r\n",
        "Content-Length: 18446744073709551617\r\n",
        "Content-Length: 5\r\nContent-Length: 7\r\n",
        "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",  # request smuggling
        "Transfer-Encoding: gzip, chunked, identity\r\n",
    ],
)
def test_malformed_framing_is_400_and_the_connection_is_closed(
    server: tuple[str, int], echo: Echo, framing: str
) -> None:
    calls = echo.calls
    head = f"POST /echo HTTP/1.1\r\nHost: local\r\nx-api-key: {KEY}\r\n{framing}\r\n".encode()
    with connect(server) as sock:
        sock.sendall(head + b"hello")
        reader = Reader(sock)
        status, _, _ = reader.answer()
        assert status == 400
        assert reader.closed()
    assert echo.calls == calls


def test_a_declared_length_over_the_limit_is_413_before_any_body_is_sent(server: tuple[str, int], echo: Echo) -> None:
    calls = echo.calls
    huge = 256 * 1024 * 1024
    head = f"POST /echo HTTP/1.1\r\nHost: local\r\nx-api-key: {KEY}\r\nContent-Length: {huge}\r\n"
    with connect(server) as sock:
        sock.sendall((head + "Expect: 100-continue\r\n\r\n").encode())
        reader = Reader(sock)
        status, _, body = reader.answer()  # and not "100 Continue": the client never sends the body
        assert status == 413
        assert json.loads(body)["error"] == f"body is {huge} bytes; the limit is {LIMITS.max_body_bytes}"
        assert reader.closed()
    assert echo.calls == calls


def test_a_chunked_body_is_counted_as_it_streams_and_stopped_at_the_limit(
    server: tuple[str, int], echo: Echo
) -> None:
    calls = echo.calls
    head = f"POST /echo HTTP/1.1\r\nHost: local\r\nx-api-key: {KEY}\r\nTransfer-Encoding: chunked\r\n\r\n"
    piece = b"%x\r\n%s\r\n" % (16384, b"x" * 16384)
    sent = 0
    with connect(server) as sock:
        sock.sendall(head.encode())
        try:  # an endless body: the server answers and hangs up after the limit plus a bounded drain
            while sent < 64 * 1024 * 1024:
                sock.sendall(piece)
                sent += 16384
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, _, body = Reader(sock).answer()
    assert status == 413 and "the limit is 65536" in json.loads(body)["error"]
    assert sent < 8 * 1024 * 1024  # stopped long before the 64 MiB the client would have sent
    assert echo.calls == calls


def test_a_client_that_sends_an_oversized_body_before_reading_still_reads_the_413(server: tuple[str, int]) -> None:
    body = b"x" * (200 * 1024)  # over the limit, under the drain bound
    status, headers, answer = exchange(server, request("/echo", body))
    assert status == 413 and headers["connection"] == "close"
    assert json.loads(answer)["error"] == f"body is {len(body)} bytes; the limit is {LIMITS.max_body_bytes}"


def test_a_head_sent_too_slowly_is_408(server: tuple[str, int]) -> None:
    with connect(server) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: local\r\n")
        reader = Reader(sock)
        started = time.monotonic()
        try:
            while time.monotonic() - started < 10:  # slowloris: a byte now and then, never the blank line
                sock.sendall(b"X")
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, _, body = reader.answer()
        assert status == 408 and json.loads(body)["error"] == "request headers not received within 1 s"
        assert reader.closed()


def test_an_idle_connection_is_closed_without_an_answer(server: tuple[str, int]) -> None:
    with connect(server) as sock:
        assert sock.recv(1) == b""  # after keep_alive seconds (2 here), nothing was asked, nothing is said


def test_a_body_sent_too_slowly_is_408(server: tuple[str, int], echo: Echo) -> None:
    calls = echo.calls
    with connect(server) as sock:
        sock.sendall(f"POST /echo HTTP/1.1\r\nHost: local\r\nx-api-key: {KEY}\r\nContent-Length: 100\r\n\r\n".encode())
        sock.sendall(b"x" * 10)
        reader = Reader(sock)
        status, _, body = reader.answer()
        assert status == 408 and json.loads(body)["error"] == "body not received within 1 s (10 bytes arrived)"
        assert reader.closed()
    assert echo.calls == calls


def test_a_head_over_its_limit_is_431(server: tuple[str, int]) -> None:
    padding = "".join(f"X-Pad-{i}: {'y' * 100}\r\n" for i in range(100))  # ~11 KiB of headers
    with connect(server) as sock:
        sock.sendall(f"GET /open HTTP/1.1\r\nHost: local\r\n{padding}".encode())
        reader = Reader(sock)
        status, _, body = reader.answer()
        assert status == 431 and "over 8192 bytes" in json.loads(body)["error"]
        assert reader.closed()


def test_connections_over_the_cap_are_refused_with_503(server: tuple[str, int]) -> None:
    held = [connect(server) for _ in range(LIMITS.max_connections)]
    try:
        time.sleep(0.2)
        status, headers, _ = exchange(server, request("/echo", b"{}"))
        assert status == 503 and headers["connection"] == "close"
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    assert exchange(server, request("/echo", b"{}"))[0] == 200  # the slots are free again


def test_keep_alive_serves_several_requests_on_one_connection(server: tuple[str, int]) -> None:
    with connect(server) as sock:
        reader = Reader(sock)
        for n in range(5):
            sock.sendall(request("/echo", b"x" * n))
            status, headers, body = reader.answer()
            assert (status, json.loads(body)["length"]) == (200, n)
            assert headers.get("connection") != "close"


def test_pipelined_requests_are_answered_in_order(server: tuple[str, int]) -> None:
    bodies = [b"first", b"second request", b""]
    pipeline = b"".join(request("/echo", body) for body in bodies) + request("/nowhere", b"x")
    with connect(server) as sock:
        sock.sendall(pipeline)  # all at once, before reading anything
        reader = Reader(sock)
        answers = [reader.answer() for _ in range(4)]
    assert [status for status, _, _ in answers] == [200, 200, 200, 404]
    assert [json.loads(body)["length"] for _, _, body in answers[:3]] == [len(b) for b in bodies]


def test_the_gateway_answers_as_the_deployed_api_does(server: tuple[str, int], echo: Echo) -> None:
    calls = echo.calls
    status, headers, body = exchange(server, request("/nowhere", b"{}"))
    assert (status, json.loads(body)) == (404, {"error": NO_ROUTE})
    assert headers["access-control-allow-origin"] == "*"
    status, _, body = exchange(server, request("/echo", b"{}", key=None))
    assert (status, json.loads(body)) == (403, {"error": FORBIDDEN})
    status, _, body = exchange(server, request("/echo", b"{}", key="wrong"))
    assert (status, json.loads(body)) == (403, {"error": FORBIDDEN})
    status, headers, body = exchange(server, request("/echo", key=None, method="OPTIONS"))
    assert (status, body) == (204, b"")
    assert "x-api-key" in headers["access-control-allow-headers"].lower()
    assert echo.calls == calls  # none of these reached the handler
    status, _, body = exchange(server, request("/fail", b"{}"))
    assert (status, json.loads(body)) == (500, {"error": INTERNAL})


def test_query_strings_and_repeated_headers_reach_the_event(server: tuple[str, int]) -> None:
    seen: list[dict[str, Any]] = []
    api = LocalApi(KEY)
    api.add("/look", lambda event: seen.append(event) or {"statusCode": 200, "body": ""})
    http = LocalHttpServer(api, 0, limits=LIMITS)
    http.start()
    try:
        host, port = http.url.removeprefix("http://").split(":")
        extra = "X-Tag: one\r\nX-Tag: two\r\nUser-Agent: socket-test\r\n"
        assert exchange((host, int(port)), request("/look?a=1&a=2&b=", b"", extra=extra))[0] == 200
    finally:
        http.stop()
    event = seen[0]
    assert event["queryStringParameters"] == {"a": "2", "b": ""}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""]}
    assert event["headers"]["x-tag"] == "two" and event["multiValueHeaders"]["x-tag"] == ["one", "two"]
    assert event["requestContext"]["identity"]["userAgent"] == "socket-test"
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"


# Against `loglens dev` itself, with its defaults.


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        line = next(x for x in status if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def stack_address(stack: LocalStack) -> tuple[str, int]:
    host, port = stack.url.removeprefix("http://").split(":")
    return host, int(port)


def test_loglens_dev_stores_a_chunked_batch(stack: LocalStack, unique_service: str) -> None:
    logs = [{"level": "INFO", "service": unique_service, "message": f"chunked {i}"} for i in range(50)]
    text = json.dumps({"logs": logs}).encode()
    head = (
        f"POST /api/v1/logs/batch HTTP/1.1\r\nHost: local\r\nx-api-key: {stack.api_key}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    pieces = [text[i : i + 700] for i in range(0, len(text), 700)]
    status, _, body = exchange(stack_address(stack), head.encode() + chunked(*pieces))
    assert (status, json.loads(body)) == (200, {"accepted": 50, "rejected": []})
    assert stack.wait_for_rows(f"service = '{unique_service}'", 50) == 50


def test_loglens_dev_refuses_a_negative_content_length(stack: LocalStack) -> None:
    head = f"POST /api/v1/logs HTTP/1.1\r\nHost: local\r\nx-api-key: {stack.api_key}\r\nContent-Length: -1\r\n\r\n"
    assert exchange(stack_address(stack), head.encode() + b"{}")[0] == 400


def test_a_256_mib_upload_leaves_loglens_dev_memory_flat(stack: LocalStack) -> None:
    # It grew from 106 to 1,298 MiB for this when Content-Length: -1 skipped the limit.
    before = rss_mib(stack.process.pid)
    block = os.urandom(1 << 20)
    head = (
        f"POST /api/v1/logs/batch HTTP/1.1\r\nHost: local\r\nx-api-key: {stack.api_key}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    peak = before
    with connect(stack_address(stack), timeout=30) as sock:
        sock.sendall(head.encode())
        try:
            for _ in range(256):
                sock.sendall(b"%x\r\n%s\r\n" % (len(block), block))
                peak = max(peak, rss_mib(stack.process.pid))
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, _, _ = Reader(sock).answer()
    assert status == 413
    assert peak - before < 48, f"RSS went from {before:.0f} to {peak:.0f} MiB"


def test_a_slow_client_does_not_hold_up_others(stack: LocalStack) -> None:
    address = stack_address(stack)
    with connect(address) as slow:
        slow.sendall(b"POST /api/v1/logs HTTP/1.1\r\nHost: local\r\n")  # and nothing more
        results: list[int] = []
        thread = threading.Thread(
            target=lambda: results.append(exchange(address, request("/api/v1/health", method="GET", key=None))[0])
        )
        thread.start()
        thread.join(10)
        assert results == [200]
