"""``callrouter privacy export|erase NUMBER`` on SQLite and PostgreSQL (issue 15)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from callrouter.cases.config import CasesConfig
from callrouter.cases.edit import CaseInput, CaseRules
from callrouter.cases.workdays import WorkCalendar
from callrouter.cli import cli
from callrouter.rota.model import HolidayPolicy
from callrouter.store.cases import open_case
from callrouter.store.db import make_engine
from callrouter.store.models import (
    call_events,
    call_id_for,
    callbacks,
    calls,
    case_history,
    cases,
    privacy_requests,
)
from callrouter.store.writer import CallLog
from tests.integration.conftest import T0, table_counts, write_call

pytestmark = pytest.mark.integration

NUMBER = "0912345678"
OTHER = "0987654321"
WAV = b"RIFF....WAVEfmt "
RULES = CaseRules(
    config=CasesConfig(topics={"bhyt": "Bảo hiểm y tế"}, agencies={"so_y_te": "Sở Y tế"}),
    calendar=WorkCalendar.from_policy(HolidayPolicy()),
)
ASKED = "Hỏi thẻ BHYT của mẹ ở số nhà 12"


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


async def _seed(url: str, spool: Path) -> None:
    async with CallLog(url, spool, tz="Asia/Ho_Chi_Minh") as log:
        write_call(log, "A", start=T0, caller=NUMBER)
        # Asterisk may present the same number in international form.
        write_call(log, "B", start=T0 + timedelta(hours=1), caller="+84912345678", answered=False)
        write_call(log, "C", start=T0 + timedelta(hours=2), caller=OTHER)
        log.callback_requested(
            linkedid="A",
            number=NUMBER,
            reason="after_hours_message",
            created_at=T0,
            recording="callrouter-message-A-1.wav",
        )
        log.callback_requested(
            linkedid="C",
            number=OTHER,
            reason="after_hours_message",
            created_at=T0,
            recording="callrouter-message-C-1.wav",
        )
        # Another caller's call whose audit entry quotes the number.
        log.event(linkedid="C", at=T0, type="note", data={"asked_about": NUMBER})
        log.event(linkedid="C", at=T0, type="dtmf", data={"digit": "3"})
        await log.flush()
    engine = make_engine(url)
    try:
        for linkedid in ("A", "C"):
            await open_case(
                engine,
                RULES,
                CaseInput(kind="hoi_dap", topic="bhyt", summary=f"{ASKED} ({linkedid})"),
                branch=3,
                by="an",
                at=T0,
                call_id=call_id_for(linkedid),
            )
    finally:
        await engine.dispose()


async def _state(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                "callers": {r.linkedid: r.caller for r in await conn.execute(select(calls))},
                "callbacks": {
                    r.call_id: (r.number, r.recording)
                    for r in await conn.execute(select(callbacks))
                },
                "events": [r.data for r in await conn.execute(select(call_events.c.data))],
                "cases": {
                    r.call_id: r.summary
                    for r in await conn.execute(select(cases.c.call_id, cases.c.summary))
                },
                "history": [r.changes for r in await conn.execute(select(case_history.c.changes))],
                "audit": [dict(r._mapping) for r in await conn.execute(select(privacy_requests))],
            }
    finally:
        await engine.dispose()


@pytest.fixture
def seeded(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    recordings = tmp_path / "recording"
    recordings.mkdir()
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("CALLROUTER_STATE_DIR", str(state))
    monkeypatch.setenv("CALLROUTER_CDR_PATH", str(tmp_path / "cdr" / "callrouter-cdr.json"))
    # A CDR line the import could not read, quoting the number (written an hour ago).
    rejected = state / "cdr-rejected.jsonl"
    rejected.write_text(
        json.dumps({"at": "2026-03-01T23:30:00+00:00", "text": '{"src":"0912345678",'}) + "\n"
        + json.dumps({"at": "2026-03-01T23:31:00+00:00", "text": '{"src":"0987654321",'}) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    hour_ago = time.time() - 3600
    os.utime(rejected, (hour_ago, hour_ago))
    (recordings / "callrouter-message-A-1.wav").write_bytes(WAV)
    (recordings / "callrouter-message-C-1.wav").write_bytes(WAV)
    assert _invoke("db", "upgrade", "--database-url", store_url).exit_code == 0
    asyncio.run(_seed(store_url, tmp_path / "spool"))
    return store_url, recordings


def test_export_lists_every_row_and_recording_about_the_number_in_any_form(
    seeded: tuple[str, Path],
) -> None:
    url, recordings = seeded
    result = _invoke(
        "privacy", "export", "+84 91 234 5678", "--recordings-dir", str(recordings),
        "--by", "Cán bộ tiếp nhận", "--database-url", url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["format"] == "callrouter-privacy-export/1"
    assert NUMBER in data["forms"]
    assert [c["linkedid"] for c in data["calls"]] == ["A", "B"]
    assert {c["caller"] for c in data["calls"]} == {NUMBER, "+84912345678"}
    assert [a["seq"] for a in data["calls"][0]["attempts"]] == [1, 2]
    # A's message, and B: unanswered, so on the call-back list as a missed caller.
    assert sorted(cb["call_id"] for cb in data["callbacks"]) == sorted(
        [call_id_for("A"), call_id_for("B")]
    )
    assert [e["data"] for e in data["other_events"]] == [{"asked_about": NUMBER}]
    [case] = data["cases"]  # the case of call A, not call C's
    assert case["summary"] == f"{ASKED} (A)"
    assert case["history"]
    [rec] = data["recordings"]
    assert rec["name"] == "callrouter-message-A-1.wav"
    assert rec["present"] is True
    assert rec["bytes"] == len(WAV)
    assert rec["file"] == str((recordings / rec["name"]).resolve())
    [line] = data["file_lines"]
    assert (Path(line["file"]).name, line["line"]) == ("cdr-rejected.jsonl", 1)
    [audit] = asyncio.run(_state(url))["audit"]
    assert (
        audit["action"],
        audit["calls"],
        audit["callbacks"],
        audit["recordings"],
        audit["file_lines"],
    ) == ("export", 2, 2, 1, 1)
    assert audit["requested_by"] == "Cán bộ tiếp nhận"


def test_erase_removes_the_number_and_its_recordings_and_keeps_the_counts(
    seeded: tuple[str, Path], tmp_path: Path
) -> None:
    url, recordings = seeded
    counts = asyncio.run(table_counts(url))
    report = ("report", "monthly", "--month", "2026-03", "--format", "csv", "--database-url", url)
    before = _invoke(*report)
    assert before.exit_code == 0, before.output

    result = _invoke(
        "privacy", "erase", NUMBER, "--yes", "--recordings-dir", str(recordings),
        "--database-url", url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "cuộc gọi: 2" in result.output
    assert "file ghi âm đã xoá: 1" in result.output
    files = [p for p in (tmp_path / "state").iterdir() if p.is_file()]
    assert NUMBER not in "".join(p.read_text(encoding="utf-8") for p in files)
    assert OTHER in "".join(p.read_text(encoding="utf-8") for p in files)

    state = asyncio.run(_state(url))
    assert state["callers"] == {"A": None, "B": None, "C": OTHER}
    assert state["callbacks"][call_id_for("A")] == (None, None)
    assert state["callbacks"][call_id_for("B")] == (None, None)  # the missed-caller entry
    assert state["callbacks"][call_id_for("C")] == (OTHER, "callrouter-message-C-1.wav")
    assert not (recordings / "callrouter-message-A-1.wav").exists()
    assert (recordings / "callrouter-message-C-1.wav").exists()
    assert {"asked_about": NUMBER} not in state["events"]
    assert {"digit": "3"} in state["events"]
    # The case's free text about the caller is gone, another caller's stays.
    assert state["cases"] == {call_id_for("A"): None, call_id_for("C"): f"{ASKED} (C)"}
    assert f"{ASKED} (A)" not in json.dumps(state["history"], ensure_ascii=False)
    assert f"{ASKED} (C)" in json.dumps(state["history"], ensure_ascii=False)
    # Nothing anywhere still holds the number; the audit line has the counts only.
    assert NUMBER not in json.dumps(state, default=str)
    [audit] = state["audit"]
    assert (audit["action"], audit["calls"], audit["callbacks"], audit["events"]) == (
        "erase",
        2,
        2,
        len(state["events"]) - 1,  # every event but C's dtmf
    )
    assert asyncio.run(table_counts(url)) == counts
    # The report keeps every count; the one thing it loses is the erased caller's own words,
    # quoted among the questions that had no agreed answer (issue 21).
    after = _invoke(*report).output
    assert f"{ASKED} (A)" in before.output
    assert f"{ASKED} (A)" not in after
    assert after == before.output.replace(f"{ASKED} (A)", "")

    again = json.loads(
        _invoke("privacy", "export", NUMBER, "--recordings-dir", str(recordings),
                "--database-url", url).output
    )  # fmt: skip
    assert (again["calls"], again["callbacks"], again["recordings"]) == ([], [], [])


@pytest.mark.parametrize("bad", ["abc", "12", "0912;DROP", "0912 345 678 9999 9999 9999"])
def test_a_number_that_is_not_one_is_refused_before_anything_runs(
    seeded: tuple[str, Path], bad: str
) -> None:
    url, _recordings = seeded
    for args in (["export", bad], ["erase", bad, "--yes"]):
        result = CliRunner().invoke(cli, ["privacy", *args, "--database-url", url])
        assert result.exit_code == 2, result.output
        assert "không phải số điện thoại" in result.output
    assert asyncio.run(_state(url))["audit"] == []
