"""loglens Python client: `LogCollector` ships application logs to the loglens ingest API.

    from log_collector import LogCollector

    logger = LogCollector(log_server_url="http://localhost:8000", service="payment-api")
    await logger.log("INFO", "Payment processed", user_id="u1", duration_ms=12.5)
    logger.info("also from synchronous code")
    logging.getLogger().addHandler(logger.handler())
"""

from .collector import Completion, LogCollector
from .handler import LogCollectorHandler
from .records import LEVELS
from .version import __version__

__all__ = ["LEVELS", "Completion", "LogCollector", "LogCollectorHandler", "__version__"]
