"""The loggers people already use, against a real `loglens dev`, checked in PostgreSQL.

Python: loguru through `loglens_sink`, structlog through `LoglensProcessor`. Node.js: pino through
`pino.transport({target: '@loglens/client/pino'})` in a process that exits on its own, and winston
through `LoglensTransport`. And the raw lines those loggers print, POSTed as they are.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from loglens.db.connect import connect
from tests.e2e.conftest import REPO, LocalStack

JS = REPO / "clients" / "javascript"
COLUMNS = ("level", "message", "service", "user_id", "trace_id", "module", "error_type", "stack_trace", "metadata")


def rows(stack: LocalStack, service: str, expected: int) -> list[dict[str, Any]]:
    assert stack.wait_for_rows(f"service = '{service}'", expected) == expected
    with connect(stack.db_url) as conn:
        found = conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM logs WHERE service = %s ORDER BY created_at, message",
            (service,),
        ).fetchall()
    return [dict(zip(COLUMNS, row, strict=True)) for row in found]


def test_loguru_sink_and_structlog_processor(stack: LocalStack, unique_service: str, tmp_path: Path) -> None:
    import structlog
    from loguru import logger

    from log_collector import LogCollector, LoglensProcessor, loglens_sink

    collector = LogCollector(
        stack.url, unique_service, "test", api_key=stack.api_key, spool_dir=tmp_path, register_atexit=False
    )
    logger.remove()
    logger.add(loglens_sink(collector))
    logger.bind(user_id="u-42", trace_id="4bf92f3577b34da6a3ce929d0e0e4736", order_id="o-1").info("loguru captured")
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        logger.exception("loguru failed")
    logger.remove()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            LoglensProcessor(collector),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(io.StringIO()),
        cache_logger_on_first_use=False,
    )
    structlog.get_logger("shop.api").warning("structlog slow", duration_ms=2300, endpoint="/pay")
    assert collector.close(timeout=30)
    stored = {r["message"]: r for r in rows(stack, unique_service, 3)}
    captured = stored["loguru captured"]
    assert (captured["level"], captured["user_id"], captured["trace_id"]) == (
        "INFO",
        "u-42",
        "4bf92f3577b34da6a3ce929d0e0e4736",
    )
    assert captured["metadata"]["order_id"] == "o-1"
    failed = stored["loguru failed"]
    assert (failed["level"], failed["error_type"]) == ("ERROR", "ZeroDivisionError")
    assert "ZeroDivisionError: division by zero" in failed["stack_trace"]
    assert stored["structlog slow"]["level"] == "WARN"


NODE_SCRIPT = """
import pino from 'pino';
import winston from 'winston';
import {{ LoglensTransport }} from '@loglens/client/winston';
const [url, key, service] = process.argv.slice(2);
const options = {{ logServerUrl: url, apiKey: key, environment: 'test', flushIntervalMs: 600000 }};
const target = '@loglens/client/pino';
const log = pino(pino.transport({{ target, options: {{ ...options, service: service + '-pino' }} }}));
log.child({{ user_id: 'u-1' }}).warn({{ order_id: 'o-1' }}, 'pino slow');
log.error({{ err: Object.assign(new TypeError('bad type'), {{ code: 'E_BAD' }}) }}, 'pino failed');
log.info({{ a: 1 }});
const transport = new LoglensTransport({{ ...options, service: service + '-winston' }});
const w = winston.createLogger({{
  level: 'silly',
  format: winston.format.combine(
    winston.format.timestamp(), winston.format.errors({{ stack: true }}), winston.format.json()),
  transports: [transport],
}});
w.verbose('winston chatty');
w.error(new Error('winston boom'));
w.end();
"""


@pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None, reason="Node.js is not installed")
def test_pino_and_winston_transports(stack: LocalStack, unique_service: str) -> None:
    if not (JS / "node_modules" / "pino").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS, check=True, timeout=300)
    subprocess.run(["npm", "run", "build"], cwd=JS, check=True, timeout=300)
    # The script sits inside the package, so '@loglens/client/...' resolves through its exports map.
    script = JS / f".e2e-{unique_service}.mjs"
    script.write_text(NODE_SCRIPT.format())
    try:
        result = subprocess.run(
            ["node", str(script), stack.url, stack.api_key, unique_service],
            cwd=JS,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        script.unlink()
    assert result.returncode == 0, result.stderr
    pino_rows = {r["message"]: r for r in rows(stack, unique_service + "-pino", 3)}
    slow = pino_rows["pino slow"]
    assert (slow["level"], slow["user_id"], slow["metadata"]["order_id"]) == ("WARN", "u-1", "o-1")
    assert {"pid", "hostname"} <= slow["metadata"].keys()
    failed = pino_rows["pino failed"]
    assert (failed["level"], failed["error_type"]) == ("ERROR", "TypeError")
    assert failed["stack_trace"].startswith("TypeError: bad type")
    assert pino_rows['{"a":1}']["metadata"]["a"] == 1
    winston_rows = {r["message"]: r for r in rows(stack, unique_service + "-winston", 2)}
    assert winston_rows["winston chatty"]["level"] == "DEBUG"
    boom = winston_rows["winston boom"]
    assert (boom["level"], boom["error_type"]) == ("ERROR", "Error")
    assert boom["stack_trace"].startswith("Error: winston boom")


def post_batch(stack: LocalStack, logs: list[dict[str, Any]]) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 (the local stack on loopback)
        f"{stack.url}/api/v1/logs/batch",
        data=json.dumps({"logs": logs}).encode(),
        headers={"content-type": "application/json", "x-api-key": stack.api_key},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())  # type: ignore[no-any-return]


def test_lines_loggers_print_are_accepted_as_they_are(stack: LocalStack, unique_service: str) -> None:
    now_ms = int(time.time() * 1000)
    now_iso = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    lines = [
        {"level": 30, "time": now_ms, "pid": 7, "hostname": "vm", "name": unique_service, "msg": "pino line"},
        {"level": "warn", "message": "winston line", "timestamp": now_iso, "service": unique_service},
        {
            "level": "ERROR",
            "location": "handler:15",
            "message": "powertools exception",
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%S,000+0000", time.gmtime()),
            "service": unique_service,
            "exception": 'Traceback (most recent call last):\n  File "/var/task/app.py", line 1, in h\nValueError: x',
            "exception_name": "ValueError",
            "stack_trace": {"type": "ValueError", "value": "x", "module": "builtins", "frames": []},
            "xray_trace_id": "1-5759e988-bd862e3fe1be46a994272793",
        },
        {
            "@timestamp": now_iso,
            "log.level": "info",
            "message": "ecs line",
            "service": {"name": unique_service},
            "user": {"id": "u-ecs"},
        },
        {"level": "INFO", "service": unique_service, "message": {"operation": "collect", "amount": 12.5}},
    ]
    assert post_batch(stack, lines) == {"accepted": 5, "rejected": []}
    stored = {r["message"]: r for r in rows(stack, unique_service, 5)}
    assert stored["pino line"]["level"] == "INFO"
    assert stored["winston line"]["level"] == "WARN"
    powertools = stored["powertools exception"]
    assert (powertools["error_type"], powertools["trace_id"]) == ("ValueError", "1-5759e988-bd862e3fe1be46a994272793")
    assert powertools["stack_trace"].endswith("ValueError: x")
    assert stored["ecs line"]["user_id"] == "u-ecs"
    assert '{"operation":"collect","amount":12.5}' in stored


def test_a_record_without_service_is_stored_as_unknown_service(stack: LocalStack, unique_service: str) -> None:
    marker = f"no service {unique_service}"
    assert post_batch(stack, [{"level": "info", "message": marker}]) == {"accepted": 1, "rejected": []}
    assert stack.wait_for_rows(f"message = '{marker}' AND service = 'unknown_service'", 1) == 1
