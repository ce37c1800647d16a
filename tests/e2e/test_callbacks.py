"""Officer call-backs through the real pbx and pstn: ``callrouter callbacks call ID`` (the real
CLI, in a subprocess) rings the officer's phone first, then the caller once the officer
answered, and the pbx bridges them; the call-back is marked done and linked to the outbound
call. A failed call-back stays open with the attempt recorded."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callrouter.store.models import CallEvent, callbacks
from callrouter.store.writer import CallLog
from tests.e2e.callflow_support import engine_for, write_rota
from tests.e2e.harness import ANSWERS, BUSY, AmiEvent, Harness, Sandbox, officer_number

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120, func_only=True)]

REPO = Path(__file__).resolve().parents[2]


async def a_callback(tmp_path: Path, url: str, number: str) -> str:
    """A caller who hung up while waiting, to be called back (what the call flow writes)."""
    now = datetime.now(UTC)
    async with CallLog(url, tmp_path / "spool-setup", tz="Asia/Ho_Chi_Minh") as log:
        log.call_started(
            linkedid="pbx-orig.1",
            uniqueid="pbx-orig.1",
            branch=3,
            caller=number,
            started_at=now,
            mode="ari",
            rota_version=None,
        )
        log.call_ended(linkedid="pbx-orig.1", ended_at=now, outcome="abandoned", hangup_cause=16)
        callback_id = log.callback_requested(
            linkedid="pbx-orig.1", number=number, reason="abandoned", created_at=now, recording=None
        )
        await log.flush()
    return callback_id


async def run_cli(
    sandbox: Sandbox, tmp_path: Path, url: str, rota: Path, *args: str
) -> tuple[int, str]:
    pbx = sandbox.info().pbx
    env = {
        **os.environ,
        "CALLROUTER_ROTA_PATH": str(rota),
        "CALLROUTER_STATE_DIR": str(tmp_path / "state"),
        "CALLROUTER_AMI_HOST": "127.0.0.1",
        "CALLROUTER_AMI_PORT": str(pbx.ami_port),
        "CALLROUTER_AMI_USER": pbx.ami_user,
        "CALLROUTER_AMI_PASSWORD": pbx.ami_secret,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callrouter",
        "callbacks",
        "call",
        *args,
        "--database-url",
        url,
        env=env,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 100)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def rota_with_officer_phone(tmp_path: Path, phone: str) -> Path:
    path = write_rota(tmp_path / "rota.yaml", ["0901100099"])
    text = path.read_text(encoding="utf-8").replace('"0911000001"', f'"{phone}"')
    path.write_text(text, encoding="utf-8")
    return path


async def state(url: str, callback_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    engine = engine_for(url)
    try:
        async with engine.connect() as conn:
            row = (
                (await conn.execute(select(callbacks).where(callbacks.c.id == callback_id)))
                .mappings()
                .one()
            )
            events = (
                (
                    await conn.execute(
                        select(CallEvent.__table__).where(
                            CallEvent.__table__.c.type == "callback_attempt"
                        )
                    )
                )
                .mappings()
                .all()
            )
    finally:
        await engine.dispose()
    return dict(row), [dict(e) for e in events]


def first(harness: Harness, name: str, number: str) -> AmiEvent:
    return next(
        e
        for e in harness.events.events
        if e.source == "pstn" and e.user_event == name and e.get("Number") == number
    )


#: How far apart two events of two Asterisks (pbx, pstn) may be stamped for one moment.
CLOCKS_APART = 0.1


async def test_call_back_rings_the_officer_first_then_the_caller_and_bridges_them(
    harness: Harness, sandbox: Sandbox, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    officer, caller = officer_number(ANSWERS, 1), officer_number(ANSWERS, 1)
    callback_id = await a_callback(tmp_path, url, caller)
    rota = rota_with_officer_phone(tmp_path, officer)

    code, out = await run_cli(sandbox, tmp_path, url, rota, callback_id, "--officer", "an")
    assert code == 0, out
    assert "đã nối máy" in out
    await harness.wait_user_event("OfficerAnswered", source="pstn", Number=caller, within=10)
    bridge = await harness.events.wait_for(
        lambda e: (
            e.source == "pbx" and e.name == "BridgeEnter" and e.get("BridgeNumChannels") == "2"
        ),
        within=10,
        what="the pbx bridging officer and caller",
    )

    # The officer's phone rang first; the caller's only once the officer had answered.
    officer_answered = first(harness, "OfficerAnswered", officer)
    caller_rang = first(harness, "OfficerRinging", caller)
    assert first(harness, "OfficerRinging", officer).timestamp < officer_answered.timestamp
    assert officer_answered.timestamp <= caller_rang.timestamp
    # The pstn says "answered" from its dialplan after Answer() returned, while the pbx may
    # bridge on the 200 OK in the same instant (ci: the bridge 2 ms before the UserEvent):
    # what matters is that the bridge came after the second phone's ring (1 s), not during it.
    assert bridge.timestamp >= first(harness, "OfficerAnswered", caller).timestamp - CLOCKS_APART
    # The officer's phone shows the hotline, not a private number.
    assert first(harness, "OfficerRinging", officer).get("Caller") == "1022"

    row, events = await state(url, callback_id)
    assert row["done_at"] is not None
    assert row["done_by"] == "Nguyễn Văn An"
    assert row["outbound_linkedid"].startswith("callback-")
    [event] = events
    assert event["data"]["result"] == "bridged"
    assert event["data"]["outbound_linkedid"] == row["outbound_linkedid"]
    assert event["data"]["officer_id"] == "an"


@pytest.mark.parametrize("who_is_busy", ["caller", "officer"])
async def test_a_failed_call_back_stays_open_with_the_attempt_recorded(
    harness: Harness, sandbox: Sandbox, tmp_path: Path, who_is_busy: str
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    if who_is_busy == "caller":
        officer, caller = officer_number(ANSWERS, 1), officer_number(BUSY, 0)
    else:
        officer, caller = officer_number(BUSY, 0), officer_number(ANSWERS, 1)
    callback_id = await a_callback(tmp_path, url, caller)
    rota = rota_with_officer_phone(tmp_path, officer)

    code, out = await run_cli(sandbox, tmp_path, url, rota, callback_id, "--officer", "an")
    assert code == 1, out
    assert "Yêu cầu vẫn còn mở" in out
    assert "Traceback" not in out

    row, events = await state(url, callback_id)
    assert row["done_at"] is None
    assert row["outbound_linkedid"].startswith("callback-")
    [event] = events
    if who_is_busy == "caller":
        assert first(harness, "OfficerAnswered", officer)
        assert (event["data"]["result"], event["data"]["detail"]) == ("caller_unreachable", "busy")
    else:
        assert not any(
            e.source == "pstn" and e.get("Number") == caller for e in harness.events.events
        )
        # Asterisk's OriginateResponse gives no busy/no-answer detail for a PJSIP leg.
        assert event["data"]["result"] == "officer_unreachable"
        assert not first(harness, "OfficerRinging", officer).get("Answered")


async def test_calling_back_an_unknown_entry_is_a_clear_error(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    await a_callback(tmp_path, url, officer_number(ANSWERS, 1))
    rota = rota_with_officer_phone(tmp_path, officer_number(ANSWERS, 1))
    code, out = await run_cli(sandbox, tmp_path, url, rota, "no-such-id")
    assert code == 1
    assert "không tìm thấy yêu cầu gọi lại" in out
    assert "Traceback" not in out
