"""Reading raw objects: inflating, cutting lines and sealed blocks, and what damage leaves behind."""

from __future__ import annotations

import gzip
import io
import json
import zlib

import pytest

from loglens.ingest.blocks import open_blocks
from loglens.ingest.envelope import Sealer, pack_records
from loglens.ingest.inflate import READ_BYTES, ObjectBytes

KEY = b"k" * 32
SEALER = Sealer(KEY)


def reader(data: bytes) -> ObjectBytes:
    return ObjectBytes(io.BufferedReader(io.BytesIO(data)))  # type: ignore[arg-type]


def all_lines(objects: ObjectBytes) -> list[tuple[int, bytes]]:
    out = []
    while (line := objects.line()) is not None:
        out.append((objects.count, line))
    return out


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_lines_are_numbered_blank_ones_counted_and_the_last_may_lack_its_newline(compress: bool) -> None:
    data = b'{"a":1}\n\n{"b":2}\n{"c":3}'
    objects = reader(gzip.compress(data) if compress else data)
    assert all_lines(objects) == [(1, b'{"a":1}'), (2, b""), (3, b'{"b":2}'), (4, b'{"c":3}')]
    assert objects.damage is None


def test_concatenated_gzip_members_are_all_read() -> None:
    data = gzip.compress(b"one\ntwo\n") + gzip.compress(b"three\n")
    assert [line for _, line in all_lines(reader(data))] == [b"one", b"two", b"three"]


def test_a_line_longer_than_a_read_spans_pieces_whole() -> None:
    long = b"x" * (READ_BYTES * 2 + 17)
    lines = all_lines(reader(gzip.compress(b"a\n" + long + b"\nb\n")))
    assert [len(line) for _, line in lines] == [1, len(long), 1]


def test_truncated_gzip_keeps_whole_lines_and_reports_the_cut_one_as_damage() -> None:
    data = gzip.compress(b"".join(b'{"n":%d}\n' % i for i in range(5000)))
    objects = reader(data[: len(data) // 2])
    lines = all_lines(objects)
    assert objects.damage == "compressed data ends before its end-of-stream marker"
    assert [json.loads(line)["n"] for _, line in lines] == list(range(len(lines)))
    assert objects.count == len(lines) and b"\n" not in objects.fragment


def test_corrupt_gzip_is_damage_not_an_exception() -> None:
    data = bytearray(gzip.compress(b"".join(b"line %d\n" % i for i in range(20000))))
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
    objects = reader(bytes(data))
    lines = all_lines(objects)
    assert objects.damage is not None and objects.damage.startswith("compressed data is corrupt")
    assert all(line.startswith(b"line ") for _, line in lines)


def test_a_highly_compressed_object_is_inflated_in_bounded_steps() -> None:
    """100 MB of newlines in ~100 KB of gzip: read piece by piece, never inflated at once."""
    data = zlib.compress(b"\n" * 100_000_000, 9, wbits=31)
    assert len(data) < 200_000
    objects = reader(data)
    pieces = list(objects._inflated(io.BufferedReader(io.BytesIO(data))))  # type: ignore[arg-type]
    assert max(map(len, pieces)) <= 4 << 20 and sum(map(len, pieces)) == 100_000_000


def test_take_and_push_back_keep_the_numbering() -> None:
    objects = reader(b"h\na\nb\nc\n")
    assert objects.line() == b"h" and objects.count == 1
    assert objects.take(4) == b"a\nb\n" and objects.count == 3
    objects.push_back(b"a\nb\n")
    assert all_lines(objects) == [(2, b"a"), (3, b"b"), (4, b"c")]


def blocks(data: bytes, sealer: Sealer | None = SEALER) -> tuple[list[tuple[int, bytes, bool]], list[str]]:
    problems: list[str] = []
    items = list(open_blocks(reader(data), sealer, lambda n, errors, line: problems.append(f"{n}: {errors[0]}")))
    return items, problems


def test_a_verified_block_comes_whole_with_the_number_of_its_first_line() -> None:
    [record] = pack_records([b'{"a":1}\n', b'{"b":2}\n'], Sealer(KEY))
    items, problems = blocks(b"x\n" + record + b"y\n")
    assert items == [(1, b"x", False), (3, b'{"a":1}\n{"b":2}\n', True), (5, b"y", False)]
    assert problems == []


def test_without_a_key_headers_are_skipped_and_lines_read_one_by_one() -> None:
    [record] = pack_records([b'{"a":1}\n'], Sealer(KEY))
    items, problems = blocks(record, sealer=None)
    assert items == [(2, b'{"a":1}', False)] and problems == []


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (b'{"_loglens_seal":1,"bytes":5,"mac"', "not JSON"),
        (b'{"_loglens_seal":2,"bytes":5,"mac":"' + b"0" * 32 + b'"}', "not a version 1 header"),
        (b'{"_loglens_seal":1,"bytes":0,"mac":"' + b"0" * 32 + b'"}', "bytes must be a count"),
        (b'{"_loglens_seal":1,"bytes":99999999,"mac":"' + b"0" * 32 + b'"}', "bytes must be a count"),
        (b'{"_loglens_seal":1,"bytes":"8","mac":"' + b"0" * 32 + b'"}', "bytes must be a count"),
        (b'{"_loglens_seal":1,"bytes":8,"mac":"00"}', "mac must be 32 hex digits"),
        (('{"_loglens_seal":1,"bytes":8,"mac":"' + "é" * 32 + '"}').encode(), "mac must be 32 hex digits"),
        (b'{"_loglens_seal":1,"bytes":8,"mac":"' + b"G" * 32 + b'"}', "mac must be 32 hex digits"),
        (b'{"_loglens_seal":1,"bytes":true,"mac":"' + b"0" * 32 + b'"}', "bytes must be a count"),
    ],
)
def test_unreadable_headers_are_reported_and_reading_goes_on(header: bytes, reason: str) -> None:
    items, problems = blocks(header + b'\n{"a":1}\n')
    assert items == [(2, b'{"a":1}', False)]
    assert len(problems) == 1 and problems[0].startswith("1: unreadable seal header") and reason in problems[0]
