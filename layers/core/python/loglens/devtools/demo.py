"""Demo data: a few days of believable logs from a small online shop, with three planted incidents.

One generator feeds `loglens demo` (through the HTTP API), the tests, the agent's evaluation harness and
the 10M-row benchmarks, so it has to be realistic, deterministic and fast:

- Six services (payment-api, order-api, user-api, search-api, notification-worker, web-frontend) in
  production and, for a few percent of traffic, staging. Traffic follows the daytime of the shop's three
  regions (eu-west-1, us-east-1, ap-northeast-2), so it is busiest in the UTC afternoon and quiet around
  03:00 UTC, a little quieter at weekends. ~2,000 users, a few of them very active (Zipf-like); each user
  keeps one device, browser, screen size and locale.
- Requests carry endpoint, method, status, a log-normal duration per endpoint, user, session and a W3C
  trace: a checkout is one trace through web-frontend → order-api → payment-api → notification-worker.
  About 1-2% of records are errors, with error types, codes, Python or Java stack traces and metadata.
- The incidents (see `DemoPlan.incidents`, which returns their exact windows and signatures) happen in
  production only and nowhere outside their windows.

Everything comes from `random.Random` streams seeded by the plan, so the same plan gives the same records
and the same event ids. Event ids are UUIDv7 built from each record's own time (index-friendly).

Speed: the benchmark fills 10M rows, so the hot path avoids pydantic and per-row object churn. Strings,
durations, amounts and user choices come from tables built once; a minute of records is produced as
unsorted (offset, fields) pairs, sorted once, and finished with precomputed timedeltas.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from operator import itemgetter
from statistics import NormalDist
from types import MappingProxyType
from typing import Any, Final

from loglens.record import LOG_COLUMNS

API_KEY_ID: Final = "demo"
SHOP_URL: Final = "https://shop.example.com"

_MINUTE_MS: Final = 60_000
_HOUR_MS: Final = 3_600_000
_DAY_MS: Final = 86_400_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

# The incidents' fixed facts; DemoPlan.incidents() adds the windows.
DB_TIMEOUT_MESSAGE: Final = "connection pool exhausted (max 20) after 30000 ms"
SAFARI_ERROR_MESSAGE: Final = "undefined is not an object (evaluating 'window.ApplePaySession.canMakePayments')"
SEARCH_ENDPOINT: Final = "/api/v1/search"
PAYMENT_ENDPOINT: Final = "/api/v1/payment"
_SEARCH_RELEASE: Final = ("2.7.3", "2.8.0")
_WEB_RELEASE: Final = ("5.3.1", "5.4.0")
# The payment incident, tuned so that in its hour payment-api's error rate is ~10x its usual ~1.5% and 75-80%
# of those errors are DatabaseConnectionTimeout, with enough of them to stand out even in a 20k-record plan.
# Extra log volume in the incident hour (shoppers retrying stuck payments while the page polls), as a share of
# an average minute's: a fixed amount, so the incident is as visible at night as in the afternoon.
_SPIKE_EXTRA_VOLUME: Final = 0.6
_SPIKE_ATTEMPT_FAILS: Final = 0.5  # chance that one payment attempt fails during the incident
_SPIKE_DB_SHARE: Final = 0.78  # of those failures; the rest are idempotency conflicts from the retries


@dataclass(frozen=True)
class Incident:
    """Something the generator planted, with what a correct answer about it should find."""

    name: str
    description: str
    start: datetime  # inclusive
    end: datetime  # exclusive
    service: str
    details: Mapping[str, Any] = field(hash=False)


def _now_minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


# Each incident's default start (before the plan's end) and its length; `DemoPlan.incident_starts` moves them.
INCIDENT_PLACES: Final = MappingProxyType(
    {
        "payment_db_timeouts": (timedelta(hours=2), timedelta(hours=1)),
        "search_latency_regression": (timedelta(hours=6), timedelta(hours=6)),
        "safari_checkout_error": (timedelta(days=1), timedelta(days=1)),
    }
)


@dataclass(frozen=True)
class DemoPlan:
    """What to generate: `records` records (exactly) over the `days` before `end`.

    `incident_starts` moves incidents: (name, start) pairs; a moved incident keeps its length (cut at `end`), and
    its release (search-api 2.8.0, web-frontend 5.4.0) is deployed at its start.
    """

    end: datetime = field(default_factory=_now_minute)  # every event is before it
    days: int = 3
    records: int = 20_000
    seed: int = 7
    incident_starts: tuple[tuple[str, datetime], ...] = ()

    def __post_init__(self) -> None:
        if self.end.tzinfo is None:
            raise ValueError("DemoPlan.end must be timezone-aware (UTC)")
        if self.days < 1:
            raise ValueError(f"DemoPlan.days must be at least 1, got {self.days}")
        if self.records < 0:
            raise ValueError(f"DemoPlan.records must not be negative, got {self.records}")
        # Records carry millisecond times; an `end` finer than that would sit between them.
        end = self.end.astimezone(UTC)
        object.__setattr__(self, "end", end.replace(microsecond=end.microsecond // 1000 * 1000))
        for name, start in self.incident_starts:
            if name not in INCIDENT_PLACES:
                known = ", ".join(sorted(INCIDENT_PLACES))
                raise ValueError(f"DemoPlan.incident_starts: no incident named {name!r} (known: {known})")
            if start.tzinfo is None or not self.start <= start < self.end:
                raise ValueError(f"DemoPlan.incident_starts: {name} must start (timezone-aware) within the plan")

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.days)

    def incidents(self) -> list[Incident]:
        """The planted incidents, windows relative to `end` (clipped to the plan's start), production only.

        `details` holds each incident's signature (the values a query should filter or find) and its design
        targets (multipliers, shares, percentiles); the data meets the targets approximately, so compute the
        exact numbers from the data.
        """
        end, start = self.end, self.start
        moved = dict(self.incident_starts)

        def window(name: str) -> tuple[datetime, datetime]:
            before_end, length = INCIDENT_PLACES[name]
            first = moved.get(name, end - before_end).astimezone(UTC).replace(second=0, microsecond=0)
            return max(first, start), max(min(first + length, end), start)

        payment, search, safari = (
            window("payment_db_timeouts"),
            window("search_latency_regression"),
            window("safari_checkout_error"),
        )
        return [
            Incident(
                name="payment_db_timeouts",
                description=(
                    "payment-api's database connection pool is exhausted for one hour: POST /api/v1/payment "
                    "fails with DatabaseConnectionTimeout (about 10x the usual payment-api error rate, ~75-80% of "
                    "its errors), order-api retries (IdempotencyConflict) and then gives up with UpstreamTimeout."
                ),
                start=payment[0],
                end=payment[1],
                service="payment-api",
                details=MappingProxyType(
                    {
                        "environment": "production",
                        "level": "ERROR",
                        "error_type": "DatabaseConnectionTimeout",
                        "message": DB_TIMEOUT_MESSAGE,
                        "application_error_code": "PAY-5031",
                        "endpoint": PAYMENT_ENDPOINT,
                        "method": "POST",
                        "http_status_code": 503,
                        "error_rate_multiplier": 10,
                        "dominant_error_share": 0.78,
                        "secondary_error_types": ("IdempotencyConflict",),
                        "downstream_effect": {"service": "order-api", "error_type": "UpstreamTimeout"},
                    }
                ),
            ),
            Incident(
                name="search_latency_regression",
                description=(
                    "search-api 2.8.0 (deployed at the start, 6 hours before the end unless moved) makes GET "
                    "/api/v1/search slow: p95 goes from ~150 ms to ~1,200 ms; other endpoints keep their latency."
                ),
                start=search[0],
                end=search[1],
                service="search-api",
                details=MappingProxyType(
                    {
                        "environment": "production",
                        "endpoint": SEARCH_ENDPOINT,
                        "method": "GET",
                        "p95_ms_before": 150,
                        "p95_ms_during": 1200,
                        "version_before": f"search-api {_SEARCH_RELEASE[0]}",
                        "version_during": f"search-api {_SEARCH_RELEASE[1]}",
                        "slow_request_level": "WARN",
                    }
                ),
            ),
            Incident(
                name="safari_checkout_error",
                description=(
                    "web-frontend 5.4.0, released at the start (a day before the end unless moved), throws a "
                    "TypeError on /checkout in Safari "
                    "(iOS, iPadOS and macOS) when probing Apple Pay; most affected shoppers abandon the checkout. "
                    "Other browsers are fine."
                ),
                start=safari[0],
                end=safari[1],
                service="web-frontend",
                details=MappingProxyType(
                    {
                        "environment": "production",
                        "level": "ERROR",
                        "log_type": "FRONTEND",
                        "error_type": "TypeError",
                        "message": SAFARI_ERROR_MESSAGE,
                        "application_error_code": "FE-CHECKOUT-APPLEPAY",
                        "browser_name": "Safari",
                        "page_path": "/checkout",
                        "module": _SAFARI_MODULE,
                        "version_before": f"web-frontend {_WEB_RELEASE[0]}",
                        "version_during": f"web-frontend {_WEB_RELEASE[1]}",
                    }
                ),
            ),
        ]


def generate(plan: DemoPlan) -> Iterator[dict[str, Any]]:
    """The plan's records as a client would POST them, oldest first (same content as `generate_rows`)."""
    optional = _FIELDS[8:29]  # user_id .. action_target
    for row in _simulate(plan):
        created: datetime = row[2]
        record: dict[str, Any] = {
            "timestamp": created.isoformat(timespec="milliseconds")[:-6] + "Z",
            "level": row[3],
            "log_type": row[4],
            "service": row[5],
            "environment": row[6],
            "message": row[7],
            "event_id": str(row[0]),
        }
        for name, value in zip(optional, row[8:29], strict=True):
            if value is not None:
                record[name] = value
        if row[29]:
            record["metadata"] = row[29]
        yield record


def generate_rows(plan: DemoPlan) -> Iterator[tuple[Any, ...]]:
    """The same records as `generate`, as tuples in LOG_COLUMNS order ready for a binary COPY.

    The server-set columns are what the load path would store: received_at a few hundred ms after the
    event, source "api", api_key_id "demo", no source address.
    """
    if _REORDER is None:
        return _simulate(plan)
    reorder = _REORDER
    return (reorder((*row, None)) for row in _simulate(plan))


# The simulation builds rows in this order; if the record model gains or reorders columns, rows are mapped
# (a new column gets None) so the benchmark keeps working while the generator catches up.
_FIELDS: Final = (
    "event_id", "received_at", "created_at", "level", "log_type", "service", "environment", "message",
    "user_id", "session_id", "trace_id", "span_id", "error_type", "application_error_code", "http_status_code",
    "stack_trace", "module", "component", "endpoint", "method", "duration_ms", "page_path", "page_url",
    "browser_name", "device_type", "screen_width", "screen_height", "action_type", "action_target", "metadata",
    "source", "api_key_id", "source_ip",
)  # fmt: skip
_REORDER: Final[Callable[[tuple[Any, ...]], tuple[Any, ...]] | None] = (
    None
    if LOG_COLUMNS == _FIELDS
    else itemgetter(*[_FIELDS.index(name) if name in _FIELDS else len(_FIELDS) for name in LOG_COLUMNS])
)


@dataclass(frozen=True, slots=True)
class _Error:
    error_type: str
    level: str
    status: int | None
    code: str
    message: str
    module: str
    component: str
    stack: str | None = None
    duration_ms: float | None = None  # fixed-ish duration (timeouts); None: the endpoint's own


@dataclass(frozen=True, slots=True)
class _Endpoint:
    service: str
    method: str | None
    route: str | None
    median_ms: float
    p95_ms: float
    ok_status: int | None
    ok_message: str
    module: str
    component: str
    error_rate: float = 0.0
    errors: tuple[_Error, ...] = ()  # drawn uniformly: repeat an entry to weight it

    @property
    def slow_message(self) -> str:
        what = f"{self.method} {self.route}" if self.route else self.ok_message.lower()
        return f"Slow request: {what} took over 1000 ms"


def _py_trace(frames: Sequence[tuple[str, int, str, str]], exception: str) -> str:
    lines = ["Traceback (most recent call last):"]
    for path, line, function, code in frames:
        lines.append(f'  File "/app/{path}", line {line}, in {function}')
        lines.append(f"    {code}")
    lines.append(exception)
    return "\n".join(lines)


def _java_trace(exception: str, frames: Sequence[str]) -> str:
    spring = (
        "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)",
        "jakarta.servlet.http.HttpServlet.service(HttpServlet.java:658)",
        "org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:166)",
        "java.base/java.lang.Thread.run(Thread.java:1583)",
    )
    return "\n".join([exception, *(f"\tat {frame}" for frame in (*frames, *spring))])


_DB_TIMEOUT_STACK: Final = _py_trace(
    [
        ("payments/api/routes.py", 88, "create_payment", "payment = await service.authorize(order, card)"),
        ("payments/service.py", 142, "authorize", "async with self.db.acquire(timeout=30) as conn:"),
        ("payments/db/pool.py", 57, "acquire", "raise DatabaseConnectionTimeout(self.max_size, waited_ms)"),
    ],
    f"payments.db.errors.DatabaseConnectionTimeout: {DB_TIMEOUT_MESSAGE}",
)
_STRIPE_TIMEOUT_STACK: Final = _py_trace(
    [
        ("payments/service.py", 151, "authorize", "charge = await self.provider.charge(order.amount, card)"),
        ("payments/providers/stripe.py", 73, "charge", "response = await self.http.post('/v1/payment_intents', ...)"),
        ("venv/lib/python3.12/site-packages/httpx/_client.py", 1574, "send", "raise ReadTimeout(message)"),
    ],
    "payments.errors.UpstreamTimeout: Stripe API did not respond within 10000 ms",
)
_NPE_ORDER_STACK: Final = _java_trace(
    'java.lang.NullPointerException: Cannot invoke "com.shop.orders.model.Address.getCountry()" because '
    '"shipping" is null',
    [
        "com.shop.orders.service.TaxCalculator.calculate(TaxCalculator.java:74)",
        "com.shop.orders.service.OrderService.price(OrderService.java:211)",
        "com.shop.orders.web.OrderController.create(OrderController.java:58)",
    ],
)
_NPE_PRODUCT_STACK: Final = _java_trace(
    'java.lang.NullPointerException: Cannot invoke "java.util.List.size()" because "product.variants" is null',
    [
        "com.shop.search.catalog.ProductMapper.toView(ProductMapper.java:41)",
        "com.shop.search.web.ProductController.get(ProductController.java:36)",
    ],
)
_INVENTORY_TIMEOUT_STACK: Final = _java_trace(
    "com.shop.orders.client.UpstreamTimeoutException: inventory-service did not respond within 2000 ms",
    [
        "com.shop.orders.client.InventoryClient.reserve(InventoryClient.java:92)",
        "com.shop.orders.service.OrderService.create(OrderService.java:133)",
        "com.shop.orders.web.OrderController.create(OrderController.java:55)",
    ],
)
_PAYMENT_GIVEUP_STACK: Final = _java_trace(
    "com.shop.orders.client.UpstreamTimeoutException: payment-api did not respond within 30000 ms",
    [
        "com.shop.orders.client.PaymentClient.authorize(PaymentClient.java:118)",
        "com.shop.orders.service.CheckoutService.pay(CheckoutService.java:87)",
        "com.shop.orders.web.OrderController.create(OrderController.java:61)",
    ],
)
_OPENSEARCH_TIMEOUT_STACK: Final = _java_trace(
    "java.net.SocketTimeoutException: 5,000 milliseconds timeout on connection http-outgoing-12 [ACTIVE]",
    [
        "org.apache.http.nio.protocol.HttpAsyncRequestExecutor.timeout(HttpAsyncRequestExecutor.java:387)",
        "org.opensearch.client.RestClient.performRequest(RestClient.java:341)",
        "com.shop.search.index.OpenSearchClient.search(OpenSearchClient.java:77)",
        "com.shop.search.web.SearchController.search(SearchController.java:49)",
    ],
)
_SES_TIMEOUT_STACK: Final = _py_trace(
    [
        ("notifications/worker.py", 64, "handle", "await channel.send(message)"),
        ("notifications/email/ses.py", 38, "send", "await self.client.send_email(**request)"),
        ("venv/lib/python3.12/site-packages/botocore/httpsession.py", 501, "send", "raise ReadTimeoutError(...)"),
    ],
    "notifications.errors.UpstreamTimeout: Amazon SES SendEmail timed out after 10000 ms",
)
_WORKER_LOST_STACK: Final = _py_trace(
    [("notifications/worker.py", 112, "run", "await self.supervisor.reap()")],
    "notifications.errors.WorkerLostError: worker 3 exited with signal 9 (SIGKILL); likely out of memory",
)
_SAFARI_MODULE: Final = "src/checkout/applePay.ts"
_SAFARI_STACK: Final = "\n".join(
    [
        f"TypeError: {SAFARI_ERROR_MESSAGE}",
        f"canUseApplePay@{SHOP_URL}/static/js/checkout.8c1f2e.js:1:20412",
        f"initPaymentMethods@{SHOP_URL}/static/js/checkout.8c1f2e.js:1:19876",
        f"@{SHOP_URL}/static/js/checkout.8c1f2e.js:1:31002",
        "promiseReactionJob@[native code]",
    ]
)
_CHUNK_STACK: Final = (
    "ChunkLoadError: Loading chunk 731 failed.\n"
    f"    at __webpack_require__.f.j ({SHOP_URL}/static/js/runtime.2b7d.js:1:3121)\n"
    f"    at {SHOP_URL}/static/js/runtime.2b7d.js:1:1422"
)

_DECLINED = [
    _Error("PaymentDeclined", "ERROR", 402, f"PAY-40{n}", f"Payment declined by issuer: {why}", "payments.service",
           "provider")
    for n, why in ((21, "insufficient_funds"), (22, "do_not_honor"), (23, "expired_card"))
]  # fmt: skip
_PAY_VALIDATION = _Error(
    "ValidationError", "ERROR", 422, "PAY-4220", "Request validation failed: card.expiry_month must be 1-12",
    "payments.api.schemas", "api",
)  # fmt: skip
_STRIPE_TIMEOUT = _Error(
    "UpstreamTimeout", "ERROR", 502, "PAY-5020", "Stripe API did not respond within 10000 ms",
    "payments.providers.stripe", "provider", _STRIPE_TIMEOUT_STACK, 10_000.0,
)  # fmt: skip
_DB_TIMEOUT = _Error(
    "DatabaseConnectionTimeout", "ERROR", 503, "PAY-5031", DB_TIMEOUT_MESSAGE, "payments.db.pool", "db",
    _DB_TIMEOUT_STACK, 30_000.0,
)  # fmt: skip
_IDEMPOTENCY = _Error(
    "IdempotencyConflict", "ERROR", 409, "PAY-4090",
    "A payment for this order is already in progress (idempotency key reused)", "payments.service", "api",
)  # fmt: skip
_PAYMENT_GIVEUP = _Error(
    "UpstreamTimeout", "ERROR", 504, "ORD-5041", "payment-api did not respond within 30000 ms; order left pending",
    "com.shop.orders.client.PaymentClient", "client", _PAYMENT_GIVEUP_STACK, 30_000.0,
)  # fmt: skip
_ORDER_ERRORS = (
    _Error("ValidationError", "ERROR", 400, "ORD-4001", "Order validation failed: shipping postal code is invalid",
           "com.shop.orders.web.OrderController", "web"),
    _Error("ValidationError", "ERROR", 400, "ORD-4002", "Order validation failed: cart is empty",
           "com.shop.orders.web.OrderController", "web"),
    _Error("NullPointerException", "ERROR", 500, "ORD-5000", "Unexpected error while pricing order",
           "com.shop.orders.service.TaxCalculator", "service", _NPE_ORDER_STACK),
    _Error("UpstreamTimeout", "ERROR", 504, "ORD-5040", "inventory-service did not respond within 2000 ms",
           "com.shop.orders.client.InventoryClient", "client", _INVENTORY_TIMEOUT_STACK, 2_000.0),
)  # fmt: skip
_CART_ERRORS = (
    _Error("ValidationError", "ERROR", 422, "ORD-4220", "Requested quantity exceeds available stock",
           "com.shop.orders.web.CartController", "web"),
)  # fmt: skip
_LOGIN_ERRORS = (
    *[_Error("AuthenticationFailed", "WARN", 401, "USR-4010", "Invalid email or password", "users.auth", "auth")] * 9,
    _Error("RateLimitExceeded", "WARN", 429, "USR-4290", "Too many login attempts; retry after 60 s",
           "users.middleware.ratelimit", "middleware"),
)  # fmt: skip
_PROFILE_ERRORS = (
    _Error("ValidationError", "ERROR", 422, "USR-4220", "Request validation failed: phone is not a valid number",
           "users.api.schemas", "api"),
)  # fmt: skip
_EMAIL_ERRORS = (
    _Error("UpstreamTimeout", "ERROR", None, "NTF-5040", "Amazon SES SendEmail timed out after 10000 ms",
           "notifications.email.ses", "email", _SES_TIMEOUT_STACK, 10_000.0),
)  # fmt: skip
_SMS_ERRORS = (
    _Error("RateLimitExceeded", "WARN", None, "NTF-4290", "Twilio rate limit reached (429); message requeued",
           "notifications.sms.twilio", "sms"),
)  # fmt: skip
_WORKER_LOST = _Error(
    "WorkerLostError", "FATAL", None, "NTF-9000", "Worker process died unexpectedly", "notifications.worker",
    "worker", _WORKER_LOST_STACK,
)  # fmt: skip
_PRODUCT_ERRORS = (
    _Error("NullPointerException", "ERROR", 500, "SRC-5000", "Unexpected error while rendering product",
           "com.shop.search.catalog.ProductMapper", "catalog", _NPE_PRODUCT_STACK),
)  # fmt: skip
_SEARCH_ERRORS = (
    _Error("UpstreamTimeout", "ERROR", 504, "SRC-5040", "OpenSearch query timed out after 5000 ms",
           "com.shop.search.index.OpenSearchClient", "index", _OPENSEARCH_TIMEOUT_STACK, 5_000.0),
    _Error("ValidationError", "ERROR", 400, "SRC-4000", "Request validation failed: page size must be 1-100",
           "com.shop.search.web.SearchController", "web"),
)  # fmt: skip
_WEBHOOK_ERRORS = (
    _Error("ValidationError", "ERROR", 400, "PAY-4001", "Webhook signature verification failed",
           "payments.api.webhooks", "webhooks"),
)  # fmt: skip
_REFRESH_ERRORS = (
    _Error("TokenExpired", "WARN", 401, "USR-4011", "Refresh token expired; login required", "users.auth", "auth"),
)  # fmt: skip

_PAY_ROUTES = "payments.api.routes"
_EP: Final = {
    "pay": _Endpoint("payment-api", "POST", PAYMENT_ENDPOINT, 110, 380, 201, "Payment authorized", _PAY_ROUTES,
                     "api", 0.06, (*_DECLINED, *_DECLINED, *_DECLINED, _PAY_VALIDATION, _STRIPE_TIMEOUT)),
    "pay_get": _Endpoint("payment-api", "GET", "/api/v1/payments/{payment_id}", 18, 60, 200, "Payment fetched",
                         _PAY_ROUTES, "api"),
    "refund": _Endpoint("payment-api", "POST", "/api/v1/refunds", 140, 420, 201, "Refund created", _PAY_ROUTES,
                        "api", 0.02, (_STRIPE_TIMEOUT,)),
    "webhook": _Endpoint("payment-api", "POST", "/api/v1/webhooks/stripe", 25, 90, 200, "Provider webhook processed",
                         "payments.api.webhooks", "webhooks", 0.01, _WEBHOOK_ERRORS),
    "order": _Endpoint("order-api", "POST", "/api/v1/orders", 160, 480, 201, "Order created",
                       "com.shop.orders.web.OrderController", "web", 0.03, _ORDER_ERRORS),
    "order_get": _Endpoint("order-api", "GET", "/api/v1/orders/{order_id}", 22, 75, 200, "Order fetched",
                           "com.shop.orders.web.OrderController", "web", 0.004, _ORDER_ERRORS[2:3]),
    "orders": _Endpoint("order-api", "GET", "/api/v1/orders", 40, 140, 200, "Orders listed",
                        "com.shop.orders.web.OrderController", "web"),
    "cart": _Endpoint("order-api", "GET", "/api/v1/cart", 15, 55, 200, "Cart fetched",
                      "com.shop.orders.web.CartController", "web"),
    "cart_add": _Endpoint("order-api", "POST", "/api/v1/cart/items", 30, 100, 201, "Item added to cart",
                          "com.shop.orders.web.CartController", "web", 0.02, _CART_ERRORS),
    "login": _Endpoint("user-api", "POST", "/api/v1/auth/login", 95, 260, 200, "User logged in", "users.auth",
                       "auth", 0.05, _LOGIN_ERRORS),
    "refresh": _Endpoint("user-api", "POST", "/api/v1/auth/refresh", 9, 30, 200, "Token refreshed", "users.auth",
                         "auth", 0.03, _REFRESH_ERRORS),
    "me": _Endpoint("user-api", "GET", "/api/v1/users/me", 12, 40, 200, "Profile fetched", "users.api.profile",
                    "api"),
    "me_put": _Endpoint("user-api", "PUT", "/api/v1/users/me", 35, 110, 200, "Profile updated", "users.api.profile",
                        "api", 0.03, _PROFILE_ERRORS),
    "search": _Endpoint("search-api", "GET", SEARCH_ENDPOINT, 62, 150, 200, "Search completed",
                        "com.shop.search.web.SearchController", "web", 0.008, _SEARCH_ERRORS),
    "suggest": _Endpoint("search-api", "GET", "/api/v1/search/suggest", 12, 38, 200, "Suggestions returned",
                         "com.shop.search.web.SuggestController", "web"),
    "product": _Endpoint("search-api", "GET", "/api/v1/products/{product_id}", 20, 70, 200, "Product fetched",
                         "com.shop.search.web.ProductController", "web", 0.008, _PRODUCT_ERRORS),
    "email": _Endpoint("notification-worker", None, None, 180, 650, None, "Email sent", "notifications.email.ses",
                       "email", 0.02, _EMAIL_ERRORS),
    "push": _Endpoint("notification-worker", None, None, 60, 200, None, "Push notification sent",
                      "notifications.push.fcm", "push"),
    "sms": _Endpoint("notification-worker", None, None, 250, 800, None, "SMS sent", "notifications.sms.twilio",
                     "sms", 0.02, _SMS_ERRORS),
}  # fmt: skip
_SLOW_SEARCH: Final = (450.0, 1200.0)  # median, p95 of GET /api/v1/search during the regression

_VERSIONS: Final = {  # before the demo's deploys (see _simulate)
    "payment-api": "1.42.0",
    "order-api": "3.18.1",
    "user-api": "2.9.0",
    "search-api": _SEARCH_RELEASE[0],
    "notification-worker": "1.12.4",
    "web-frontend": _WEB_RELEASE[0],
}

# name, UTC offset (hours), share of users, (locale, currency) choices
_REGIONS: Final = (
    ("eu-west-1", 1, 0.55, (("de-DE", "EUR"), ("fr-FR", "EUR"), ("en-GB", "GBP"), ("nl-NL", "EUR"), ("es-ES", "EUR"))),
    ("us-east-1", -5, 0.30, (("en-US", "USD"), ("en-US", "USD"), ("es-US", "USD"))),
    ("ap-northeast-2", 9, 0.15, (("ko-KR", "KRW"),)),
)
_EUR_RATE: Final = {"EUR": 1.0, "GBP": 0.86, "USD": 1.08, "KRW": 1450.0}

_DESKTOP = ((1920, 1080), (1920, 1080), (1366, 768), (1536, 864), (2560, 1440), (1280, 720))
_MAC = ((1440, 900), (1512, 982), (1728, 1117), (2560, 1440))
_IPHONE = ((390, 844), (393, 852), (430, 932), (375, 667), (414, 896))
_ANDROID = ((412, 915), (360, 800), (384, 854), (412, 892), (393, 873))
_IPAD = ((820, 1180), (810, 1080), (1024, 1366), (768, 1024))
_ANDROID_TABLET = ((800, 1280), (1280, 800))
# device, browser, os, weight, screens
_CLIENTS: Final = (
    ("desktop", "Chrome", "Windows 11", 19, _DESKTOP),
    ("desktop", "Chrome", "macOS 14", 5, _MAC),
    ("desktop", "Edge", "Windows 11", 6, _DESKTOP),
    ("desktop", "Firefox", "Windows 11", 4, _DESKTOP),
    ("desktop", "Firefox", "Ubuntu 24.04", 1, _DESKTOP),
    ("desktop", "Safari", "macOS 14", 7, _MAC),
    ("mobile", "Safari", "iOS 17", 21, _IPHONE),
    ("mobile", "Chrome", "Android 14", 18, _ANDROID),
    ("mobile", "Samsung Internet", "Android 14", 7, _ANDROID),
    ("tablet", "Safari", "iPadOS 17", 4, _IPAD),
    ("tablet", "Chrome", "Android 13", 2, _ANDROID_TABLET),
)

_CATEGORIES: Final = ("shoes", "jackets", "bags", "watches", "shirts", "outdoor", "kids", "sale")
_QUERIES: Final = (
    "running shoes", "rain jacket", "backpack", "leather bag", "smart watch", "linen shirt", "hiking boots",
    "sneakers", "winter coat", "kids shoes", "yoga mat", "sunglasses", "wool socks", "trail running",
    "travel bag", "denim jacket", "waterproof", "gift card", "sale", "white sneakers",
)  # fmt: skip
_FE_ERRORS: Final = (
    ("ERROR", "ChunkLoadError", "FE-CHUNK", "Loading chunk 731 failed.", _CHUNK_STACK, None),
    ("WARN", "AbortError", "FE-ABORT", "The operation was aborted.", None, None),
    ("ERROR", "QuotaExceededError", "FE-STORAGE", "The quota has been exceeded.", None, None),
    ("ERROR", "NetworkError", "FE-NETWORK", "NetworkError when attempting to fetch resource.", None, "Firefox"),
    ("ERROR", "SecurityError", "FE-STORAGE", "The operation is insecure.", None, "Safari"),
)

_FRONTEND_ERROR_RATE: Final = 0.06  # of page views: a baseline browser error (the incident's TypeError aside)
_LAT_N: Final = 8192
_SPAN_POOL: Final = 65_536


@lru_cache(maxsize=1)
def _timedeltas() -> tuple[timedelta, ...]:
    """One timedelta per millisecond of a minute: adding a cached one is far cheaper than building it."""
    return tuple(timedelta(milliseconds=i) for i in range(_MINUTE_MS))


@lru_cache(maxsize=64)
def _latency_table(median_ms: float, p95_ms: float) -> tuple[float, ...]:
    """Log-normal quantiles (rounded to 0.1 ms) with a thin heavy tail: a draw is one index."""
    sigma = math.log(p95_ms / median_ms) / 1.6449
    normal = NormalDist()
    values = [round(median_ms * math.exp(sigma * normal.inv_cdf((i + 0.5) / _LAT_N)), 1) for i in range(_LAT_N)]
    tail = _LAT_N // 250  # the slowest 0.4%: GC pauses, cold caches
    for i in range(_LAT_N - tail, _LAT_N):
        values[i] = round(values[i] * (2.0 + 6.0 * (i - (_LAT_N - tail)) / tail), 1)
    return tuple(values)


def _weighted_table(weights: Sequence[float], size: int) -> list[int]:
    """Indexes laid out so that a uniform slot picks index i with probability ∝ weights[i]."""
    total = sum(weights)
    table: list[int] = []
    acc = 0.0
    for index, weight in enumerate(weights):
        acc += weight
        table.extend([index] * (round(acc / total * size) - len(table)))
    return table


@dataclass(frozen=True)
class _World:
    """The shop's population and names, fixed per seed."""

    users: tuple[tuple[Any, ...], ...]  # (user_id, region, currency, locale, device, browser, os, w, h)
    users_by_region: tuple[tuple[int, ...], ...]  # Zipf-weighted draw tables of indexes into users
    hosts: Mapping[tuple[str, str], tuple[str, ...]]  # (service, region or "staging") -> pod names
    skus: tuple[str, ...]
    amounts: Mapping[str, tuple[float, ...]]  # currency -> basket totals
    # Span ids need only be unique within a trace, so they come from a pool (a clash inside one trace of a
    # handful of spans is ~1 in 10,000); trace ids, which must be unique, are drawn fresh.
    spans: tuple[str, ...]


@lru_cache(maxsize=8)
def _world(seed: int) -> _World:
    rng = random.Random(f"loglens-demo-world-{seed}")  # noqa: S311 - reproducible, not secret
    client_table = _weighted_table([c[3] for c in _CLIENTS], 1000)
    users: list[tuple[Any, ...]] = []
    by_region: list[list[int]] = [[] for _ in _REGIONS]
    region_table = _weighted_table([r[2] for r in _REGIONS], 1000)
    for _ in range(2000):
        region_index = region_table[rng.randrange(1000)]
        name, _offset, _share, locales = _REGIONS[region_index]
        locale, currency = rng.choice(locales)
        device, browser, os_name, _weight, screens = _CLIENTS[client_table[rng.randrange(1000)]]
        width, height = rng.choice(screens)
        by_region[region_index].append(len(users))
        users.append((f"usr_{rng.getrandbits(40):010x}", name, currency, locale, device, browser, os_name, width,
                      height))  # fmt: skip
    draw_tables = []
    for members in by_region:
        # Zipf-like activity: the k-th most active user of a region is ~1/k^0.9 as active as the first.
        table = _weighted_table([1.0 / (rank + 1) ** 0.9 for rank in range(len(members))], 65_536)
        draw_tables.append(tuple(members[i] for i in table))
    hosts: dict[tuple[str, str], tuple[str, ...]] = {}
    services = sorted({ep.service for ep in _EP.values()})
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    for service in services:
        for place, pods in [(r[0], 2) for r in _REGIONS] + [("staging", 1)]:
            replica_set = f"{rng.getrandbits(36):09x}"
            hosts[service, place] = tuple(
                f"{service}-{replica_set}-{''.join(rng.choice(alphabet) for _ in range(5))}" for _ in range(pods)
            )
    skus = tuple(f"sku-{rng.randrange(10_000, 99_999)}" for _ in range(400))
    base = _latency_table(45.0, 160.0)  # basket totals in EUR: log-normal, median 45
    amounts = {
        currency: tuple(
            float(round(value * rate / 100) * 100) if currency == "KRW" else round(value * rate, 2)
            for value in base[:: _LAT_N // 1024]
        )
        for currency, rate in _EUR_RATE.items()
    }
    spans = tuple(rng.getrandbits(64).to_bytes(8, "big").hex() for _ in range(_SPAN_POOL))
    return _World(tuple(users), tuple(draw_tables), MappingProxyType(hosts), skus, MappingProxyType(amounts), spans)


def _activity(local_hour: float) -> float:
    """Relative traffic by local time: quiet around 04:00, busiest around 16:00-20:00."""
    return 0.12 + 0.88 * math.pow(0.5 - 0.5 * math.cos(2 * math.pi * (local_hour - 4.5) / 24), 1.4)


def _region_weights(utc_hour: float) -> list[float]:
    return [share * _activity((utc_hour + offset) % 24) for _name, offset, share, _locales in _REGIONS]


@lru_cache(maxsize=1)
def _daily_curve() -> tuple[float, ...]:
    """Relative traffic for each minute of a UTC day, all regions together."""
    return tuple(sum(_region_weights((minute + 0.5) / 60)) for minute in range(1440))


def _traffic(plan: DemoPlan, start_ms: int, spike: tuple[int, int]) -> tuple[list[int], dict[int, float]]:
    """Records per minute (the diurnal curve with some noise, rounded so the total is exact), and for the
    payment incident's minutes the chance that a production group is a shopper stuck on a payment."""
    rng = random.Random(f"loglens-demo-traffic-{plan.seed}")  # noqa: S311 - reproducible, not secret
    minutes = plan.days * 1440
    daily = _daily_curve()
    weights = []
    for i in range(minutes):
        moment_ms = start_ms + i * _MINUTE_MS + _MINUTE_MS // 2
        weekday = (moment_ms // _DAY_MS + 3) % 7  # 1970-01-01 was a Thursday; 5, 6 = Saturday, Sunday
        weekend = 0.85 if weekday >= 5 else 1.0
        weights.append(daily[(moment_ms % _DAY_MS) // _MINUTE_MS] * weekend * (0.75 + 0.5 * rng.random()))
    extra = _SPIKE_EXTRA_VOLUME * sum(weights) / max(1, minutes)
    storm: dict[int, float] = {}
    for i in range((spike[0] - start_ms) // _MINUTE_MS, (spike[1] - start_ms) // _MINUTE_MS):
        share = extra / (weights[i] + extra)  # of the minute's records
        storm[i] = share / (2 - share)  # of its groups: a stuck shopper's group has about twice the records
        weights[i] += extra
    total_weight = sum(weights)
    quotas = []
    acc = 0.0
    assigned = 0
    for weight in weights:
        acc += weight
        target = round(plan.records * acc / total_weight)
        quotas.append(target - assigned)
        assigned = target
    return quotas, storm


_NOTHING: Final[Mapping[str, Any]] = MappingProxyType({})
# UUIDv7 (RFC 9562): 48-bit Unix ms, version 7, 74 random bits, variant 0b10. A draw of 90 bits gives the
# random part (masked) and, above bit 80, the receive delay.
_V7_BITS: Final = (0x7 << 76) | (0b10 << 62)
_V7_RANDOM: Final = ((1 << 80) - 1) & ~(0xF << 76) & ~(0b11 << 62)
# uuid.UUID(int=...) re-validates its argument and costs ~4x more; filling the two slots of an immutable
# UUID directly builds the same object (the tests compare it with a parsed one, hash and pickle included).
_new_object = object.__new__
_set_slot = object.__setattr__
_UUID_UNKNOWN: Final = uuid.SafeUUID.unknown


def _simulate(plan: DemoPlan) -> Iterator[tuple[Any, ...]]:
    """Rows in _FIELDS order, oldest first.

    One function with nested ones, on purpose: the hot path then reads its tables and random source as
    local (closure) variables, which is markedly faster than attributes of an object.
    """
    world = _world(plan.seed)
    td = _timedeltas()
    end_ms = _ms(plan.end)
    start_ms = end_ms - plan.days * _DAY_MS
    windows = {i.name: (_ms(i.start), _ms(i.end)) for i in plan.incidents()}
    spike_window = windows["payment_db_timeouts"]
    slow_window = windows["search_latency_regression"]
    safari_window = windows["safari_checkout_error"]
    quotas, storm_by_minute = _traffic(plan, start_ms, spike_window)
    # Deploys: the two incident releases, plus two uneventful ones so that a deploy is not itself the answer.
    all_deploys = [
        (slow_window[0], "search-api", *_SEARCH_RELEASE),
        (safari_window[0], "web-frontend", *_WEB_RELEASE),
        (end_ms - 40 * _HOUR_MS, "order-api", _VERSIONS["order-api"], "3.18.2"),
        (end_ms - 30 * _HOUR_MS, "user-api", _VERSIONS["user-api"], "2.9.1"),
    ]
    versions = dict(_VERSIONS)  # staging runs the same releases
    versions.update({service: new for at, service, _old, new in all_deploys if at < start_ms})
    deploys = [d for d in all_deploys if start_ms <= d[0] < end_ms]
    deploy_times = {d[0] for d in deploys}

    rng = random.Random(plan.seed)  # noqa: S311 - reproducible, not secret
    rnd = rng.random
    bits = rng.getrandbits
    users = world.users
    users_by_region = world.users_by_region
    amounts = world.amounts
    spans = world.spans
    region_names = [r[0] for r in _REGIONS]
    region_tables = [_weighted_table(_region_weights(hour + 0.5), 1000) for hour in range(24)]
    page_load = {
        "desktop": _latency_table(900.0, 2400.0),
        "mobile": _latency_table(1500.0, 4200.0),
        "tablet": _latency_table(1200.0, 3300.0),
    }
    pages = _pages(world.skus)

    def route(key: str, latency: tuple[float, float] | None = None) -> tuple[Any, ...]:
        e = _EP[key]
        table = _latency_table(*(latency or (e.median_ms, e.p95_ms)))
        pods = {name: world.hosts[e.service, name] for name in region_names}
        return (e.service, e.method, e.route, e.ok_status, e.ok_message, e.slow_message, e.module, e.component,
                e.error_rate, e.errors, table, pods, world.hosts[e.service, "staging"][0])  # fmt: skip

    pay_route, pay_get_route, refund_route, webhook_route = (route(k) for k in ("pay", "pay_get", "refund", "webhook"))
    # A retried order was already validated and its card accepted: only the incident makes it fail.
    retried_pay_route = (*pay_route[:8], 0.0, *pay_route[9:])
    order_route, order_get_route, orders_route = (route(k) for k in ("order", "order_get", "orders"))
    cart_route, cart_add_route = route("cart"), route("cart_add")
    login_route, refresh_route, me_route, me_put_route = (route(k) for k in ("login", "refresh", "me", "me_put"))
    normal_search_route, suggest_route, product_route = (route(k) for k in ("search", "suggest", "product"))
    slow_search_route = route("search", _SLOW_SEARCH)
    email_route, push_route, sms_route = (route(k) for k in ("email", "push", "sms"))

    pending: list[tuple[int, tuple[Any, ...]]] = []
    add = pending.append
    sessions: dict[int, str] = {}
    # Set per minute and per group in the main loop (a group is one user's burst of activity).
    env = "production"
    prod = True
    debug_rate = 0.06
    search_route = normal_search_route
    web_release = ""
    spike = slow = safari = False
    region_table = region_tables[0]
    spike_attempts = spike_failures = 0
    remaining = plan.records

    def pick_user() -> int:
        x = rnd() * 1000
        i = int(x)
        return users_by_region[region_table[i]][int((x - i) * 65_536)]

    def session_of(user: int) -> str:
        found = sessions.get(user)
        if found is None:
            found = sessions[user] = "sess_" + bits(80).to_bytes(10, "big").hex()
        return found

    def request(t: int, route: tuple[Any, ...], user_id: str | None, session: str | None, trace: str,
                region: str, extra: Mapping[str, Any] = _NOTHING, fail: _Error | None = None) -> bool:  # fmt: skip
        """One request's log line: success, slow, a baseline error or `fail`. True when it succeeded."""
        (service, method, path, ok_status, ok_message, slow_message, module, component, error_rate, errors, table,
         pods, staging_pod) = route  # fmt: skip
        r = rnd()
        if prod:
            meta = {"region": region, "host": pods[region][int(r * 4096) & 1], "version": versions[service], **extra}
        else:
            meta = {"region": "eu-west-1", "host": staging_pod, "version": versions[service], **extra}
        if fail is None and r < error_rate:
            fail = errors[int(r / error_rate * len(errors))]
        if fail is not None:
            duration = fail.duration_ms
            if duration is None:
                duration = table[int(rnd() * _LAT_N)]
            else:
                duration += bits(11) / 10  # a timeout fires a little after its limit
            add((t, (fail.level, "BACKEND", service, env, fail.message, user_id, session, trace,
                     spans[bits(16)], fail.error_type, fail.code, fail.status, fail.stack,
                     fail.module, fail.component, path, method, duration, None, None, None, None, None, None, None,
                     None, meta, "api", API_KEY_ID, None)))  # fmt: skip
            return False
        x = rnd() * _LAT_N
        i = int(x)
        fraction = x - i  # the draw's unused part picks the span and decides the optional DEBUG line
        duration = table[i]
        fast = duration <= 1000.0
        add((t, ("INFO" if fast else "WARN", "BACKEND", service, env, ok_message if fast else slow_message,
                 user_id, session, trace, spans[int(fraction * _SPAN_POOL)],
                 None, None, ok_status, None, module, component, path, method, duration, None, None, None, None,
                 None, None, None, None, meta, "api", API_KEY_ID, None)))  # fmt: skip
        if fraction < debug_rate:
            add((t, ("DEBUG", "BACKEND", service, env, ok_message + ": handler finished", user_id, session, trace,
                     None, None, None, None, None, module, component, path, method, None, None, None, None, None,
                     None, None, None, None, {"region": meta["region"], "host": meta["host"]}, "api", API_KEY_ID,
                     None)))  # fmt: skip
        return True

    def frontend(t: int, message: str, user: tuple[Any, ...], user_id: str | None, session: str, path: str,
                 url: str, component: str, duration: float | None, action: str, target: str | None,
                 trace: str | None) -> None:  # fmt: skip
        level = "INFO"
        if duration is not None and duration > 4000.0:
            level, message = "WARN", "Slow page load (over 4 s)"
        add((t, (level, "FRONTEND", "web-frontend", env, message, user_id, session, trace,
                 None if trace is None else spans[bits(16)], None, None, None, None, None,
                 component, None, None, duration, path, url, user[5], user[4], user[7], user[8], action, target,
                 {"release": web_release, "locale": user[3], "os": user[6], "region": user[1]}, "api", API_KEY_ID,
                 None)))  # fmt: skip

    def frontend_error(t: int, level: str, error_type: str, code: str, message: str, stack: str | None,
                       module: str, user: tuple[Any, ...], user_id: str | None, session: str, path: str, url: str,
                       component: str) -> None:  # fmt: skip
        add((t, (level, "FRONTEND", "web-frontend", env, message, user_id, session, None, None, error_type, code,
                 None, stack, module, component, None, None, None, path, url, user[5], user[4],
                 user[7], user[8], None, None,
                 {"release": web_release, "locale": user[3], "os": user[6], "region": user[1]}, "api", API_KEY_ID,
                 None)))  # fmt: skip

    def some_frontend_error(t: int, user: tuple[Any, ...], user_id: str | None, session: str, path: str,
                            url: str, component: str) -> None:  # fmt: skip
        level, error_type, code, message, stack, only = _FE_ERRORS[int(rnd() * len(_FE_ERRORS))]
        if only is None or only == user[5]:
            frontend_error(t, level, error_type, code, message, stack, f"src/{component}/index.ts", user, user_id,
                           session, path, url, component)  # fmt: skip

    def browse(t: int) -> None:
        """A page view (and the API call behind it); on product pages sometimes an add-to-cart."""
        index = pick_user()
        user = users[index]
        if rnd() < 0.8:
            user_id, session = user[0], session_of(index)
        else:
            user_id, session = None, "sess_" + bits(80).to_bytes(10, "big").hex()  # an anonymous visitor
        region = user[1]
        x = rnd() * 1024
        i = int(x)
        path, url, component, detail = pages[i]
        fraction = x - i
        frontend(t, "Page viewed", user, user_id, session, path, url, component,
                 page_load[user[4]][int(fraction * _LAT_N)], "page_view", None, None)  # fmt: skip
        t += 40 + int(fraction * 300)
        if component == "search":
            request(t, search_route, user_id, session, bits(128).to_bytes(16, "big").hex(), region,
                    {"query": detail, "results": int(rnd() * 120)})  # fmt: skip
        elif component == "catalog":
            request(t, search_route, user_id, session, bits(128).to_bytes(16, "big").hex(), region,
                    {"category": detail, "results": 20 + int(rnd() * 200)})  # fmt: skip
        elif component == "product":
            request(t, product_route, user_id, session, bits(128).to_bytes(16, "big").hex(), region, {"sku": detail})
            if rnd() < 0.3:
                t += 1500 + int(rnd() * 9000)
                trace = bits(128).to_bytes(16, "big").hex()
                frontend(t, "Button clicked", user, user_id, session, path, url, component, None, "button_click",
                         "add-to-cart-button", trace)  # fmt: skip
                request(t + 30, cart_add_route, user_id, session, trace, region, {"sku": detail, "quantity": 1})
        elif user_id is not None:
            request(t, me_route, user_id, session, bits(128).to_bytes(16, "big").hex(), region)
        if rnd() < _FRONTEND_ERROR_RATE:
            some_frontend_error(t + 200, user, user_id, session, path, url, component)
        if component == "search" and rnd() < 0.4:
            frontend(t + 800 + int(rnd() * 6000), "Link clicked", user, user_id, session, path, url, component,
                     None, "link_click", "search-result", None)  # fmt: skip

    def app_search(t: int) -> None:
        """The mobile apps call search-api directly: a few suggestions while typing, then the search."""
        index = pick_user()
        user = users[index]
        user_id = user[0] if rnd() < 0.6 else None
        session = session_of(index) if user_id else None
        region = user[1]
        client = "ios-app" if user[6].startswith("i") else "android-app"
        query = _QUERIES[int(rnd() * len(_QUERIES))]
        for _ in range(int(rnd() * 3)):
            request(t, suggest_route, user_id, session, bits(128).to_bytes(16, "big").hex(), region, {"client": client})
            t += 150 + int(rnd() * 400)
        request(t, search_route, user_id, session, bits(128).to_bytes(16, "big").hex(), region,
                {"client": client, "query": query, "results": int(rnd() * 120)})  # fmt: skip
        if rnd() < 0.35:
            sku = world.skus[int(rnd() * len(world.skus))]
            request(t + 2000 + int(rnd() * 5000), product_route, user_id, session,
                    bits(128).to_bytes(16, "big").hex(), region, {"client": client, "sku": sku})  # fmt: skip

    def account(t: int) -> None:
        index = pick_user()
        user = users[index]
        user_id, session, region = user[0], session_of(index), user[1]
        r = rnd()
        if r < 0.35:
            url = SHOP_URL + "/login"
            frontend(t, "Page viewed", user, None, session, "/login", url, "account",
                     page_load[user[4]][int(rnd() * _LAT_N)], "page_view", None, None)  # fmt: skip
            t += 3000 + int(rnd() * 9000)
            trace = bits(128).to_bytes(16, "big").hex()
            frontend(t, "Button clicked", user, None, session, "/login", url, "account", None, "button_click",
                     "login-button", trace)  # fmt: skip
            if request(t + 25, login_route, user_id, session, trace, region, {"login_type": "password"}):
                request(t + 200, me_route, user_id, session, trace, region)
        elif r < 0.75:
            request(t, refresh_route, user_id, session, bits(128).to_bytes(16, "big").hex(), region)
            request(t + 20, me_route, user_id, session, bits(128).to_bytes(16, "big").hex(), region)
        elif r < 0.9:
            request(t, me_route, user_id, session, bits(128).to_bytes(16, "big").hex(), region)
        else:
            url = SHOP_URL + "/account"
            frontend(t, "Page viewed", user, user_id, session, "/account", url, "account",
                     page_load[user[4]][int(rnd() * _LAT_N)], "page_view", None, None)  # fmt: skip
            trace = bits(128).to_bytes(16, "big").hex()
            frontend(t + 4000, "Form submitted", user, user_id, session, "/account", url, "account", None,
                     "form_submit", "profile-form", trace)  # fmt: skip
            request(t + 4030, me_put_route, user_id, session, trace, region)

    def orders(t: int) -> None:
        index = pick_user()
        user = users[index]
        user_id, session, region = user[0], session_of(index), user[1]
        r = rnd()
        if r < 0.45:
            request(t, cart_route, user_id, session, bits(128).to_bytes(16, "big").hex(), region)
        elif r < 0.75:
            frontend(t, "Page viewed", user, user_id, session, "/orders", SHOP_URL + "/orders", "orders",
                     page_load[user[4]][int(rnd() * _LAT_N)], "page_view", None, None)  # fmt: skip
            request(t + 60, orders_route, user_id, session, bits(128).to_bytes(16, "big").hex(), region)
        else:
            request(t, order_get_route, user_id, session, bits(128).to_bytes(16, "big").hex(), region,
                    {"order_id": "ord_" + bits(40).to_bytes(5, "big").hex()})  # fmt: skip

    def checkout(t: int) -> None:
        """One trace: the checkout page, place-order click, order-api, payment-api (with retries), the email."""
        index = pick_user()
        user = users[index]
        user_id, session, region, currency = user[0], session_of(index), user[1], user[2]
        url = SHOP_URL + "/checkout"
        frontend(t, "Button clicked", user, user_id, session, "/cart", SHOP_URL + "/cart", "cart", None,
                 "button_click", "checkout-button", None)  # fmt: skip
        t += 50
        frontend(t, "Page viewed", user, user_id, session, "/checkout", url, "checkout",
                 page_load[user[4]][int(rnd() * _LAT_N)], "page_view", None, None)  # fmt: skip
        t += 300 + int(rnd() * 900)
        if safari and prod and user[5] == "Safari" and rnd() < 0.7:
            frontend_error(t, "ERROR", "TypeError", "FE-CHECKOUT-APPLEPAY", SAFARI_ERROR_MESSAGE, _SAFARI_STACK,
                           _SAFARI_MODULE, user, user_id, session, "/checkout", url, "checkout")  # fmt: skip
            if rnd() < 0.85:
                return  # the payment buttons never render; most shoppers give up
        elif rnd() < _FRONTEND_ERROR_RATE:
            some_frontend_error(t, user, user_id, session, "/checkout", url, "checkout")
        t += 2000 + int(rnd() * 8000)
        trace = bits(128).to_bytes(16, "big").hex()
        frontend(t, "Button clicked", user, user_id, session, "/checkout", url, "checkout", None, "button_click",
                 "place-order-button", trace)  # fmt: skip
        order = {"order_id": "ord_" + bits(40).to_bytes(5, "big").hex(), "items": 1 + int(rnd() * rnd() * 6),
                 "amount": amounts[currency][int(rnd() * 1024)], "currency": currency}  # fmt: skip
        paid = pay(t + 20, user_id, session, trace, region, order, pay_route)
        if paid is None:
            request(t + 60, order_route, user_id, session, trace, region, order, _PAYMENT_GIVEUP)
        elif request(t + 60, order_route, user_id, session, trace, region, order) and paid:
            email = {"template": "order_confirmation", "order_id": order["order_id"], "queue": "notifications"}
            request(t + 360 + int(rnd() * 3000), email_route, user_id, None, trace, region, email)

    def pay(t: int, user_id: str, session: str, trace: str, region: str, order: dict[str, Any],
            route: tuple[Any, ...]) -> bool | None:  # fmt: skip
        """Payment attempts for one order: True paid, False declined, None payment-api unavailable."""
        nonlocal spike_attempts, spike_failures
        payment = {"order_id": order["order_id"], "amount": order["amount"], "currency": order["currency"],
                   "provider": "toss" if region == "ap-northeast-2" else "stripe"}  # fmt: skip
        for attempt in range(3):
            fail = None
            if spike and prod:
                # Low-discrepancy sequences instead of coin flips decide which attempts fail and how, so the
                # incident's error rate and mix hold even in a small plan.
                spike_attempts += 1
                if (spike_attempts * 0.7548776662) % 1.0 < _SPIKE_ATTEMPT_FAILS:
                    spike_failures += 1
                    db = (spike_failures * 0.6180339887) % 1.0 < _SPIKE_DB_SHARE
                    fail = _DB_TIMEOUT if db else _IDEMPOTENCY
            if request(t, route, user_id, session, trace, region, {**payment, "retry": attempt}, fail):
                return True
            if fail is None:
                return False  # declined or invalid: not retried
            t += 50 + int(rnd() * 200)
            if attempt < 2:
                add((t, ("WARN", "BACKEND", "order-api", env, f"Payment attempt {attempt + 1} of 3 failed; retrying",
                         user_id, session, trace, spans[bits(16)], None, None, None, None,
                         "com.shop.orders.client.PaymentClient", "client", "/api/v1/orders", "POST", None, None, None,
                         None, None, None, None, None, None,
                         {"region": region, "version": versions["order-api"], "order_id": order["order_id"],
                          "retry": attempt + 1}, "api", API_KEY_ID, None)))  # fmt: skip
                t += 10
        return None

    def stuck_checkout(t: int) -> None:
        """During the payment incident: a shopper retries a pending order while the page polls its status."""
        index = pick_user()
        user = users[index]
        user_id, session, region, currency = user[0], session_of(index), user[1], user[2]
        url = SHOP_URL + "/checkout"
        trace = bits(128).to_bytes(16, "big").hex()
        frontend(t, "Button clicked", user, user_id, session, "/checkout", url, "checkout", None, "button_click",
                 "retry-payment-button", trace)  # fmt: skip
        order = {"order_id": "ord_" + bits(40).to_bytes(5, "big").hex(), "items": 1 + int(rnd() * rnd() * 6),
                 "amount": amounts[currency][int(rnd() * 1024)], "currency": currency}  # fmt: skip
        paid = pay(t + 20, user_id, session, trace, region, order, retried_pay_route)
        payment_id = {"payment_id": "pay_" + bits(48).to_bytes(6, "big").hex()}
        for poll in range(2):
            request(t + 2000 * (poll + 1), pay_get_route, user_id, session, trace, region, payment_id)
        if paid is None:
            request(t + 60, order_route, user_id, session, trace, region, order, _PAYMENT_GIVEUP)

    def payments_misc(t: int) -> None:
        index = pick_user()
        user = users[index]
        region = user[1]
        r = rnd()
        payment_id = "pay_" + bits(48).to_bytes(6, "big").hex()
        if r < 0.55:
            request(t, pay_get_route, user[0], session_of(index), bits(128).to_bytes(16, "big").hex(), region,
                    {"payment_id": payment_id})  # fmt: skip
        elif r < 0.9:
            event = "payment_intent.succeeded" if rnd() < 0.85 else "charge.refunded"
            request(t, webhook_route, None, None, bits(128).to_bytes(16, "big").hex(), region,
                    {"payment_id": payment_id, "event": event})  # fmt: skip
        else:
            trace = bits(128).to_bytes(16, "big").hex()
            meta = {"payment_id": payment_id, "amount": amounts[user[2]][int(rnd() * 1024)], "currency": user[2],
                    "reason": "returned_item"}  # fmt: skip
            if request(t, refund_route, None, None, trace, region, meta):
                request(t + 500 + int(rnd() * 2000), email_route, user[0], None, trace, region,
                        {"template": "refund_issued", "payment_id": payment_id, "queue": "notifications"})  # fmt: skip

    def notifications(t: int) -> None:
        user = users[pick_user()]
        r = rnd()
        if r < 0.4:
            request(t, push_route, user[0], None, bits(128).to_bytes(16, "big").hex(), user[1],
                    {"template": "order_shipped", "queue": "notifications"})  # fmt: skip
        elif r < 0.7:
            template = "password_reset" if rnd() < 0.3 else "newsletter"
            request(t, email_route, user[0], None, bits(128).to_bytes(16, "big").hex(), user[1],
                    {"template": template, "queue": "notifications"})  # fmt: skip
        else:
            request(t, sms_route, user[0], None, bits(128).to_bytes(16, "big").hex(), user[1],
                    {"template": "login_code", "queue": "notifications"})  # fmt: skip

    def internal(t: int, level: str, service: str, message: str, module: str, component: str,
                 duration: float | None, extra: dict[str, Any], error: _Error | None = None) -> None:  # fmt: skip
        if prod:
            region = region_names[region_table[int(rnd() * 1000)]]
            pods = world.hosts[service, region]
            meta = {"region": region, "host": pods[int(rnd() * len(pods))], "version": versions[service], **extra}
        else:
            meta = {"region": "eu-west-1", "host": world.hosts[service, "staging"][0],
                    "version": versions[service], **extra}  # fmt: skip
        if error is None:
            add((t, (level, "BACKEND", service, env, message, None, None, None, None, None, None, None, None, module,
                     component, None, None, duration, None, None, None, None, None, None, None, None, meta, "api",
                     API_KEY_ID, None)))  # fmt: skip
        else:
            add((t, (error.level, "BACKEND", service, env, error.message, None, None, None, None, error.error_type,
                     error.code, None, error.stack, error.module, error.component, None, None, None, None, None,
                     None, None, None, None, None, None, meta, "api", API_KEY_ID, None)))  # fmt: skip

    def internals(t: int) -> None:
        """Services talking about themselves: pool and cache stats, GC pauses, queue polls, a rare crash."""
        r = rnd()
        # During the incident every pool report is a saturation warning, so even a small plan at a quiet
        # hour has some (the eval harness asks for them).
        if r < 0.3 or (spike and prod):
            if spike and prod:
                waiting = 20 + int(rnd() * 45)
                internal(t, "WARN", "payment-api",
                         f"Database pool saturated: 20/20 connections in use, {waiting} requests waiting",
                         "payments.db.pool", "db", None,
                         {"active": 20, "idle": 0, "waiting": waiting, "max": 20})  # fmt: skip
            else:
                active = 2 + int(rnd() * 8)
                internal(t, "DEBUG", "payment-api", "Database pool stats", "payments.db.pool", "db", None,
                         {"active": active, "idle": 20 - active, "waiting": 0, "max": 20})  # fmt: skip
        elif r < 0.55:
            service = "search-api" if rnd() < 0.6 else "user-api"
            internal(t, "DEBUG", service, "Cache stats", "cache", "cache", None,
                     {"hit_ratio": round(0.78 + 0.2 * rnd(), 3)})  # fmt: skip
        elif r < 0.72:
            service = "order-api" if rnd() < 0.5 else "search-api"
            pause = round(180 + rnd() * 600, 1)
            internal(t, "WARN", service, f"GC pause of {pause} ms (G1 Evacuation Pause)", "jvm.gc", "runtime", pause,
                     {"collector": "G1"})  # fmt: skip
        elif r < 0.9985:
            internal(t, "DEBUG", "notification-worker", "Polled queue notifications", "notifications.worker", "worker",
                     None, {"queue_depth": int(rnd() * 40)})  # fmt: skip
        else:
            internal(t, "FATAL", "notification-worker", "", "", "", None, {}, _WORKER_LOST)

    def deploy(t: int, service: str, old: str, new: str) -> None:
        meta = {"region": "all", "version": new, "previous_version": old,
                "commit": bits(28).to_bytes(4, "big").hex()[1:], "deployed_by": "github-actions"}  # fmt: skip
        add((t, ("INFO", "INFRA", service, "production", f"Deployment completed: {service} {old} -> {new}", None,
                 None, None, None, None, None, None, None, "deploy", "deployer", None, None,
                 round(90_000 + rnd() * 120_000, 1), None, None, None, None, None, None, None, None, meta,
                 "api", API_KEY_ID, None)))  # fmt: skip

    # Weights tuned so services land near web-frontend 34%, search-api 25%, user-api 13%, order-api 11%,
    # payment-api 10%, notification-worker 8% of records.
    groups: list[tuple[float, Callable[[int], None]]] = [
        (30, browse), (11, app_search), (12, account), (10, orders), (8, checkout), (9, payments_misc),
        (6, notifications), (6, internals),
    ]  # fmt: skip
    group_table = [groups[i][1] for i in _weighted_table([g[0] for g in groups], 1000)]

    emitted = 0
    target = 0
    session_window = -1
    carried: list[tuple[int, tuple[Any, ...]]] = []
    buckets = len(quotas)
    for bucket in range(buckets):
        bucket_ms = start_ms + bucket * _MINUTE_MS
        target += quotas[bucket]
        region_table = region_tables[(bucket_ms % _DAY_MS) // _HOUR_MS]
        spike = spike_window[0] <= bucket_ms < spike_window[1]
        slow = slow_window[0] <= bucket_ms < slow_window[1]
        safari = safari_window[0] <= bucket_ms < safari_window[1]
        if bucket_ms // (2 * _HOUR_MS) != session_window:
            session_window = bucket_ms // (2 * _HOUR_MS)
            sessions.clear()  # a session lasts at most two hours
        pending.extend(carried)
        carried = []
        for at, service, old, new in deploys:
            if at == bucket_ms:
                versions[service] = new
                deploy(0, service, old, new)
                emitted += 1
        web_release = f"web-frontend {versions['web-frontend']}"
        production_search = slow_search_route if slow else normal_search_route
        storm = storm_by_minute.get(bucket, 0.0)
        while emitted < target:
            before = len(pending)
            x = rnd() * 1000
            i = int(x)
            if x - i < 0.06:  # the draw's fraction: a few percent of the traffic is staging
                env, prod, debug_rate = "staging", False, 0.35
                search_route = normal_search_route
                group_table[i](int(rnd() * _MINUTE_MS))
            else:
                env, prod, debug_rate = "production", True, 0.06
                search_route = production_search
                if storm and rnd() < storm:
                    stuck_checkout(int(rnd() * _MINUTE_MS))
                else:
                    group_table[i](int(rnd() * _MINUTE_MS))
            emitted += len(pending) - before
        if not pending:
            continue
        pending.sort(key=_FIRST)
        last = bucket == buckets - 1
        if pending[-1][0] >= _MINUTE_MS:
            following = bucket_ms + _MINUTE_MS
            same_state = (
                not last
                and following not in deploy_times
                and (spike_window[0] <= following < spike_window[1]) == spike
                and (slow_window[0] <= following < slow_window[1]) == slow
                and (safari_window[0] <= following < safari_window[1]) == safari
            )
            split = _first_at_or_after(pending, _MINUTE_MS)
            if same_state:
                carried = [(t - _MINUTE_MS, body) for t, body in pending[split:]]
                del pending[split:]
            else:
                # Incident records stay inside their window and releases after their deploy: clamp instead.
                pending[split:] = [(_MINUTE_MS - 1, body) for _t, body in pending[split:]]
        if len(pending) >= remaining:
            del pending[remaining:]  # the last group of the plan may overshoot its exact total
            carried = []
        remaining -= len(pending)
        base = _EPOCH + timedelta(milliseconds=bucket_ms)
        for t, body in pending:
            created = base + td[t]
            r = bits(90)
            event_id = _new_object(uuid.UUID)
            _set_slot(event_id, "int", ((bucket_ms + t) << 80) | (r & _V7_RANDOM) | _V7_BITS)
            _set_slot(event_id, "is_safe", _UUID_UNKNOWN)
            yield (event_id, created + td[40 + (r >> 80) * 7 // 8], created) + body  # noqa: RUF005 - faster
        pending.clear()


def _ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _pages(skus: Sequence[str]) -> list[tuple[str, str, str, str]]:
    """Storefront pages as a 1024-slot draw table: (path, url, component, detail)."""
    home = [("/", SHOP_URL + "/", "home", "")]
    search = [("/search", f"{SHOP_URL}/search?q={q.replace(' ', '+')}", "search", q) for q in _QUERIES]
    catalog = [(f"/c/{c}", f"{SHOP_URL}/c/{c}", "catalog", c) for c in _CATEGORIES]
    product = [(f"/products/{s}", f"{SHOP_URL}/products/{s}", "product", s) for s in skus]
    table: list[tuple[str, str, str, str]] = []
    for share, choices in ((0.22, home), (0.28, search), (0.12, catalog), (0.38, product)):
        # A few searches and products are far more popular than the rest.
        popularity = _weighted_table([1.0 / (rank + 1) ** 0.8 for rank in range(len(choices))], round(share * 1024))
        table.extend(choices[i] for i in popularity)
    return (table + table[-1:] * 1024)[:1024]


_FIRST: Final = itemgetter(0)


def _first_at_or_after(items: list[tuple[int, tuple[Any, ...]]], limit: int) -> int:
    low, high = 0, len(items)
    while low < high:
        middle = (low + high) // 2
        if items[middle][0] < limit:
            low = middle + 1
        else:
            high = middle
    return low
