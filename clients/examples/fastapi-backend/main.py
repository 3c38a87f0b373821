"""payment-api: the origin document's FastAPI example, runnable against `loglens dev`.

Three ways of logging, all ending up in loglens:
- a middleware logs every request (endpoint, method, status, duration_ms, trace_id);
- the payment endpoint calls the collector directly, as in the origin document;
- plain stdlib `logging` calls reach loglens through the collector's logging handler.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar

from fastapi import FastAPI, HTTPException, Request, Response
from pydantic import BaseModel, Field

from log_collector import LogCollector

if not os.environ.get("LOGLENS_API_KEY"):
    raise SystemExit("set LOGLENS_API_KEY to the key that `loglens dev` printed")

collector = LogCollector(
    log_server_url=os.environ.get("LOGLENS_URL", "http://127.0.0.1:8000"),
    service="payment-api",
    environment=os.environ.get("LOGLENS_ENVIRONMENT", "development"),
    api_key=os.environ["LOGLENS_API_KEY"],
    flush_interval=1.0,  # a demo should show its logs at once; the default is 5 s
)
current_trace_id: ContextVar[str | None] = ContextVar("current_trace_id", default=None)


class TraceIdFilter(logging.Filter):
    """Stamps stdlib records made while serving a request with that request's trace_id."""

    def filter(self, record: logging.LogRecord) -> bool:
        trace_id = current_trace_id.get()
        if trace_id is not None and not hasattr(record, "trace_id"):
            record.trace_id = trace_id
        return True


logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
to_loglens = collector.handler(logging.INFO)
to_loglens.addFilter(TraceIdFilter())
logging.getLogger().addHandler(to_loglens)
log = logging.getLogger("payment_api.payments")


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    log.info("payment-api starting")
    yield
    log.info("payment-api stopping")
    await collector.aclose()  # delivers (or spools) what is still queued


app = FastAPI(title="payment-api (loglens example)", lifespan=lifespan)


class Payment(BaseModel):
    user_id: str
    order_id: str
    amount: float = Field(gt=0)


class PaymentDeclined(Exception):
    """The card issuer said no (here: any amount over 10,000)."""


@app.middleware("http")
async def log_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    trace_id = request.headers.get("x-trace-id") or uuid.uuid4().hex
    request.state.trace_id = trace_id
    token = current_trace_id.set(trace_id)
    started = time.perf_counter()
    status = 500  # what the client gets if the route raises
    try:
        response = await call_next(request)
        status = response.status_code
        response.headers["x-trace-id"] = trace_id
        return response
    finally:
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        request.state.duration_ms = duration_ms
        level = "ERROR" if status >= 500 else "WARN" if status >= 400 else "INFO"
        await collector.log(
            level,
            f"{request.method} {request.url.path} {status}",
            endpoint=request.url.path,
            method=request.method,
            http_status_code=status,
            duration_ms=duration_ms,
            trace_id=trace_id,
        )
        current_trace_id.reset(token)


async def charge(payment: Payment) -> dict[str, str]:
    log.info("charging order %s", payment.order_id, extra={"user_id": payment.user_id, "amount": payment.amount})
    if payment.amount > 10_000:
        raise PaymentDeclined(f"card declined for order {payment.order_id}: amount over limit")
    return {"status": "paid", "order_id": payment.order_id, "payment_id": uuid.uuid4().hex}


@app.post("/api/v1/payment")
async def process_payment(payment: Payment, request: Request) -> dict[str, str]:
    started = time.perf_counter()
    try:
        result = await charge(payment)
    except PaymentDeclined as exc:
        await collector.log(
            "ERROR",
            str(exc),
            user_id=payment.user_id,
            trace_id=request.state.trace_id,
            endpoint="/api/v1/payment",
            error_type=type(exc).__name__,
            application_error_code="PAYMENT_DECLINED",
            stack_trace=traceback.format_exc(),
            metadata={"order_id": payment.order_id, "amount": payment.amount},
        )
        raise HTTPException(status_code=402, detail="payment declined") from exc
    await collector.log(
        "INFO",
        "Payment processed successfully",
        user_id=payment.user_id,
        trace_id=request.state.trace_id,
        endpoint="/api/v1/payment",
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        metadata={"order_id": payment.order_id, "amount": payment.amount},
    )
    return result


@app.get("/api/v1/boom")
async def boom() -> dict[str, int]:
    totals: dict[str, int] = {}
    try:
        return {"total": totals["today"]}  # a bug, on purpose: nothing was counted today
    except KeyError:
        log.exception("unexpected error while building the report")  # error_type + stack_trace via the handler
        raise


@app.get("/health")
async def health() -> dict[str, object]:
    return {"status": "ok", "loglens": collector.stats()}
