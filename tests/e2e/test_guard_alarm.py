"""The fallback alarm comes from the guard: the router is SIGKILLed while an officer's phone
rings, the guard moves the caller to the dialplan fallback and e-mails the admins (a real
SMTP server started here) within 60 s; the router started again records the alarm once in
its notifications, and nobody is told twice."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from callrouter.asterisk import contract
from callrouter.store.models import notifications
from tests.e2e.agi_support import free_port
from tests.e2e.callflow_support import engine_for, write_rota
from tests.e2e.faults_support import guard_process, serve_process
from tests.e2e.harness import ANSWERS, Harness, officer_number
from tests.e2e.test_kill_while_ringing import pbx_event_of
from tests.integration.test_notify import Inbox, Smtp

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180, func_only=True)]

ADMINS = ["quantri@ttyt-kiemthu.example", "giamdoc@ttyt-kiemthu.example"]


async def test_given_a_killed_router_and_a_call_then_the_guard_alarms_the_admins_within_60s(
    harness: Harness, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    officer = officer_number(ANSWERS, 3)
    rota = write_rota(tmp_path / "rota.yaml", [officer], ring_timeout=20)
    state = tmp_path / "state"
    smtp_port = free_port()
    mail = {
        "CALLROUTER_NOTIFY_ADMINS": '["' + '","'.join(ADMINS) + '"]',
        "CALLROUTER_REPORT_SMTP_HOST": "127.0.0.1",
        "CALLROUTER_REPORT_SMTP_PORT": str(smtp_port),
        "CALLROUTER_REPORT_UNIT_NAME": "TRUNG TÂM Y TẾ KIỂM THỬ",
        "CALLROUTER_STATE_DIR": str(state),
    }
    engine = engine_for(url)
    try:
        with Smtp(smtp_port, Inbox()) as inbox:
            async with (
                serve_process(harness.info, rota, url, state) as first,
                guard_process(harness.info, first.healthz, tmp_path / "guard.log", mail),
            ):
                call = await harness.place_call(digits="3", hold=15)
                await harness.wait_user_event(
                    "OfficerRinging", source="pstn", Number=officer, Caller=call.caller_number
                )
                first.proc.kill()
                assert await first.proc.wait() == -signal.SIGKILL
                fallback = await harness.events.wait_for(
                    pbx_event_of(contract.EVENT_FALLBACK, call), within=10, what="the fallback"
                )
                deadline = time.monotonic() + 60
                while len(inbox.messages) < len(ADMINS):
                    assert time.monotonic() < deadline, "no fallback alarm within 60 s"
                    await asyncio.sleep(0.2)  # poll the inbox (deadline above)
                alarmed = time.time()
                await harness.wait_caller_hangup(call, within=60)
            # the router comes back (notifications off: it sends nothing of its own) and
            # records the guard's alarm once
            async with serve_process(harness.info, rota, url, state, extra=mail):
                deadline = time.monotonic() + 30
                while True:
                    async with engine.connect() as conn:
                        rows = list(
                            await conn.execute(
                                select(notifications).where(
                                    notifications.c.kind == "fallback_alarm"
                                )
                            )
                        )
                    if len(rows) == len(ADMINS):
                        break
                    assert time.monotonic() < deadline, rows
                    await asyncio.sleep(0.5)  # poll the database (deadline above)
            alarms = [m for _, m in inbox.messages if "dự phòng" in str(m["Subject"])]
    finally:
        await engine.dispose()

    print(f"guard: fallback alarm e-mailed {alarmed - fallback.timestamp:.2f} s after the fallback")
    assert alarmed - fallback.timestamp < 60
    assert sorted(str(m["To"]) for m in alarms) == sorted(ADMINS)  # once each
    assert len(inbox.messages) == len(ADMINS)  # and nothing else
    assert "TRUNG TÂM Y TẾ KIỂM THỬ" in str(alarms[0]["Subject"])
    assert {(r.recipient, r.status) for r in rows} == {(a, "sent") for a in ADMINS}
