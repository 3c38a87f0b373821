"""The scheduled run over time: one incident is one alert, updated while it lasts, resolved when it ends, reopened
within the cool-down, new after it; Slack (Block Kit, to a fake Slack on 127.0.0.1), SNS as the fallback, mutes,
acknowledgements, the buttons, the digest, and the database being down.

The data is made in SQL: a service sending a record a minute (one in a hundred an error) for three days, then error
spikes at known times. The rollups are refreshed after the baseline only, so every later minute is read from
`logs` up to each run's `now` (the frontier never reaches rows "from the future").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import psycopg
import pytest
from moto import mock_aws

from loglens.agent.slack import ResponsePoster
from loglens.alerts import store
from loglens.alerts.actions import AlertActions
from loglens.alerts.delivery import SlackBot, SlackWebhook, SnsEmail
from loglens.alerts.digest import build as build_digest
from loglens.alerts.digest import run_digest
from loglens.alerts.incidents import Incident
from loglens.alerts.messages import ACK_ACTION, MUTE_ACTION
from loglens.alerts.run import run_once
from loglens.alerts.settings import AlertSettings
from loglens.db.connect import connect, with_user
from loglens.db.partitions import ensure_partitions
from tests.conftest import ROLE_PASSWORD
from tests.demo_data import refresh_views
from tests.fake_slack import FakeSlackApi, ResponseUrlServer

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)  # the first spike
SERVICE = "shop-api"
SETTINGS = AlertSettings(cooldown_minutes=120, resolve_minutes=30)
# (start, end) of each spike: half of the records fail with a new error type
SPIKES = [(T0, T0 + timedelta(hours=1)), (T0 + timedelta(hours=2), T0 + timedelta(minutes=150)),
          (T0 + timedelta(hours=7), T0 + timedelta(minutes=450))]  # fmt: skip
SIGNING_SECRET = "alerts-signing-secret"


def _fill(admin_url: str) -> None:
    """Baseline for three days, refreshed into the rollups; then twelve hours with the spikes, left in logs."""
    with connect(admin_url, autocommit=True) as conn:
        conn.execute("SET ROLE loglens_owner")
        ensure_partitions(conn, (T0 - timedelta(days=4)).date(), (T0 + timedelta(days=1)).date())
        insert = """
            INSERT INTO logs (event_id, received_at, created_at, level, log_type, service, environment, message,
                              error_type, endpoint, method, duration_ms, trace_id, user_id, source, metadata)
            SELECT gen_random_uuid(), t, t,
                   CASE WHEN err THEN 'ERROR' ELSE 'INFO' END, 'BACKEND', %(service)s, 'production',
                   CASE WHEN spike AND err THEN 'database timeout after 30000 ms'
                        WHEN err THEN 'item ' || (m %% 97) || ' not found' ELSE 'request served' END,
                   CASE WHEN spike AND err THEN 'DbTimeout' WHEN err THEN 'NotFound' END,
                   '/api/items', 'GET', 40 + (m %% 23), md5(t::text), 'user-' || (m %% 40), 'api',
                   jsonb_build_object('version', '1.0.0')
            FROM (SELECT t, (extract(epoch FROM t) / 60)::bigint AS m,
                         coalesce(bool_or(t >= s AND t < e), false) AS spike
                  FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 minute',
                                       interval '1 minute') t
                  LEFT JOIN unnest(%(starts)s::timestamptz[], %(ends)s::timestamptz[]) AS w(s, e) ON true
                  GROUP BY t) minutes,
                 LATERAL (SELECT (spike AND m %% 2 = 0) OR (m %% 100 = 0) AS err) e
        """
        spikes = {"starts": [s for s, _ in SPIKES], "ends": [e for _, e in SPIKES], "service": SERVICE}
        conn.execute(insert, {"start": T0 - timedelta(days=3), "end": T0, **spikes})
        # Rollups kept incrementally learn of new hours from their writers; a plain INSERT announces its own.
        if conn.execute("SELECT to_regclass('rollup_dirty_hours') IS NOT NULL").fetchone() == (True,):
            conn.execute(
                "INSERT INTO rollup_dirty_hours (hour) SELECT DISTINCT date_trunc('hour', created_at, 'UTC') FROM logs"
            )
    refresh_views(admin_url)
    with connect(admin_url, autocommit=True) as conn:
        conn.execute("SET ROLE loglens_owner")
        conn.execute(insert, {"start": T0, "end": T0 + timedelta(hours=12), **spikes})
        # The rollups hold what came before T0, and nothing after: the runs read every later minute from logs.
        if conn.execute("SELECT to_regclass('rollup_freshness') IS NOT NULL").fetchone() == (True,):
            conn.execute("UPDATE rollup_freshness SET complete_as_of = %s", (T0,))
        conn.execute("ANALYZE logs")


@pytest.fixture(scope="module")
def filled(db_url: str) -> str:
    _fill(db_url)
    return db_url


@pytest.fixture
def alerter(filled: str) -> Iterator[psycopg.Connection[Any]]:
    with connect(with_user(filled, "loglens_alerter", ROLE_PASSWORD), autocommit=True) as conn:
        yield conn
    with connect(filled, autocommit=True) as admin:  # every test starts with no alert state
        admin.execute("TRUNCATE alert_incidents, alert_mutes")
        admin.execute("UPDATE alert_runs SET last_frontier = NULL, last_run_at = NULL, last_digest_day = NULL")


@pytest.fixture
def slack() -> Iterator[FakeSlackApi]:
    server = FakeSlackApi().start()
    yield server
    server.stop()


def _runs(conn: psycopg.Connection[Any], channels: list[Any], *, until: datetime, every: int = 10) -> list[Any]:
    reports = []
    now = T0 - timedelta(minutes=30)
    while now <= until:
        reports.append(run_once(conn, SETTINGS, now=now, channels=channels))
        now += timedelta(minutes=every)
    return reports


def _events(reports: list[Any]) -> list[tuple[int | None, str]]:
    return [(ident, action) for report in reports for ident, action, _channel in report.sent]


def test_one_incident_is_one_alert_resolved_reopened_within_the_cooldown_and_new_after_it(
    alerter: psycopg.Connection[Any], slack: FakeSlackApi
) -> None:
    bot = SlackBot("xoxb-test", "C0ALERTS", base_url=slack.base_url)
    reports = _runs(alerter, [bot], until=T0 + timedelta(hours=10))
    # Then: the first spike opens #1 and resolves it; the second (within the cool-down) reopens #1; the third,
    # hours after, is #2. Every message was sent exactly once, in that order.
    events = _events(reports)
    first, second = (i for i in sorted({ident for ident, _ in events if ident is not None}))
    assert [e for e in events if e[1] != "updated"] == [
        (first, "opened"),
        (first, "resolved"),
        (first, "reopened"),
        (first, "resolved"),
        (second, "opened"),
        (second, "resolved"),
    ]
    one = store.get_incident(alerter, first)
    two = store.get_incident(alerter, second)
    assert one is not None and two is not None
    assert one.reopened == 1 and one.status == "resolved" and two.status == "resolved"
    assert {"error_rate", "new_error"} <= set(one.kinds)
    # the windows: #1 from the first spike's start to the second's end; #2 around the third
    assert SPIKES[0][0] <= one.started_at < SPIKES[0][0] + timedelta(minutes=5)
    assert SPIKES[1][1] - timedelta(minutes=10) <= one.end <= SPIKES[1][1] + timedelta(minutes=60)
    assert SPIKES[2][0] <= two.started_at < SPIKES[2][1]
    # noticed within a run or two of the spike's start (the data of the first minutes is enough)
    assert one.opened_at <= SPIKES[0][0] + timedelta(minutes=20)
    # Slack: a message per open and reopen, edited in place on resolve, the resolution also posted in its thread
    assert slack.methods().count("chat.postMessage") == 3 + 3
    updates = [body for method, body, _ in slack.calls if method == "chat.update"]
    # three resolutions edit their message; #2 gaining a subject (the error rate after the new type) is a fourth
    assert len(updates) == 4 and {u["channel"] for u in updates} == {"C0ALERTS"}
    first_ts = next(body["ts"] for method, body, _ in slack.calls if method == "chat.update")
    replies = [body for method, body, _ in slack.calls if method == "chat.postMessage" and body.get("thread_ts")]
    assert replies[0]["thread_ts"] == first_ts
    assert all(headers["authorization"] == "Bearer xoxb-test" for _, _, headers in slack.calls)


def test_the_slack_message_is_block_kit_with_the_facts_a_chart_the_sql_and_buttons(
    alerter: psycopg.Connection[Any], slack: FakeSlackApi
) -> None:
    bot = SlackBot("xoxb-test", "C0ALERTS", base_url=slack.base_url)
    _runs(alerter, [bot], until=T0 + timedelta(minutes=30))
    method, body, _headers = slack.calls[0]
    assert method == "chat.postMessage" and body["channel"] == "C0ALERTS"
    blocks = body["blocks"]
    assert 3 <= len(blocks) <= 50
    header = blocks[0]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert len(header["text"]["text"]) <= 150 and header["text"]["text"].startswith(SERVICE)
    for block in blocks:
        assert block["type"] in {"header", "context", "section", "actions"}
        if block["type"] == "section" and "text" in block:
            assert block["text"]["type"] == "mrkdwn" and len(block["text"]["text"]) <= 3000
        if block["type"] == "section" and "fields" in block:
            assert 1 <= len(block["fields"]) <= 10
    text = json.dumps(blocks, ensure_ascii=False)
    assert "DbTimeout" in text  # the new error type, by name
    assert "error rate" in text and "usual" in text  # how big against the baseline
    assert "```SELECT" in text  # the guarded SQL that shows it
    assert any(ch in text for ch in "▁▂▃▄▅▆▇█")  # the compact chart
    (actions,) = [b for b in blocks if b["type"] == "actions"]
    ids = {element.get("action_id") for element in actions["elements"]}
    assert ACK_ACTION in ids and any(str(i).startswith(MUTE_ACTION) for i in ids)
    incident_id = int(next(e["value"] for e in actions["elements"] if e.get("action_id") == ACK_ACTION))
    assert store.get_incident(alerter, incident_id) is not None
    assert body["text"]  # the notification's plain-text fallback


def test_a_webhook_gets_the_same_message_and_slack_failing_falls_back_to_sns(
    alerter: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = ResponseUrlServer().start()
    for key, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
    }.items():
        monkeypatch.setenv(key, value)
    try:
        with mock_aws():
            sns, sqs = boto3.client("sns"), boto3.client("sqs")
            topic = sns.create_topic(Name="alerts")["TopicArn"]
            queue = sqs.create_queue(QueueName="mail")["QueueUrl"]
            queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
            webhook = SlackWebhook(f"{hook.base}/services/T0/B0/x", allowed_prefixes=(hook.base,))
            channels = [webhook, SnsEmail(topic, client=sns)]
            # Given Slack answering, the webhook gets the message and SNS nothing
            reports = _runs(alerter, channels, until=T0 + timedelta(minutes=20))
            assert [(a, c) for r in reports for _i, a, c in r.sent] == [("opened", "slack")]
            assert hook.posts[0]["blocks"][0]["type"] == "header"
            assert "Messages" not in sqs.receive_message(QueueUrl=queue)
            # When Slack starts refusing, the resolution goes to SNS e-mail instead
            hook.status = 500
            later = run_once(alerter, SETTINGS, now=T0 + timedelta(minutes=90), channels=channels)
            assert [(a, c) for _i, a, c in later.sent] == [("resolved", "sns")]
            mail = sqs.receive_message(QueueUrl=queue)["Messages"][0]
            body = json.loads(mail["Body"])
            assert body["Subject"].startswith("[loglens] resolved: ") and SERVICE in body["Message"]
            assert later.undelivered == []
            assert len(hook.posts) == 2  # Slack was tried first
    finally:
        hook.stop()


def test_a_failed_delivery_is_retried_by_the_next_run_and_nothing_is_sent_twice(
    alerter: psycopg.Connection[Any], slack: FakeSlackApi
) -> None:
    bot = SlackBot("xoxb-test", "C0ALERTS", base_url=slack.base_url)
    slack.fail_with = "channel_not_found"
    first = _runs(alerter, [bot], until=T0 + timedelta(minutes=10))
    assert first[-1].undelivered and not first[-1].sent
    slack.fail_with = None
    again = run_once(alerter, SETTINGS, now=T0 + timedelta(minutes=20), channels=[bot])
    assert [a for _i, a, _c in again.sent] == ["opened"]
    once_more = run_once(alerter, SETTINGS, now=T0 + timedelta(minutes=25), channels=[bot])
    assert once_more.sent == [] and once_more.undelivered == []


def test_a_muted_service_is_tracked_but_not_sent(alerter: psycopg.Connection[Any], slack: FakeSlackApi) -> None:
    bot = SlackBot("xoxb-test", "C0ALERTS", base_url=slack.base_url)
    store.mute(alerter, SERVICE, until=T0 + timedelta(hours=3), by="test", reason="planned")
    muted = _runs(alerter, [bot], until=T0 + timedelta(minutes=50))
    assert _events(muted) == [] and slack.calls == []
    (incident,) = store.recent_incidents(alerter, since=T0 - timedelta(days=1))
    assert incident.is_open and incident.delivery.get("muted")
    # the whole mute long, nothing is sent (the incident resolves and reopens meanwhile)
    still_muted = [
        run_once(alerter, SETTINGS, now=T0 + timedelta(minutes=m), channels=[bot]) for m in range(60, 180, 10)
    ]
    assert _events(still_muted) == [] and slack.calls == []
    # once the mute is over, an incident still open is news: it is sent then, and so is the next one
    later = _events(_runs(alerter, [bot], until=T0 + timedelta(hours=10)))
    assert [action for ident, action in later if ident == incident.id] == ["opened", "resolved"]
    assert [action for ident, action in later if ident != incident.id and action != "updated"] == ["opened", "resolved"]
    assert store.unmute(alerter, SERVICE) == 1


def _signed(payload: dict[str, Any], *, secret: str = SIGNING_SECRET, at: int | None = None) -> dict[str, Any]:
    body = "payload=" + urllib.parse.quote(json.dumps(payload))
    stamp = str(at if at is not None else int(time.time()))
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "httpMethod": "POST",
        "resource": "/slack/actions",
        "path": "/slack/actions",
        "headers": {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature,
        },
        "body": body,
        "isBase64Encoded": False,
    }


def _press(action_id: str, value: str, response_url: str = "") -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": "U1", "username": "dana"},
        "response_url": response_url,
        "actions": [{"action_id": action_id, "value": value}],
    }


def test_the_buttons_acknowledge_and_mute_and_refuse_what_slack_did_not_sign(
    alerter: psycopg.Connection[Any], filled: str
) -> None:
    _runs(alerter, [], until=T0 + timedelta(minutes=20))
    (incident,) = store.recent_incidents(alerter, since=T0 - timedelta(days=1))
    confirm = ResponseUrlServer().start()
    url = with_user(filled, "loglens_alerter", ROLE_PASSWORD)
    actions = AlertActions(
        signing_secret=lambda: SIGNING_SECRET,
        connection=lambda: connect(url, autocommit=True),
        poster=ResponsePoster((confirm.base,)),
    )
    try:
        answer = actions.handle(_signed(_press(ACK_ACTION, str(incident.id), confirm.url)))
        assert answer["statusCode"] == 200, answer
        assert store.get_incident(alerter, int(incident.id or 0)).acked_by == "dana"  # type: ignore[union-attr]
        assert "acknowledged by dana" in confirm.wait_for(1)[0]["text"]
        answer = actions.handle(_signed(_press(f"{MUTE_ACTION}_1h", f"{incident.id}:1")))
        assert answer["statusCode"] == 200
        (mute,) = store.active_mutes(alerter, at=datetime.now(UTC))
        assert mute.service == SERVICE and mute.created_by == "dana"
        # refused: a wrong signature, an old timestamp, another secret, garbage, an unknown incident, too big
        forged = _signed(_press(ACK_ACTION, str(incident.id)))
        forged["headers"]["X-Slack-Signature"] = "v0=" + "0" * 64
        assert actions.handle(forged)["statusCode"] == 401
        assert actions.handle(_signed(_press(ACK_ACTION, "1"), at=int(time.time()) - 3600))["statusCode"] == 401
        assert actions.handle(_signed(_press(ACK_ACTION, "1"), secret="another"))["statusCode"] == 401
        assert actions.handle(_signed({"type": "view_submission"}))["statusCode"] == 400
        assert actions.handle(_signed(_press(ACK_ACTION, "'; DROP TABLE logs; --")))["statusCode"] == 400
        assert actions.handle(_signed(_press(f"{MUTE_ACTION}_1h", f"{incident.id}:100000")))["statusCode"] == 400
        assert actions.handle(_signed(_press("something_else", "1")))["statusCode"] == 400
        missing = actions.handle(_signed(_press(ACK_ACTION, "987654321")))
        assert missing["statusCode"] == 404 and json.loads(missing["body"]) == {"error": "no incident #987654321"}
        huge = _signed({"type": "block_actions", "pad": "x" * 70_000})
        assert actions.handle(huge)["statusCode"] == 413
        # the database down: a clear 503, nothing else
        down = AlertActions(
            signing_secret=lambda: SIGNING_SECRET,
            connection=lambda: connect("postgresql://loglens_alerter@127.0.0.1:1/loglens?connect_timeout=1"),
        )
        answer = down.handle(_signed(_press(ACK_ACTION, str(incident.id))))
        assert answer["statusCode"] == 503 and "database" in json.loads(answer["body"])["error"]
    finally:
        confirm.stop()


def test_two_runs_at_once_do_not_evaluate_twice(alerter: psycopg.Connection[Any], filled: str) -> None:
    other = connect(with_user(filled, "loglens_alerter", ROLE_PASSWORD))
    try:
        with other.transaction():
            store.lock_run(other)  # a run in progress holds the lock
            report = run_once(alerter, SETTINGS, now=T0 + timedelta(minutes=30))
        assert report.skipped and "in progress" in report.skipped and report.changed == []
    finally:
        other.close()


def test_the_digest_covers_the_day_once(alerter: psycopg.Connection[Any], slack: FakeSlackApi) -> None:
    _runs(alerter, [], until=T0 + timedelta(hours=2), every=30)
    day = (T0 - timedelta(days=1)).date()
    built = build_digest(alerter, day)
    names = [name for name, _ in built.sections]
    assert names == ["Volume by service", "Top errors", "New error types", "Slowest endpoints (p95)", "Incidents"]
    assert built.data["volume"][0]["service"] == SERVICE and built.data["volume"][0]["records"] == 1440
    assert built.data["top_errors"][0]["error_type"] == "NotFound"
    assert built.data["slowest_endpoints"][0]["endpoint"] == "/api/items"
    bot = SlackBot("xoxb-test", "C0DIGEST", base_url=slack.base_url)
    now = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=8)
    first, report = run_digest(alerter, now=now, channels=[bot])
    assert first is not None and report.sent == ["slack"]
    assert slack.calls[-1][1]["blocks"][0]["text"]["text"] == f"loglens daily digest: {day.isoformat()}"
    again, report = run_digest(alerter, now=now + timedelta(minutes=5), channels=[bot])
    assert again is None and report.skipped and "already" in report.skipped
    assert slack.methods().count("chat.postMessage") == 1
    assert date.fromisoformat(built.to_dict()["day"]) == day


def test_the_alerter_reads_the_logs_and_writes_only_its_own_tables(alerter: psycopg.Connection[Any]) -> None:
    assert alerter.execute("SELECT count(*) > 0 FROM logs").fetchone() == (True,)
    assert alerter.execute("SELECT count(*) >= 0 FROM hourly_log_rollup").fetchone() == (True,)
    for statement in (
        "INSERT INTO logs (event_id, received_at, created_at, level, service, message, source) "
        "VALUES (gen_random_uuid(), now(), now(), 'INFO', 'x', 'x', 'api')",
        "DELETE FROM alert_incidents",
        "SELECT * FROM conversation_turns",
        "SELECT * FROM load_ledger",
        "CREATE TABLE mine (x int)",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), alerter.transaction():
            alerter.execute(statement)


def test_an_incident_round_trips_through_the_store(alerter: psycopg.Connection[Any]) -> None:
    _runs(alerter, [], until=T0 + timedelta(minutes=20))
    (stored,) = store.recent_incidents(alerter, since=T0 - timedelta(days=1))
    assert isinstance(stored, Incident)
    assert stored.summary.startswith(SERVICE) and stored.facts["sql"] and stored.explanation["summary"]
    assert {s.kind for s in stored.subjects.values()} >= {"error_rate", "new_error"}


def test_loglens_devs_timer_job_prints_what_it_finds(filled: str, alerter: psycopg.Connection[Any]) -> None:
    from loglens.devtools.local.alerts import run_and_print
    from loglens.settings import Settings

    printed: list[str] = []
    env = {"LOGLENS_ALERT_COOLDOWN": "120"}  # no Slack, SNS or model configured: printing only
    for minutes in (-30, 10, 20):
        run_and_print(
            filled, Settings.from_env({}), write=printed.append, now=T0 + timedelta(minutes=minutes), environ=env
        )
    assert len(printed) == 1 and printed[0].startswith("loglens alert (opened):\nshop-api: ")
    assert "DbTimeout" in printed[0] and "SELECT" in printed[0]
