"""Archiving with several workers at once, and continuing until the backlog is gone.

A worker is one Archiver run on its own connection (run.py): it takes partitions oldest first, each
under that partition's advisory lock, and stops starting new ones when its time is nearly up. Locally
(`loglens archive --workers N`, the bench) workers are threads; in AWS each is an invocation of the
archive Lambda, and the chain is driven by the function itself:

- the schedule's invocation starts `workers - 1` siblings when that many partitions are waiting
  (siblings_to_start), then works like them;
- a worker whose time ran out with partitions left invokes itself once more (continuation), round by
  round, until nothing is left or MAX_ROUNDS is reached (then the backlog alarm speaks).

Why self-invocation rather than a Step Functions Map state: the ledger already is the source of truth
for every partition (each step commits with its database change, any run resumes any other's work), so
a state machine would only duplicate it; two workers racing is already safe through the partition
locks; and a missed or failed continuation costs nothing but time, because the next scheduled run picks
up the same work from the ledger. A Map state would add a second place where progress is recorded, its
own retries to reason about, a role, logging and cdk-nag acknowledgments, for no stronger guarantee.
The bounds that keep the chain from running away: a continuation only follows a run that stopped for
time (never an error), carries its round number, and the function's reserved concurrency caps how many
workers exist at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import psycopg

from loglens.ingest.objects import ObjectStore
from loglens.lifecycle.archive.export import DEFAULT_LIMITS, PartLimits
from loglens.lifecycle.archive.run import Archiver, ArchiveResult, plan_archive
from loglens.settings import Settings

if TYPE_CHECKING:
    from loglens.lifecycle.archive.lake_step import LakeTier

# 15-minute invocations: a day of continuations for one worker. A backlog still there after that needs a
# person (the alarm on ArchiveBacklogSeconds says so), not more invocations.
MAX_ROUNDS: Final = 96
TASK: Final = "archive"


@dataclass(frozen=True)
class WorkerEvent:
    """What an archive invocation was asked: the schedule's {"task": "archive"} starts round 0 and may
    start siblings; a continuation or a sibling carries its round and never starts others."""

    round: int = 0
    sibling: bool = False

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> WorkerEvent:
        task = event.get("task", TASK)
        if task != TASK:
            raise ValueError(f"unknown archive task {task!r}; expected 'archive'")
        round_number = event.get("round", 0)
        if not isinstance(round_number, int) or isinstance(round_number, bool) or not 0 <= round_number <= MAX_ROUNDS:
            raise ValueError(f"archive round must be an integer from 0 to {MAX_ROUNDS}, not {round_number!r}")
        sibling = event.get("sibling", False)
        if not isinstance(sibling, bool):
            raise ValueError(f"archive sibling must be true or false, not {sibling!r}")
        return cls(round_number, sibling)

    @property
    def starts_siblings(self) -> bool:
        return self.round == 0 and not self.sibling

    def payload(self) -> dict[str, Any]:
        return {"task": TASK, "round": self.round, "sibling": self.sibling}


def partitions_waiting(conn: psycopg.Connection[Any], settings: Settings, now: datetime) -> int:
    """Partitions past retention (or left unfinished) that a worker could take now."""
    return sum(1 for t in plan_archive(conn, settings, now) if t.held_until is None and (t.table or t.next_steps()))


def siblings_to_start(conn: psycopg.Connection[Any], settings: Settings, workers: int, now: datetime) -> int:
    """How many more workers the scheduled run should start: one per waiting partition, up to `workers`."""
    return max(0, min(workers, partitions_waiting(conn, settings, now)) - 1)


def sibling_events(count: int) -> list[dict[str, Any]]:
    return [WorkerEvent(0, sibling=True).payload() for _ in range(count)]


def continuation(event: WorkerEvent, result: ArchiveResult) -> dict[str, Any] | None:
    """The event for this worker's next invocation: only when it stopped for time, within MAX_ROUNDS."""
    if result.dry_run or not result.more_to_do or event.round >= MAX_ROUNDS:
        return None
    return WorkerEvent(event.round + 1, sibling=True).payload()


def backlog_hours(conn: psycopg.Connection[Any], settings: Settings, now: datetime | None = None) -> float:
    """How far past retention the oldest partition still waiting is, in hours (0 when none waits).

    A partition of day D is due at D+1+retention; the scheduled run archives it within the hour, so this
    stays near 0 while the archive keeps up. The archive Lambda publishes it (ArchiveBacklogSeconds) and
    an alarm fires past a day.
    """
    now = now or datetime.now(UTC)
    retention = timedelta(days=settings.retention_days)
    due = [t.end + retention for t in plan_archive(conn, settings, now) if t.held_until is None and t.table]
    if not due:
        return 0.0
    return max(0.0, (now - min(due)).total_seconds() / 3600)


def archive_in_parallel(
    connect: Callable[[], psycopg.Connection[Any]],
    store: ObjectStore,
    settings: Settings,
    *,
    workers: int,
    now: datetime | None = None,
    limits: PartLimits = DEFAULT_LIMITS,
    time_left: Callable[[], float] | None = None,
    lake: LakeTier | None = None,
) -> ArchiveResult:
    """`workers` Archiver runs at once, each in a thread on its own connection (autocommit, as the owner)."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    now = now or datetime.now(UTC)
    results: list[ArchiveResult] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            with connect() as conn:
                result = Archiver(conn, store, settings, limits=limits, time_left=time_left, lake=lake).run(now=now)
            with lock:
                results.append(result)
        except BaseException as exc:  # raised in the caller's thread below
            with lock:
                failures.append(exc)

    threads = [threading.Thread(target=work, name=f"archive-worker-{n}") for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    merged = results[0]
    for other in results[1:]:
        merged = merged.merge(other)
    return merged
