"""The logging.Handler: every stdlib record becomes a loglens record, the client's own never."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from fake_ingest import Reply

from log_collector import LogCollectorHandler


@pytest.fixture
def app_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("shop.payments")
    logger.setLevel(logging.DEBUG)
    yield logger
    logger.handlers.clear()
    logger.propagate = True


def test_records_map_levels_module_extra_and_exceptions(server, make_collector, app_logger):
    collector = make_collector(server.url)
    app_logger.addHandler(collector.handler())
    app_logger.debug("debugging %s", "now")
    app_logger.warning(
        "card %s declined",
        "visa",
        extra={"user_id": "u-7", "http_status_code": 402, "order_id": "o-1", "metadata": {"tier": "gold"}},
    )
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        app_logger.exception("charge failed", extra={"trace_id": "tr-1"})
    app_logger.critical("ledger unreachable", stack_info=True)
    assert collector.flush(timeout=5)
    debug, warning, error, critical = server.accepted()
    assert (debug["level"], debug["message"]) == ("DEBUG", "debugging now")
    assert debug["module"] == "shop.payments"
    assert warning["level"] == "WARN" and warning["message"] == "card visa declined"
    assert warning["user_id"] == "u-7" and warning["http_status_code"] == 402
    assert warning["metadata"] == {"order_id": "o-1", "tier": "gold"}
    assert error["level"] == "ERROR" and error["trace_id"] == "tr-1"
    assert error["error_type"] == "ZeroDivisionError"
    assert "ZeroDivisionError: division by zero" in error["stack_trace"]
    assert "Traceback" not in error["message"]
    assert critical["level"] == "FATAL" and "Stack (most recent call last)" in critical["stack_trace"]


def test_handler_works_from_the_root_logger_and_ignores_the_clients_own_logger(
    server, make_collector
):
    # A bad API key makes the client complain through its own logger; with the handler on the root
    # logger, that complaint must not be shipped (or it would loop forever).
    server.script(Reply(403))
    collector = make_collector(server.url)
    handler = LogCollectorHandler(collector)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        logging.getLogger("app").error("first")
        assert collector.flush(timeout=5)
        logging.getLogger("log_collector").error("the client's own diagnostic")
        logging.getLogger("log_collector.worker").error("also the client's own")
        logging.getLogger("app").error("second")
        assert collector.flush(timeout=5)
    finally:
        root.removeHandler(handler)
    shipped = [r["message"] for request in server.requests for r in request.logs]
    assert shipped == ["first", "second"]


def test_a_broken_record_is_reported_by_logging_not_raised(server, make_collector, app_logger, capsys):
    collector = make_collector(server.url)
    app_logger.addHandler(collector.handler())
    app_logger.propagate = False  # pytest's own capture handler re-raises logging errors
    app_logger.info("%d items", "not a number")  # the app's own formatting bug
    app_logger.info("fine")
    assert collector.flush(timeout=5)
    assert [r["message"] for r in server.accepted()] == ["fine"]
    assert "--- Logging error ---" in capsys.readouterr().err
