"""loglens Python client: `LogCollector` ships application logs to the loglens ingest API.

    from log_collector import LogCollector

    logger = LogCollector(log_server_url="http://localhost:8000", service="payment-api")
    await logger.log("INFO", "Payment processed", user_id="u1", duration_ms=12.5)
    logger.info("also from synchronous code")
    logging.getLogger().addHandler(logger.handler())
    loguru.logger.add(loglens_sink(logger))                       # loguru
    structlog.configure(processors=[..., LoglensProcessor(logger), renderer])  # structlog
"""

from .collector import Completion, LogCollector
from .handler import LogCollectorHandler
from .loguru_sink import loglens_sink
from .records import LEVELS
from .structlog_processor import LoglensProcessor
from .version import __version__

__all__ = [
    "LEVELS",
    "Completion",
    "LogCollector",
    "LogCollectorHandler",
    "LoglensProcessor",
    "__version__",
    "loglens_sink",
]
