"""The detectors over the demo data: each planted incident found, with the right service and window, and nothing else.

The demo plants three incidents of three kinds (an error spike with new error types, a latency regression after a
release, a browser-only error after a release); these tests never name them in the detectors, they only check the
detectors' findings against `DemoPlan.incidents()`. Other seeds and incident times are covered by bench/alerts.py
(ten plans, printed as a table) and by one moved plan here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from loglens.alerts import explain
from loglens.alerts.check import replay
from loglens.alerts.incidents import Incident
from loglens.alerts.settings import AlertSettings
from loglens.db.connect import connect, with_user
from loglens.devtools.demo import DemoPlan
from loglens.devtools.demo import Incident as Planted
from tests.conftest import ROLE_PASSWORD
from tests.demo_data import load_demo
from tests.fake_claude import FakeClaude, answer, message, run_query, tool_results

SINCE = timedelta(hours=72)


@pytest.fixture(scope="module")
def plan(db_url: str) -> DemoPlan:
    demo = DemoPlan(end=datetime.now(UTC).replace(second=0, microsecond=0), records=20_000)
    load_demo(db_url, demo)
    return demo


@pytest.fixture(scope="module")
def alerter(db_url: str, plan: DemoPlan) -> Iterator[psycopg.Connection[Any]]:
    with connect(with_user(db_url, "loglens_alerter", ROLE_PASSWORD), autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def found(alerter: psycopg.Connection[Any], plan: DemoPlan) -> list[Incident]:
    result = replay(alerter, AlertSettings(), since=SINCE, now=datetime.now(UTC))
    for incident in result.incidents:
        incident.facts = explain.gather(alerter, incident, AlertSettings(), result.facts)
        incident.summary = explain.summary_line(incident)
        incident.explanation = explain.templated(incident, incident.facts)
    return result.incidents


def _overlaps(incident: Incident, planted: Planted) -> bool:
    end = max(incident.end, incident.started_at + timedelta(minutes=1))
    return incident.started_at < planted.end and planted.start < end


def _match(incidents: list[Incident], planted: list[Planted]) -> tuple[dict[str, Incident], list[Incident]]:
    matched: dict[str, Incident] = {}
    unmatched: list[Incident] = []
    for incident in incidents:
        hits = [p for p in planted if p.service == incident.service and _overlaps(incident, p)]
        if not hits:
            unmatched.append(incident)
        for hit in hits:
            matched[hit.name] = incident
    return matched, unmatched


def test_each_planted_incident_is_found_with_its_service_and_window_and_nothing_else(
    found: list[Incident], plan: DemoPlan
) -> None:
    matched, unmatched = _match(found, plan.incidents())
    assert set(matched) == {p.name for p in plan.incidents()}
    assert unmatched == [], [i.summary for i in unmatched]
    assert len(found) == 3  # one incident each: grouping made one alert of every detector that saw it


def test_the_kinds_and_likely_causes_follow_from_the_data(found: list[Incident], plan: DemoPlan) -> None:
    by_service = {incident.service: incident for incident in found}
    planted = {p.service: p for p in plan.incidents()}
    # the error spike: its rate and the error types that were never seen before
    payment = by_service["payment-api"]
    assert {"error_rate", "new_error"} <= set(payment.kinds)
    assert planted["payment-api"].details["error_type"] in {s.subject for s in payment.subjects.values()}
    assert payment.cause is None  # no release appeared at its start
    # the latency regression: the endpoint, and the release whose rows are the slow ones
    search = by_service["search-api"]
    assert "latency" in search.kinds
    assert {s.subject for s in search.subjects.values() if s.kind == "latency"} == {
        f"{planted['search-api'].details['method']} {planted['search-api'].details['endpoint']}"
    }
    assert search.cause is not None
    assert f"search-api {search.cause['value']}" == planted["search-api"].details["version_during"]
    # the browser-only error: a new error type, after the front end's release, in one browser
    web = by_service["web-frontend"]
    assert "new_error" in web.kinds
    assert web.cause is not None and web.cause["value"] == planted["web-frontend"].details["version_during"]
    browsers = web.facts["affected"]["browsers"]
    assert browsers[0]["value"] == planted["web-frontend"].details["browser_name"]
    assert len(browsers) == 1


def test_the_explanation_says_what_since_when_how_big_and_who(found: list[Incident]) -> None:
    payment = next(i for i in found if i.service == "payment-api")
    facts = payment.facts
    assert facts["top_errors"][0]["error_type"] == "DatabaseConnectionTimeout"
    assert facts["affected"]["users"] > 0
    assert facts["affected"]["endpoints"][0]["value"] == "POST /api/v1/payment"
    rate = next(c for c in facts["changes"] if c["kind"] == "error_rate")
    assert rate["ratio"] >= 3  # against the baseline
    words = payment.explanation
    assert "payment-api since" in words["summary"]
    assert "DatabaseConnectionTimeout" in words["key_insight"]
    assert facts["series"]["chart"]  # the compact chart of the main measure per hour
    # started at the first anomalous row, not at the hour's start
    assert payment.started_at.minute != 0 or payment.started_at.second != 0


def test_every_query_an_alert_shows_passes_the_guard_and_runs_on_the_analyst_role(
    found: list[Incident], db_url: str
) -> None:
    analyst = with_user(db_url, "loglens_analyst", ROLE_PASSWORD)
    with connect(analyst, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("loglens_analyst",)
        for incident in found:
            assert incident.facts["sql"], incident.summary
            for query in incident.facts["sql"]:
                with conn.transaction():
                    conn.execute("SET TRANSACTION READ ONLY")
                    rows = conn.execute(query["sql"]).fetchall()
                assert rows, (incident.service, query["title"])


def test_the_cli_prints_the_incidents_as_json(
    plan: DemoPlan, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from loglens.devtools.cli import main

    monkeypatch.setenv("DATABASE_URL", db_url)
    assert main(["alerts", "check", "--since", "72h", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {"kind", "service", "start", "end", "summary"} <= set(printed[0])
    for planted in plan.incidents():
        hits = [
            p
            for p in printed
            if p["service"] == planted.service
            and datetime.fromisoformat(p["start"]) < planted.end
            and planted.start < datetime.fromisoformat(p["end"]) + timedelta(minutes=1)
        ]
        assert len(hits) == 1, planted.name
    assert len(printed) == len(plan.incidents())


def test_claude_writes_the_explanation_through_the_guarded_tools(found: list[Incident], db_url: str) -> None:
    from loglens.agent.client import make_client
    from loglens.agent.service import AskService, build_agent
    from loglens.agent.settings import AgentSettings
    from loglens.db.connect import ConnectionProvider

    query = (
        "SELECT count(*) AS timeouts FROM logs WHERE service = 'payment-api' AND error_type = "
        "'DatabaseConnectionTimeout' AND created_at >= now() - interval '1 day'"
    )

    def reply(request: dict[str, Any]) -> dict[str, Any]:
        if tool_results(request):
            return message(answer(query, "payment-api's database pool ran out for an hour.", key_insight="Pool."))
        return message(run_query(query))

    fake = FakeClaude(responder=reply).start()
    try:
        settings = AgentSettings.from_env({})
        client = make_client(settings, environ={"ANTHROPIC_API_KEY": "test-key", "ANTHROPIC_BASE_URL": fake.url})
        analyst = with_user(db_url, "loglens_analyst", ROLE_PASSWORD)
        agent = build_agent(analyst=ConnectionProvider(lambda: analyst), client=client, settings=settings, environ={})
        payment = next(i for i in found if i.service == "payment-api")
        written = explain.with_model(AskService(agent), payment, payment.facts)
        assert written is not None
        assert written["summary"] == "payment-api's database pool ran out for an hour."
        assert written["sql"].startswith("SELECT")
        # the model was given the detectors' facts, and its query ran (guarded) before it answered
        first_question = fake.requests[0]["messages"][-1]["content"]
        text = json.dumps(first_question)
        assert "DatabaseConnectionTimeout" in text and "error_rate" in text
        assert tool_results(fake.requests[1])[0].get("is_error") is not True
        # a model that fails leaves the templated explanation in place (None: nothing to replace it with)
        failing = FakeClaude(
            responder=lambda _r: {"__status__": 500, "body": {"type": "error", "error": {"type": "api_error"}}}
        ).start()
        try:
            broken = make_client(settings, environ={"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": failing.url})
            agent = build_agent(
                analyst=ConnectionProvider(lambda: analyst), client=broken, settings=settings, environ={}
            )
            assert explain.with_model(AskService(agent), payment, payment.facts) is None
        finally:
            failing.stop()
    finally:
        fake.stop()


def test_incidents_moved_to_other_times_are_found_too(fresh_db_url: str) -> None:
    # Given a plan with another seed and every incident somewhere else (one of them at night)
    end = datetime(2026, 11, 18, 9, 41, tzinfo=UTC)
    moved = DemoPlan(
        end=end,
        records=20_000,
        seed=3,
        incident_starts=(
            ("payment_db_timeouts", end - timedelta(hours=30, minutes=12)),
            ("search_latency_regression", end - timedelta(hours=7, minutes=5)),
            ("safari_checkout_error", end - timedelta(hours=40)),
        ),
    )
    load_demo(fresh_db_url, moved)
    # When the detectors replay the plan's days
    with connect(with_user(fresh_db_url, "loglens_alerter", ROLE_PASSWORD), autocommit=True) as conn:
        result = replay(conn, AlertSettings(), since=SINCE, now=end)
    # Then each is found where it happened, and nothing else
    matched, unmatched = _match(result.incidents, moved.incidents())
    assert set(matched) == {p.name for p in moved.incidents()}
    assert unmatched == []
    # the payment incident ended 29 hours before the plan did: it resolved
    assert matched["payment_db_timeouts"].status == "resolved"


def test_a_small_latency_move_after_a_release_is_no_incident(fresh_db_url: str) -> None:
    # Given the demo ending at 21:17 on 7 December: a CI run met a false alert there, user-api's p95 36 → 56 ms
    # "after version 2.9.1" (histogram buckets made a 20 ms move look significant on a quiet endpoint)
    end = datetime(2026, 12, 7, 21, 17, tzinfo=UTC)
    demo = DemoPlan(end=end, records=20_000)
    load_demo(fresh_db_url, demo)
    # When the detectors replay the three days
    with connect(with_user(fresh_db_url, "loglens_alerter", ROLE_PASSWORD), autocommit=True) as conn:
        result = replay(conn, AlertSettings(), since=SINCE, now=end + timedelta(seconds=40))
    # Then only the planted incidents are found
    matched, unmatched = _match(result.incidents, demo.incidents())
    assert unmatched == [], [(i.service, i.kinds) for i in unmatched]
    assert set(matched) == {p.name for p in demo.incidents()}
