"""The web console under `loglens dev`: its built files at /, /config.json, and the cookie sign-in.

Sign-in never puts an API key in the browser. `loglens dev` prints a console URL whose fragment holds a
one-time token (`/#token=...`; a fragment is never sent to a server or written to access logs). The console
trades it at `POST /api/v1/session` for an HttpOnly, SameSite=Strict session cookie and removes it from the
address bar. A used token is replaced at once (the new link is logged and kept in LOGLENS_HOME/console-url,
mode 0600, for another browser). Routes wrapped by `signed_in` accept that cookie or the API key.

Why this is safe on a laptop: the cookie is HttpOnly (script never sees it) and SameSite=Strict (another
site's page cannot make the browser send it); state-changing routes read only `application/json`, which a
cross-site form cannot send without a CORS preflight, and the preflight does not allow credentials; and the
cookie and the token count only on requests addressed to this machine by name (127.0.0.1, localhost, ::1), so a
DNS-rebinding page (an attacker's host name pointing at 127.0.0.1) gets nothing.

Static files: only files inside the built `dist/` folder (no directory listing, no `..`, no symlinks out),
with their content type, `Cache-Control` (hashed `assets/` for a year, the rest revalidated by ETag), a
Content-Security-Policy that allows nothing but this origin, and gzip for text when the browser takes it (as
CloudFront compresses in AWS: the bundle is about 40 KB gzipped instead of 100).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from loglens.devtools.local.server import LOCAL_API_KEY_ID
from loglens.http.csp import console_csp
from loglens.http.gateway import FORBIDDEN, NO_ROUTE

log = logging.getLogger(__name__)
EventHandler = Callable[[dict[str, Any]], dict[str, Any]]

SESSION_PATH: Final = "/api/v1/session"
COOKIE: Final = "loglens_session"  # + "_<port>" once published: cookies ignore ports, two servers must not clash
SESSION_SECONDS: Final = 7 * 24 * 3600
URL_FILE: Final = "console-url"
MAX_SESSIONS: Final = 1000  # sign-ins kept at once; the oldest goes first
TOKEN_FORMAT: Final = re.compile(r"[A-Za-z0-9_.~-]{16,512}\Z")  # what the console accepts in #token=
LOCAL_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})
NOT_SIGNED_IN: Final = (
    "sign in first: open the console URL that `loglens dev` printed (or `loglens console`), or send x-api-key"
)
NOT_BUILT: Final = "The console is not built yet: run `make console` in the loglens repository, then reload."
CSP: Final = console_csp()  # locally the console calls nothing but this origin
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
CONTENT_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webp": "image/webp",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
COMPRESSIBLE: Final = frozenset({".html", ".js", ".mjs", ".css", ".json", ".svg", ".txt"})
IMMUTABLE: Final = "public, max-age=31536000, immutable"  # hashed file names: a new build is a new name
REVALIDATE: Final = "no-cache"
# Paths that belong to the API: never answered with a file, so a typo is the API's 404, not the console's.
API_PREFIXES: Final = ("/api/", "/otlp/", "/slack/")


def default_dist() -> Path:
    """clients/console/dist of the repository this package runs from (LOGLENS_CONSOLE_DIST overrides)."""
    given = os.environ.get("LOGLENS_CONSOLE_DIST")
    if given:
        return Path(given)
    return Path(__file__).resolve().parents[6] / "clients" / "console" / "dist"


def _proxy(status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": content_type, **(headers or {})},
        "isBase64Encoded": True,
        "body": base64.b64encode(body).decode(),
    }


def _json(status: int, data: Any, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    return _proxy(status, json.dumps(data).encode(), "application/json", headers)


def _headers(event: Mapping[str, Any]) -> dict[str, str]:
    raw = event.get("headers") or {}
    return {str(k).lower(): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}


def addressed_locally(headers: Mapping[str, str]) -> bool:
    """The request names this machine (Host 127.0.0.1, localhost or [::1], any port)."""
    host = headers.get("host", "").strip().lower()
    if host.startswith("["):
        name = host[1:].split("]", 1)[0]
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name in LOCAL_HOSTS


def _cookie(headers: Mapping[str, str], name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


@dataclass
class ConsoleSessions:
    """The one-time sign-in token and the sessions it was traded for (in memory: a restart signs everyone out)."""

    base_url: str = ""
    url_file: Path | None = None
    clock: Callable[[], float] = time.time
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    cookie: str = COOKIE
    _sessions: dict[str, float] = field(default_factory=dict)  # session -> expiry
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def sign_in_url(self) -> str:
        return f"{self.base_url}/#token={self.token}"

    def publish(self, base_url: str, url_file: Path | None) -> str:
        """Remember where the console is served and write the sign-in URL for `loglens console`."""
        self.base_url, self.url_file = base_url.rstrip("/"), url_file
        port = urlsplit(self.base_url).port
        self.cookie = f"{COOKIE}_{port}" if port else COOKIE
        self._write_url()
        return self.sign_in_url

    def exchange(self, token: str) -> str | None:
        """A new session for the current token (which is then replaced), or None."""
        with self._lock:
            if not hmac.compare_digest(token.encode(), self.token.encode()):
                return None
            self.token = secrets.token_urlsafe(32)
            now = self.clock()
            self._sessions = {s: t for s, t in self._sessions.items() if t > now}
            while len(self._sessions) >= MAX_SESSIONS:
                self._sessions.pop(min(self._sessions, key=self._sessions.__getitem__))
            session = secrets.token_urlsafe(32)
            self._sessions[session] = now + SESSION_SECONDS
        self._write_url()
        log.info("a browser signed in to the console; the link for another one: %s", self.sign_in_url)
        return session

    def valid(self, session: str | None) -> bool:
        if not session:
            return False
        with self._lock:
            expiry = next((t for s, t in self._sessions.items() if hmac.compare_digest(s, session)), None)
        return expiry is not None and expiry > self.clock()

    def discard(self) -> None:
        if self.url_file is not None:
            self.url_file.unlink(missing_ok=True)

    def _write_url(self) -> None:
        if self.url_file is None or not self.base_url:
            return
        fd = os.open(self.url_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(self.sign_in_url + "\n")


def session_route(sessions: ConsoleSessions) -> EventHandler:
    """POST /api/v1/session {"token"} → 204 with the session cookie, or 401."""

    def handle(event: dict[str, Any]) -> dict[str, Any]:
        if str(event.get("httpMethod")) != "POST":
            return _json(405, {"error": "use POST"}, {"Allow": "POST"})
        headers = _headers(event)
        if headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return _json(415, {"error": 'send {"token": "..."} as application/json'})
        if not addressed_locally(headers):
            return _json(403, {"error": "sign in at http://127.0.0.1:<port>/ (the address loglens dev printed)"})
        raw = event.get("body") or ""
        try:
            data = base64.b64decode(raw) if event.get("isBase64Encoded") else str(raw).encode()
            token = json.loads(data).get("token") if len(data) <= 4096 else None
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not TOKEN_FORMAT.match(token):
            return _json(400, {"error": 'send {"token": "<the token from the console URL>"}', "field": "token"})
        session = sessions.exchange(token)
        if session is None:
            return _json(401, {"error": "this sign-in link was used already or is not this server's; use the "
                               "current one (`loglens console` prints it)"})  # fmt: skip
        cookie = f"{sessions.cookie}={session}; HttpOnly; SameSite=Strict; Path=/; Max-Age={SESSION_SECONDS}"
        return {"statusCode": 204, "headers": {"Set-Cookie": cookie, "Cache-Control": "no-store"}, "body": ""}

    return handle


def signed_in(handler: EventHandler, api_key: str, sessions: ConsoleSessions) -> EventHandler:
    """The route for callers with the API key or the console's session cookie, as the local key's holder.

    Registered with api_key_required=False, so the local gateway lets the request through and this decides:
    a wrong key is API Gateway's 403, no key and no valid cookie 401."""

    def handle(event: dict[str, Any]) -> dict[str, Any]:
        headers = _headers(event)
        given = headers.get("x-api-key")
        if given is not None:
            if not hmac.compare_digest(given.encode(), api_key.encode()):
                return _json(403, {"error": FORBIDDEN})
        elif not (addressed_locally(headers) and sessions.valid(_cookie(headers, sessions.cookie))):
            return _json(401, {"error": NOT_SIGNED_IN, "code": "not_signed_in"})
        context = dict(event.get("requestContext") or {})
        context["identity"] = {**(context.get("identity") or {}), "apiKeyId": LOCAL_API_KEY_ID}
        return handler({**event, "requestContext": context})

    return handle


