"""Slack's side of the slash command: request verification, the command itself, and Block Kit answers.

Verification follows Slack's v0 scheme with slack_sdk's SignatureVerifier (HMAC-SHA256 of
``v0:{timestamp}:{raw body}``, compared in constant time). The raw body is what Slack signed, so callers
must pass the bytes exactly as received (base64-decoded when API Gateway encoded them), never a re-encoded
form. Text that comes from the model or the data is escaped for mrkdwn, so a log line cannot @-mention a
channel or forge a link.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs

from loglens.agent.answer import Answer
from loglens.textchart import text_chart

SIGNATURE_WINDOW_SECONDS: Final = 5 * 60
SLACK_RESPONSE_URL_PREFIXES: Final = ("https://hooks.slack.com/",)
# Block Kit limits (api.slack.com/reference/block-kit): section text 3000, header 150, 50 blocks, 10 context items.
SECTION_CHARS: Final = 3000
HEADER_CHARS: Final = 150
MAX_BLOCKS: Final = 50
FALLBACK_CHARS: Final = 3000
TABLE_ROWS: Final = 10
TABLE_COLUMNS: Final = 6
CELL_CHARS: Final = 24


class SlackRequestRejected(Exception):
    """The request is not provably from Slack (or not a slash command we can read)."""


class SlackPostFailed(RuntimeError):
    """Slack did not accept a message posted to response_url."""


@dataclass(frozen=True)
class SlashCommand:
    command: str
    text: str
    response_url: str
    team_id: str
    channel_id: str
    user_id: str
    user_name: str = ""
    ssl_check: bool = False

    @classmethod
    def from_form(cls, body: bytes) -> SlashCommand:
        try:
            fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise SlackRequestRejected("the body is not a UTF-8 form") from None

        def one(name: str) -> str:
            values = fields.get(name) or [""]
            return values[0]

        return cls(
            command=one("command"),
            text=one("text").strip(),
            response_url=one("response_url"),
            team_id=one("team_id"),
            channel_id=one("channel_id"),
            user_id=one("user_id"),
            user_name=one("user_name"),
            ssl_check=one("ssl_check") == "1",
        )


def verify_request(body: bytes, headers: Mapping[str, str], signing_secret: str, *, now: float) -> None:
    """Raise SlackRequestRejected unless `body` carries a valid, recent Slack v0 signature.

    `headers` must have lower-case names; `now` is the current Unix time (injected so tests can use Slack's
    published example from 2018).
    """
    from slack_sdk.signature import Clock, SignatureVerifier

    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not timestamp or not signature:
        raise SlackRequestRejected("missing X-Slack-Request-Timestamp or X-Slack-Signature")
    # 12 digits reach the year 33658; longer ones are not times (and int() refuses 4,300+ digits).
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise SlackRequestRejected("X-Slack-Request-Timestamp is not a Unix time")
    if abs(now - int(timestamp)) > SIGNATURE_WINDOW_SECONDS:
        # Outside the window a captured request could be replayed; Slack says to ignore it.
        raise SlackRequestRejected("X-Slack-Request-Timestamp is more than 5 minutes from now")

    class _At(Clock):
        def now(self) -> float:
            return now

    try:
        valid = SignatureVerifier(signing_secret, clock=_At()).is_valid(body, timestamp, signature)
    except UnicodeDecodeError:  # Slack signs UTF-8 form bodies; anything else was not sent by Slack
        valid = False
    if not valid:
        raise SlackRequestRejected("the Slack signature does not match the body")


def escape(text: str) -> str:
    """Slack's mrkdwn control characters, escaped (the only three Slack asks for)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, SECTION_CHARS)}}


def _code(text: str, limit: int = SECTION_CHARS) -> str:
    # Inside a code block ``` would end it early; a zero-width break keeps the text readable.
    body = escape(text).replace("```", "`\u200b``")
    return "```" + _clip(body, limit - 6) + "```"


