"""Small pure pieces: level mapping, Retry-After, event ids, timestamps, spool naming and cap."""

from __future__ import annotations

import email.utils
import gzip
import time
import uuid
from datetime import datetime, timezone

import pytest

from log_collector.diagnostics import Reporter
from log_collector.records import RecordBuilder, new_event_ids, normalize_level
from log_collector.spool import Spool
from log_collector.transport import parse_retry_after


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("warning", "WARN"), ("WARN", "WARN"), ("critical", "FATAL"), ("fatal", "FATAL"),
        ("info", "INFO"), (" debug ", "DEBUG"), ("trace", "TRACE"), (5, "TRACE"), (10, "DEBUG"),
        (20, "INFO"), (25, "INFO"), (30, "WARN"), (40, "ERROR"), (50, "FATAL"), ("LOUD", "LOUD"),
    ],
)
def test_levels_are_normalised(given, expected):
    assert normalize_level(given) == expected


def test_retry_after_accepts_seconds_and_http_dates():
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"Retry-After": "0.5"}) == 0.5
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (parse_retry_after({"Retry-After": future}) or 0) <= 31
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None


def test_event_ids_are_distinct_uuid4_strings():
    ids = new_event_ids(1000)
    assert len(set(ids)) == 1000
    assert all(uuid.UUID(i).version == 4 and str(uuid.UUID(i)) == i for i in ids)


def test_cached_timestamps_match_datetime_isoformat():
    builder = RecordBuilder("s", "e", "BACKEND")
    for created in (0.0, 1_700_000_000.123456, 1_700_000_000.999999, time.time(), time.time() + 1.5):
        expected = datetime.fromtimestamp(created, timezone.utc)
        got = datetime.fromisoformat(builder.timestamp(created))
        assert abs((got - expected).total_seconds()) < 2e-6


def test_spool_files_sort_by_time_and_the_cap_evicts_the_oldest(tmp_path):
    spool = Spool(tmp_path, 1000, Reporter())
    bodies = [gzip.compress(bytes([i]) * 2000, mtime=0) for i in range(10)]  # ~ 40 bytes each
    for body in bodies:
        assert spool.write(body, 3).stored
        time.sleep(0.001)
    names = sorted(p.name for p in tmp_path.glob("*.batch.gz"))
    assert names == sorted(names, key=lambda n: int(n.split("-")[0]))
    assert spool.pending_records() == 30
    # A big batch pushes out the oldest ones, and the loss is counted in records
    result = spool.write(b"x" * 900, 5, reported_drops=2)
    assert result.stored and result.lost_records > 0 and result.lost_records % 3 == 0
    remaining = sorted(p.name for p in tmp_path.glob("*.batch.gz"))
    assert remaining[-1].endswith("-n5-d2.batch.gz")
    assert names[-1] in remaining and names[0] not in remaining
    # A batch larger than the whole spool is refused, not written
    refused = spool.write(b"y" * 2000, 4, reported_drops=1)
    assert not refused.stored and (refused.lost_records, refused.lost_reports) == (4, 1)
