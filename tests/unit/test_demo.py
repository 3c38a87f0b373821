"""The demo generator: deterministic, valid, realistic, fast, and its three incidents measurable from the data."""

from __future__ import annotations

import math
import pickle
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import pytest

from loglens.devtools.demo import (
    DB_TIMEOUT_MESSAGE,
    SAFARI_ERROR_MESSAGE,
    DemoPlan,
    Incident,
    generate,
    generate_rows,
)
from loglens.record import LOG_COLUMNS, AcceptanceWindow, IngestContext, Source
from loglens.redact import RedactionSettings, Redactor
from loglens.validate import validate_batch

END = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)  # a Wednesday afternoon
COL = {name: index for index, name in enumerate(LOG_COLUMNS)}
SERVICES = {"payment-api", "order-api", "user-api", "search-api", "notification-worker", "web-frontend"}
Row = tuple[Any, ...]


@cache
def rows_of(plan: DemoPlan) -> list[Row]:
    return list(generate_rows(plan))


def col(row: Row, name: str) -> Any:
    return row[COL[name]]


def inside(row: Row, incident: Incident) -> bool:
    return bool(incident.start <= col(row, "created_at") < incident.end)


def incident(plan: DemoPlan, name: str) -> Incident:
    return next(i for i in plan.incidents() if i.name == name)


