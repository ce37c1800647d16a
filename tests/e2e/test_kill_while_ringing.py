"""The router is SIGKILLed while an officer's phone rings: the caller is not stranded and no
row lies.

* With a restart at once, the router that comes back hands the caller to the dialplan
  fallback; the killed router's attempt is closed (never a NULL result or end), and once the
  CDR is imported the call's row says what the fallback did.
* With no restart, ``callrouter guard`` (a separate process on AMI) notices the router is
  gone, hangs up its ringing leg and moves the caller to the fallback, which rings the officer
  within 5 s of the kill; a router started later imports the call and closes its attempts.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from callrouter.asterisk import contract
from tests.e2e.callflow_support import engine_for, wait_for_call, write_rota
from tests.e2e.faults_support import guard_process, serve_process
from tests.e2e.harness import (
    ANSWERS,
    AmiEvent,
    Harness,
    PlacedCall,
    officer_number,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180, func_only=True)]


def pbx_event_of(name: str, call: PlacedCall) -> Callable[[AmiEvent], bool]:
    """The pbx's UserEvent ``name`` (e.g. the fallback's) about ``call``'s caller."""

    def pred(e: AmiEvent) -> bool:
        return e.user_event == name and e.get("CallerIDNum") == call.caller_number

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
            await harness.events.wait_for(
                pbx_event_of(contract.EVENT_FALLBACK, call), within=15, what="the fallback"
            )
            caller = await harness.wait_caller_hangup(call, within=60)
            # serve imports the fallback's CDR 5 s after start, then every 30 s
            rows = await wait_for_call(
                engine,
                call.caller_number,
                within=60,
                outcome_set=False,
                until=lambda r: r.call["outcome"] == "answered",
            )
    finally:
        await engine.dispose()

    assert caller.hung_up_by == "caller"
    assert harness.officer(officer, call).answered
    assert all(a["result"] is not None and a["ended_at"] is not None for a in rows.attempts), (
        rows.attempts
    )


async def test_given_a_kill_while_ringing_and_no_restart_then_the_guard_hands_over_the_caller(
    harness: Harness, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    officer = officer_number(ANSWERS, 3)  # rings 3 s, then answers
    rota = write_rota(tmp_path / "rota.yaml", [officer], ring_timeout=20)
    state = tmp_path / "state"
    engine = engine_for(url)
    try:
        async with (
            serve_process(harness.info, rota, url, state) as first,
            guard_process(harness.info, first.healthz, tmp_path / "guard.log"),
        ):
            call = await harness.place_call(digits="3", hold=20)
            await harness.wait_user_event(
                "OfficerRinging", source="pstn", Number=officer, Caller=call.caller_number
            )
            first.proc.kill()
            killed_at = time.time()
            assert await first.proc.wait() == -signal.SIGKILL
            dial = await harness.events.wait_for(
                pbx_event_of(contract.EVENT_FALLBACK_DIAL, call),
                within=10,
                what="the fallback's Dial",
            )
            fallback = await harness.events.wait_for(
                pbx_event_of(contract.EVENT_FALLBACK, call), within=1
            )
            caller = await harness.wait_caller_hangup(call, within=60)
        # The killed router's own leg stopped ringing: the officer's phone saw two calls,
        # the first hung up unanswered, the fallback's answered.
        hangups = [
            e
            for e in harness.events.find(
                lambda e: e.user_event == "OfficerHangup" and e.get("Number") == officer
            )
            if e.get("Caller") == call.caller_number
        ]
        # A router started later imports the call from the CDR and closes its attempts.
        async with serve_process(harness.info, rota, url, state):
            rows = await wait_for_call(
                engine,
                call.caller_number,
                within=60,
                outcome_set=False,
                until=lambda r: (
                    r.call["outcome"] == "answered"
                    and all(a["result"] is not None for a in r.attempts)
                ),
            )
    finally:
        await engine.dispose()

    assert fallback.get("Reason") == contract.REASON_GUARD
    # Measured here: the guard saw the router dead ~1.5 s after the kill (3 probes 0.5 s
    # apart), the caller was in the fallback at once and the officer's phone rang next.
    print(  # the measurement, for the record (pytest -s)
        f"guard: caller in the fallback {fallback.timestamp - killed_at:.2f} s, officer "
        f"dialled {dial.timestamp - killed_at:.2f} s after the kill"
    )
    assert fallback.timestamp - killed_at < 5.0, fallback.timestamp - killed_at
    assert dial.timestamp - killed_at < 5.0, dial.timestamp - killed_at
    assert caller.hung_up_by == "caller"
    assert harness.officer(officer, call).answered
    assert len(hangups) == 2, hangups
    # The killed router's leg hung up unanswered, before the fallback's answered leg. Not
    # compared with the fallback's Dial: the guard's hang-up and its redirect race inside
    # two Asterisks, and under load their events cross by a few milliseconds (CI, 2.4 ms).
    assert hangups[0].get("Answered") == "no", hangups
    assert hangups[1].get("Answered") == "yes", hangups
    assert hangups[0].timestamp < hangups[1].timestamp, hangups
    assert all(a["ended_at"] is not None for a in rows.attempts), rows.attempts
