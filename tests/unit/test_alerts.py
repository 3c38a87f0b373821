"""The alert detectors' parts without a database: statistics, detectors and the incident loop on hand-made hours,
the delivery policy, the Slack message's limits, the buttons' payloads and the settings."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from loglens.alerts.actions import parse_action
from loglens.alerts.channels import SlackSettings, build_channels
from loglens.alerts.delivery import SlackBot, SlackWebhook, due
from loglens.alerts.detectors import detect, error_rate, expected_records, latency, silence
from loglens.alerts.engine import NoProbe, evaluate
from loglens.alerts.hours import HOUR, HourlyFacts, ServiceHour
from loglens.alerts.incidents import Incident, IncidentBook, Subject
from loglens.alerts.messages import ACK_ACTION, MUTE_ACTION, slack_message
from loglens.alerts.settings import AlertSettings
from loglens.alerts.stats import binomial_at_least, histogram_quantile, poisson_at_least, poisson_at_most
from loglens.alerts.store import Mute
from loglens.alerts.templates import TemplateCatalog
from loglens.http.request import HttpError
from loglens.settings import ConfigError

START = datetime(2026, 11, 1, tzinfo=UTC)
NEVER = lambda service, hour: False  # noqa: E731 - no incident excludes any hour


def _poisson_tail(k: int, mean: float) -> float:
    return 1 - sum(math.exp(-mean) * mean**i / math.factorial(i) for i in range(k))


@pytest.mark.parametrize(("k", "mean"), [(1, 3.0), (5, 0.4), (10, 10.0), (100, 80.0), (3, 0.001)])
def test_poisson_tails_match_the_sum(k: int, mean: float) -> None:
    assert poisson_at_least(k, mean) == pytest.approx(_poisson_tail(k, mean), rel=1e-9, abs=1e-15)
    assert poisson_at_most(k - 1, mean) == pytest.approx(1 - _poisson_tail(k, mean), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(("k", "n", "p"), [(8, 8, 0.05), (3, 30, 0.05), (20, 30, 0.05), (50, 1000, 0.05)])
def test_binomial_tail_matches_the_sum(k: int, n: int, p: float) -> None:
    exact = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))
    assert binomial_at_least(k, n, p) == pytest.approx(exact, rel=1e-9)


def test_edges_of_the_tails_and_a_histogram_percentile() -> None:
    assert poisson_at_least(0, 5) == 1.0 and poisson_at_least(3, 0) == 0.0
    assert binomial_at_least(5, 4, 0.5) == 0.0 and binomial_at_least(1, 4, 1.0) == 1.0
    assert histogram_quantile({10.0: 90, 100.0: 9, 1000.0: 1}, 0.95) == 100.0
    assert histogram_quantile({}, 0.95) is None


def _facts(hours: int, now_hour: int | None = None) -> HourlyFacts:
    last = START + (hours - 1) * HOUR
    frontier = last + HOUR if now_hour is None else START + now_hour * HOUR
    return HourlyFacts(frontier=frontier, first_hour=START, last_hour=last)


def _traffic(hour: datetime) -> int:
    """A daily curve: 10x more traffic in the afternoon than at night."""
    return int(60 + 540 * (0.5 - 0.5 * math.cos(2 * math.pi * (hour.hour - 4) / 24)))


def _fill(facts: HourlyFacts, service: str = "api", error_share: float = 0.01) -> None:
    h = facts.first_hour
    while h <= facts.last_hour:
        records = _traffic(h)
        errors = round(records * error_share)
        facts.counts[(service, "production")][h] = ServiceHour(records, errors)
        facts.error_types[(service, "production")][h] = {"Timeout": errors}
        h += HOUR


def test_the_daily_traffic_curve_is_no_alarm_but_a_tripled_error_rate_is() -> None:
    facts = _facts(24 * 4)
    _fill(facts)
    settings = AlertSettings()
    quiet = [detect(facts, TemplateCatalog(), START + h * HOUR, settings, NEVER) for h in range(48, 96)]
    assert [f for found in quiet for f in found if f.opens] == []
    # When one busy hour's error rate jumps from 1% to 8%
    spike = START + 87 * HOUR
    slot = facts.counts[("api", "production")][spike]
    facts.counts[("api", "production")][spike] = ServiceHour(slot.records, round(slot.records * 0.08))
    found = error_rate(facts, ("api", "production"), spike, settings, NEVER)
    assert found is not None and found.opens and found.ratio > 5 and found.p_value < 1e-6
    # and a night hour with the same share of errors but few records is still unusual
    night = START + 75 * HOUR
    facts.counts[("api", "production")][night] = ServiceHour(_traffic(night), round(_traffic(night) * 0.2))
    assert error_rate(facts, ("api", "production"), night, settings, NEVER) is not None


def test_per_service_thresholds_override_the_defaults() -> None:
    settings = AlertSettings.from_env({"LOGLENS_ALERT_SERVICES": json.dumps({"api": {"error_ratio": 50}})})
    assert settings.for_service("api").error_ratio == 50
    assert settings.for_service("api").min_errors == settings.defaults.min_errors
    assert settings.for_service("other").error_ratio == 3.0
    facts = _facts(24 * 4)
    _fill(facts)
    spike = START + 87 * HOUR
    slot = facts.counts[("api", "production")][spike]
    facts.counts[("api", "production")][spike] = ServiceHour(slot.records, round(slot.records * 0.08))
    found = error_rate(facts, ("api", "production"), spike, settings, NEVER)
    assert found is None or not found.opens  # 8x is below this service's 50x


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"LOGLENS_ALERT_SERVICES": "{not json"}, "LOGLENS_ALERT_SERVICES"),
        ({"LOGLENS_ALERT_SERVICES": '{"api": {"error_ratio": 0.5}}'}, "LOGLENS_ALERT_SERVICES"),
        ({"LOGLENS_ALERT_SERVICES": '{"api": {"nonsense": 1}}'}, "LOGLENS_ALERT_SERVICES"),
        ({"LOGLENS_ALERT_COOLDOWN": "-5"}, "LOGLENS_ALERT_COOLDOWN"),
        ({"LOGLENS_CONSOLE_URL": "ftp://x"}, "LOGLENS_CONSOLE_URL"),
    ],
)
def test_bad_alert_settings_fail_loudly_naming_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        AlertSettings.from_env(environ)


def _histogram(median: float, requests: int) -> dict[float, float]:
    """Requests spread over the 25% buckets around `median` (a tenth above twice the median)."""
    low, mid, high = round(median / 1.25, 1), median, round(median * 2, 1)
    return {low: requests * 0.4, mid: requests * 0.5, high: requests * 0.1}


def test_a_latency_regression_on_one_endpoint_is_found_and_the_others_are_not() -> None:
    facts = _facts(24 * 3)
    _fill(facts)
    h = START
    while h <= facts.last_hour:
        slow = h >= START + 60 * HOUR
        facts.latency[("api", "/search", "GET")][h] = _histogram(800.0 if slow else 100.0, 50)
        facts.latency[("api", "/items", "GET")][h] = _histogram(40.0, 50)
        h += HOUR
    facts.latency_hours = frozenset(facts.latency[("api", "/search", "GET")])
    settings = AlertSettings()
    found = latency(facts, ("api", "/search", "GET"), START + 60 * HOUR, settings, NEVER)
    assert found is not None and found.opens and found.subject == "GET /search"
    assert found.detail["ms"] > 2 * found.detail["usual_ms"]
    assert latency(facts, ("api", "/items", "GET"), START + 60 * HOUR, settings, NEVER) is None


def test_silence_needs_plenty_expected_and_nothing_come() -> None:
    facts = _facts(24 * 3)
    _fill(facts)
    settings = AlertSettings()
    gone = START + 65 * HOUR
    facts.counts[("api", "production")].pop(gone)
    found = silence(facts, ("api", "production"), gone, settings, NEVER)
    assert found is not None and found.observed == 0 and found.expected > 20
    # a quiet service (a few records an hour) going quiet is not "beyond doubt"
    small = _facts(24 * 3)
    for hour, slot in list(facts.counts[("api", "production")].items()):
        small.counts[("tiny", "staging")][hour] = ServiceHour(max(1, slot.records // 100), 0)
    small.counts[("tiny", "staging")].pop(gone, None)
    assert expected_records(small, ("tiny", "staging"), gone, settings, NEVER) is not None
    assert silence(small, ("tiny", "staging"), gone, settings, NEVER) is None


def test_the_loop_opens_one_incident_resolves_it_and_reopens_it_within_the_cooldown() -> None:
    facts = _facts(24 * 4)
    _fill(facts)
    for offset, share in ((80, 0.2), (81, 0.2), (85, 0.2)):
        hour = START + offset * HOUR
        slot = facts.counts[("api", "production")][hour]
        facts.counts[("api", "production")][hour] = ServiceHour(slot.records, round(slot.records * share))
    book = IncidentBook()
    settings = AlertSettings(cooldown_minutes=300)
    evaluate(book, facts, TemplateCatalog(), [START + h * HOUR for h in range(72, 96)], settings, NoProbe())
    (incident,) = book.incidents
    assert incident.reopened == 1 and incident.status == "resolved"
    assert incident.started_at == START + 80 * HOUR
    # with a short cool-down the second spike is an incident of its own
    book = IncidentBook()
    evaluate(
        book, facts, TemplateCatalog(), [START + h * HOUR for h in range(72, 96)], AlertSettings(cooldown_minutes=60),
        NoProbe(),
    )  # fmt: skip
    assert [i.started_at for i in book.incidents] == [START + 80 * HOUR, START + 85 * HOUR]


def _incident(**delivery: Any) -> Incident:
    subject = Subject(
        service="api", kind="error_rate", environment="production", subject="", start=START, first_hour=START,
        last_hour=START, rate=0.1, basis="records", observed=50, expected=5, p_value=1e-9, detail={}, peak_ratio=10,
    )  # fmt: skip
    incident = Incident(service="api", started_at=START, last_seen_at=START + HOUR, opened_at=START + HOUR, id=7)
    incident.subjects[subject.key] = subject
    incident.delivery = dict(delivery)
    return incident


def test_what_is_sent_when() -> None:
    now = START + 2 * HOUR
    fresh = _incident()
    assert due(fresh, now=now, mutes=[]) == "opened"
    sent = {"state": "open", "at": (now - timedelta(minutes=5)).isoformat(), "subjects": ["api/error_rate/production/"]}
    told = _incident(sent=sent)
    assert due(told, now=now, mutes=[]) is None  # nothing new
    grown = _incident(sent={**sent, "at": (now - timedelta(hours=1)).isoformat()})
    extra = Subject(**{**vars(next(iter(grown.subjects.values()))), "kind": "latency", "subject": "GET /x"})
    grown.subjects[extra.key] = extra
    assert due(grown, now=now, mutes=[]) == "updated"
    grown.acked_by = "oncall"
    assert due(grown, now=now, mutes=[]) is None  # acknowledged: only its end
    grown.status, grown.resolved_at = "resolved", now
    assert due(grown, now=now, mutes=[]) == "resolved"
    done = _incident(sent={**sent, "state": "resolved"})
    done.status, done.resolved_at = "resolved", now
    assert due(done, now=now, mutes=[]) is None
    done.status, done.resolved_at = "open", None
    assert due(done, now=now, mutes=[]) == "reopened"
    mute = Mute(1, "api", None, now + HOUR, "", "me")
    assert due(_incident(), now=now, mutes=[mute]) is None
    assert due(_incident(), now=now, mutes=[Mute(2, "api", "latency", now + HOUR, "", "me")]) == "opened"


def test_the_slack_message_keeps_block_kit_limits_and_escapes_what_it_quotes() -> None:
    incident = _incident()
    incident.service = "<!channel> & " + "x" * 300
    incident.summary = incident.service + ": " + "y" * 500
    incident.explanation = {"summary": "<@U123> " + "z" * 5000, "key_insight": "k" * 4000, "recommendation": "r"}
    incident.facts = {
        "window": {"start": START.isoformat(), "end": START.isoformat(), "minutes": 60},
        "changes": [{"kind": "error_rate", "text": "t" * 5000}],
        "top_errors": [{"error_type": "E", "message": "m" * 1000, "count": 3}] * 10,
        "sql": [{"title": "q", "sql": "SELECT 1 ```; " + "1" * 5000}] * 5,
        "series": {"label": "errors", "hours": [START.isoformat()], "chart": "▁▃█"},
        "links": {"logs": "https://console.example/#/search?service=api"},
    }
    message = slack_message(incident, "opened")
    blocks = message["blocks"]
    assert len(blocks) <= 50 and len(message["text"]) <= 3000
    assert len(blocks[0]["text"]["text"]) <= 150
    for block in blocks:
        if "text" in block and block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
        for field in block.get("fields", []):
            assert len(field["text"]) <= 2000
        for element in block.get("elements", []):
            if element.get("type") == "button":
                assert len(element["text"]["text"]) <= 75
    # Slack reads <...> in mrkdwn as mentions and links: what the alert quotes is escaped there
    mrkdwn = [
        item["text"]
        for block in blocks
        for item in [block.get("text") or {}, *block.get("fields", []), *block.get("elements", [])]
        if isinstance(item, dict) and item.get("type") == "mrkdwn"
    ]
    assert mrkdwn and not any("<!channel>" in t or "<@U123>" in t for t in mrkdwn)
    assert any("&lt;!channel&gt;" in t for t in mrkdwn)
    buttons = blocks[-1]["elements"]
    assert [b.get("action_id") for b in buttons[:3]] == [ACK_ACTION, f"{MUTE_ACTION}_1h", f"{MUTE_ACTION}_24h"]
    assert buttons[-1]["url"].startswith("https://console.example/")


def _form(payload: Any) -> bytes:
    from urllib.parse import quote

    return ("payload=" + quote(json.dumps(payload))).encode()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"payload=%7Bnot-json",
        b"\xff\xfe",
        _form([1, 2]),
        _form({"type": "view_submission"}),
        _form({"type": "block_actions", "actions": []}),
        _form({"type": "block_actions", "actions": [{"action_id": ACK_ACTION, "value": "1"}] * 2}),
        _form({"type": "block_actions", "actions": [{"action_id": ACK_ACTION, "value": "x1"}]}),
        _form({"type": "block_actions", "actions": [{"action_id": ACK_ACTION, "value": "9" * 40}]}),
        _form({"type": "block_actions", "actions": [{"action_id": f"{MUTE_ACTION}_1h", "value": "1:0"}]}),
        _form({"type": "block_actions", "actions": [{"action_id": f"{MUTE_ACTION}_1h", "value": "1:-3"}]}),
        _form({"type": "block_actions", "actions": [{"action_id": "drop_tables", "value": "1"}]}),
    ],
)
def test_a_button_payload_is_read_strictly(body: bytes) -> None:
    with pytest.raises(HttpError) as refused:
        parse_action(body)
    assert refused.value.status == 400


def test_a_button_payload_names_the_incident_and_who_pressed() -> None:
    press = {"type": "block_actions", "user": {"id": "U1", "name": "dana"}, "response_url": "https://hooks.slack.com/x",
             "actions": [{"action_id": f"{MUTE_ACTION}_24h", "value": "12:24"}]}  # fmt: skip
    assert parse_action(_form(press)) == {
        "action_id": f"{MUTE_ACTION}_24h",
        "incident": 12,
        "hours": 24,
        "user": "dana",
        "response_url": "https://hooks.slack.com/x",
    }


def test_slack_settings_from_the_secret_and_the_channels_they_make() -> None:
    bot = SlackSettings.from_secret('{"bot_token": "xoxb-1", "channel": "C1", "signing_secret": "s"}')
    channels = build_channels(bot, sns_topic_arn="arn:aws:sns:us-east-1:123456789012:alerts")
    assert isinstance(channels[0], SlackBot) and [c.name for c in channels] == ["slack", "sns"]
    hook = SlackSettings.from_secret('{"webhook_url": "https://hooks.slack.com/services/T/B/x"}')
    assert isinstance(build_channels(hook)[0], SlackWebhook)
    assert build_channels(SlackSettings()) == []
    for text, problem in (
        ("xoxb-plain-text", "must be JSON"),
        ("[1]", "JSON object"),
        ('{"bot_token": "xoxb-1"}', "needs a channel"),
        ('{"webhook_url": "https://evil.example/hook"}', "hooks.slack.com"),
    ):
        with pytest.raises(ConfigError, match=problem):
            SlackSettings.from_secret(text)
    with pytest.raises(ValueError, match=r"hooks\.slack\.com"):
        SlackWebhook("http://127.0.0.1:9/hook")


def test_the_demo_moves_incidents_and_refuses_what_it_cannot_plant() -> None:
    from loglens.devtools.cli.demo import incidents_json
    from loglens.devtools.demo import DemoPlan

    end = datetime(2026, 11, 10, 12, tzinfo=UTC)
    plan = DemoPlan(end=end, incident_starts=(("payment_db_timeouts", end - timedelta(hours=30)),))
    moved = {i["name"]: i for i in incidents_json(plan)}
    assert moved["payment_db_timeouts"]["start"] == (end - timedelta(hours=30)).isoformat()
    assert moved["payment_db_timeouts"]["end"] == (end - timedelta(hours=29)).isoformat()
    assert moved["search_latency_regression"]["end"] == end.isoformat()  # the others stay where they were
    for starts in ((("no_such_incident", end - HOUR),), (("payment_db_timeouts", end + HOUR),)):
        with pytest.raises(ValueError, match="incident_starts"):
            DemoPlan(end=end, incident_starts=starts)


def test_the_cli_reads_durations_and_refuses_others() -> None:
    import argparse

    from loglens.devtools.cli.alerts import duration

    assert duration("72h") == timedelta(hours=72) and duration("3d") == timedelta(days=3)
    assert duration("90m") == timedelta(minutes=90) and duration("1w") == timedelta(weeks=1)
    for text in ("", "72", "h", "-1h", "0h", "1y", "99999999d"):
        with pytest.raises(argparse.ArgumentTypeError):
            duration(text)
