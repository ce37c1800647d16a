"""Two ``callrouter serve`` on one pbx (a second router started by mistake, a container beside a
host service): Asterisk gives the ARI application's events to the newer one only. The older
must not stay "ready" on a silent socket (its calls would never see their end): it says so in
its log, answers ``/healthz`` 503 and stands by, and takes the calls again once the newer is
gone and Asterisk no longer has the application (callrouter/asterisk/ari_standby.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from callrouter.asterisk.ari_standby import STANDBY_POLL
from tests.e2e.callflow_support import engine_for, wait_for_call, write_rota
from tests.e2e.faults_support import health, serve_process, wait_health, wait_logged
from tests.e2e.harness import ANSWERS, Harness, officer_number

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150, func_only=True)]


async def answered_by(harness: Harness, url: str, number: str) -> str:
    """Place a call to branch 3; once the officer answered and it ended, the outcome the
    router at ``url`` wrote for it."""
    call = await harness.place_call(digits="3", hold=2)
    await harness.wait_user_event(
        "OfficerAnswered", source="pstn", Number=number, Caller=call.caller_number
    )
    await harness.wait_caller_hangup(call, within=30)
    engine = engine_for(url)
    try:
        rows = await wait_for_call(engine, call.caller_number)
    finally:
        await engine.dispose()
    return str(rows.call["outcome"])


async def test_given_a_second_router_takes_the_application_then_the_first_stands_by(
    harness: Harness, tmp_path: Path
) -> None:
    answers = officer_number(ANSWERS, 0)
    rota = write_rota(tmp_path / "rota.yaml", [answers], ring_timeout=5)
    first_db = f"sqlite+aiosqlite:///{tmp_path / 'first.sqlite3'}"
    second_db = f"sqlite+aiosqlite:///{tmp_path / 'second.sqlite3'}"
    async with serve_process(harness.info, rota, first_db, tmp_path / "a", name="first") as first:
        talking = await harness.place_call(digits="3", hold=4)
        await harness.wait_user_event(
            "OfficerAnswered", source="pstn", Number=answers, Caller=talking.caller_number
        )
        async with serve_process(
            harness.info, rota, second_db, tmp_path / "b", name="second"
        ) as second:
            second_ready = time.time()
            first_unready = await wait_health(first.healthz, 503, 5, "the replaced router")
            await wait_logged(first.log_path, "ari.application_replaced", 5, first.proc)
            assert await answered_by(harness, second_db, answers) == "answered"
            await harness.wait_caller_hangup(talking, within=30)
            # While the newer one lives, the older never takes the application back.
            assert await health(first.healthz) == 503
            assert await health(second.healthz) == 200
        gone = time.monotonic()
        await wait_health(first.healthz, 200, 4 * STANDBY_POLL, "the router standing by")
        back_after = time.monotonic() - gone
        await wait_logged(first.log_path, "ari.standby_over", 5, first.proc)
        assert await answered_by(harness, first_db, answers) == "answered"
        engine = engine_for(first_db)
        try:
            rows = await wait_for_call(engine, talking.caller_number)
        finally:
            await engine.dispose()
        assert first.proc.returncode is None
    assert first_unready - second_ready < 1.0
    # The call the first router had bridged when it was replaced went on (the second watched
    # it); its row in the first router's log is closed with its real end, from the CDR.
    assert rows.call["outcome"] == "answered"
    assert rows.call["talk_seconds"] == pytest.approx(4, abs=1.5)
    assert [a["result"] for a in rows.attempts] == ["answered"]
    assert back_after < 3 * STANDBY_POLL
