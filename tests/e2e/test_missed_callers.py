"""Missed callers on the call-back list, through the real pbx and the real router, in ARI and
FastAGI mode: a caller who hangs up after 15 s of ringing is on the list within a second of
hanging up; one who hangs up after 3 s (a misdial, CALLROUTER_MISDIAL_SECONDS = 10) is not.
Through the dialplan fallback (callrouter down) the same holds once its CDR is imported: the
import itself lists the caller."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.asterisk.cdr_import import CDR_FILENAME, import_once
from callrouter.store.models import callbacks
from tests.e2e.callflow_support import engine_for, wait_for_call, write_rota
from tests.e2e.harness import RINGS_FOREVER, Harness, Sandbox, officer_number
from tests.e2e.router_modes import RouterMode
from tests.e2e.test_fallback_import import fallback_call, rows_by_caller, settings_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150, func_only=True)]


async def entries(engine: AsyncEngine, number: str) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(callbacks).where(callbacks.c.number == number))
        return [dict(r._mapping) for r in rows]


async def test_a_caller_who_gave_up_after_15_s_is_listed_within_a_second_a_misdial_is_not(
    router_mode: RouterMode, harness: Harness, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    silent = officer_number(RINGS_FOREVER, 0)
    rota = write_rota(tmp_path / "rota.yaml", [silent], ring_timeout=25)
    engine = engine_for(url)
    try:
        async with router_mode.running(rota, url, tmp_path / "state"):
            short = await harness.place_call(digits="3", hold=3)
            await harness.wait_caller_hangup(short, within=30)
            short_rows = await wait_for_call(engine, short.caller_number)

            long = await harness.place_call(digits="3", hold=17)
            caller = await harness.wait_caller_hangup(long, within=60)
            assert caller.hung_up_at is not None
            deadline = time.monotonic() + 5
            while not (found := await entries(engine, long.caller_number)):
                assert time.monotonic() < deadline, "the missed caller never reached the list"
                await asyncio.sleep(0.05)
            listed_after = time.time() - caller.hung_up_at
            long_rows = await wait_for_call(engine, long.caller_number)
            assert await entries(engine, short.caller_number) == []
    finally:
        await engine.dispose()

    assert short_rows.call["outcome"] == "abandoned"
    assert short_rows.call["wait_seconds"] is not None
    assert short_rows.call["wait_seconds"] <= 10
    assert long_rows.call["outcome"] == "abandoned"
    assert long_rows.call["wait_seconds"] is not None
    assert long_rows.call["wait_seconds"] >= 14
    [entry] = found
    assert entry["reason"] == "abandoned"
    assert entry["call_id"] == long_rows.call["id"]
    assert entry["done_at"] is None
    assert listed_after <= 1.0, f"listed {listed_after:.2f} s after the caller hung up"


async def test_through_the_fallback_the_import_lists_a_caller_who_gave_up_not_a_misdial(
    harness: Harness, sandbox: Sandbox, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    silent = officer_number(RINGS_FOREVER, 0)
    rota = write_rota(tmp_path / "rota.yaml", [silent], ring_timeout=25)
    short = await fallback_call(harness, sandbox, rota, hold=3)
    long = await fallback_call(harness, sandbox, rota, hold=17)
    cdr = sandbox.info().pbx.log_dir / "cdr-custom" / CDR_FILENAME
    report = await import_once(settings_for(tmp_path, url, rota), cdr_path=cdr)
    imported_at = time.monotonic()
    engine = engine_for(url)
    try:
        found = await entries(engine, long.caller_number)
        listed_after = time.monotonic() - imported_at
        assert await entries(engine, short.caller_number) == []
    finally:
        await engine.dispose()
    rows = await rows_by_caller(url)

    assert report.imported >= 2
    assert (rows[short.caller_number]["mode"], rows[short.caller_number]["outcome"]) == (
        "fallback",
        "abandoned",
    )
    assert rows[long.caller_number]["outcome"] == "abandoned"
    assert rows[long.caller_number]["wait_seconds"] >= 14, rows[long.caller_number]
    [entry] = found
    assert entry["reason"] == "abandoned"
    assert entry["call_id"] == rows[long.caller_number]["id"]
    assert entry["done_at"] is None
    assert listed_after <= 1.0
