"""The query API over HTTP, for `loglens tail`, `sql` and `search`: the running `loglens dev` or a deployed stack.

Where: `--url` (a deployed stack's QueryApiUrl output, or any loglens), else LOGLENS_URL, else the `loglens dev`
running for LOGLENS_HOME (loglens.devtools.home). The key: LOGLENS_API_KEY, else the local dev key in
LOGLENS_HOME/api-key. Answers are JSON; a failure is `RemoteError` carrying the server's one-line message, its
status and, for the query API, the machine-readable `code` and the request `field` at fault.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loglens.settings import ConfigError, Settings

TIMEOUT_S = 60.0
RETRIES = 3  # a 503 (database away) or 429 (throttled) is retried, after Retry-After


class RemoteError(RuntimeError):
    def __init__(self, message: str, status: int, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.field = field


@dataclass(frozen=True)
class Remote:
    url: str
    api_key: str
    timeout: float = TIMEOUT_S

    @classmethod
    def find(cls, url: str | None, environ: Mapping[str, str] | None = None) -> Remote:
        """The server and key a command talks to; ConfigError saying what to set when there is none."""
        from loglens.devtools.home import running_server

        env = os.environ if environ is None else environ
        settings = Settings.from_env(env)
        base = url or env.get("LOGLENS_URL")
        if not base:
            server = running_server(settings.home)
            if server is None:
                raise ConfigError(
                    f"no loglens dev is running for LOGLENS_HOME={settings.home}: start `make dev`, or pass --url "
                    "(a deployed stack's QueryApiUrl) with LOGLENS_API_KEY"
                )
            base = server.url
        if not base.startswith(("http://", "https://")):
            raise ConfigError(f"--url must be an http(s) URL, not {base!r}")
        key = env.get("LOGLENS_API_KEY")
        if not key:
            path = settings.home / "api-key"
            if url is None and not env.get("LOGLENS_URL") and path.exists():
                key = path.read_text().strip()
        if not key:
            raise ConfigError("set LOGLENS_API_KEY to an API key of the query API (its usage plan: docs/deploy.md)")
        return cls(base.rstrip("/"), key)

    def get(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        query = f"?{urllib.parse.urlencode(dict(params))}" if params else ""
        return self._call("GET", path + query, None)

    def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("POST", path, json.dumps(body).encode())

    def _call(self, method: str, path: str, body: bytes | None) -> dict[str, Any]:
        headers = {"x-api-key": self.api_key, "accept": "application/json"}
        if body is not None:
            headers["content-type"] = "application/json"
        for attempt in range(RETRIES + 1):
            # find() allows only http(s) URLs, so no file: or custom scheme reaches urllib.
            request = urllib.request.Request(self.url + path, data=body, headers=headers, method=method)  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    data = response.read()
                    return dict(json.loads(data)) if data else {}
            except urllib.error.HTTPError as error:
                problem = _problem(error)
                if error.code in (429, 503) and attempt < RETRIES:
                    time.sleep(min(30.0, float(error.headers.get("Retry-After") or 2**attempt)))
                    continue
                raise problem from None
            except (urllib.error.URLError, OSError) as error:
                reason = getattr(error, "reason", error)
                raise RemoteError(f"cannot reach {self.url}: {reason} (is loglens running there?)", 0) from None
        raise AssertionError("unreachable")


def _problem(error: urllib.error.HTTPError) -> RemoteError:
    text = error.read().decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        message = str(data.get("error") or data.get("message") or text[:200])
        code, field = data.get("code"), data.get("field")
        return RemoteError(message, error.code, str(code) if code else None, str(field) if field else None)
    return RemoteError(text.strip()[:200] or f"HTTP {error.code}", error.code)