def ack_message(question: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": _clip(f"Looking into it… _{escape(question)}_", FALLBACK_CHARS)}


def usage_message(command: str) -> dict[str, Any]:
    name = command or "/logs"
    return {
        "response_type": "ephemeral",
        "text": f"Ask a question about the logs, e.g. `{escape(name)} how many payment errors in the last hour, "
        "and why?` Follow-up questions in the same channel within 30 minutes build on your earlier ones.",
    }


def error_message(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": _clip(f":warning: {escape(text)}", FALLBACK_CHARS)}


def answer_message(answer: Answer, *, link: str | None = None) -> dict[str, Any]:
    """The answer as an in-channel Block Kit message: answer, insight, recommendation, the shape of a time series
    as a text chart, SQL, table, figures, and `link` (the answer in the web console) when there is one."""
    explanation = answer.explanation
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(answer.question, HEADER_CHARS)}},
        _section(f"*{escape(explanation.summary)}*"),
    ]
    details = []
    if explanation.key_insight:
        details.append(f":bulb: {escape(explanation.key_insight)}")
    if explanation.baseline:
        details.append(f":bar_chart: {escape(explanation.baseline)}")
    if explanation.recommendation:
        details.append(f":wrench: {escape(explanation.recommendation)}")
    if details:
        blocks.append(_section("\n".join(details)))
    chart = text_chart(answer.columns, answer.rows) if answer.columns else None
    if chart is not None:
        blocks.append(_section(_code(chart)))
    if answer.sql:
        blocks.append(_section("*SQL*\n" + _code(answer.sql, SECTION_CHARS - 6)))
    if answer.columns:
        blocks.append(_section(_code(compact_table(answer.columns, answer.rows))))
    context = [{"type": "mrkdwn", "text": _clip(escape(answer.figures()), 2000)}]
    if link is not None and link.startswith(("https://", "http://")) and not set("<>|") & set(link):
        context.append({"type": "mrkdwn", "text": f"<{link}|Open in the console>"})
    blocks.append({"type": "context", "elements": context})
    if not answer.complete:
        blocks.append(_section(":hourglass: The agent stopped before it finished; this answer may be incomplete."))
    return {
        "response_type": "in_channel",
        "text": _clip(f"{answer.question}: {explanation.summary}", FALLBACK_CHARS),
        "blocks": blocks[:MAX_BLOCKS],
    }


def compact_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A monospace table that fits a section: at most 10 rows and 6 columns, cells cut to 24 characters."""
    shown_columns = list(columns[:TABLE_COLUMNS])
    cells = [[_cell(v) for v in row[:TABLE_COLUMNS]] for row in rows[:TABLE_ROWS]]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(shown_columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(shown_columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells)
    hidden = []
    if len(rows) > TABLE_ROWS:
        hidden.append(f"{len(rows) - TABLE_ROWS} more rows")
    if len(columns) > TABLE_COLUMNS:
        hidden.append(f"{len(columns) - TABLE_COLUMNS} more columns")
    if hidden:
        lines.append(f"({', '.join(hidden)}; ask over HTTP or the CLI for all of it)")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    text = "" if value is None else (json.dumps(value) if isinstance(value, dict | list) else str(value))
    text = " ".join(text.split())  # one line per row
    return _clip(text, CELL_CHARS)


class ResponsePoster:
    """Posts messages to a slash command's response_url (Slack allows 5 posts within 30 minutes)."""

    def __init__(self, allowed_prefixes: Sequence[str] = SLACK_RESPONSE_URL_PREFIXES, timeout: int = 10) -> None:
        self.allowed_prefixes = tuple(allowed_prefixes)
        self.timeout = timeout

    def check(self, url: str) -> str:
        # The URL came in a signed request, but only Slack's own host is ever a place to send answers to.
        if not url.startswith(self.allowed_prefixes):
            raise SlackRequestRejected("response_url is not a Slack URL")
        return url

    def post(self, url: str, message: Mapping[str, Any]) -> None:
        from slack_sdk.webhook import WebhookClient

        response = WebhookClient(self.check(url), timeout=self.timeout).send_dict(dict(message))
        if response.status_code != 200:
            raise SlackPostFailed(f"Slack answered {response.status_code}: {response.body[:200]}")