def p95(values: Iterable[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def ingest_context(plan: DemoPlan) -> IngestContext:
    window = AcceptanceWindow(back=timedelta(days=plan.days + 1), ahead=timedelta(hours=1))
    return IngestContext(source=Source.API, received_at=plan.end, api_key_id="demo", window=window)


# Given the same plan twice / When generated / Then the records and their event ids are identical.
def test_same_plan_gives_the_same_records() -> None:
    plan = DemoPlan(end=END, records=3_000)
    first, second = list(generate(plan)), list(generate(plan))
    assert first == second
    assert [r["event_id"] for r in first] == [r["event_id"] for r in second]
    other_seed = list(generate(DemoPlan(end=END, records=3_000, seed=8)))
    assert {r["event_id"] for r in first}.isdisjoint(r["event_id"] for r in other_seed)


@pytest.mark.parametrize(
    ("records", "days"), [(20_000, 3), (0, 3), (1, 1), (137, 2), (5_000, 1), (12_345, 7)]
)  # fmt: skip
def test_record_count_is_what_the_plan_asks(records: int, days: int) -> None:
    plan = DemoPlan(end=END, records=records, days=days)
    count = len(rows_of(plan))
    assert abs(count - records) <= records * 0.01
    assert count == records  # in fact exact


def test_every_record_validates_against_the_model() -> None:
    plan = DemoPlan(end=END)
    result = validate_batch(generate(plan), ingest_context(plan))
    assert result.rejected == []
    assert len(result.accepted) == plan.records


def test_records_are_ordered_by_time_inside_the_plan() -> None:
    plan = DemoPlan(end=END)
    times = [col(r, "created_at") for r in rows_of(plan)]
    assert times == sorted(times)
    assert plan.start <= times[0] and times[-1] < plan.end
    raw_times = [r["timestamp"] for r in generate(DemoPlan(end=END, records=2_000))]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", t) for t in raw_times)
    assert raw_times == sorted(raw_times)


def test_generate_rows_matches_generate_field_for_field() -> None:
    plan = DemoPlan(end=END, records=4_000, seed=3)
    rows = list(generate_rows(plan))
    accepted = validate_batch(generate(plan), ingest_context(plan)).accepted
    assert len(rows) == len(accepted) == plan.records
    for row, record in zip(rows, accepted, strict=True):
        assert len(row) == len(LOG_COLUMNS)
        expected = record.db_row()
        for name, index in COL.items():
            if name == "received_at":
                continue
            assert row[index] == expected[index], name
            assert isinstance(row[index], float) == isinstance(expected[index], float), name
        delay = col(row, "received_at") - col(row, "created_at")
        assert timedelta(0) < delay < timedelta(seconds=1)
        assert (col(row, "source"), col(row, "api_key_id"), col(row, "source_ip")) == ("api", "demo", None)


def test_default_redaction_leaves_demo_records_alone() -> None:
    # The demo goes through the collect path, which redacts: nothing in it may look like a secret or PII.
    redactor = Redactor(RedactionSettings())
    for record in generate(DemoPlan(end=END, records=5_000)):
        assert not redactor.redact_record(record), record


def test_rows_carry_types_ready_for_binary_copy() -> None:
    row = rows_of(DemoPlan(end=END, records=2_000))[500]
    event_id = col(row, "event_id")
    assert type(event_id) is uuid.UUID and event_id.version == 7
    assert event_id == uuid.UUID(str(event_id)) and hash(event_id) == hash(uuid.UUID(str(event_id)))
    assert pickle.loads(pickle.dumps(event_id)) == event_id  # noqa: S301 - our own object, round-tripped
    # The UUIDv7 time is the record's own millisecond, so ids sort like the records.
    assert event_id.int >> 80 == int(col(row, "created_at").timestamp() * 1000)
    for name in ("created_at", "received_at"):
        assert isinstance(col(row, name), datetime) and col(row, name).utcoffset() == timedelta(0)
    assert isinstance(col(row, "metadata"), dict)


def test_incident_windows_are_fixed_relative_to_end() -> None:
    plan = DemoPlan(end=END)
    windows = {i.name: (plan.end - i.start, plan.end - i.end) for i in plan.incidents()}
    assert windows == {
        "payment_db_timeouts": (timedelta(hours=2), timedelta(hours=1)),
        "search_latency_regression": (timedelta(hours=6), timedelta(0)),
        "safari_checkout_error": (timedelta(days=1), timedelta(0)),
    }
    assert {i.name: i.service for i in plan.incidents()} == {
        "payment_db_timeouts": "payment-api",
        "search_latency_regression": "search-api",
        "safari_checkout_error": "web-frontend",
    }


def test_plan_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        DemoPlan(end=datetime(2026, 11, 25, 14, 0))
    with pytest.raises(ValueError, match="days"):
        DemoPlan(end=END, days=0)
    with pytest.raises(ValueError, match="records"):
        DemoPlan(end=END, records=-1)
    assert DemoPlan().end.second == 0 and DemoPlan().end.tzinfo is not None
    assert DemoPlan(end=END + timedelta(microseconds=1234)).end == END + timedelta(milliseconds=1)


# The incidents: checked at the default size for a few ends and seeds (so they hold whatever time of day the
# demo runs), and at 100k records where the latency percentiles are stable.
INCIDENT_PLANS = [
    DemoPlan(end=END),
    DemoPlan(end=END.replace(hour=2), seed=11),
    DemoPlan(end=END.replace(hour=21), seed=1),
    DemoPlan(end=END, records=100_000),
]
PLAN_IDS = ["default", "night-seed11", "evening-seed1", "100k"]


@pytest.mark.parametrize("plan", INCIDENT_PLANS, ids=PLAN_IDS)
def test_payment_error_spike_stands_out(plan: DemoPlan) -> None:
    spike = incident(plan, "payment_db_timeouts")
    payment = [r for r in rows_of(plan) if col(r, "service") == "payment-api"]
    during = [r for r in payment if inside(r, spike)]
    before_after = [r for r in payment if not inside(r, spike)]

    def error_rate(rows: list[Row]) -> float:
        return sum(col(r, "level") == "ERROR" for r in rows) / len(rows)

    assert error_rate(during) >= 5 * error_rate(before_after)
    errors = [r for r in during if col(r, "level") == "ERROR"]
    timeouts = [r for r in errors if col(r, "error_type") == "DatabaseConnectionTimeout"]
    assert len(errors) >= 15
    assert len(timeouts) / len(errors) >= 0.70
    assert {(col(r, "endpoint"), col(r, "method"), col(r, "message"), col(r, "environment")) for r in timeouts} == {
        ("/api/v1/payment", "POST", DB_TIMEOUT_MESSAGE, "production")
    }
    assert all(col(r, "duration_ms") >= 30_000 and col(r, "http_status_code") == 503 for r in timeouts)
    outside = [r for r in rows_of(plan) if not inside(r, spike)]
    assert [r for r in outside if col(r, "error_type") == "DatabaseConnectionTimeout"] == []


@pytest.mark.parametrize("plan", INCIDENT_PLANS, ids=PLAN_IDS)
def test_search_latency_regression_is_on_one_endpoint(plan: DemoPlan) -> None:
    slow = incident(plan, "search_latency_regression")
    spike = incident(plan, "payment_db_timeouts")  # its 30 s timeouts are a different story
    durations: dict[tuple[str, str, bool], list[float]] = defaultdict(list)
    for r in rows_of(plan):
        measured = col(r, "duration_ms") is not None and col(r, "endpoint") and col(r, "environment") == "production"
        if measured and not inside(r, spike):
            durations[col(r, "method"), col(r, "endpoint"), inside(r, slow)].append(col(r, "duration_ms"))
    search = ("GET", "/api/v1/search")
    assert p95(durations["GET", "/api/v1/search", True]) >= 4 * p95(durations["GET", "/api/v1/search", False])
    assert 100 <= p95(durations["GET", "/api/v1/search", False]) <= 220
    checked = 0
    for method, endpoint, during in list(durations):
        if during and (method, endpoint) != search and len(durations[method, endpoint, True]) >= 80:
            ratio = p95(durations[method, endpoint, True]) / p95(durations[method, endpoint, False])
            assert ratio < 1.5, (method, endpoint, ratio)
            checked += 1
    assert checked >= (2 if plan.records < 50_000 else 10)


@pytest.mark.parametrize("plan", INCIDENT_PLANS, ids=PLAN_IDS)
def test_safari_checkout_error_is_on_one_browser(plan: DemoPlan) -> None:
    safari = incident(plan, "safari_checkout_error")
    type_errors = [r for r in rows_of(plan) if col(r, "error_type") == "TypeError"]
    by_browser = Counter(col(r, "browser_name") for r in type_errors)
    assert by_browser["Safari"] > 0
    assert sum(by_browser.values()) == by_browser["Safari"]
    assert all(inside(r, safari) for r in type_errors)
    assert {(col(r, "page_path"), col(r, "message"), col(r, "log_type"), col(r, "service")) for r in type_errors} == {
        ("/checkout", SAFARI_ERROR_MESSAGE, "FRONTEND", "web-frontend")
    }
    # Shoppers on other browsers still get through the checkout page.
    clicks = Counter(
        col(r, "browser_name")
        for r in rows_of(plan)
        if col(r, "action_target") == "place-order-button" and inside(r, safari)
    )
    assert clicks["Chrome"] > 0


def test_records_look_like_a_real_shop() -> None:
    rows = rows_of(DemoPlan(end=END))
    total = len(rows)
    assert {col(r, "service") for r in rows} == SERVICES
    environments = Counter(col(r, "environment") for r in rows)
    assert set(environments) == {"production", "staging"} and environments["production"] > 0.85 * total
    levels = Counter(col(r, "level") for r in rows)
    assert levels["INFO"] > 0.8 * total and levels["DEBUG"] > 0.02 * total and levels["WARN"] > 0.005 * total
    baseline_errors = sum(
        1 for r in rows if col(r, "level") == "ERROR" and col(r, "error_type") not in {"TypeError"}
        and not inside(r, incident(DemoPlan(end=END), "payment_db_timeouts"))
    )  # fmt: skip
    assert 0.008 * total <= baseline_errors <= 0.03 * total
    # Busier in the UTC afternoon than at night.
    by_hour = Counter(col(r, "created_at").hour for r in rows)
    assert by_hour[15] > 1.8 * by_hour[3]
    # Users: a pool of about 2,000, a few of them far more active than the rest.
    per_user = Counter(col(r, "user_id") for r in rows if col(r, "user_id"))
    assert 1_000 < len(per_user) <= 2_000
    top = sum(count for _user, count in per_user.most_common(20))
    assert top > 5 * 20 * sum(per_user.values()) / len(per_user)


def test_backend_records_have_request_fields_and_shared_traces() -> None:
    rows = rows_of(DemoPlan(end=END))
    requests = [r for r in rows if col(r, "log_type") == "BACKEND" and col(r, "http_status_code") is not None]
    assert requests
    for r in requests:
        assert col(r, "endpoint").startswith("/api/v1/") and col(r, "method") in {"GET", "POST", "PUT"}
        assert col(r, "duration_ms") >= 0 and col(r, "module") and col(r, "component")
        assert re.fullmatch(r"[0-9a-f]{32}", col(r, "trace_id")) and re.fullmatch(r"[0-9a-f]{16}", col(r, "span_id"))
    traces: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        if col(r, "trace_id"):
            traces[col(r, "trace_id")].add(col(r, "service"))
    checkout_traces = [s for s in traces.values() if {"web-frontend", "order-api", "payment-api"} <= s]
    assert len(checkout_traces) > 50
    errors = [r for r in rows if col(r, "level") in {"ERROR", "FATAL"} and col(r, "log_type") == "BACKEND"]
    assert all(col(r, "error_type") and col(r, "application_error_code") for r in errors)
    stacks = [col(r, "stack_trace") for r in errors if col(r, "stack_trace")]
    assert any(s.startswith("Traceback (most recent call last):") for s in stacks)
    assert any("\tat com.shop." in s for s in stacks)
    payments = [col(r, "metadata") for r in requests if col(r, "endpoint") == "/api/v1/payment"]
    assert all({"order_id", "amount", "currency", "region", "retry"} <= m.keys() for m in payments)
    assert {m["currency"] for m in payments} >= {"EUR", "USD", "KRW"}


def test_frontend_records_describe_the_browser() -> None:
    rows = [r for r in rows_of(DemoPlan(end=END)) if col(r, "log_type") == "FRONTEND"]
    assert {col(r, "browser_name") for r in rows} == {"Chrome", "Safari", "Firefox", "Edge", "Samsung Internet"}
    assert {col(r, "device_type") for r in rows} == {"desktop", "mobile", "tablet"}
    sizes: dict[str, Callable[[int, int], bool]] = {
        "desktop": lambda w, h: w >= 1280 and w > h,
        "mobile": lambda w, h: w < 500 and h > w,
        "tablet": lambda w, h: 700 <= w <= 1400,
    }
    for r in rows:
        assert col(r, "service") == "web-frontend"
        assert sizes[col(r, "device_type")](col(r, "screen_width"), col(r, "screen_height"))
        assert col(r, "page_url") == "https://shop.example.com" + col(r, "page_path") or "?" in col(r, "page_url")
    actions = Counter((col(r, "action_type"), col(r, "action_target")) for r in rows)
    assert actions["button_click", "checkout-button"] + actions["button_click", "place-order-button"] > 0
    assert actions["page_view", None] > 0.5 * len(rows)


@pytest.mark.timeout(300)
def test_fifty_thousand_rows_complete() -> None:
    plan = DemoPlan(end=END, days=2, records=50_000, seed=99)
    count = 0
    last = plan.start
    for row in generate_rows(plan):
        assert col(row, "created_at") >= last
        last = col(row, "created_at")
        count += 1
    assert count == 50_000


def test_versions_change_only_with_their_deploys() -> None:
    plan = DemoPlan(end=END)
    rows = rows_of(plan)
    deploys = {col(r, "service"): r for r in rows if col(r, "log_type") == "INFRA"}
    assert set(deploys) == {"search-api", "web-frontend", "order-api", "user-api"}
    for service, deploy in deploys.items():
        key = "release" if service == "web-frontend" else "version"
        old, new = col(deploy, "metadata")["previous_version"], col(deploy, "metadata")["version"]
        seen = {
            (col(r, "created_at") >= col(deploy, "created_at"), col(r, "metadata")[key].split(" ")[-1])
            for r in rows
            if col(r, "service") == service and col(r, "log_type") != "INFRA" and key in col(r, "metadata")
        }
        assert seen == {(False, old), (True, new)}, service
    assert col(deploys["search-api"], "created_at") == incident(plan, "search_latency_regression").start
    assert col(deploys["web-frontend"], "created_at") == incident(plan, "safari_checkout_error").start
