"""One HTTP POST of a batch body, with the server's answer classified for the worker.

urllib from the stdlib rather than requests/httpx: the client is installed into other people's
applications and must never conflict with their pins; urllib also honours the usual proxy
environment variables.
"""

from __future__ import annotations

import email.utils
import enum
import http.client
import json
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from .version import __version__

USER_AGENT = f"loglens-client/{__version__} python/{sys.version_info[0]}.{sys.version_info[1]}"
_MAX_ANSWER_BYTES = 1 << 20


class Outcome(enum.Enum):
    ACCEPTED = "accepted"  # 2xx: done (some records may still have been rejected individually)
    RETRY = "retry"  # 408/429/5xx/network: try again later, the records are fine
    TOO_LARGE = "too_large"  # 413: split and resend
    REJECTED = "rejected"  # 400: nothing accepted, resending the same body cannot help
    UNAUTHORIZED = "unauthorized"  # 401/403: configuration problem, resending cannot help
    CLIENT_BUG = "client_bug"  # 415 and other 4xx: our request is wrong, report it


@dataclass
class Answer:
    outcome: Outcome
    status: int  # 0 when no HTTP answer arrived
    retry_after: float | None = None
    detail: str = ""
    accepted: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would turn a redirected POST into a GET without the body; a redirect means the
    # URL is misconfigured, which the worker reports instead.
    def redirect_request(
        self, req: Any, fp: Any, code: Any, msg: Any, headers: Any, newurl: Any
    ) -> None:
        return None


class Transport:
    def __init__(self, endpoint: str, api_key: str | None) -> None:
        self.endpoint = endpoint
        self._api_key = api_key
        self._opener = urllib.request.build_opener(_NoRedirect)

    def post(self, body: bytes, gzipped: bool, timeout: float) -> Answer:
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        if self._api_key:
            headers["x-api-key"] = self._api_key
        # The endpoint's scheme is checked to be http(s) when the collector is built.
        request = urllib.request.Request(  # noqa: S310
            self.endpoint, data=body, headers=headers, method="POST"
        )
        try:
            with self._opener.open(request, timeout=max(timeout, 0.001)) as response:
                return _classify(response.status, response.headers, response.read(_MAX_ANSWER_BYTES))
        except urllib.error.HTTPError as error:
            try:
                payload = error.read(_MAX_ANSWER_BYTES)
            except (OSError, http.client.HTTPException):
                payload = b""
            finally:
                error.close()
            return _classify(error.code, error.headers, payload)
        except Exception as error:
            # URLError, timeouts, refused/reset connections, truncated answers are transient; so, for
            # safety, is anything unexpected: the batch waits in the spool rather than being lost.
            reason = getattr(error, "reason", error)
            kind = "timeout" if isinstance(reason, socket.timeout) else type(reason).__name__
            return Answer(Outcome.RETRY, 0, detail=f"{kind}: {reason}")


def _classify(status: int, headers: Any, payload: bytes) -> Answer:
    text = payload[:2000].decode("utf-8", "replace")
    if 200 <= status < 300:
        answer = Answer(Outcome.ACCEPTED, status, detail=text)
        parsed = _json(payload)
        if isinstance(parsed, dict):
            accepted = parsed.get("accepted")
            answer.accepted = accepted if isinstance(accepted, int) else 0
            rejected = parsed.get("rejected")
            if isinstance(rejected, list):
                answer.rejected = [r for r in rejected if isinstance(r, dict)]
        return answer
    if status == 408 or status == 429 or status >= 500:
        return Answer(Outcome.RETRY, status, retry_after=parse_retry_after(headers), detail=text)
    if status == 413:
        return Answer(Outcome.TOO_LARGE, status, detail=text)
    if status == 400:
        answer = Answer(Outcome.REJECTED, status, detail=text)
        parsed = _json(payload)
        if isinstance(parsed, dict) and isinstance(parsed.get("rejected"), list):
            answer.rejected = [r for r in parsed["rejected"] if isinstance(r, dict)]
        return answer
    if status in (401, 403):
        return Answer(Outcome.UNAUTHORIZED, status, detail=text)
    return Answer(Outcome.CLIENT_BUG, status, detail=text)


def _json(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        return None


def parse_retry_after(headers: Any) -> float | None:
    """Retry-After is either delay-seconds or an HTTP date (RFC 9110 10.2.3)."""
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())
