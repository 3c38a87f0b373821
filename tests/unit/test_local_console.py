"""The console under `loglens dev`: its files (types, caching, CSP, no way out of dist/), the one-time sign-in
token, the session cookie, and the routes that take the cookie or the API key."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from loglens.devtools.local.console import (
    COOKIE,
    CSP,
    ConsoleSessions,
    ConsoleSite,
    addressed_locally,
    session_route,
    signed_in,
)
from loglens.devtools.local.server import LOCAL_API_KEY_ID, LocalApi, Route

KEY = "local-key-123"


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>loglens</title>")
    (root / "assets" / "index-abc123.js").write_text("console.log(1)")
    (root / "assets" / "index-abc123.css").write_text("body{}")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "secret.txt").write_text("outside dist")
    (root / ".hidden").write_text("no")
    os.symlink(tmp_path / "secret.txt", root / "link.txt")
    return root


def event(path: str, method: str = "GET", headers: dict[str, str] | None = None, body: Any = None) -> dict[str, Any]:
    raw = json.dumps(body).encode() if body is not None else b""
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {"host": "127.0.0.1:8000", **(headers or {})},
        "body": base64.b64encode(raw).decode() if raw else None,
        "isBase64Encoded": bool(raw),
        "requestContext": {"identity": {"sourceIp": "127.0.0.1", "apiKeyId": None}},
    }


def body_of(answer: dict[str, Any]) -> bytes:
    raw = answer.get("body") or ""
    return base64.b64decode(raw) if answer.get("isBase64Encoded") else str(raw).encode()


def test_files_are_served_with_their_type_caching_and_the_csp(dist: Path) -> None:
    site = ConsoleSite(dist)
    index = site.handle(event("/"))
    assert index["statusCode"] == 200 and body_of(index).startswith(b"<!doctype html>")
    assert index["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert index["headers"]["Cache-Control"] == "no-cache"  # revalidated: a new build shows at once
    assert index["headers"]["Content-Security-Policy"] == CSP
    assert "script-src 'self'" in CSP and "frame-ancestors 'none'" in CSP and "unsafe" not in CSP
    assert index["headers"]["X-Content-Type-Options"] == "nosniff"
    script = site.handle(event("/assets/index-abc123.js"))
    assert script["headers"]["Content-Type"] == "text/javascript; charset=utf-8"
    assert script["headers"]["Cache-Control"] == "public, max-age=31536000, immutable"
    assert site.handle(event("/assets/index-abc123.css"))["headers"]["Content-Type"] == "text/css; charset=utf-8"
    assert site.handle(event("/logo.png"))["headers"]["Content-Type"] == "image/png"
    assert body_of(site.handle(event("/index.html", "HEAD"))) == body_of(index)  # the server leaves HEAD's body out


def test_an_unchanged_file_is_a_304(dist: Path) -> None:
    site = ConsoleSite(dist)
    etag = site.handle(event("/"))["headers"]["ETag"]
    again = site.handle(event("/", headers={"if-none-match": etag}))
    assert again["statusCode"] == 304 and body_of(again) == b""


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/assets/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/assets/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/..%5csecret.txt",
        "/assets%00.js",
        "/.hidden",
        "/link.txt",  # a symlink out of dist
        "/assets",  # a folder: no listing
        "/assets/",
        "/nope.js",
        "//etc/passwd",
    ],
)
def test_nothing_outside_dist_is_served(dist: Path, path: str) -> None:
    answer = ConsoleSite(dist).handle(event(path))
    assert answer["statusCode"] == 404, path
    assert set(json.loads(body_of(answer))) == {"error"}  # the one error shape
    assert b"outside dist" not in body_of(answer)


def test_api_paths_are_the_apis_404_and_other_methods_405(dist: Path) -> None:
    site = ConsoleSite(dist)
    for path in ("/api/v1/nope", "/otlp/v2/logs", "/slack/x", "/api"):
        answer = site.handle(event(path))
        assert answer["statusCode"] == 404 and "error" in json.loads(body_of(answer))
    answer = site.handle(event("/index.html", "POST"))
    assert answer["statusCode"] == 405 and answer["headers"]["Allow"] == "GET, HEAD"


def test_an_unbuilt_console_says_how_to_build_it(tmp_path: Path) -> None:
    answer = ConsoleSite(tmp_path / "missing").handle(event("/"))
    assert answer["statusCode"] == 503 and b"make console" in body_of(answer)
    assert ConsoleSite(tmp_path / "missing").handle(event("/nowhere"))["statusCode"] == 404
    config = ConsoleSite(tmp_path / "missing").handle(event("/config.json"))
    assert json.loads(body_of(config)) == {"auth": "cookie"}  # the config does not need the build
    assert config["headers"]["Cache-Control"] == "no-store"


def test_the_token_is_traded_once_for_an_httponly_strict_cookie(tmp_path: Path) -> None:
    sessions = ConsoleSessions()
    url = sessions.publish("http://127.0.0.1:8000/", tmp_path / "console-url")
    token = sessions.token
    assert url == f"http://127.0.0.1:8000/#token={token}"
    assert sessions.cookie == f"{COOKIE}_8000"  # cookies ignore ports: a second loglens dev must not take this one
    assert (tmp_path / "console-url").read_text().strip() == url
    assert (tmp_path / "console-url").stat().st_mode & 0o777 == 0o600
    route = session_route(sessions)
    answer = route(event("/api/v1/session", "POST", {"content-type": "application/json"}, {"token": token}))
    assert answer["statusCode"] == 204
    cookie = answer["headers"]["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}_8000=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/" in cookie
    session = cookie.split(";", 1)[0].split("=", 1)[1]
    assert sessions.valid(session) and not sessions.valid(session + "x") and not sessions.valid(None)
    # Used once: the same token again is refused, and a new link is written for the next browser
    again = route(event("/api/v1/session", "POST", {"content-type": "application/json"}, {"token": token}))
    assert again["statusCode"] == 401
    assert sessions.token != token and (tmp_path / "console-url").read_text().strip().endswith(sessions.token)
    sessions.discard()
    assert not (tmp_path / "console-url").exists()


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"content-type": "text/plain"}, {"token": "x" * 20}, 415),  # a cross-site form's type
        ({"content-type": "application/json"}, {"token": "short"}, 400),
        ({"content-type": "application/json"}, {"token": "<script>alert(1)</script>xx"}, 400),
        ({"content-type": "application/json"}, {"token": 12345678901234567890}, 400),
        ({"content-type": "application/json"}, ["token"], 400),
        ({"content-type": "application/json"}, {"token": "a" * 5000}, 400),
        ({"content-type": "application/json"}, {"token": "A" * 43}, 401),  # well formed, not ours
        ({"content-type": "application/json", "host": "evil.example:8000"}, {"token": "A" * 43}, 403),  # rebinding
    ],
)
def test_sign_in_refuses_what_is_not_this_servers_token(headers: dict[str, str], body: Any, status: int) -> None:
    sessions = ConsoleSessions()
    answer = session_route(sessions)(event("/api/v1/session", "POST", headers, body))
    assert answer["statusCode"] == status
    assert "Set-Cookie" not in answer["headers"]


def test_a_malformed_body_is_a_400_not_a_crash() -> None:
    broken = event("/api/v1/session", "POST", {"content-type": "application/json"})
    broken["body"], broken["isBase64Encoded"] = "not base64!", True
    assert session_route(ConsoleSessions())(broken)["statusCode"] == 400
    broken["body"] = base64.b64encode(b"{").decode()
    assert session_route(ConsoleSessions())(broken)["statusCode"] == 400


def test_routes_take_the_key_or_the_cookie_and_act_as_the_local_key() -> None:
    sessions = ConsoleSessions()
    seen: list[dict[str, Any]] = []
    route = signed_in(lambda e: seen.append(e) or {"statusCode": 200, "headers": {}, "body": ""}, KEY, sessions)
    cookie = session_route(sessions)(
        event("/api/v1/session", "POST", {"content-type": "application/json"}, {"token": sessions.token})
    )["headers"]["Set-Cookie"].split(";", 1)[0]
    assert route(event("/api/v1/facts", headers={"x-api-key": KEY}))["statusCode"] == 200
    assert route(event("/api/v1/facts", headers={"cookie": f"other=1; {cookie}"}))["statusCode"] == 200
    assert [e["requestContext"]["identity"]["apiKeyId"] for e in seen] == [LOCAL_API_KEY_ID, LOCAL_API_KEY_ID]
    refused = [
        route(event("/api/v1/facts"))["statusCode"],
        route(event("/api/v1/facts", headers={"x-api-key": "wrong"}))["statusCode"],
        route(event("/api/v1/facts", headers={"x-api-key": "wrong", "cookie": cookie}))["statusCode"],
        route(event("/api/v1/facts", headers={"cookie": f"{COOKIE}=forged"}))["statusCode"],
        route(event("/api/v1/facts", headers={"cookie": cookie.replace(COOKIE, f"{COOKIE}_9")}))["statusCode"],
        route(event("/api/v1/facts", headers={"cookie": cookie, "host": "attacker.example"}))["statusCode"],
    ]
    assert refused == [401, 403, 403, 401, 401, 401]
    assert len(seen) == 2


def test_sessions_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_000_000.0]
    sessions = ConsoleSessions(clock=lambda: now[0])
    session = sessions.exchange(sessions.token)
    assert session is not None and sessions.valid(session)
    now[0] += 8 * 24 * 3600
    assert not sessions.valid(session)


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1:8000", True),
        ("localhost:8000", True),
        ("localhost", True),
        ("[::1]:8000", True),
        ("LOCALHOST:1", True),
        ("127.0.0.1.nip.io:8000", False),
        ("evil.example", False),
        ("", False),
        ("localhost:8000:9", False),
    ],
)
def test_only_requests_that_name_this_machine_count(host: str, local: bool) -> None:
    assert addressed_locally({"host": host}) is local


def test_the_local_gateway_matches_id_routes_and_hands_the_rest_to_the_fallback(dist: Path) -> None:
    api = LocalApi(KEY)
    calls: list[dict[str, Any]] = []

    def record(e: dict[str, Any]) -> dict[str, Any]:
        calls.append(e)
        return {"statusCode": 200, "headers": {}, "body": ""}

    api.add("/api/v1/saved/{id}", record)
    api.fallback = Route(ConsoleSite(dist).handle, api_key_required=False)
    answer = api.dispatch("DELETE", "/api/v1/saved/abc%20d", "", {"x-api-key": [KEY]}, b"", "127.0.0.1")
    assert answer["statusCode"] == 200
    assert (calls[0]["resource"], calls[0]["pathParameters"]) == ("/api/v1/saved/{id}", {"id": "abc d"})
    assert api.dispatch("DELETE", "/api/v1/saved/x", "", {}, b"", "127.0.0.1")["statusCode"] == 403
    assert api.dispatch("GET", "/api/v1/saved/x/y", "", {"x-api-key": [KEY]}, b"", "127.0.0.1")["statusCode"] == 404
    page = api.dispatch("GET", "/assets/index-abc123.js", "v=1", {"host": ["127.0.0.1"]}, b"", "127.0.0.1")
    assert page["statusCode"] == 200 and body_of(page) == b"console.log(1)"


def test_text_is_gzipped_for_browsers_that_take_it(dist: Path) -> None:
    import gzip

    site = ConsoleSite(dist)
    (dist / "assets" / "big-0000.js").write_text("console.log('loglens');\n" * 400)
    plain = site.handle(event("/assets/big-0000.js"))
    packed = site.handle(event("/assets/big-0000.js", headers={"accept-encoding": "gzip, deflate, br"}))
    assert "Content-Encoding" not in plain["headers"] and plain["headers"]["Vary"] == "Accept-Encoding"
    assert packed["headers"]["Content-Encoding"] == "gzip"
    assert gzip.decompress(body_of(packed)) == body_of(plain) and len(body_of(packed)) < len(body_of(plain)) / 10
    assert packed["headers"]["ETag"] != plain["headers"]["ETag"]  # each variant revalidates as itself
    again = site.handle(
        event("/assets/big-0000.js", headers={"accept-encoding": "gzip", "if-none-match": packed["headers"]["ETag"]})
    )
    assert again["statusCode"] == 304
    image = site.handle(event("/logo.png", headers={"accept-encoding": "gzip"}))
    assert "Content-Encoding" not in image["headers"]  # already compressed formats are sent as they are
