"""The demo generator's records loaded straight into a test database, as the agent tests need them.

Partitions are created for the plan's days (as the maintenance job would have), the rows go in with one
binary COPY announcing their hours to the rollups, and the summary views are refreshed and the table
vacuumed and analysed, so the database looks like one that has been running for a few days.
"""

from __future__ import annotations

from psycopg import sql

from loglens.db.connect import connect
from loglens.db.partitions import ensure_partitions
from loglens.devtools.demo import DemoPlan, generate_rows
from loglens.ingest.write import COPY_TYPES, TouchedHours
from loglens.lifecycle.maintenance import owner_connection
from loglens.lifecycle.rollups import refresh_rollups
from loglens.record import LOG_COLUMNS


def load_demo(admin_url: str, plan: DemoPlan) -> int:
    """Load the plan's records; return how many rows went in."""
    with connect(admin_url, autocommit=True) as conn:
        conn.execute("SET ROLE loglens_owner")
        ensure_partitions(conn, plan.start.date(), plan.end.date())
    statement = sql.SQL("COPY logs ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.SQL(", ").join(map(sql.Identifier, LOG_COLUMNS))
    )
    count = 0
    touched = TouchedHours()
    with connect(admin_url) as conn:
        with conn.cursor() as cur, cur.copy(statement) as copy:
            copy.set_types(COPY_TYPES)
            for row in generate_rows(plan):
                copy.write_row(row)
                touched.add([row])
                count += 1
        touched.record(conn)
        conn.commit()
    refresh_views(admin_url)
    return count


def refresh_views(admin_url: str) -> None:
    with owner_connection(admin_url) as conn:
        refresh_rollups(conn)
        # What autovacuum would have done by now on a running database: the GIN indexes' pending lists
        # merged and the pages marked all-visible, so plans are those of a settled table (the old full
        # REFRESH took long enough that autovacuum often got there first; the incremental one does not).
        conn.execute("VACUUM (ANALYZE) logs")
