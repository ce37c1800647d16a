"""A caller who hangs up as the officer answers: the row says abandoned (no answerer, no talk
time) or answered (the bridge was made), never failed with talk time; the attempt says the
leg answered. The race is provoked: the caller's phone is hung up the moment the officer's
phone reports its answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.callflow_support import engine_for, running_router, wait_for_call, write_rota
from tests.e2e.harness import ANSWERS, Harness, officer_number

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180, func_only=True)]

CALLS = 6


async def test_given_callers_hang_up_as_the_officer_answers_then_no_row_is_failed(
    harness: Harness, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    officers = [officer_number(ANSWERS, 1) for _ in range(CALLS)]
    engine = engine_for(url)
    outcomes = []
    try:
        for i, officer in enumerate(officers):
            rota = write_rota(tmp_path / f"rota{i}.yaml", [officer], ring_timeout=5)
            async with running_router(harness.info, rota, url, tmp_path / f"state{i}"):
                call = await harness.place_call(digits="3", hold=30)
                await harness.wait_user_event("OfficerAnswered", source="pstn", Number=officer)
                [chan] = [c for c in await harness.channels("pstn") if c["id"] == call.tag]
                await harness.ami("pstn").action("Hangup", Channel=chan["name"])
                rows = await wait_for_call(engine, call.caller_number)
            c = rows.call
            outcomes.append(c["outcome"])
            assert c["outcome"] in ("abandoned", "answered"), c
            if c["outcome"] == "abandoned":
                assert c["answered_at"] is None
                assert c["talk_seconds"] is None
            [attempt] = rows.attempts
            assert attempt["result"] == "answered", attempt
            assert attempt["ended_at"] is not None
    finally:
        await engine.dispose()
    print(f"hang-up at answer: {outcomes}")  # which side of the race each call fell (-s)
