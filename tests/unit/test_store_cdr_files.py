"""The CDR file and the rejected-lines file are rotated and trimmed past retention, and the
fallback import still reads every line it had not read yet."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callrouter.asterisk.cdr_import import ReadState, read_new
from callrouter.store.cdr_files import PersonalFiles, line_time, past, quoting
from callrouter.store.spool import REJECTED, encode_record

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
CUTOFF = NOW - timedelta(days=365)
OLD = NOW - timedelta(days=400)
RECENT = NOW - timedelta(days=3)


def cdr_line(linkedid: str, at: datetime, src: str = "0912345678") -> str:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S%z")
    return (
        json.dumps(
            {
                "linkedid": linkedid,
                "src": src,
                "start": stamp,
                "end": stamp,
                "userfield": "callrouter=fallback",
            }
        )
        + "\n"
    )


def age(path: Path, seconds: float = 3600) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_line_times_of_both_files_are_read() -> None:
    assert line_time(cdr_line("a", OLD).encode()) == OLD
    assert line_time(b'{"at": "2026-05-01T00:00:00+00:00", "text": "x"}') == datetime(
        2026, 5, 1, tzinfo=UTC
    )
    assert line_time(b"not json at all") is None


def test_the_cdr_file_is_rotated_without_losing_a_line_the_import_has_not_read(
    tmp_path: Path,
) -> None:
    cdr = tmp_path / "cdr" / "callrouter-cdr.json"
    cdr.parent.mkdir()
    state_file = tmp_path / "state" / "cdr-import.json"
    rejected = tmp_path / "state" / "cdr-rejected.jsonl"
    cdr.write_text(cdr_line("old-1", OLD), encoding="utf-8")
    state = read_new(cdr, ReadState()).state
    state.save(state_file)
    # Written after the import's last run: not imported yet.
    with cdr.open("a", encoding="utf-8") as fh:
        fh.write(cdr_line("old-2", OLD + timedelta(minutes=1)))

    first = PersonalFiles(cdr, state_file, (rejected,)).apply(past(CUTOFF), now=NOW)[0]
    assert first.rotated_to is not None
    rotated = cdr.parent / first.rotated_to
    assert not cdr.exists()
    assert first.files_deleted == []  # the import has not finished it: kept whole
    # Asterisk starts a new file with its next record; the import follows the rotation.
    cdr.write_text(cdr_line("new-1", RECENT), encoding="utf-8")
    age(rotated)
    read = read_new(cdr, ReadState.load(state_file))
    assert [line.linkedid for line in read.lines] == ["old-2", "new-1"]
    read.state.save(state_file)

    second = PersonalFiles(cdr, state_file, (rejected,)).apply(past(CUTOFF), now=NOW)[0]
    assert second.rotated_to is None  # the live file has nothing past the cut-off
    assert second.files_deleted == [rotated.name]
    assert second.lines_removed == 2
    assert not rotated.exists()
    assert cdr.read_text(encoding="utf-8") == cdr_line("new-1", RECENT)


def test_a_cdr_file_the_import_never_read_is_left_alone(tmp_path: Path) -> None:
    cdr = tmp_path / "callrouter-cdr.json"
    cdr.write_text(cdr_line("old-1", OLD), encoding="utf-8")
    out = PersonalFiles(cdr, tmp_path / "none.json", ()).apply(past(CUTOFF), now=NOW)
    assert out[0].rotated_to is None
    assert cdr.exists()


def test_rejected_lines_past_retention_are_rotated_then_trimmed(tmp_path: Path) -> None:
    rejected = tmp_path / "cdr-rejected.jsonl"
    old = json.dumps({"at": OLD.isoformat(), "text": '{"src": "0912345678"'}) + "\n"
    recent = json.dumps({"at": RECENT.isoformat(), "text": "x"}) + "\n"
    rejected.write_text(old + recent, encoding="utf-8")
    cdr, state = tmp_path / "callrouter-cdr.json", tmp_path / "cdr-import.json"

    dry = PersonalFiles(cdr, state, (rejected,)).apply(past(CUTOFF), now=NOW, dry_run=True)[1]
    assert dry.rotated_to is not None
    assert rejected.exists()

    first = PersonalFiles(cdr, state, (rejected,)).apply(past(CUTOFF), now=NOW)[1]
    assert first.rotated_to is not None
    rotated = tmp_path / first.rotated_to
    age(rotated)
    second = PersonalFiles(cdr, state, (rejected,)).apply(past(CUTOFF), now=NOW)[1]
    assert second.lines_removed == 1
    assert rotated.read_text(encoding="utf-8") == recent


def test_a_spool_rejected_log_is_trimmed_by_its_records_times(tmp_path: Path) -> None:
    log = tmp_path / "spool" / REJECTED
    log.parent.mkdir()
    old = {"reason": "x", "record": {"kind": "call_started", "caller": "0912345678",
                                     "started_at": OLD.isoformat()}}  # fmt: skip
    new = {"reason": "x", "record": {"kind": "callback", "created_at": RECENT.isoformat()}}
    log.write_bytes(encode_record(old) + encode_record(new))
    cdr, state = tmp_path / "callrouter-cdr.json", tmp_path / "cdr-import.json"
    first = PersonalFiles(cdr, state, (log,)).apply(past(CUTOFF), now=NOW)[1]
    assert first.rotated_to is not None
    age(log.parent / first.rotated_to)
    second = PersonalFiles(cdr, state, (log,)).apply(past(CUTOFF), now=NOW)[1]
    assert second.lines_removed == 1
    assert (log.parent / first.rotated_to).read_bytes() == encode_record(new)


def test_lines_quoting_a_number_are_listed_and_erased_but_not_a_longer_number(
    tmp_path: Path,
) -> None:
    cdr = tmp_path / "cdr" / "callrouter-cdr.json"
    cdr.parent.mkdir()
    state_file = tmp_path / "cdr-import.json"
    rejected = tmp_path / "cdr-rejected.jsonl"
    longer = cdr_line("x", RECENT).replace("0912345678", "00912345678")
    cdr.write_text(cdr_line("a", RECENT) + longer, encoding="utf-8")
    read_new(cdr, ReadState()).state.save(state_file)
    quoted = json.dumps({"at": RECENT.isoformat(), "text": '{"src": "+84912345678"'}) + "\n"
    rejected.write_text(quoted + json.dumps({"at": RECENT.isoformat(), "text": "y"}) + "\n")
    age(rejected)
    files = PersonalFiles(cdr, state_file, (rejected,))
    rule = quoting(("0912345678", "+84912345678"))

    found = files.lines(rule)
    assert [(Path(str(f["file"])).name, f["line"]) for f in found] == [
        ("callrouter-cdr.json", 1),
        ("cdr-rejected.jsonl", 1),
    ]
    cdr_out, rejected_out = files.apply(rule, now=NOW)
    # The CDR file is in use: rotated now, trimmed once the import has moved on.
    assert cdr_out.rotated_to is not None
    assert cdr_out.pending == 1
    # The rejected file nobody wrote to for a while: rotated and trimmed at once.
    assert rejected_out.lines_removed == 1
    assert rejected_out.pending == 0
    assert "0912345678" not in "".join(
        p.read_text(encoding="utf-8") for p in tmp_path.iterdir() if p.is_file()
    )
    rotated = cdr.parent / cdr_out.rotated_to
    cdr.write_text(cdr_line("b", RECENT, src="0987654321"), encoding="utf-8")
    age(rotated)
    read = read_new(cdr, ReadState.load(state_file))
    read.state.save(state_file)
    again = files.apply(rule, now=NOW)[0]
    assert (again.lines_removed, again.pending) == (1, 0)
    assert rotated.read_text(encoding="utf-8") == longer


def test_a_second_rotation_in_the_same_second_never_replaces_the_first(tmp_path: Path) -> None:
    rejected = tmp_path / "cdr-rejected.jsonl"
    files = PersonalFiles(tmp_path / "callrouter-cdr.json", tmp_path / "state.json", (rejected,))
    line = json.dumps({"at": RECENT.isoformat(), "text": "0912345678"}) + "\n"
    rule = quoting(("0912345678",))
    for _ in range(2):
        rejected.write_text(line, encoding="utf-8")  # written a moment ago: not trimmed yet
        files.apply(rule, now=NOW)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cdr-rejected.jsonl.purge-20260601T030000",
        "cdr-rejected.jsonl.purge-20260601T030000-2",
    ]