def config_route(event: dict[str, Any]) -> dict[str, Any]:
    """GET /config.json: the console signs in with the cookie, and calls this origin."""
    return _json(200, {"auth": "cookie"}, {"Cache-Control": "no-store", **SECURITY_HEADERS})


@dataclass
class ConsoleSite:
    """GET/HEAD of the built console's files; every other path outside the API."""

    dist: Path
    _gzipped: dict[tuple[Path, int, int], bytes] = field(default_factory=dict)  # (file, mtime, size) -> body

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        path = str(event.get("path") or "/")
        if path.startswith(API_PREFIXES) or path in ("/api", "/otlp", "/slack"):
            return _json(404, {"error": NO_ROUTE})
        method = str(event.get("httpMethod"))
        if method not in ("GET", "HEAD"):
            return _json(405, {"error": "the console's files are read with GET"}, {"Allow": "GET, HEAD"})
        if path == "/config.json":
            return config_route(event)
        root = self.dist.resolve()
        if path in ("/", "/index.html") and not (root / "index.html").is_file():
            page = f"<!doctype html><title>loglens</title><h1>loglens</h1><p>{NOT_BUILT}</p>".encode()
            return _proxy(503, page, CONTENT_TYPES[".html"], {"Cache-Control": "no-store", **SECURITY_HEADERS})
        file = self._file(root, path)
        if file is None:  # the one error shape, as for a path no route has
            return _json(404, {"error": NO_ROUTE}, {"Cache-Control": "no-store"})
        data = file.read_bytes()
        digest = hashlib.sha256(data).hexdigest()[:32]
        headers = {
            "Cache-Control": IMMUTABLE if file.parent.name == "assets" else REVALIDATE,
            **SECURITY_HEADERS,
        }
        request = _headers(event)
        if file.suffix.lower() in COMPRESSIBLE:
            headers["Vary"] = "Accept-Encoding"
            if "gzip" in request.get("accept-encoding", "").lower():
                data, digest = self._gzip(file, data), digest + "-gz"  # a variant has its own ETag
                headers["Content-Encoding"] = "gzip"
        headers["ETag"] = f'"{digest}"'
        if headers["ETag"] in request.get("if-none-match", ""):
            return {"statusCode": 304, "headers": headers, "body": ""}
        return _proxy(200, data, CONTENT_TYPES.get(file.suffix.lower(), "application/octet-stream"), headers)

    def _gzip(self, file: Path, data: bytes) -> bytes:
        stat = file.stat()
        key = (file, stat.st_mtime_ns, stat.st_size)
        if key not in self._gzipped:
            if len(self._gzipped) > 256:  # a rebuild leaves old names behind; start over
                self._gzipped.clear()
            self._gzipped[key] = gzip.compress(data, compresslevel=6, mtime=0)
        return self._gzipped[key]

    @staticmethod
    def _file(root: Path, path: str) -> Path | None:
        """The file `path` names inside `root`, or None: no `..`, no hidden or encoded tricks, no way out."""
        relative = unquote(path).lstrip("/") or "index.html"
        parts = relative.split("/")
        if "\x00" in relative or "\\" in relative or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            return None
        candidate = (root / relative).resolve()
        if not candidate.is_relative_to(root) or not candidate.is_file():
            return None
        return candidate
