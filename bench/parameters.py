"""PostgreSQL parameters for ingest, measured: WAL and checkpoints, and autovacuum on append-only partitions.

One embedded PostgreSQL with default durability (fsync and full-page writes on, as on RDS). Each setting
below gets a fresh, migrated database, a CHECKPOINT, then the same generated rows by binary COPY in
object-sized transactions, as bench/ingest.py writes them; the server's own counters say what it cost:

- rows/s of the COPY;
- WAL bytes per row and the share of them that were full-page images (pg_stat_wal), which every
  checkpoint multiplies: the first change to a page after a checkpoint logs the whole 8 kB page;
- checkpoints the run forced (pg_stat_checkpointer: requested ones come from max_wal_size filling up);
- for the autovacuum settings, how many times autovacuum visited the day's partition during the load and
  how many heap fetches an index-only scan over the last hour's rows still needed at the end (rows on
  pages the visibility map does not yet call all-visible): insert-only tables are vacuumed only by the
  insert thresholds, and until then the newest rows, the ones looked at during an incident, are the
  ones without visibility-map bits.

The settings compared, in the same run: PostgreSQL's defaults; a larger max_wal_size with a longer
checkpoint_timeout (fewer checkpoints, so fewer full-page images); that plus wal_compression; then, with
autovacuum on (naptime 15 s as on RDS), the default insert thresholds against a fixed row threshold, with
the rows paced at PACED_ROWS_PER_SECOND (a large preset's peak) so that several naptimes pass during the load.

    python bench/parameters.py [--rows N] [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg import sql
from rich.console import Console
from rich.table import Table

from loglens.db.connect import connect, with_database
from loglens.db.partitions import ensure_partitions
from loglens.db.prepare import prepare
from loglens.devtools.demo import DemoPlan, generate_rows
from loglens.devtools.embedded import EmbeddedPostgres
from loglens.ingest.write import COPY_TYPES
from loglens.record import LOG_COLUMNS
from loglens.settings import Settings

console = Console(width=170)
OBJECT_ROWS = 16_000  # rows per transaction: a few MiB of NDJSON, an object as Firehose writes them
PACED_ROWS_PER_SECOND = 5_000


@dataclass(frozen=True)
class Setting:
    name: str
    parameters: dict[str, str]
    # Autovacuum settings write the day's last sixth onto a partition already holding the rest (vacuumed, as
    # the earlier hours of a day would be): that is where the insert thresholds differ.
    autovacuum: bool = False


DEFAULTS = {
    "max_wal_size": "1GB",
    "checkpoint_timeout": "5min",
    "wal_compression": "off",
    "autovacuum": "off",
    "autovacuum_naptime": "15s",
    "autovacuum_vacuum_insert_threshold": "1000",
    "autovacuum_vacuum_insert_scale_factor": "0.2",
}


def settings_compared(new_rows: int) -> list[Setting]:
    wal = {"max_wal_size": "8GB", "checkpoint_timeout": "15min"}
    # The fixed threshold scaled to the bench: a vacuum per eighth of the load (in AWS: per preset, see cdk.json).
    threshold = str(max(new_rows // 8, 1_000))
    return [
        Setting("PostgreSQL defaults (max_wal_size 1GB, checkpoint_timeout 5min)", {}),
        Setting("max_wal_size 8GB, checkpoint_timeout 15min", wal),
        # pglz: this build of PostgreSQL has no lz4 or zstd (RDS has both; lz4 costs less CPU than pglz).
        Setting("… and wal_compression pglz", {**wal, "wal_compression": "pglz"}),
        Setting(
            "… autovacuum on, default insert thresholds (1000 rows + 20% of the table); the day's last sixth",
            {**wal, "autovacuum": "on"},
            autovacuum=True,
        ),
        Setting(
            f"… autovacuum on, insert threshold {int(threshold):,} rows, scale factor 0; the day's last sixth",
            {
                **wal,
                "autovacuum": "on",
                "autovacuum_vacuum_insert_threshold": threshold,
                "autovacuum_vacuum_insert_scale_factor": "0",
            },
            autovacuum=True,
        ),
    ]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def chunks(rows: Sequence[tuple[Any, ...]], size: int) -> Iterator[Sequence[tuple[Any, ...]]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def configure(admin: str, parameters: dict[str, str]) -> None:
    with connect(admin, autocommit=True) as conn:
        for name, value in {**DEFAULTS, **parameters}.items():
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")


def counters(admin: str) -> dict[str, int]:
    with connect(admin, autocommit=True) as conn:
        lsn = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
        wal = conn.execute("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal").fetchone()
        checkpoints = conn.execute("SELECT num_timed, num_requested FROM pg_stat_checkpointer").fetchone()
    assert lsn is not None and wal is not None and checkpoints is not None
    return {
        "lsn": int(lsn[0]),
        "fpi": int(wal[1]),
        "wal_bytes": int(wal[2]),
        "timed": int(checkpoints[0]),
        "requested": int(checkpoints[1]),
    }


def fresh_database(admin: str, name: str, day: datetime) -> str:
    with connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(admin, name)
    prepare(url, Settings.from_env({}))
    with connect(url, autocommit=True) as conn:
        conn.execute("SET ROLE loglens_owner")
        ensure_partitions(conn, day.date(), day.date())
    return url


def copy_rows(url: str, rows: Sequence[tuple[Any, ...]], *, paced: bool = False) -> float:
    """Seconds spent in COPY (the pauses of a paced load not counted)."""
    statement = sql.SQL("COPY logs ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.SQL(", ").join(map(sql.Identifier, LOG_COLUMNS))
    )
    busy = 0.0
    started = time.perf_counter()
    with connect(url) as conn:
        for written, chunk in enumerate(chunks(rows, OBJECT_ROWS), start=1):
            began = time.perf_counter()
            with conn.cursor() as cur, cur.copy(statement) as copy:
                copy.set_types(COPY_TYPES)
                for row in chunk:
                    copy.write_row(row)
            conn.commit()
            busy += time.perf_counter() - began
            if paced:
                due = started + written * OBJECT_ROWS / PACED_ROWS_PER_SECOND
                time.sleep(max(0.0, due - time.perf_counter()))
    return busy


def recent_heap_fetches(url: str, latest: datetime) -> tuple[int, int]:
    """(autovacuum runs on the day's partition, heap fetches of an index-only count of the last hour)."""
    with connect(url) as conn:
        runs = conn.execute(
            "SELECT coalesce(sum(autovacuum_count), 0) FROM pg_stat_user_tables WHERE relname LIKE 'logs_d%'"
        ).fetchone()
        conn.execute("SET enable_seqscan = off")  # the index-only scan an hour's count gets on a big partition
        conn.execute("SET enable_bitmapscan = off")
        plan = conn.execute(
            "EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM logs WHERE created_at >= %s",
            (latest - timedelta(hours=1),),
        ).fetchone()
    assert runs is not None and plan is not None
    return int(runs[0]), _heap_fetches(plan[0][0]["Plan"])


def _heap_fetches(node: dict[str, Any]) -> int:
    return int(node.get("Heap Fetches", 0)) + sum(_heap_fetches(child) for child in node.get("Plans", []))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_500_000, help="rows of the day written under each setting")
    parser.add_argument("--quick", action="store_true", help="300,000 rows")
    args = parser.parse_args(argv)
    rows_wanted = 300_000 if args.quick else args.rows
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day_start = end - timedelta(days=1)
    # Yesterday's rows, in time order as they arrived: the day's partition only ever grows at its end.
    console.print(f"generating {rows_wanted:,} rows of one day …")
    rows = sorted(generate_rows(DemoPlan(end=end, days=1, records=rows_wanted)), key=lambda r: r[2])
    earlier, last_sixth = rows[: len(rows) * 5 // 6], rows[len(rows) * 5 // 6 :]
    latest = rows[-1][2]
    work = Path(tempfile.mkdtemp(prefix="loglens-bench-params-"))
    server = EmbeddedPostgres(work / "pg", free_port())  # default durability: fsync and full-page writes on
    admin = with_database(server.start(), "postgres")
    results: list[Result] = []
    try:
        configure(admin, {})
        console.print(f"a day's first five sixths ({len(earlier):,} rows), vacuumed, as a template …")
        copy_rows(fresh_database(admin, "bench_params_prefilled", day_start), earlier)
        with connect(with_database(admin, "bench_params_prefilled"), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        for number, setting in enumerate(settings_compared(len(last_sixth))):
            configure(admin, setting.parameters)
            name = f"bench_params_{number}"
            if setting.autovacuum:
                url, written = clone(admin, "bench_params_prefilled", name), last_sixth
            else:
                url, written = fresh_database(admin, name, day_start), rows
            with connect(admin, autocommit=True) as conn:
                conn.execute("CHECKPOINT")
            console.print(f"{setting.name}: {len(written):,} rows …")
            before = counters(admin)
            seconds = copy_rows(url, written, paced=setting.autovacuum)
            after = counters(admin)
            delta = {k: after[k] - before[k] for k in after}
            results.append(Result(setting, len(written), seconds, delta, *recent_heap_fetches(url, latest)))
            with connect(admin, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        server.destroy()
    report(results)


@dataclass(frozen=True)
class Result:
    setting: Setting
    rows: int
    seconds: float
    delta: dict[str, int]
    vacuums: int
    heap_fetches: int


def clone(admin: str, template: str, name: str) -> str:
    with connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
    return with_database(admin, name)


def report(results: list[Result]) -> None:
    base = results[0]
    base_rps, base_wal = base.rows / base.seconds, base.delta["lsn"] / base.rows
    table = Table(title=f"PostgreSQL parameters under ingest: binary COPY, {OBJECT_ROWS:,} rows per commit")
    columns = ("", "rows", "rows/s", "vs A", "WAL B/row", "vs A", "full-page images", "checkpoints", "autovacuums")
    for column in (*columns, "heap fetches"):
        table.add_column(column, justify="right")
    for letter, r in zip("ABCDE", results, strict=False):
        rps, wal_per_row = r.rows / r.seconds, r.delta["lsn"] / r.rows
        table.add_row(
            letter,
            f"{r.rows:,}",
            f"{rps:,.0f}",
            f"{rps / base_rps:.2f}",
            f"{wal_per_row:,.0f}",
            f"{wal_per_row / base_wal:.2f}",
            f"{r.delta['fpi']:,}",
            f"{r.delta['requested']} + {r.delta['timed']}",
            str(r.vacuums) if r.setting.autovacuum else "off",
            f"{r.heap_fetches:,}",
        )
    console.print(table)
    for letter, r in zip("ABCDE", results, strict=False):
        console.print(f"{letter}: {r.setting.name}")
    console.print(
        "checkpoints: requested (max_wal_size filled) + timed (checkpoint_timeout) during the load. D and E are "
        f"paced at {PACED_ROWS_PER_SECOND:,} rows/s (rows/s counts time in COPY only). autovacuums: of the day's "
        "partition during the load. heap fetches: of an index-only count of the last hour's rows right after the "
        "load (0 when vacuum has set all their pages all-visible)."
    )


if __name__ == "__main__":
    main()
