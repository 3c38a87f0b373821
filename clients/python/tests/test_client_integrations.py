"""The loguru sink and the structlog processor, with the real libraries, against the fake server."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from loguru import logger as loguru_logger

from log_collector import LogCollector, LoglensProcessor, loglens_sink


@pytest.fixture
def loguru() -> Iterator[Any]:
    loguru_logger.remove()
    yield loguru_logger
    loguru_logger.remove()


def test_loguru_records_levels_bound_fields_and_exceptions(server, make_collector, loguru):
    collector = make_collector(server.url)
    loguru.add(loglens_sink(collector), level="TRACE")
    bound = loguru.bind(service="billing", user_id="u-42", trace_id="4bf92f35", order_id="o-1")
    bound.info("payment captured")
    loguru.success("done")
    loguru.trace("fine detail")
    loguru.level("AUDIT", no=35)
    loguru.log("AUDIT", "custom level")
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        loguru.exception("payment failed")
    assert collector.flush(timeout=5)
    captured, done, fine, audit, failed = server.accepted()
    assert (captured["level"], captured["message"], captured["service"]) == ("INFO", "payment captured", "billing")
    assert (captured["user_id"], captured["trace_id"]) == ("u-42", "4bf92f35")
    assert captured["module"] == __name__
    assert captured["metadata"]["order_id"] == "o-1" and captured["metadata"]["function"] == (
        "test_loguru_records_levels_bound_fields_and_exceptions"
    )
    assert (done["level"], done["service"]) == ("INFO", "checkout")  # SUCCESS (25); the collector's service
    assert fine["level"] == "TRACE"
    assert audit["level"] == "WARN"  # a custom level goes by its number
    assert failed["level"] == "ERROR" and failed["error_type"] == "ZeroDivisionError"
    assert failed["stack_trace"].startswith("Traceback") and "1 / 0" in failed["stack_trace"]


def test_loguru_sink_can_make_its_own_collector(server, spool_dir, loguru):
    sink = loglens_sink(
        log_server_url=server.url, service="own", spool_dir=spool_dir, flush_interval=0.2, register_atexit=False
    )
    loguru.add(sink)
    loguru.warning("hello")
    collector: LogCollector = sink.collector  # type: ignore[attr-defined]
    assert collector.flush(timeout=5)
    collector.close(timeout=1)
    [record] = server.accepted()
    assert (record["service"], record["level"], record["message"]) == ("own", "WARN", "hello")
    with pytest.raises(TypeError):
        loglens_sink(collector, service="both")


def test_structlog_events_are_shipped_and_still_rendered(server, make_collector):
    collector = make_collector(server.url)
    out = io.StringIO()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            LoglensProcessor(collector),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    log = structlog.get_logger().bind(user_id="u-7")
    log.info("user logged in", order_id="o-1", http_status_code=200)
    log.warning({"dict": "event"})
    try:
        {}["missing"]
    except KeyError:
        log.exception("lookup failed")
    assert collector.flush(timeout=5)
    info, warning, error = server.accepted()
    assert (info["level"], info["message"], info["user_id"], info["http_status_code"]) == (
        "INFO",
        "user logged in",
        "u-7",
        200,
    )
    assert info["metadata"] == {"order_id": "o-1"}
    assert (warning["level"], warning["message"]) == ("WARN", '{"dict":"event"}')
    assert error["level"] == "ERROR" and error["error_type"] == "KeyError"
    assert "KeyError: 'missing'" in error["stack_trace"]
    assert out.getvalue().count("\n") == 3  # the app's own output is untouched


def test_structlog_after_format_exc_info_and_with_a_logger_name(server, make_collector):
    collector = make_collector(server.url)
    processor = LoglensProcessor(collector)
    try:
        raise ValueError("bad")
    except ValueError:
        event = structlog.processors.format_exc_info(None, "error", {"event": "x", "exc_info": True})
    returned = processor(None, "error", {**event, "logger": "shop.api", "level": "error"})
    assert returned["logger"] == "shop.api"  # handed on unchanged
    processor(None, "exception", {"event": None})
    assert collector.flush(timeout=5)
    formatted, empty = server.accepted()
    assert formatted["module"] == "shop.api" and formatted["stack_trace"].endswith("ValueError: bad")
    assert empty["level"] == "ERROR" and empty["message"] == ""
