"""The local spool's segments (loglens.ingest.segments): buffering, group commit, sealing, crash states."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from loglens.ingest import segments
from loglens.ingest.envelope import Sealer
from loglens.ingest.segments import Note, Sealed, SegmentWriter, SpoolError, complete_length, remove_strays, seal
from loglens.ingest.sinks import SinkUnavailable, SpoolSink

SEALER = Sealer(b"k" * 32)


def notes(root: Path) -> list[Note]:
    return [Note.read(root, p) for p in sorted((root / "queue").glob("*.key"))]


def sealed_bytes(root: Path) -> bytes:
    """Seal every closed segment and return the raw objects' bytes, oldest first."""
    out = b""
    for note in notes(root):
        state = seal(root, note)
        assert state in (Sealed.READY, Sealed.EMPTY), state
        if state is Sealed.READY:
            out += (root / note.key).read_bytes()
    return out


def test_without_buffering_every_put_is_an_object_ready_to_load(tmp_path: Path) -> None:
    sink = SpoolSink(tmp_path)
    sink.put([b"a\n", b"b\n"])
    sink.put([b"c\n"])
    found = notes(tmp_path)
    assert len(found) == 2
    assert [seal(tmp_path, n) for n in found] == [Sealed.READY, Sealed.READY]
    assert [(tmp_path / n.key).read_bytes() for n in found] == [b"a\nb\n", b"c\n"]
    assert list((tmp_path / "open").iterdir()) == []


def test_buffered_appends_share_a_segment_until_its_size(tmp_path: Path) -> None:
    closed = threading.Event()
    writer = SegmentWriter(tmp_path, max_bytes=10, max_seconds=60, on_closed=closed.set)
    writer.append(b"1234\n")
    assert not closed.is_set()
    held = [n for n in notes(tmp_path) if seal(tmp_path, n) is Sealed.HELD]
    assert held, "the open segment is locked while its writer may append"
    writer.append(b"5678\n")  # reaches 10 bytes: closed
    assert closed.wait(5)
    writer.append(b"next\n")
    writer.close()
    assert sealed_bytes(tmp_path) == b"1234\n5678\nnext\n"


def test_a_segment_is_closed_when_its_first_record_is_old_enough(tmp_path: Path) -> None:
    closed = threading.Event()
    writer = SegmentWriter(tmp_path, max_bytes=1 << 20, max_seconds=0.05, on_closed=closed.set)
    writer.append(b"lonely\n")
    assert closed.wait(5)  # no more appends came; the age closed it
    ready = [n for n in notes(tmp_path) if seal(tmp_path, n) is Sealed.READY]  # the others: the next, spare
    assert [(tmp_path / n.key).read_bytes() for n in ready] == [b"lonely\n"]
    writer.close()


def test_concurrent_appends_share_fsyncs_and_all_arrive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    syncs = []
    real = segments._datasync

    def counting(fd: int) -> None:
        syncs.append(fd)
        real(fd)

    monkeypatch.setattr(segments, "_datasync", counting)
    writer = SegmentWriter(tmp_path, max_bytes=1 << 20, max_seconds=60)
    lines = [f"{t}-{i}\n".encode() for t in range(16) for i in range(50)]

    def run(t: int) -> None:
        for line in lines[t * 50 : (t + 1) * 50]:
            writer.append(line)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    assert sorted(sealed_bytes(tmp_path).splitlines(keepends=True)) == sorted(lines)
    assert 0 < len(syncs) < len(lines)  # every append waited for an fsync, and they were shared


def test_a_failed_fsync_is_not_acknowledged_and_is_cut_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writer = SegmentWriter(tmp_path, max_bytes=1 << 20, max_seconds=60)
    writer.append(b"durable\n")

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(segments, "_datasync", broken)
    with pytest.raises(SpoolError, match="could not sync"):
        writer.append(b"lost\n")
    monkeypatch.undo()
    writer.append(b"later\n")  # goes to a new segment
    writer.close()
    assert sealed_bytes(tmp_path) == b"durable\nlater\n"


def test_the_sink_answers_unavailable_when_the_spool_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "spool").write_text("a file where the folder should be")
    with pytest.raises(SinkUnavailable, match="local spool is not writable"):
        SpoolSink(tmp_path / "spool").put([b"x\n"])


def test_a_torn_last_append_of_an_abandoned_segment_is_left_out(tmp_path: Path) -> None:
    blocks = [SEALER.seal(b'{"n":1}\n{"n":2}\n'), SEALER.seal(b'{"n":3}\n')]
    torn = SEALER.seal(b'{"n":4}\n{"n":5}\n')[:-7]  # a crash cut the write short: never acknowledged
    segment = SegmentWriter(tmp_path)._new_segment()  # a segment with its note, as a writer opens it
    for data in (*blocks, torn):
        os.write(segment.fd, data)
    os.close(segment.fd)  # the writer dies (kill -9 drops its lock the same way)
    [note] = notes(tmp_path)
    assert seal(tmp_path, note) is Sealed.READY
    assert (tmp_path / note.key).read_bytes() == b"".join(blocks)
    assert seal(tmp_path, note) is Sealed.READY  # sealing twice is harmless


@pytest.mark.parametrize(
    ("data", "whole"),
    [
        (b"", 0),
        (b"a\nb\n", 4),
        (b"a\nb", 2),
        (SEALER.seal(b"x\ny\n") + b"z\n", len(SEALER.seal(b"x\ny\n")) + 2),
        (SEALER.seal(b"x\ny\n")[:-1], 0),
        (b'{"_loglens_seal":1,"bytes":"oops"}\nq\n', 37),  # an unreadable header stays, for the loader to report
    ],
)
def test_complete_length(data: bytes, whole: int) -> None:
    assert complete_length(data) == whole


def test_a_writer_that_died_before_appending_leaves_nothing_to_load(tmp_path: Path) -> None:
    writer = SegmentWriter(tmp_path, max_bytes=1 << 20, max_seconds=60)
    segment = writer._new_segment()  # what a spare is: a note, a locked empty file
    os.close(segment.fd)
    [note] = notes(tmp_path)
    assert seal(tmp_path, note) is Sealed.EMPTY
    assert not segment.path.exists()
    stray = tmp_path / "open" / "20260101T000000000000-1-000000.ndjson"  # died between file and note
    stray.write_bytes(b"")
    assert remove_strays(tmp_path) == 0  # it could be one being made right now
    assert remove_strays(tmp_path, older_than=0) == 1 and not stray.exists()


def test_close_leaves_no_spare_and_refuses_later_appends(tmp_path: Path) -> None:
    writer = SegmentWriter(tmp_path, max_bytes=1 << 20, max_seconds=60)
    writer.append(b"one\n")
    writer.close()
    assert sealed_bytes(tmp_path) == b"one\n"
    assert list((tmp_path / "open").iterdir()) == []  # the spare went with its note
    assert len(notes(tmp_path)) == 1
    with pytest.raises(SpoolError, match="closed"):
        writer.append(b"two\n")
