"""Two ``callrouter serve`` on one pbx (a second router started by mistake, a container beside a
host service): Asterisk gives the ARI application's events to the newer one only. The older
must not stay "ready" on a silent socket (its calls would never see their end): it says so in
its log, answers ``/healthz`` 503 and stands by, and takes the calls again once the newer is
gone and Asterisk no longer has the application (callrouter/asterisk/ari_standby.py)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import pytest

from callrouter.asterisk.ari_standby import FREE_CHECKS, STANDBY_POLL
from tests.e2e.callflow_support import engine_for, wait_for_call, write_rota
from tests.e2e.faults_support import health, serve_process, wait_health, wait_logged
from tests.e2e.harness import ANSWERS, Harness, officer_number

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150, func_only=True)]

TALK = 12  # seconds the first router's call lasts, bridged when the second one connects


def logged_at(log: Path, event: str) -> datetime:
    """When a router's JSON log first says ``event``."""
    for line in log.read_text(encoding="utf-8").splitlines():
        if line.startswith("{") and json.loads(line).get("event") == event:
            return datetime.fromisoformat(json.loads(line)["timestamp"])
    raise AssertionError(f"no {event} in {log}")


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
        # Long enough to be up when the second router is (it took 4.3 s to start in one CI run).
        talking = await harness.place_call(digits="3", hold=TALK)
        await harness.wait_user_event(
            "OfficerAnswered", source="pstn", Number=answers, Caller=talking.caller_number
        )
        async with serve_process(
            harness.info, rota, second_db, tmp_path / "b", name="second"
        ) as second:
            await wait_health(first.healthz, 503, 5, "the replaced router")
            await wait_logged(first.log_path, "ari.calls_let_go", 5, first.proc)
            assert await answered_by(harness, second_db, answers) == "answered"
            await harness.wait_caller_hangup(talking, within=30)
            # While the newer one lives, the older never takes the application back.
            assert await health(first.healthz) == 503
            assert await health(second.healthz) == 200
        gone = time.monotonic()
        standby = (FREE_CHECKS + 2) * STANDBY_POLL
        await wait_health(first.healthz, 200, standby, "the router standing by")
        back_after = time.monotonic() - gone
        await wait_logged(first.log_path, "ari.standby_over", 5, first.proc)
        assert await answered_by(harness, first_db, answers) == "answered"
        engine = engine_for(first_db)
        try:
            rows = await wait_for_call(engine, talking.caller_number)
        finally:
            await engine.dispose()
        assert first.proc.returncode is None
    # From the second router's connection to the first one's knowing it was replaced.
    took = logged_at(tmp_path / "b" / "second.log", "ari.events.connected")
    replaced = logged_at(first.log_path, "ari.application_replaced")
    assert abs((replaced - took).total_seconds()) < 1.0
    assert '"calls": 1' in first.log_text()  # ari.calls_let_go: the bridged call
    # The call the first router had bridged when it was replaced went on (the second watched
    # it); its row in the first router's log is closed with its real end, from the CDR.
    assert rows.call["outcome"] == "answered"
    assert rows.call["talk_seconds"] == pytest.approx(TALK, abs=1.5)
    assert [a["result"] for a in rows.attempts] == ["answered"]
    assert back_after < (FREE_CHECKS + 1) * STANDBY_POLL
