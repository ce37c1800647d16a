"""The router is SIGKILLed while an officer's phone rings: the caller is not stranded and no
row lies.

* With a restart at once, the router that comes back hands the caller to the dialplan
  fallback; the killed router's attempt is closed (never a NULL result or end), and once the
  CDR is imported the call's row says what the fallback did.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from callrouter.asterisk import contract
from tests.e2e.callflow_support import engine_for, wait_for_call, write_rota
from tests.e2e.faults_support import serve_process
from tests.e2e.harness import ANSWERS, AmiEvent, Harness, PlacedCall, officer_number

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180, func_only=True)]


def is_fallback_of(call: PlacedCall) -> Callable[[AmiEvent], bool]:
    def pred(e: AmiEvent) -> bool:
        return (
            e.user_event == contract.EVENT_FALLBACK and e.get("CallerIDNum") == call.caller_number
        )

    return pred


async def test_given_a_kill_while_ringing_and_a_restart_then_no_attempt_is_left_open(
    harness: Harness, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    officer = officer_number(ANSWERS, 4)  # rings 4 s, then answers
    rota = write_rota(tmp_path / "rota.yaml", [officer], ring_timeout=10)
    state = tmp_path / "state"
    engine = engine_for(url)
    try:
        async with serve_process(harness.info, rota, url, state) as first:
            call = await harness.place_call(digits="3", hold=25)
            await harness.wait_user_event(
                "OfficerRinging", source="pstn", Number=officer, Caller=call.caller_number
            )
            first.proc.kill()
            assert await first.proc.wait() == -signal.SIGKILL
        async with serve_process(harness.info, rota, url, state):
            await harness.events.wait_for(is_fallback_of(call), within=15, what="the fallback")
            caller = await harness.wait_caller_hangup(call, within=60)
            # serve imports the fallback's CDR 5 s after start, then every 30 s
            deadline = time.monotonic() + 60
            while True:
                rows = await wait_for_call(engine, call.caller_number, outcome_set=False)
                if rows.call["outcome"] == "answered":
                    break
                assert time.monotonic() < deadline, (rows.call, rows.attempts)
                await asyncio.sleep(0.5)  # poll the database (deadline above)
    finally:
        await engine.dispose()

    assert caller.hung_up_by == "caller"
    assert harness.officer(officer, call).answered
    assert all(a["result"] is not None and a["ended_at"] is not None for a in rows.attempts), (
        rows.attempts
    )
