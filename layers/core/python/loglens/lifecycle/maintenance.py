"""Scheduled upkeep of `logs`: partitions ahead, rows waiting in DEFAULT, summary views, statistics.

Two tasks, each on its own schedule (EventBridge in AWS, MaintenanceTimers under `loglens dev`,
`loglens maintain` by hand):

- partitions (daily): the partitions for today and the next `partition_days_ahead` days, whatever
  is missing, so a job that has not run for weeks catches up in one run. Rows that landed in
  DEFAULT because their day had no partition (such as the days the job was not running) get their
  day's partition too; partitions.ensure_partitions moves them in without losing or duplicating a
  row and without a long lock. New partitions are ANALYZEd so the planner does not guess.
- views (hourly): every materialized view in the schema (the summary views daily_log_summary,
  error_patterns, performance_metrics and the hourly rollups; a view added by a later migration
  is included without a code change), refreshed CONCURRENTLY so analysts keep reading them
  meanwhile. A view that was never populated (created WITH NO DATA, or emptied) cannot be
  refreshed concurrently, so it gets one plain REFRESH first.

The partitions task also deletes expired Slack request claims (loglens.agent.replays) and shared answers
older than LOGLENS_SHARED_ANSWER_DAYS (their links then answer 404; saved entries are kept until deleted).
Everything runs as loglens_owner, which owns the table and the views (REFRESH needs ownership).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Final

import psycopg
from psycopg import sql

from loglens.db.connect import connect
from loglens.db.partitions import DEFAULT_PARTITION, ensure_partitions, ensure_window
from loglens.settings import Settings

log = logging.getLogger(__name__)

SUMMARY_VIEWS: Final = ("daily_log_summary", "error_patterns", "performance_metrics")  # the origin document's three


class Task(StrEnum):
    PARTITIONS = "partitions"
    VIEWS = "views"
    ALL = "all"


def task_from_event(event: Mapping[str, Any]) -> Task:
    """The task of a scheduled event ({"task": "partitions"} or {"task": "views"})."""
    value = event.get("task")
    try:
        return Task(str(value))
    except ValueError:
        expected = ", ".join(repr(str(t)) for t in Task)
        raise ValueError(f"unknown maintenance task {value!r}; expected one of {expected}") from None


def owner_connection(url: str, *, application: str = "loglens-maintain") -> psycopg.Connection[Any]:
    """An autocommit connection acting as loglens_owner (the migrator and the owner itself may)."""
    conn = connect(url, autocommit=True, application=application)
    try:
        conn.execute("SET ROLE loglens_owner")
    except BaseException:
        conn.close()
        raise
    return conn


@dataclass(frozen=True)
class PartitionsReport:
    created: list[str]
    moved_rows: dict[str, int]
    from_default: list[str]  # created for days whose rows were waiting in DEFAULT
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "moved_rows": self.moved_rows,
            "from_default": self.from_default,
            "analyzed": self.created,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class ViewRefresh:
    view: str
    concurrently: bool
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"view": self.view, "concurrently": self.concurrently, "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class MaintainReport:
    task: Task
    partitions: PartitionsReport | None = None
    views: list[ViewRefresh] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"task": str(self.task)}
        if self.partitions is not None:
            out["partitions"] = self.partitions.to_dict()
        if self.task in (Task.VIEWS, Task.ALL):
            out["views"] = [v.to_dict() for v in self.views]
        return out


def days_waiting_in_default(conn: psycopg.Connection[Any]) -> list[date]:
    """UTC days that have rows in DEFAULT. It is normally empty, so the scan is cheap."""
    rows = conn.execute(
        sql.SQL("SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date FROM {} ORDER BY 1").format(
            sql.Identifier(DEFAULT_PARTITION)
        )
    ).fetchall()
    return [row[0] for row in rows]


def maintain_partitions(
    conn: psycopg.Connection[Any], settings: Settings, *, today: date | None = None
) -> PartitionsReport:
    """Partitions for today..today+N, and for every day with rows in DEFAULT. `conn`: autocommit owner."""
    started = time.perf_counter()
    today = today or datetime.now(UTC).date()
    granularity = settings.partition_granularity
    ahead = ensure_window(conn, today, settings.partition_days_ahead, granularity)
    created = list(ahead.created)
    moved = dict(ahead.moved_rows)
    from_default: list[str] = []
    # One day at a time: a stray row dated years away gets its own partition, not every day between.
    for day in days_waiting_in_default(conn):
        result = ensure_partitions(conn, day, day, granularity)
        from_default += result.created
        created += result.created
        moved.update(result.moved_rows)
    for name in created:
        if name not in moved:  # ensure_partitions has already analyzed the ones it moved rows into
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(name)))
    return PartitionsReport(created, moved, from_default, time.perf_counter() - started)


def materialized_views(conn: psycopg.Connection[Any]) -> list[str]:
    rows = conn.execute(
        "SELECT matviewname FROM pg_matviews WHERE schemaname = current_schema() ORDER BY matviewname"
    ).fetchall()
    return [row[0] for row in rows]


def refresh_views(conn: psycopg.Connection[Any], views: Sequence[str] | None = None) -> list[ViewRefresh]:
    """Refresh `views` (default: every materialized view in the schema), concurrently when possible."""
    out: list[ViewRefresh] = []
    for view in materialized_views(conn) if views is None else views:
        row = conn.execute(
            "SELECT ispopulated FROM pg_matviews WHERE schemaname = current_schema() AND matviewname = %s", (view,)
        ).fetchone()
        if row is None:
            raise LookupError(f"materialized view {view} does not exist; run `loglens db migrate`")
        concurrently = bool(row[0])
        statement = "REFRESH MATERIALIZED VIEW CONCURRENTLY {}" if concurrently else "REFRESH MATERIALIZED VIEW {}"
        started = time.perf_counter()
        conn.execute(sql.SQL(statement).format(sql.Identifier(view)))
        out.append(ViewRefresh(view, concurrently, time.perf_counter() - started))
    return out


def maintain(
    conn: psycopg.Connection[Any], settings: Settings, task: Task = Task.ALL, *, today: date | None = None
) -> MaintainReport:
    """Run one scheduled task (or both). `conn`: autocommit, acting as loglens_owner."""
    if not conn.autocommit:
        raise ValueError("maintain() needs an autocommit connection")
    partitions = maintain_partitions(conn, settings, today=today) if task in (Task.PARTITIONS, Task.ALL) else None
    if partitions is not None:
        prune_slack_claims(conn)
        pruned = prune_shared_answers(conn, settings.shared_answer_days)
        if pruned:
            log.info("deleted %d shared answers older than %d days", pruned, settings.shared_answer_days)
    views = refresh_views(conn) if task in (Task.VIEWS, Task.ALL) else []
    return MaintainReport(task, partitions, views)


def prune_slack_claims(conn: psycopg.Connection[Any]) -> int:
    """Delete Slack request claims whose window is over; returns how many."""
    return max(conn.execute("DELETE FROM slack_requests_seen WHERE expires_at < now()").rowcount, 0)


def prune_shared_answers(conn: psycopg.Connection[Any], older_than_days: int) -> int:
    """Delete answers shared more than `older_than_days` ago (the console's /#/answers/<id> links); how many."""
    deleted = conn.execute(
        "DELETE FROM shared_answers WHERE created_at < now() - make_interval(days => %s)", (older_than_days,)
    )
    return max(deleted.rowcount, 0)


def run_maintenance(url: str, settings: Settings, task: Task = Task.ALL) -> MaintainReport:
    with owner_connection(url) as conn:
        return maintain(conn, settings, task)
