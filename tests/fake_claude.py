"""A scripted Anthropic Messages API on 127.0.0.1, so the real SDK and the real agent loop run in tests.

`FakeClaude` answers POST /v1/messages with the next scripted reply (a Messages API response as JSON, or a
function of the request that returns one) and records every request, so tests can assert what the agent
sent: tool_result errors, cache_control markers, the schema prompt. Point the SDK at `url` with base_url.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]
_ids = itertools.count(1)

USAGE = {"input_tokens": 900, "output_tokens": 120, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 2400}


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool_use(name: str, **arguments: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": f"toolu_{next(_ids):04d}", "name": name, "input": arguments}


def run_query(sql: str) -> dict[str, Any]:
    return tool_use("run_query", sql=sql)


def answer(sql: str, summary: str = "The answer.", **more: Any) -> dict[str, Any]:
    fields = {"key_insight": "What stands out.", "recommendation": "What to do next.", **more}
    return tool_use("answer", sql=sql, summary=summary, **fields)


def message(
    *blocks: dict[str, Any], stop_reason: str | None = None, usage: dict[str, int] | None = None
) -> dict[str, Any]:
    uses_tool = any(b["type"] == "tool_use" for b in blocks)
    return {
        "id": f"msg_{next(_ids):06d}",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-5-5",
        "content": list(blocks),
        "stop_reason": stop_reason or ("tool_use" if uses_tool else "end_turn"),
        "stop_sequence": None,
        "usage": dict(usage or USAGE),
    }


def tool_results(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool_result blocks of the request's last (user) message."""
    content = request["messages"][-1]["content"]
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


def last_user_text(request: dict[str, Any]) -> str:
    for msg in reversed(request["messages"]):
        if msg["role"] != "user":
            continue
        content = msg["content"]
        if isinstance(content, str):
            return content
        texts = [b.get("text", "") for b in content if b.get("type") == "text"]
        if texts:
            return "\n".join(texts)
    return ""


def system_text(request: dict[str, Any]) -> str:
    system = request.get("system") or []
    return system if isinstance(system, str) else "\n".join(b["text"] for b in system)


class FakeClaude:
    def __init__(self, responder: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._script: deque[Reply] = deque()
        self._responder = responder
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, reply = fake._reply(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeClaude:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    @property
    def pending(self) -> int:
        return len(self._script)

    def _reply(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if not path.startswith("/v1/messages"):
            return 404, {"type": "error", "error": {"type": "not_found_error", "message": path}}
        request = json.loads(body)
        with self._lock:
            self.requests.append(request)
            self.headers.append(headers)
            reply: Reply | None = self._script.popleft() if self._script else self._responder
        if reply is None:
            return 500, {"type": "error", "error": {"type": "api_error", "message": "the fake's script is exhausted"}}
        if callable(reply):
            reply = reply(request)
        if "__status__" in reply:
            return int(reply["__status__"]), reply["body"]
        return 200, reply
