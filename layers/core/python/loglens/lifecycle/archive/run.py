"""The archive run: plan the partitions past retention, then export, verify, detach and drop each,
resuming any earlier run.

See loglens.lifecycle.archive for the design (format, checksum, ledger states).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import psycopg
from psycopg import sql

from loglens.db.partitions import list_partitions
from loglens.ingest.objects import ObjectMissing, ObjectStore
from loglens.lifecycle.archive.export import DEFAULT_LIMITS, ExportPaused, NoProgress, PartLimits, Progress, export_day
from loglens.lifecycle.archive.format import (
    Manifest,
    VerificationFailed,
    describe_store,
    manifest_problem,
    read_manifest,
    table_checksum,
    total_of,
)
from loglens.lifecycle.archive.ledger import (
    LEDGER_COLUMNS,
    LedgerEntry,
    State,
    active_holds,
    entry_from_row,
    ledger_entries,
    save_entry,
    unfinished_entries,
)
from loglens.settings import Settings

if TYPE_CHECKING:
    from loglens.lifecycle.archive.lake_step import LakeTier

log = logging.getLogger(__name__)




# Another fixed 64-bit key (partitions and migrations use their own): one archive run per database.
_LOCK_KEY: Final = 0x6C6F676C656E7361
_DETACH_ATTEMPTS: Final = 3
_VERIFY_ATTEMPTS: Final = 3
# A run stops starting partitions when less than this is left of the Lambda's time, and an
# export pauses after its current part when less than _MIN_SECONDS_TO_CONTINUE is left.
_MIN_SECONDS_PER_PARTITION: Final = 120.0
_MIN_SECONDS_TO_CONTINUE: Final = 60.0


@dataclass(frozen=True)
class ArchiveTarget:
    """One partition the run has to finish: past retention, or left unfinished by an earlier run."""

    name: str
    start: datetime
    end: datetime
    table: str | None  # the table holding its rows now: the partition, its detached copy, or none
    rows_estimate: int
    entry: LedgerEntry | None  # its latest ledger entry
    held_until: datetime | None

    def days(self) -> list[date]:
        return days_between(self.start, self.end)

    def next_steps(self) -> list[str]:
        state = None if self.entry is None else self.entry.state
        if state is None or state is State.DROPPED:
            return ["export", "verify", "detach", "drop"] if self.table else []
        return {
            State.EXPORTED: ["verify", "detach", "drop"],
            State.VERIFIED: ["detach", "drop"],
            State.DETACHED: ["re-check", "drop"],
        }[state]


def days_between(start: datetime, end: datetime) -> list[date]:
    """The UTC days in [start, end): one for a daily partition, seven for a weekly one."""
    first = start.astimezone(UTC).date()
    return [first + timedelta(days=n) for n in range((end - start).days)]


def retention_cutoff(now: datetime, retention_days: int) -> datetime:
    """Partitions ending at or before this UTC midnight are past retention."""
    day = now.astimezone(UTC).date() - timedelta(days=retention_days)
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def plan_archive(conn: psycopg.Connection[Any], settings: Settings, now: datetime) -> list[ArchiveTarget]:
    cutoff = retention_cutoff(now, settings.retention_days)
    holds = active_holds(conn, now)
    latest: dict[str, LedgerEntry] = {}
    for entry in conn.execute(f"SELECT {LEDGER_COLUMNS} FROM archive_ledger ORDER BY generation").fetchall():
        parsed = entry_from_row(entry)
        latest[parsed.partition] = parsed
    targets: dict[str, ArchiveTarget] = {}
    for p in list_partitions(conn):
        if p.start is None or p.end is None or p.end > cutoff:
            continue
        targets[p.name] = ArchiveTarget(
            p.name, p.start, p.end, p.name, p.rows_estimate, latest.get(p.name), _held(holds, p.start, p.end)
        )
    for entry in unfinished_entries(conn):
        if entry.partition in targets or latest.get(entry.partition) != entry:
            continue
        table = entry.detached_as if entry.state is State.DETACHED else entry.partition
        exists = table is not None and _table_exists(conn, table)
        targets[entry.partition] = ArchiveTarget(
            entry.partition,
            entry.start,
            entry.end,
            table if exists else None,
            entry.row_count,
            entry,
            None,  # work already under way is finished whatever a later restore asked
        )
    return sorted(targets.values(), key=lambda t: (t.start, t.name))


def _held(holds: dict[date, datetime], start: datetime, end: datetime) -> datetime | None:
    until = [u for day, u in holds.items() if start.date() <= day < end.date()]
    return max(until) if until else None


def _table_exists(conn: psycopg.Connection[Any], table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (sql.Identifier(table).as_string(conn),)).fetchone()
    return bool(row and row[0])


def _is_attached(conn: psycopg.Connection[Any], table: str) -> bool:
    row = conn.execute(
        """SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'logs'::regclass AND c.relname = %s""",
        (table,),
    ).fetchone()
    return bool(row and row[0])


@dataclass
class PartitionOutcome:
    partition: str
    start: datetime
    end: datetime
    actions: list[str] = field(default_factory=list)
    rows: int = 0
    bytes: int = 0
    parts: int = 0
    seconds: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "actions": self.actions,
            "rows": self.rows,
            "bytes": self.bytes,
            "parts": self.parts,
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


@dataclass
class ArchiveResult:
    store: str
    dry_run: bool
    cutoff: datetime
    outcomes: list[PartitionOutcome] = field(default_factory=list)
    skipped: str | None = None  # why the whole run did nothing

    @property
    def failed(self) -> list[PartitionOutcome]:
        return [o for o in self.outcomes if o.error is not None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": "archive",
            "store": self.store,
            "dry_run": self.dry_run,
            "cutoff": self.cutoff.isoformat(),
            "partitions": [o.to_dict() for o in self.outcomes],
            "dropped": sum(1 for o in self.outcomes if "dropped" in o.actions),
            "rows": sum(o.rows for o in self.outcomes),
            "failed": len(self.failed),
            "skipped": self.skipped,
        }


StepHook = Callable[[str, State], None]


class Archiver:
    """One archive run: one autocommit connection acting as loglens_owner, one store."""

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        store: ObjectStore,
        settings: Settings,
        *,
        limits: PartLimits = DEFAULT_LIMITS,
        progress: Progress | None = None,
        after_step: StepHook | None = None,
        time_left: Callable[[], float] | None = None,
        lake: LakeTier | None = None,
    ) -> None:
        if not conn.autocommit:
            raise ValueError("the archive needs an autocommit connection: each step is its own transaction")
        self.conn = conn
        self.store = store
        self.settings = settings
        self.limits = limits
        self.progress: Progress = progress or NoProgress()
        self._after_step = after_step
        self._time_left = time_left
        self.lake = lake  # the lake tier: partitions are verified there instead of exported (lake_step.py)

    def run(self, *, now: datetime | None = None, dry_run: bool = False) -> ArchiveResult:
        now = now or datetime.now(UTC)
        result = ArchiveResult(describe_store(self.store), dry_run, retention_cutoff(now, self.settings.retention_days))
        locked = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_KEY,)).fetchone()
        if not locked or not locked[0]:
            result.skipped = "another archive run is in progress"
            return result
        try:
            for target in plan_archive(self.conn, self.settings, now):
                outcome = PartitionOutcome(target.name, target.start, target.end)
                result.outcomes.append(outcome)
                if dry_run:
                    outcome.actions = self._planned_actions(target)
                elif target.held_until is not None:
                    outcome.actions = [f"held until {target.held_until:%Y-%m-%d %H:%M} (restored)"]
                elif self._out_of_time():
                    outcome.actions = ["deferred to the next run (time limit)"]
                else:
                    self._archive_logged(target, outcome)
        finally:
            self.conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
        return result

    def _planned_actions(self, target: ArchiveTarget) -> list[str]:
        if target.held_until is not None:
            return [f"held until {target.held_until:%Y-%m-%d %H:%M} (restored)"]
        state = "new" if target.entry is None or target.entry.state is State.DROPPED else str(target.entry.state)
        steps = " → ".join(target.next_steps()) or "nothing"
        if self.lake is not None:
            steps = steps.replace("export → verify", "verify in the lake")
        return [f"would {steps} (ledger: {state}; ~{target.rows_estimate} rows)"]

    def _out_of_time(self) -> bool:
        return self._time_left is not None and self._time_left() < _MIN_SECONDS_PER_PARTITION

    def _must_pause(self) -> bool:
        return self._time_left is not None and self._time_left() < _MIN_SECONDS_TO_CONTINUE

    def _archive_logged(self, target: ArchiveTarget, outcome: PartitionOutcome) -> None:
        started = time.perf_counter()
        try:
            self.archive(target, outcome)
        except ExportPaused as paused:
            outcome.actions.append(f"paused for the time limit; the next run resumes ({paused})")
        except Exception as exc:  # one partition's failure must not stop the others; the ledger resumes it
            log.exception("archiving %s failed", target.name)
            outcome.error = f"{type(exc).__name__}: {exc}"
        finally:
            outcome.seconds = time.perf_counter() - started

    def archive(self, target: ArchiveTarget, outcome: PartitionOutcome) -> None:
        """Take one partition from wherever its ledger entry stands to dropped."""
        entry = target.entry
        if entry is None or entry.state is State.DROPPED:
            if target.table is None:
                return
            entry = self._lake_generation(target, outcome) if self.lake else self._export_generation(target, outcome)
        if entry.state is State.EXPORTED:
            entry = self._verify(target, entry, outcome)
        if entry.state is State.VERIFIED:
            entry = self._detach(entry, outcome)
        if entry.state is State.DETACHED:
            self._drop(entry, outcome)

    def _step_done(self, entry: LedgerEntry, outcome: PartitionOutcome) -> None:
        outcome.actions.append(str(entry.state))
        outcome.rows, outcome.bytes = entry.row_count, entry.bytes
        if self._after_step is not None:
            self._after_step(entry.partition, entry.state)

    def _export_generation(self, target: ArchiveTarget, outcome: PartitionOutcome) -> LedgerEntry:
        assert target.table is not None
        earlier = ledger_entries(self.conn, target.start, target.end)
        generation = max((e.generation for e in earlier), default=-1) + 1
        archived = self._archived_manifests(target, earlier)
        current = table_checksum(self.conn, target.table, target.start, target.end)
        if archived and total_of(m.total for m in archived) == current:
            # A restored day whose hold ended: the archive already holds exactly these rows.
            manifests = archived
            outcome.actions.append("already archived")
        else:
            # No ledger entry yet: an earlier run may have died mid-export; keep its complete parts.
            manifests = self._export(
                target.table, target.name, target.days(), generation, target.rows_estimate, resume=True
            )
            outcome.parts = sum(len(m.parts) for m in manifests)
        entry = self._entry_for(target.name, generation, target.start, target.end, State.EXPORTED, manifests, None)
        save_entry(self.conn, entry)
        self._step_done(entry, outcome)
        return entry

    def _lake_generation(self, target: ArchiveTarget, outcome: PartitionOutcome) -> LedgerEntry:
        """With the lake on: the partition's days verified in the lake stand for the export (lake_step.py)."""
        assert self.lake is not None and target.table is not None
        earlier = ledger_entries(self.conn, target.start, target.end)
        archived = self._archived_manifests(target, earlier)
        if archived and total_of(m.total for m in archived) == table_checksum(
            self.conn, target.table, target.start, target.end
        ):
            return self._export_generation(target, outcome)  # restored from the gzip archive, which holds it
        total = self.lake.verify(self.conn, target.table, target.days())
        generation = max((e.generation for e in earlier), default=-1) + 1
        entry = LedgerEntry(
            target.name, generation, target.start, target.end, State.VERIFIED, (), total.rows, total.value, 0, None
        )
        save_entry(self.conn, entry)
        self._step_done(entry, outcome)
        outcome.actions[-1] = "verified in the lake"
        return entry

    def _archived_manifests(self, target: ArchiveTarget, earlier: list[LedgerEntry]) -> list[Manifest]:
        """Manifests of earlier, finished generations for this partition's days."""
        days = set(target.days())
        # A set: a generation that found its rows already archived points at an earlier one's manifests.
        keys = sorted({key for e in earlier if e.state is State.DROPPED for key in e.manifest_keys})
        out: list[Manifest] = []
        for key in keys:
            try:
                manifest = read_manifest(self.store, key)
            except ObjectMissing:
                return []  # the old copy is gone: archive these rows afresh
            if manifest.day in days:
                out.append(manifest)
        return out

    def _export(
        self, table: str, partition: str, days: list[date], generation: int, rows_estimate: int, *, resume: bool = False
    ) -> list[Manifest]:
        self.progress.begin(f"{partition} export", rows_estimate or None)
        try:
            return [
                export_day(
                    self.conn,
                    self.store,
                    table=table,
                    partition=partition,
                    day=day,
                    generation=generation,
                    limits=self.limits,
                    progress=self.progress,
                    resume=resume,
                    should_pause=self._must_pause,
                )
                for day in days
            ]
        finally:
            self.progress.end()

    @staticmethod
    def _entry_for(
        partition: str,
        generation: int,
        start: datetime,
        end: datetime,
        state: State,
        manifests: Sequence[Manifest],
        detached_as: str | None,
    ) -> LedgerEntry:
        total = total_of(m.total for m in manifests)
        keys = tuple(m.key for m in manifests)
        size = sum(m.size for m in manifests)
        return LedgerEntry(partition, generation, start, end, state, keys, total.rows, total.value, size, detached_as)

    def _verify(self, target: ArchiveTarget, entry: LedgerEntry, outcome: PartitionOutcome) -> LedgerEntry:
        table = target.table or entry.partition
        problem: str | None = None
        for _ in range(_VERIFY_ATTEMPTS):
            problem = self._verification_problem(table, entry)
            if problem is None:
                entry = replace(entry, state=State.VERIFIED)
                save_entry(self.conn, entry)
                self._step_done(entry, outcome)
                return entry
            log.warning("archive of %s does not verify (%s); exporting it again", entry.partition, problem)
            outcome.actions.append(f"re-exported ({problem})")
            entry = self._reexport(table, entry, target.rows_estimate, outcome)
        raise VerificationFailed(f"{entry.partition}: {problem}")

    def _verification_problem(self, table: str, entry: LedgerEntry) -> str | None:
        self.progress.begin(f"{entry.partition} verify", len(entry.manifest_keys))
        try:
            manifests: list[Manifest] = []
            for key in entry.manifest_keys:
                try:
                    manifest = read_manifest(self.store, key)
                except ObjectMissing:
                    return f"{key} is missing"
                problem = manifest_problem(self.store, manifest)
                if problem is not None:
                    return problem
                manifests.append(manifest)
                self.progress.advance(1)
        finally:
            self.progress.end()
        archived = total_of(m.total for m in manifests)
        if archived != entry.total:
            return f"the manifests hold {archived.rows} rows, the ledger expected {entry.row_count}"
        stored = table_checksum(self.conn, table, entry.start, entry.end)
        if stored != archived:
            return f"{table} holds {stored.rows} rows (checksum {stored.value}), the archive {archived.rows}"
        return None

    def _reexport(self, table: str, entry: LedgerEntry, rows_estimate: int, outcome: PartitionOutcome) -> LedgerEntry:
        days = days_between(entry.start, entry.end)
        manifests = self._export(table, entry.partition, days, entry.generation, rows_estimate)
        outcome.parts = sum(len(m.parts) for m in manifests)
        fresh = self._entry_for(
            entry.partition, entry.generation, entry.start, entry.end, entry.state, manifests, entry.detached_as
        )
        save_entry(self.conn, fresh)
        return fresh

    def _detach(self, entry: LedgerEntry, outcome: PartitionOutcome) -> LedgerEntry:
        name = entry.partition
        detached_as = f"{name}_detached"  # frees the name: maintain may need it again for late rows
        if _is_attached(self.conn, name) and not self._detach_concurrently(name):
            return self._detach_briefly_locking(entry, detached_as, outcome)
        with self.conn.transaction():
            self.conn.execute(
                sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(name), sql.Identifier(detached_as))
            )
            entry = replace(entry, state=State.DETACHED, detached_as=detached_as)
            save_entry(self.conn, entry)
        self._step_done(entry, outcome)
        return entry

    def _detach_concurrently(self, name: str) -> bool:
        """DETACH ... CONCURRENTLY (no lock that blocks queries on logs); False when the server
        refuses it, as PostgreSQL does whenever the table has a DEFAULT partition, like ours."""
        pending = self.conn.execute(
            """SELECT i.inhdetachpending FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = 'logs'::regclass AND c.relname = %s""",
            (name,),
        ).fetchone()
        try:
            if pending and pending[0]:  # an earlier concurrent detach was interrupted half-way
                self.conn.execute(sql.SQL("ALTER TABLE logs DETACH PARTITION {} FINALIZE").format(sql.Identifier(name)))
            else:
                self.conn.execute(
                    sql.SQL("ALTER TABLE logs DETACH PARTITION {} CONCURRENTLY").format(sql.Identifier(name))
                )
        except psycopg.Error as exc:
            log.info("DETACH CONCURRENTLY of %s refused (%s); detaching with a short lock", name, exc)
            return False
        return True

    def _detach_briefly_locking(self, entry: LedgerEntry, detached_as: str, outcome: PartitionOutcome) -> LedgerEntry:
        """Plain DETACH takes an ACCESS EXCLUSIVE lock on logs for an instant (no rows are moved
        or scanned); lock_timeout keeps it from queueing queries behind a long one, retried a few
        times, then left to the next run."""
        name = sql.Identifier(entry.partition)
        for attempt in range(1, _DETACH_ATTEMPTS + 1):
            try:
                with self.conn.transaction():
                    self.conn.execute("SET LOCAL lock_timeout = '5s'")
                    self.conn.execute(sql.SQL("ALTER TABLE logs DETACH PARTITION {}").format(name))
                    self.conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(name, sql.Identifier(detached_as)))
                    entry = replace(entry, state=State.DETACHED, detached_as=detached_as)
                    save_entry(self.conn, entry)
                break
            except psycopg.errors.LockNotAvailable:
                if attempt == _DETACH_ATTEMPTS:
                    raise
                time.sleep(attempt)
        self._step_done(entry, outcome)
        return entry

    def _drop(self, entry: LedgerEntry, outcome: PartitionOutcome) -> None:
        table = entry.detached_as or entry.partition
        if _table_exists(self.conn, table):
            entry = self._recheck_detached(table, entry, outcome)
            with self.conn.transaction():
                self.conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)))
                entry = replace(entry, state=State.DROPPED)
                save_entry(self.conn, entry)
        else:  # dropped by hand: the archive is all that is left
            entry = replace(entry, state=State.DROPPED)
            save_entry(self.conn, entry)
        self._step_done(entry, outcome)

    def _recheck_detached(self, table: str, entry: LedgerEntry, outcome: PartitionOutcome) -> LedgerEntry:
        """Nothing can write to the detached table, so this check is final: rows that reached the
        partition after it was verified are archived now, before the table goes."""
        if table_checksum(self.conn, table, entry.start, entry.end) == entry.total:
            return entry
        if self.lake is not None and not entry.manifest_keys:  # its copy is the lake: check the lake again
            total = self.lake.verify(self.conn, table, days_between(entry.start, entry.end))
            entry = replace(entry, row_count=total.rows, checksum=total.value)
            save_entry(self.conn, entry)
            outcome.actions.append("verified in the lake again (rows arrived after verification)")
            return entry
        outcome.actions.append("re-exported (rows arrived after verification)")
        entry = self._reexport(table, entry, entry.row_count, outcome)
        problem = self._verification_problem(table, entry)
        if problem is not None:
            raise VerificationFailed(f"{entry.partition}: {problem}")
        return entry


def archive_expired(
    conn: psycopg.Connection[Any],
    store: ObjectStore,
    settings: Settings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    limits: PartLimits = DEFAULT_LIMITS,
    progress: Progress | None = None,
    after_step: StepHook | None = None,
    time_left: Callable[[], float] | None = None,
    lake: LakeTier | None = None,
) -> ArchiveResult:
    """Archive every partition past settings.retention_days, and finish any earlier run's work.

    `conn` is an autocommit connection acting as loglens_owner (see maintenance.owner_connection).
    """
    archiver = Archiver(
        conn,
        store,
        settings,
        limits=limits,
        progress=progress,
        after_step=after_step,
        time_left=time_left,
        lake=lake,
    )
    return archiver.run(now=now, dry_run=dry_run)
