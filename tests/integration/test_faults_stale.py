"""Reading a call's end from Asterisk's cdr_custom JSON file (callrouter.asterisk.stale)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callrouter.asterisk import stale
from callrouter.asterisk.stale import cdr_ends

pytestmark = pytest.mark.integration


def cdr_line(linkedid: str, end: str, *, uniqueid: str | None = None) -> str:
    return json.dumps(
        {
            "linkedid": linkedid,
            "uniqueid": uniqueid or linkedid,
            "src": "0987000001",
            "start": "2026-11-28T16:43:52+0000",
            "answer": "2026-11-28T16:43:52+0000",
            "end": end,
            "disposition": "ANSWERED",
            "userfield": "",
            "lastapp": "Stasis",
        }
    )


def test_the_latest_end_of_each_wanted_call_is_read_and_others_and_bad_lines_are_ignored(
    tmp_path: Path,
) -> None:
    cdr = tmp_path / "callrouter-cdr.json"
    cdr.write_text(
        "\n".join(
            [
                cdr_line("pbx-1.0", "2026-11-28T16:43:53+0000"),
                "{not json pbx-1.0",
                cdr_line("pbx-1.0", "2026-11-28T16:44:10+0000", uniqueid="callrouter-leg-1-x"),
                cdr_line("pbx-2.0", "2026-11-28T16:50:00+0000"),
                cdr_line("pbx-3.0", "2026-11-28T16:45:00+0000"),
            ]
        )
        + "\n",
        encoding="utf-8",
    )

    ends = cdr_ends(cdr, ["pbx-1.0", "pbx-3.0", "pbx-9.9"])

    assert ends == {
        "pbx-1.0": datetime(2026, 11, 28, 16, 44, 10, tzinfo=UTC),
        "pbx-3.0": datetime(2026, 11, 28, 16, 45, 0, tzinfo=UTC),
    }


def test_only_the_tail_of_a_large_file_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stale, "CDR_TAIL_BYTES", 4096)
    cdr = tmp_path / "callrouter-cdr.json"
    old = cdr_line("pbx-old.0", "2026-11-01T00:00:00+0000")
    filler = [cdr_line(f"pbx-{i}.0", "2026-11-28T00:00:00+0000") for i in range(100)]
    recent = cdr_line("pbx-new.0", "2026-11-28T16:00:00+0000")
    cdr.write_text("\n".join([old, *filler, recent]) + "\n", encoding="utf-8")

    ends = cdr_ends(cdr, ["pbx-old.0", "pbx-new.0"])

    assert list(ends) == ["pbx-new.0"]


def test_a_missing_file_gives_no_ends(tmp_path: Path) -> None:
    assert cdr_ends(tmp_path / "absent.json", ["pbx-1.0"]) == {}
