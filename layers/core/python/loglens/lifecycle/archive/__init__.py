"""Archive partitions past retention to object storage, verify the copy, then detach and drop them.

Format: gzip JSON lines, not Parquet. Measured for the Lambda target (arm64, CPython 3.12): the
pyarrow 26.0.1 manylinux_2_28_aarch64 wheel is 51.8 MB zipped and 156.4 MB unzipped (145.6 MB of
shared libraries). The deps layer as layers/deps/build.py builds it today is 45.5 MB unzipped, the
core layer 0.3 MB, so pyarrow would take every function to ~202 MB of Lambda's 250 MB (262,144,000
bytes) limit for code plus layers. It fits, but the deps layer is shared: collect, load and ask would
carry 156 MB they never import, and every later dependency would have ~48 MB left. Parquet's gains
(smaller objects, column pruning) matter little for an archive read only in investigations, one day
at a time (the Athena table projects `day`); gzip JSON lines cost nothing to ship (stdlib), stream
in bounded memory, and are what the Athena table in infra/components/archive_catalog.py reads.

Layout (Hive-style, so Athena's partition projection finds a day without a crawler):

    archive/day=YYYY-MM-DD/part-00000.json.gz   one JSON object per row, keys = LOG_COLUMNS,
    archive/day=YYYY-MM-DD/part-00001.json.gz   timestamps ISO 8601 in UTC, metadata as JSON text
    archive/day=YYYY-MM-DD/_manifest.json       rows, checksum, and each part's rows/size/sha256

Athena skips names starting with "_", so the manifest never shows up as data. Rows come from a
server-side cursor (FETCH_ROWS at a time) and parts close at PartLimits (rows or uncompressed
bytes), so memory is bounded by one compressed part, a few queued chunks and one fetch, whatever
the partition's size. Rows are exported in primary-key order, so an export of the same rows writes
the same keys with the same bytes (gzip mtime is 0); an interrupted export resumes after its last
complete part, and a Lambda run pauses between parts when its time is nearly up.

Checksum: the sum modulo 2**64 of a 64-bit hash of each row's key, the first 8 bytes of
md5("<created_at as integer microseconds since the epoch>|<event_id>"). A sum is order-independent
and, unlike XOR, a duplicated row changes it. PostgreSQL computes it over the table with one
aggregate and, per row, while exporting (the part checksums in the manifest); verification
recomputes every row's hash in Python from the bytes read back from the store, so the archive is
trusted only when both implementations agree on the partition's exact set of rows. Each part's
sha256 proves its bytes are the ones written. PostgreSQL 14+ is needed (extract(epoch) is an exact
numeric there).

Each partition goes through a ledger (table archive_ledger, same database) with the states
exported → verified → detached → dropped. Database steps change the ledger in the same transaction;
store writes are whole-object and idempotent; so a crash at any point, then a re-run, ends with one
archive copy and no lost row. Before the detached table is dropped its rows are checked against the archive
once more, because rows can reach an old partition until it is detached (a replay of old raw data).
Rows that reach an archived day later land in DEFAULT, get a partition from the maintain job, and are
archived as the next generation (`g1-part-00000.json.gz`, `_manifest-g1.json`) beside the first.

With the lake tier on (loglens.lake), the export is replaced by a check that the lake holds the same rows for
each of the partition's days (``lake_step``); detach and drop follow as above, and old archives stay readable.

The package is cut along that description: ``format`` (layout, manifests, checksum, reading parts back),
``export`` (a day to parts in bounded memory), ``ledger`` (the per-partition states), ``run`` (planning
and the export → verify → detach → drop steps) and ``lake_step``. The names below are its public surface.
"""

from loglens.lifecycle.archive.export import ExportPaused, NoProgress, PartLimits, Progress, export_day
from loglens.lifecycle.archive.format import (
    ARCHIVE_PREFIX,
    ArchiveError,
    ArchiveStoreMissing,
    Checksum,
    Manifest,
    PartEntry,
    VerificationFailed,
    day_manifests,
    describe_store,
    open_archive_store,
    part_lines,
    read_object,
    row_hash,
    table_checksum,
    total_of,
)
from loglens.lifecycle.archive.lake_step import LakeTier
from loglens.lifecycle.archive.ledger import LedgerEntry, State, ledger_entries
from loglens.lifecycle.archive.run import Archiver, ArchiveResult, PartitionOutcome, archive_expired, plan_archive

__all__ = [
    "ARCHIVE_PREFIX",
    "ArchiveError",
    "ArchiveResult",
    "ArchiveStoreMissing",
    "Archiver",
    "Checksum",
    "ExportPaused",
    "LakeTier",
    "LedgerEntry",
    "Manifest",
    "NoProgress",
    "PartEntry",
    "PartLimits",
    "PartitionOutcome",
    "Progress",
    "State",
    "VerificationFailed",
    "archive_expired",
    "day_manifests",
    "describe_store",
    "export_day",
    "ledger_entries",
    "open_archive_store",
    "part_lines",
    "plan_archive",
    "read_object",
    "row_hash",
    "table_checksum",
    "total_of",
]
