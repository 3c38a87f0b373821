"""An incident as a Slack Block Kit message, and as plain text (e-mail through SNS, the terminal).

The message leads with what changed and since when, then the explanation (Claude's or the templated one), the
facts it rests on (top errors, who is affected, the release), a compact chart of the main measure per hour, the
guarded SQL that shows it, and buttons: acknowledge, mute for an hour or a day, and open the console view when a
console URL is configured. Block Kit's limits (50 blocks, 3000 characters a section, 150 a header, 75 a button)
are kept by clipping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from loglens.agent.slack import escape
from loglens.alerts.incidents import Incident

SECTION_CHARS: Final = 3000
HEADER_CHARS: Final = 150
BUTTON_CHARS: Final = 75
FALLBACK_CHARS: Final = 3000
ACK_ACTION: Final = "loglens_alert_ack"
MUTE_ACTION: Final = "loglens_alert_mute"
MUTE_CHOICES: Final = {"1h": 1, "24h": 24}
_ICONS: Final = {"opened": ":red_circle:", "reopened": ":red_circle:", "updated": ":large_orange_circle:",
                 "resolved": ":white_check_mark:"}  # fmt: skip


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_CHARS)}}


def _code(text: str, limit: int = SECTION_CHARS) -> str:
    body = escape(text).replace("```", "`\u200b``")
    return "```" + clip(body, limit - 6) + "```"


def _when(value: Any) -> str:
    if not value:
        return "?"
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _duration(minutes: int) -> str:
    hours, rest = divmod(max(0, minutes), 60)
    return f"{hours} h {rest} min" if hours else f"{rest} min"


def headline(incident: Incident, action: str) -> str:
    state = {"opened": "", "reopened": "reopened: ", "updated": "update: ", "resolved": "resolved: "}.get(action, "")
    return f"{state}{incident.summary or incident.service}"


def blocks(incident: Incident, action: str) -> list[dict[str, Any]]:
    facts = incident.facts
    explanation = incident.explanation
    window = facts.get("window", {})
    out: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(headline(incident, action), HEADER_CHARS)}}
    ]
    status = "ongoing" if incident.is_open else f"ended {_when(window.get('end'))}"
    context = [
        f"{_ICONS.get(action, '')} *{escape(incident.service)}* since {_when(window.get('start'))} · {status}",
        f"lasted {_duration(int(window.get('minutes', 0)))}",
        "detectors: " + ", ".join(incident.kinds),
    ]
    if incident.id is not None:
        context.append(f"incident #{incident.id}")
    if incident.acked_by:
        context.append(f"acknowledged by {escape(incident.acked_by)}")
    out.append({"type": "context", "elements": [{"type": "mrkdwn", "text": clip(c, 300)} for c in context]})
    if action == "resolved":
        out.append(_section(f"*Resolved.* {escape(str(explanation.get('summary', '')))}"))
        return out
    lines = [f"*{escape(str(explanation.get('summary', '')))}*"]
    if explanation.get("key_insight"):
        lines.append(escape(str(explanation["key_insight"])))
    if explanation.get("recommendation"):
        lines.append(f"_Next:_ {escape(str(explanation['recommendation']))}")
    if explanation.get("by"):
        lines.append(f"_Explained by {escape(str(explanation['by']))}._")
    out.append(_section("\n".join(lines)))
    fields = _fields(facts)
    if fields:
        out.append({"type": "section", "fields": fields[:10]})
    chart = facts.get("series") or {}
    if chart.get("chart"):
        hours = chart.get("hours") or []
        span = f"{_when(hours[0])} → {_when(hours[-1])}" if hours else ""
        out.append(_section(f"*{escape(str(chart.get('label', '')))}* · {span}\n{_code(str(chart['chart']), 500)}"))
    for query in (facts.get("sql") or [])[:2]:
        out.append(_section(f"*{escape(query['title'])}*\n{_code(query['sql'], 1500)}"))
    out.append({"type": "actions", "elements": _buttons(incident, facts.get("links") or {})})
    return out[:50]


def _fields(facts: Mapping[str, Any]) -> list[dict[str, str]]:
    fields: list[dict[str, str]] = []
    for change in (facts.get("changes") or [])[:3]:
        fields.append({"type": "mrkdwn", "text": clip(f"*{change['kind']}*\n{escape(str(change['text']))}", 2000)})
    errors = facts.get("top_errors") or []
    if errors:
        text = "\n".join(
            f"{e['count']:,}× {escape(e['error_type'] or 'untyped')}: {escape(clip(str(e['message']), 80))}"
            for e in errors[:3]
        )
        fields.append({"type": "mrkdwn", "text": clip(f"*Top errors*\n{text}", 2000)})
    affected = facts.get("affected") or {}
    who = [f"{affected.get('users', 0):,} users, {affected.get('sessions', 0):,} sessions"]
    for name in ("endpoints", "pages", "browsers"):
        values = affected.get(name) or []
        if values:
            who.append(f"{name}: " + ", ".join(escape(str(v["value"])) for v in values))
    if affected:
        fields.append({"type": "mrkdwn", "text": clip("*Affected*\n" + "\n".join(who), 2000)})
    cause = facts.get("cause")
    if cause:
        fields.append(
            {
                "type": "mrkdwn",
                "text": clip(
                    f"*Likely cause*\n{escape(str(cause.get('key')))} {escape(str(cause.get('value')))} "
                    f"(was {escape(str(cause.get('previous')))}), first seen {_when(cause.get('first_seen'))}",
                    2000,
                ),
            }
        )
    return fields


def _buttons(incident: Incident, links: Mapping[str, str]) -> list[dict[str, Any]]:
    buttons: list[dict[str, Any]] = []
    if incident.id is not None:
        buttons.append(_button("Acknowledge", ACK_ACTION, str(incident.id), style="primary"))
        for label, hours in MUTE_CHOICES.items():
            buttons.append(
                _button(f"Mute {incident.service} {label}", f"{MUTE_ACTION}_{label}", f"{incident.id}:{hours}")
            )
    for name, url in links.items():
        buttons.append(
            {"type": "button", "text": {"type": "plain_text", "text": f"Open {name} in console"}, "url": url[:3000]}
        )
    return buttons[:25]


def _button(text: str, action_id: str, value: str, *, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": clip(text, BUTTON_CHARS)},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def slack_message(incident: Incident, action: str) -> dict[str, Any]:
    return {"text": clip(text(incident, action), FALLBACK_CHARS), "blocks": blocks(incident, action)}


def text(incident: Incident, action: str) -> str:
    """The same message as plain text (e-mail, terminal)."""
    facts, explanation = incident.facts, incident.explanation
    window = facts.get("window", {})
    lines = [headline(incident, action), ""]
    status = "ongoing" if incident.is_open else f"ended {_when(window.get('end'))}"
    lines.append(f"since {_when(window.get('start'))}, {status}; detectors: {', '.join(incident.kinds)}")
    for key in ("summary", "key_insight", "recommendation"):
        if explanation.get(key):
            lines.append(str(explanation[key]))
    chart = facts.get("series") or {}
    if chart.get("chart") and action != "resolved":
        lines.append(f"{chart.get('label')}: {chart['chart']}")
    for query in (facts.get("sql") or [])[:2]:
        lines += ["", f"-- {query['title']}", query["sql"]]
    for name, url in (facts.get("links") or {}).items():
        lines.append(f"console ({name}): {url}")
    return "\n".join(lines)


def digest_blocks(title: str, sections: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": clip(title, HEADER_CHARS)}}]
    for name, body in sections:
        out.append(_section(f"*{escape(name)}*\n{body}" if body else f"*{escape(name)}*\n_nothing_"))
    return out[:50]
