"""The EventBridge schedules, locally: `loglens dev` runs the maintenance jobs on timers in one thread."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from loglens.lifecycle.maintenance import Task, owner_connection, run_maintenance
from loglens.settings import Settings

if TYPE_CHECKING:
    from loglens.lifecycle.archive import LakeTier

log = logging.getLogger(__name__)


@dataclass
class TimedJob:
    name: str
    every: timedelta
    run: Callable[[], object]
    first_after: timedelta = timedelta(0)


class MaintenanceTimers:
    """Runs jobs at fixed intervals in one background thread until stop().

    A failing job is logged and tried again at its next time; it never stops the others.
    """

    def __init__(self, jobs: Sequence[TimedJob], *, clock: Callable[[], float] = time.monotonic) -> None:
        self.jobs = list(jobs)
        self.runs: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self._clock = clock
        now = clock()
        self._due = {job.name: now + job.first_after.total_seconds() for job in self.jobs}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> MaintenanceTimers:
        self._thread = threading.Thread(target=self._loop, name="loglens-maintenance", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop; a job already running finishes first (up to `timeout`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_pending(self) -> list[str]:
        """Run every job that is due now; return their names."""
        ran: list[str] = []
        for job in self.jobs:
            if self._stop.is_set() or self._clock() < self._due[job.name]:
                continue
            try:
                job.run()
            except Exception:  # the next interval retries; dev keeps running
                self.failures[job.name] += 1
                log.exception("maintenance job %s failed", job.name)
            self.runs[job.name] += 1
            self._due[job.name] = self._clock() + job.every.total_seconds()
            ran.append(job.name)
        return ran

    def seconds_until_next(self) -> float:
        return max(0.0, min(self._due.values(), default=60.0) - self._clock())

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_pending()
            self._stop.wait(min(self.seconds_until_next(), 60.0))


def start_timers(
    settings: Settings,
    url: str,
    *,
    archive_bucket: str | None = None,
    archive_first_after: timedelta = timedelta(minutes=10),
    lake: LakeTier | None = None,
) -> MaintenanceTimers:
    """The cloud schedules, locally: partitions at start and daily, views hourly, archive daily, alerts every 5 min.

    `url` is the admin (migrator) URL; the jobs act as loglens_owner. The archive goes to
    LOGLENS_HOME/archive unless `archive_bucket` names an S3 bucket. Its first run waits a
    little, so starting `loglens dev` never begins with a long export. With `lake`, partitions are verified
    in the lake instead of exported (retention by tier).
    """

    def partitions() -> object:
        return run_maintenance(url, settings, Task.PARTITIONS)

    def views() -> object:
        return run_maintenance(url, settings, Task.VIEWS)

    def alerts() -> object:
        from loglens.devtools.local.alerts import run_and_print

        return run_and_print(url, settings)

    def archive() -> object:
        from loglens.lifecycle.archive import archive_expired, open_archive_store

        store = open_archive_store(settings.home, archive_bucket)
        with owner_connection(url, application="loglens-archive") as conn:
            result = archive_expired(conn, store, settings, lake=lake)
        for failed in result.failed:
            log.error("archiving %s failed: %s", failed.partition, failed.error)
        return result

    day, hour = timedelta(days=1), timedelta(hours=1)
    return MaintenanceTimers(
        [
            TimedJob("partitions", day, partitions),
            TimedJob("views", hour, views, first_after=timedelta(minutes=1)),
            TimedJob("archive", day, archive, first_after=archive_first_after),
            # The alerts Lambda's 5-minute schedule: prints what it finds (and sends it when Slack/SNS is set).
            TimedJob("alerts", timedelta(minutes=5), alerts, first_after=timedelta(minutes=2)),
        ]
    ).start()
