"""A caller that ends with a plain BYE (no Reason header), driven by SIPp: the hang-up cause
Asterisk itself reports is on the call's row and its attempts from every door (ARI, FastAGI,
and the CDR import of a call the dialplan fallback handled)."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from callrouter.asterisk import contract
from callrouter.asterisk.cdr_import import CDR_FILENAME, import_once
from callrouter.asterisk.fallback import write_fallback_include
from callrouter.rota import load_rota
from callrouter.settings import Settings
from tests.e2e.callflow_support import engine_for, wait_for_call, write_rota
from tests.e2e.faults_support import serve_process
from tests.e2e.harness import ANSWERS, Harness, Sandbox, officer_number
from tests.e2e.router_modes import RouterMode
from tests.e2e.sipp_support import sipp_call

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120, func_only=True)]

CAUSE_NORMAL_CLEARING = 16
_numbers = itertools.count(int(time.time()) % 100_000)


def sipp_caller_number() -> str:
    return f"0986{next(_numbers) % 100_000:05d}1"  # SIPp's call 1 ends the number


async def test_given_a_caller_ending_with_a_plain_bye_then_row_and_attempt_carry_cause_16(
    router_mode: RouterMode, harness: Harness, sandbox: Sandbox, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    answers = officer_number(ANSWERS, 1)
    rota = write_rota(tmp_path / "rota.yaml", [answers], ring_timeout=5)
    caller = sipp_caller_number()
    engine = engine_for(url)
    try:
        async with router_mode.running(rota, url, tmp_path / "state"):
            run = await sipp_call(sandbox.info(), caller, hold_seconds=5)
            rows = await wait_for_call(engine, caller)
    finally:
        await engine.dispose()

    assert run.returncode == 0, run.output
    officer = harness.officer(answers)
    assert officer.answered
    c = rows.call
    assert c["outcome"] == "answered"
    assert c["talk_seconds"] is not None
    assert c["talk_seconds"] > 2
    # The caller's BYE carried no Reason: the cause is the one Asterisk set on the channel.
    assert c["hangup_cause"] == CAUSE_NORMAL_CLEARING
    [attempt] = rows.attempts
    assert (attempt["result"], attempt["cause"]) == ("answered", CAUSE_NORMAL_CLEARING)


async def test_given_the_fallback_took_a_plain_bye_caller_then_the_import_records_cause_16(
    harness: Harness, sandbox: Sandbox, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    answers = officer_number(ANSWERS, 1)
    rota_path = write_rota(tmp_path / "rota.yaml", [answers], ring_timeout=5)
    info = sandbox.info()
    write_fallback_include(
        load_rota(rota_path), info.pbx.etc_dir / contract.FALLBACK_INCLUDE_FILENAME
    )
    sandbox.cli("pbx", "dialplan reload")
    caller = sipp_caller_number()
    run = await sipp_call(info, caller, hold_seconds=6)  # no router: Stasis FAILED, fallback
    assert run.returncode == 0, run.output
    assert harness.officer(answers).answered

    settings = Settings(
        database_url=SecretStr(url), state_dir=tmp_path / "state", rota_path=rota_path, branch=3
    )
    cdr = info.pbx.log_dir / "cdr-custom" / CDR_FILENAME
    engine = engine_for(url)
    try:
        deadline = time.monotonic() + 20
        while not (await import_once(settings, cdr_path=cdr)).imported:
            assert time.monotonic() < deadline, "the fallback call never reached the CDR"
            await asyncio.sleep(0.2)
        rows = await wait_for_call(engine, caller)
    finally:
        await engine.dispose()
    assert (rows.call["mode"], rows.call["outcome"]) == ("fallback", "answered")
    assert rows.call["hangup_cause"] == CAUSE_NORMAL_CLEARING
    [attempt] = rows.attempts
    assert (attempt["result"], attempt["cause"]) == ("answered", CAUSE_NORMAL_CLEARING)


async def test_given_a_restart_mid_call_then_an_adopted_plain_bye_call_has_cause_16(
    harness: Harness, sandbox: Sandbox, tmp_path: Path
) -> None:
    """The router is killed while a SIPp caller talks and comes back: it adopts the bridge,
    and the caller's plain BYE ends the call with the causes Asterisk reports."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    answers = officer_number(ANSWERS, 0)
    rota = write_rota(tmp_path / "rota.yaml", [answers], ring_timeout=5)
    state = tmp_path / "state"
    caller = sipp_caller_number()
    engine = engine_for(url)
    try:
        async with serve_process(harness.info, rota, url, state) as first:
            sipp = asyncio.create_task(sipp_call(sandbox.info(), caller, hold_seconds=12))
            deadline = time.monotonic() + 15
            while not [
                b
                for b in await harness.bridges("pbx")
                if b.get("name", "").startswith("callrouter-call-") and len(b["channels"]) == 2
            ]:
                assert time.monotonic() < deadline, "the SIPp caller was never bridged"
                await asyncio.sleep(0.1)  # poll the pbx (deadline above)
            first.proc.kill()
            await first.proc.wait()
        async with serve_process(harness.info, rota, url, state):
            run = await sipp
            rows = await wait_for_call(engine, caller, within=20)
    finally:
        await engine.dispose()
    assert run.returncode == 0, run.output
    c = rows.call
    assert c["outcome"] == "answered"
    assert c["hangup_cause"] == CAUSE_NORMAL_CLEARING
    [attempt] = rows.attempts
    assert (attempt["result"], attempt["cause"]) == ("answered", CAUSE_NORMAL_CLEARING)
