"""A stand-in for Slack's response_url on 127.0.0.1: records every message posted to it."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ResponseUrlServer:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.posts: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self._arrived = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with fake._arrived:
                    fake.posts.append(json.loads(body))
                    fake.paths.append(self.path)
                    fake._arrived.notify_all()
                reply = b"ok" if fake.status == 200 else b"invalid_blocks"
                self.send_response(fake.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        """A response_url shaped like Slack's."""
        return f"{self.base}/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN"

    def start(self) -> ResponseUrlServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.posts) < count and time.monotonic() < deadline:
                self._arrived.wait(deadline - time.monotonic())
            return list(self.posts)


class FakeSlackApi:
    """Slack's Web API on 127.0.0.1 for a bot token: chat.postMessage and chat.update, recorded.

    Point slack_sdk's WebClient at `base_url`. Every call is kept as (method, form or JSON body, headers);
    `fail_with` makes the next calls answer {"ok": false, "error": ...} (Slack's way of refusing).
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        self.fail_with: str | None = None
        self._ts = 1_700_000_000
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                content_type = self.headers.get("Content-Type", "")
                if "json" in content_type:
                    body = json.loads(raw or b"{}")
                else:
                    from urllib.parse import parse_qsl

                    body = dict(parse_qsl(raw.decode()))
                    if isinstance(body.get("blocks"), str):
                        body["blocks"] = json.loads(body["blocks"])
                method = self.path.rsplit("/", 1)[-1]
                with fake._lock:
                    fake.calls.append((method, body, {k.lower(): v for k, v in self.headers.items()}))
                    if fake.fail_with:
                        reply: dict[str, Any] = {"ok": False, "error": fake.fail_with}
                    else:
                        fake._ts += 1
                        ts = str(body.get("ts") or f"{fake._ts}.000100")
                        reply = {"ok": True, "channel": body.get("channel", "C1"), "ts": ts}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def start(self) -> FakeSlackApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def methods(self) -> list[str]:
        return [method for method, _body, _headers in self.calls]
