"""A real OpenTelemetry client (the Python SDK's OTLP/HTTP protobuf log exporter) against `loglens dev`."""

from __future__ import annotations

import logging

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from loglens.db.connect import connect
from tests.e2e.conftest import LocalStack


def test_sdk_exporter_records_arrive_with_level_service_trace_and_attributes(
    stack: LocalStack, unique_service: str
) -> None:
    resource = Resource.create(
        {"service.name": unique_service, "deployment.environment.name": "staging", "host.name": "worker-7"}
    )
    provider = LoggerProvider(resource=resource)
    exporter = OTLPLogExporter(endpoint=f"{stack.url}/otlp/v1/logs", headers={"x-api-key": stack.api_key})
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(level=logging.DEBUG, logger_provider=provider)
    logger = logging.getLogger(f"otel.{unique_service}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    tracer = TracerProvider(resource=resource).get_tracer("e2e")
    try:
        with tracer.start_as_current_span("checkout") as span:
            context = span.get_span_context()
            logger.error("payment failed", extra={"order_id": "o-42", "http.response.status_code": 502})
            logger.info("retrying payment")
        logger.warning("outside any span")
        provider.force_flush()
    finally:
        logger.removeHandler(handler)
        provider.shutdown()

    assert stack.wait_for_rows(f"service = '{unique_service}'", 3) == 3
    with connect(stack.db_url) as conn:
        rows = conn.execute(
            """SELECT message, level, environment, trace_id, span_id, http_status_code, source,
                      metadata->>'order_id', metadata->'resource'->>'host.name'
               FROM logs WHERE service = %s ORDER BY created_at""",
            (unique_service,),
        ).fetchall()
    trace_id, span_id = f"{context.trace_id:032x}", f"{context.span_id:016x}"
    assert rows == [
        ("payment failed", "ERROR", "staging", trace_id, span_id, 502, "otlp", "o-42", "worker-7"),
        ("retrying payment", "INFO", "staging", trace_id, span_id, None, "otlp", None, "worker-7"),
        ("outside any span", "WARN", "staging", None, None, None, "otlp", None, "worker-7"),
    ]
    assert context.span_id != trace.INVALID_SPAN_ID
