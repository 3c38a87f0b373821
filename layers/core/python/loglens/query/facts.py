"""What the filters can choose from: services, environments and levels recently seen, and the data's time range.

`GET /api/v1/facts` feeds the console's filter suggestions and `loglens search --help`-style hints. The values
come from the hourly rollup over the last week (cheap at any volume: one row per hour and combination) plus a
bounded sample of the last minutes of `logs`, so a service that started sending after the rollup's last refresh
is offered too. The counts are approximate (the two sources overlap by up to an hour); they only order the
suggestions. The statements are fixed text run on the analyst role's read-only transaction, never request text.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Final

from pydantic import BaseModel, Field

from loglens.query.runner import QueryRunner
from loglens.ttl import TtlValue

MAX_VALUES: Final = 200
WINDOW: Final = "7 days"
RECENT: Final = "15 minutes"
RECENT_SAMPLE: Final = 50_000  # rows of the last minutes read at most, whatever the volume

_VALUES_SQL: Final = f"""
SELECT service, environment, level, sum(n)::bigint FROM (
    SELECT service, environment, level::text AS level, log_count AS n
    FROM hourly_log_rollup WHERE hour >= now() - interval '{WINDOW}'
    UNION ALL
    SELECT service, environment, level, 1 FROM (
        SELECT service, environment, level::text AS level FROM logs
        WHERE created_at >= now() - interval '{RECENT}' AND created_at <= now() + interval '1 hour'
        LIMIT {RECENT_SAMPLE}
    ) recent
) v
GROUP BY GROUPING SETS ((service), (environment), (level))
"""
# min and max of the partition key are index probes per partition, not scans.
_RANGE_SQL: Final = "SELECT min(created_at), max(created_at) FROM logs"


class ValueCount(BaseModel):
    value: str
    records: int = Field(description="Records seen in the last 7 days (approximate; orders the suggestions).")


class Facts(BaseModel):
    """`GET /api/v1/facts`: what the search filters can choose from."""

    services: list[ValueCount] = Field(description=f"Most frequent first, at most {MAX_VALUES}.")
    environments: list[ValueCount]
    levels: list[ValueCount]
    earliest: datetime | None = Field(description="The oldest record stored (null when there are none).")
    latest: datetime | None = Field(description="The newest record stored.")
    hot_window_days: int = Field(description="How far back a search may reach (the retention).")


def read_facts(runner: QueryRunner) -> Facts:
    with runner.transaction() as conn:
        rows = conn.execute(_VALUES_SQL).fetchall()
        earliest, latest = conn.execute(_RANGE_SQL).fetchone() or (None, None)
    found: dict[str, dict[str, int]] = {"service": {}, "environment": {}, "level": {}}
    for service, environment, level, count in rows:
        for column, value in (("service", service), ("environment", environment), ("level", level)):
            if value is not None:
                found[column][str(value)] = found[column].get(str(value), 0) + int(count)

    def ranked(column: str) -> list[ValueCount]:
        items = sorted(found[column].items(), key=lambda item: (-item[1], item[0]))[:MAX_VALUES]
        return [ValueCount(value=value, records=count) for value, count in items]

    return Facts(
        services=ranked("service"),
        environments=ranked("environment"),
        levels=ranked("level"),
        earliest=earliest,
        latest=latest,
        hot_window_days=runner.limits.hot_window.days,
    )


class FactsCache(TtlValue[Facts]):
    """The facts, read at most once per `ttl` seconds: the console asks for them on every search page."""

    def __init__(self, read: Callable[[], Facts], ttl: float = 60.0, clock: Callable[[], float] = time.monotonic):
        super().__init__(read, ttl, clock)
