"""The write-ahead spool: ordered, checksummed lines; torn lines reported, later lines kept."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from callrouter.errors import SpoolError
from callrouter.store.spool import (
    CHECKPOINT,
    Position,
    Spool,
    decode_line,
    encode_record,
    segment_name,
)

pytestmark = pytest.mark.unit


def _write(spool: Spool, count: int, start: int = 0) -> Position:
    for i in range(start, start + count):
        spool.append(encode_record({"id": f"r{i}", "kind": "event", "n": i}))
    fds, retired, end, _ = spool.take_unsynced()
    spool.fsync_pending(fds, retired)
    return end


def _ids(spool: Spool, start: Position, limit: Position, max_records: int = 10_000) -> list[str]:
    return [rec["id"] for rec in spool.read(start, limit, max_records).records]


def test_encoded_line_round_trips_and_detects_a_flipped_byte() -> None:
    line = encode_record({"id": "a", "kind": "event", "text": "Nguyễn"})
    assert line.endswith(b"\n")
    assert decode_line(line[:-1]) == {"id": "a", "kind": "event", "text": "Nguyễn"}
    damaged = line[:-3] + (b"X" if line[-3:-2] != b"X" else b"Y") + line[-2:-1]
    with pytest.raises(ValueError, match="checksum"):
        decode_line(damaged)
    with pytest.raises(ValueError, match="no checksum"):
        decode_line(b'{"id": "a"}')


def test_records_are_read_back_in_order_up_to_the_limit(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    start = spool.open()
    end = _write(spool, 5)
    assert _ids(spool, start, end) == ["r0", "r1", "r2", "r3", "r4"]
    result = spool.read(start, end, max_records=2)
    assert [r["id"] for r in result.records] == ["r0", "r1"]
    assert _ids(spool, result.end, end) == ["r2", "r3", "r4"]
    spool.close()


def test_segments_rotate_and_are_read_across(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=200)
    start = spool.open()
    end = _write(spool, 20)
    assert len(spool.segments()) > 3
    assert _ids(spool, start, end) == [f"r{i}" for i in range(20)]
    spool.close()


def test_checkpoint_survives_reopen_and_old_segments_are_deleted(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=200)
    start = spool.open()
    end = _write(spool, 20)
    middle = spool.read(start, end, max_records=12).end
    spool.checkpoint(middle)
    assert min(spool.segments()) == middle.segment
    spool.close()

    again = Spool(tmp_path, segment_bytes=200)
    resume = again.open()
    assert resume == middle
    new_end = _write(again, 2, start=20)
    assert _ids(again, resume, new_end) == [f"r{i}" for i in range(12, 22)]
    again.close()


def test_torn_last_line_of_a_crashed_segment_is_reported_and_later_lines_kept(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path)
    start = spool.open()
    _write(spool, 2)
    # The process dies in the middle of writing a line.
    torn = encode_record({"id": "torn", "kind": "event"})[:15]
    with (tmp_path / segment_name(start.segment)).open("ab") as fh:
        fh.write(torn)
    spool.close()

    again = Spool(tmp_path)
    resume = again.open()
    end = _write(again, 2, start=2)
    result = again.read(resume, end, 100)
    assert [r["id"] for r in result.records] == ["r0", "r1", "r2", "r3"]
    assert len(result.corrupt) == 1
    assert "torn write" in result.corrupt[0].reason
    assert segment_name(start.segment) in result.corrupt[0].describe(tmp_path)
    again.close()


def test_corrupt_line_in_the_middle_is_skipped_without_losing_the_next(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    start = spool.open()
    _write(spool, 3)
    spool.close()
    path = tmp_path / segment_name(start.segment)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1][:20] + b"#" + lines[1][21:]
    path.write_bytes(b"".join(lines))

    again = Spool(tmp_path)
    resume = again.open()
    end = _write(again, 1, start=3)
    result = again.read(resume, end, 100)
    assert [r["id"] for r in result.records] == ["r0", "r2", "r3"]
    assert [c.reason for c in result.corrupt] == ["checksum mismatch"]
    again.close()


def test_a_damaged_checkpoint_means_replaying_from_the_oldest_segment(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    start = spool.open()
    end = _write(spool, 3)
    spool.checkpoint(end)
    spool.close()
    (tmp_path / CHECKPOINT).write_text("{not json", encoding="utf-8")
    again = Spool(tmp_path)
    assert again.open() == Position(start.segment, 0)
    again.close()


def test_a_line_longer_than_one_read_chunk_is_still_read(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    start = spool.open()
    spool.append(encode_record({"id": "big", "kind": "event", "blob": "x" * 5000}))
    end = _write(spool, 1)
    result = spool.read(start, end, 10, max_bytes=1024)
    assert [r["id"] for r in result.records] == ["big", "r0"]
    spool.close()


def test_second_writer_on_the_same_spool_is_refused(tmp_path: Path) -> None:
    first = Spool(tmp_path)
    first.open()
    with pytest.raises(SpoolError, match="in use"):
        Spool(tmp_path).open()
    first.close()
    second = Spool(tmp_path)
    second.open()
    second.close()


def test_write_to_a_closed_spool_is_a_spool_error(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    with pytest.raises(SpoolError, match="not open"):
        spool.append(b"x\n")


def test_rejected_records_are_kept_with_the_reason(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.open()
    spool.reject({"id": "r1", "kind": "event"}, "no call")
    line = (tmp_path / "rejected.log").read_bytes().splitlines()[0]
    assert decode_line(line) == {"reason": "no call", "record": {"id": "r1", "kind": "event"}}
    spool.close()


def test_written_data_ending_mid_line_is_reported_not_looped_on(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    start = spool.open()
    _write(spool, 1)
    # A write that failed half-way and could not even be terminated by a newline.
    spool.append(b'0123abcd {"id": "half')
    fds, retired, end, _ = spool.take_unsynced()
    spool.fsync_pending(fds, retired)
    result = spool.read(start, end, 100)
    assert [r["id"] for r in result.records] == ["r0"]
    assert [c.reason for c in result.corrupt] == ["torn write (no newline)"]
    assert result.end == end
    spool.close()


def test_what_the_syncer_takes_in_another_thread_matches_what_was_appended(
    tmp_path: Path,
) -> None:
    """The call log's syncer takes from its own thread while the loop appends: every take's
    position holds exactly the lines its count says (none half-counted), across rotations."""
    line = encode_record({"id": "r", "kind": "event", "n": 0})
    spool = Spool(tmp_path / "spool", segment_bytes=len(line) * 1000)
    start = spool.open()
    taken: list[tuple[Position, int]] = []
    done = threading.Event()

    def syncer() -> None:
        while not done.is_set():
            fds, retired, position, appended = spool.take_unsynced()
            spool.fsync_pending(fds, retired)
            taken.append((position, appended))

    thread = threading.Thread(target=syncer)
    thread.start()
    try:
        for _ in range(20_000):
            spool.append(line)
    finally:
        done.set()
        thread.join()
    last = spool.take_unsynced()
    spool.fsync_pending(last.fds, last.retired)
    taken.append((last.position, last.appended))
    per_segment = 1000
    for position, appended in taken:
        lines = (position.segment - start.segment) * per_segment + position.offset // len(line)
        assert (lines, position.offset % len(line)) == (appended, 0)
    assert taken[-1][1] == 20_000
    assert len(spool.read(start, last.position, 30_000).records) == 20_000
    spool.close()
