"""``callrouter demo`` end to end: its own fresh sandbox slot, real calls, real rows, reports.

The demo is run in this test's event loop (``run_demo``) on a slot of its own (not the
session sandbox's), twice in a row on the same state folder. The test then reads the
database itself: every scene's call has the row and attempts the scene stands for, the
fallback call reached the rota's first registered number, the XLSX and DOCX are real
Office files with the report in them, and the sandbox slot is stopped afterwards.
"""

from __future__ import annotations

import io
import os
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from callrouter.demo import (
    DEMO_ROTA,
    SANDBOX_SCRIPT,
    SCENES,
    Console,
    DemoError,
    DemoOptions,
    DemoResult,
    run_demo,
)
from callrouter.errors import ConfigError
from callrouter.rota import load_rota
from callrouter.store.db import make_engine
from callrouter.store.models import Call, CallAttempt, Callback
from tests.conftest import DEMO_SLOT, require_service

pytestmark = [pytest.mark.e2e]

# A slot of its own (tests/conftest.py: after every worker's), never a session sandbox's.
CALLS = Call.__table__
ATTEMPTS = CallAttempt.__table__
CALLBACKS = Callback.__table__


def _require_sandbox() -> None:
    if os.geteuid() != 0:
        require_service("Asterisk sandbox", "needs root (chroot, mounts)")
    if not SANDBOX_SCRIPT.exists():
        require_service("Asterisk sandbox", f"{SANDBOX_SCRIPT} is missing")


def _slot_running(slot: int) -> bool:
    out = subprocess.run(
        [str(SANDBOX_SCRIPT), "status"],
        env={**os.environ, "CALLROUTER_SANDBOX_SLOT": str(slot)},
        capture_output=True,
        text=True,
        check=False,  # exit status 3 means "stopped" (LSB)
        timeout=30,
    ).stdout
    return ": running" in out


async def _rows(url: str) -> dict[str, tuple[dict[str, Any], tuple[str, ...]]]:
    """caller → (calls row, attempt results in order), read straight from the database."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            calls = [dict(r._mapping) for r in (await conn.execute(select(CALLS))).all()]
            out: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {}
            for call in calls:
                results = (
                    await conn.execute(
                        select(ATTEMPTS.c.result)
                        .where(ATTEMPTS.c.call_id == call["id"])
                        .order_by(ATTEMPTS.c.seq)
                    )
                ).scalars()
                out[str(call["caller"])] = (call, tuple(results))
            total = (await conn.execute(select(func.count()).select_from(CALLS))).scalar_one()
            assert total == len(out), "two rows for one caller"
            return out
    finally:
        await engine.dispose()


async def _callback_reasons(url: str, call_id: str) -> list[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(CALLBACKS.c.reason, CALLBACKS.c.recording).where(
                    CALLBACKS.c.call_id == call_id
                )
            )
            found = rows.all()
    finally:
        await engine.dispose()
    assert all(recording for _, recording in found), "a call-back without its recording"
    return [str(reason) for reason, _ in found]


def _check_reports(result: DemoResult) -> None:
    xlsx, docx = result.reports["xlsx"], result.reports["docx"]
    with zipfile.ZipFile(xlsx) as book:
        assert "xl/workbook.xml" in book.namelist()
    with zipfile.ZipFile(docx) as doc:
        text = doc.read("word/document.xml").decode("utf-8")
    assert "1022" in text
    assert "BÁO CÁO" in text.upper()


async def _run_and_check(state: Path) -> str:
    out = io.StringIO()
    result = await run_demo(DemoOptions(slot=DEMO_SLOT, state_dir=state), Console(out))
    transcript = out.getvalue()
    assert result.ok, transcript
    rows = await _rows(result.database_url)
    by_scene = {s.scene.title: s for s in result.scenes}
    # a fresh database each run: exactly this run's calls, the fallback one included
    # (imported from Asterisk's CDR once callrouter was back)
    assert len(rows) == len(SCENES), transcript
    for scene in SCENES:
        placed = by_scene[scene.title]
        call, results = rows[placed.caller]
        assert call["outcome"] == scene.outcome, (scene.title, call)
        assert call["mode"] == scene.mode, (scene.title, call)
        if scene.router_up:
            assert results == scene.results, (scene.title, results)
        if scene.answered_by is not None:
            assert call["answered_officer_id"] == scene.answered_by, scene.title
        if scene.outcome == "answered":
            assert call["talk_seconds"] is not None
            assert call["talk_seconds"] >= 2.5, (scene.title, call["talk_seconds"])
        reasons = await _callback_reasons(result.database_url, str(call["id"]))
        assert reasons == ([scene.callback] if scene.callback else []), (scene.title, reasons)
    # the router stopped: the dialplan fallback rang the rota's first registered number
    fallback = next(s for s in result.scenes if not s.scene.router_up)
    assert fallback.rung[:1] == [load_rota(DEMO_ROTA).numbers[0].number], transcript
    # the scene that waits out the ring timeout rang two phones, in the rota's order
    no_answer = next(s for s in result.scenes if s.scene.results == ("no_answer", "answered"))
    assert len(no_answer.rung) == 2
    _check_reports(result)
    assert "Tổng số cuộc gọi đến" in transcript  # the month's report table was printed
    assert "tin nhắn ngoài giờ" in transcript  # and the call-back list
    assert not _slot_running(DEMO_SLOT), "the demo left its sandbox running"
    return transcript


@pytest.mark.timeout(900)
async def test_demo_places_every_scene_logs_each_call_writes_reports_and_runs_twice(
    tmp_path: Path,
) -> None:
    """Two runs in a row on one state folder: each is fresh, complete and cleans up."""
    _require_sandbox()
    first = await _run_and_check(tmp_path / "demo")
    second = await _run_and_check(tmp_path / "demo")
    assert "Cảnh 8" in first
    assert "Cảnh 8" in second


@pytest.mark.timeout(300)
async def test_demo_that_fails_midway_still_stops_its_sandbox(tmp_path: Path) -> None:
    """A rota the demo refuses (it already has overrides) fails with a clear error after the
    sandbox started, and the sandbox is stopped anyway."""
    _require_sandbox()
    rota = tmp_path / "rota.yaml"
    rota.write_text(
        DEMO_ROTA.read_text(encoding="utf-8")
        + '\noverrides:\n  - date: 2030-01-02\n    reason: "x"\n    closed: true\n',
        encoding="utf-8",
    )
    out = io.StringIO()
    with pytest.raises((ConfigError, DemoError), match="overrides"):
        await run_demo(
            DemoOptions(slot=DEMO_SLOT, state_dir=tmp_path / "demo", rota=rota), Console(out)
        )
    assert "Khởi động Asterisk" in out.getvalue()
    assert not _slot_running(DEMO_SLOT)
