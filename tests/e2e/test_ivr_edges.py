"""IVR edges and the live rota's refusal, end to end (real pbx + pstn, real ``serve``).

Documented treatment (docs: dialplan/README.md "IVR edges"):

* **another digit / no digit** at the menu: the dialplan says so and offers the menu again,
  then goodbye. Such a call never reaches callrouter, so it has **no calls row**; it is
  counted by Asterisk's CDR (``cdr-custom/callrouter-cdr.json``, ``dcontext``
  callrouter-hotline), which is where a report of menu drop-outs would read it.
* **a DTMF storm** (3 then dozens of keys): the first 3 takes the caller to branch 3; the
  other keys reach callrouter as DTMF events on the caller's channel and are ignored: one
  call, one row, routed as usual.
* **no caller ID** (withheld: ``anonymous``) or **odd characters** in it: routed as usual;
  the row keeps the dialable form (digits, leading +) or NULL, the raw caller ID is in the
  call's ``decision`` event.
* **an invalid rota** written while serving: refused (error logged, metric
  ``callrouter_rota_reload_refusals_total``), calls keep following the old rota.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from callrouter.store.models import calls
from tests.e2e.callflow_support import (
    call_events,
    engine_for,
    running_router,
    wait_for_call,
    write_rota,
)
from tests.e2e.harness import ANSWERS, Harness, PlacedCall, officer_number

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120, func_only=True)]


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"


async def originate(
    harness: Harness, tag: str, caller_id: str, *, hold: float, **extra: str
) -> None:
    """The pstn calls 1022 with a caller ID the harness would not give (withheld, odd)."""
    res = await harness.ami("pstn").action(
        "Originate",
        variables={
            "CALLER_TAG": tag,
            "CALLER_DIGITS": "3",
            "CALLER_DIGIT_DELAY": "0.5",
            "CALLER_HOLD": str(hold),
            "CALLER_SAY": "",
            "CALLER_SAY_AFTER": "0",
            "CALLER_THEN_DIGITS": "",
            **extra,
        },
        Channel="PJSIP/1022@pbx",
        Context="caller",
        Exten="s",
        Priority="1",
        CallerID=caller_id,
        Timeout="15000",
        Async="true",
        ChannelId=tag,
    )
    assert res.get("Response") == "Success", res


async def tagged_hangup(harness: Harness, tag: str, within: float) -> str:
    event = await harness.events.wait_for(
        lambda e: e.user_event == "CallerHangup" and e.get("Tag") == tag,
        within=within,
        what=f"hang-up of {tag}",
    )
    return event.get("By")


async def only_call(url: str, within: float = 20.0) -> dict[str, object]:
    """The single finished calls row of this test's database."""
    engine = engine_for(url)
    deadline = time.monotonic() + within
    try:
        while True:
            async with engine.connect() as conn:
                rows = [dict(r._mapping) for r in (await conn.execute(select(calls))).all()]
            if len(rows) == 1 and rows[0]["outcome"] is not None:
                return rows[0]
            assert len(rows) <= 1, rows
            assert time.monotonic() < deadline, f"no finished row: {rows}"
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()


def cdr_lines(harness: Harness) -> list[dict[str, str]]:
    path = harness.info.pbx.log_dir / "cdr-custom" / "callrouter-cdr.json"
    if not path.exists():
        return []
    out = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip().rstrip(",")
        # Asterisk 22 writes a caller *name* holding '"' as invalid JSON; skip such lines.
        with contextlib.suppress(json.JSONDecodeError):
            out.append(json.loads(line))
    return out


# ------------------------------------------------------------------------------ scenarios


@pytest.mark.parametrize(
    ("caller_id", "stored"),
    [
        ('"" <anonymous>', None),
        ('"Bà Tư \\"Bảy\\"" <+84-90.555.1234>', "+84905551234"),
        ('"x" <0905*555#12>', "090555512"),
    ],
    ids=["withheld", "separators-and-quotes", "star-and-hash"],
)
async def test_given_no_or_odd_caller_id_then_the_call_is_routed_and_the_row_keeps_a_clean_number(
    harness: Harness, tmp_path: Path, sqlite_url: str, caller_id: str, stored: str | None
) -> None:
    officer = officer_number(ANSWERS, 0)
    rota = write_rota(tmp_path / "rota.yaml", [officer])
    tag = f"edge-{officer}"
    engine = engine_for(sqlite_url)
    try:
        async with running_router(harness.info, rota, sqlite_url, tmp_path / "state"):
            await originate(harness, tag, caller_id, hold=4)
            await harness.wait_user_event(
                "OfficerAnswered", source="pstn", Number=officer, within=20
            )
            by = await tagged_hangup(harness, tag, within=20)
            row = await only_call(sqlite_url)
            events = await call_events(engine, str(row["id"]))
    finally:
        await engine.dispose()

    assert by == "caller"
    assert harness.officer(officer).answered
    assert row["outcome"] == "answered"
    assert row["answered_number"] == officer
    assert row["caller"] == stored
    # The raw caller ID as the pbx got it (Asterisk itself already drops separators).
    [raw] = {
        e.get("CallerIDNum")
        for e in harness.events.events
        if e.source == "pbx" and e.name == "Newchannel" and e.get("Uniqueid") == row["linkedid"]
    }
    decision = next(e for e in events if e["type"] == "decision")
    assert decision["data"].get("caller_id") == (raw if raw != stored else None)


async def test_given_a_dtmf_storm_then_the_first_3_routes_the_call_and_the_rest_is_ignored(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    officer = officer_number(ANSWERS, 3)
    rota = write_rota(tmp_path / "rota.yaml", [officer])
    storm = "3" + "1234567890*#" * 3
    engine = engine_for(sqlite_url)
    try:
        async with running_router(harness.info, rota, sqlite_url, tmp_path / "state"):
            call: PlacedCall = await harness.place_call(digits=storm, hold=3, digit_delay=0.3)
            await harness.wait_user_event(
                "OfficerAnswered", source="pstn", Number=officer, within=30
            )
            exp = await harness.wait_caller_hangup(call, within=40)
            rows = await wait_for_call(engine, call.caller_number)
    finally:
        await engine.dispose()

    assert exp.hung_up_by == "caller"
    # The keys really went out while the call was being routed and bridged.
    sent = harness.events.find(
        lambda e: e.user_event == "CallerSentDigits" and e.get("Tag") == call.tag
    )
    assert sent
    assert sent[0].get("Digits") == storm
    assert harness.officers_rung(call) == [officer]
    assert rows.call["outcome"] == "answered"
    assert [(a["number"], a["result"]) for a in rows.attempts] == [(officer, "answered")]


@pytest.mark.parametrize(("digits", "label"), [("7", "other-digit"), ("", "no-digit")])
async def test_given_another_digit_or_none_then_the_menu_handles_it_and_only_the_cdr_counts_it(
    harness: Harness, tmp_path: Path, sqlite_url: str, digits: str, label: str
) -> None:
    """The menu says so, offers itself again, says goodbye: callrouter never sees the call
    (no calls row), Asterisk's CDR has it in the menu context."""
    officer = officer_number(ANSWERS, 0)
    rota = write_rota(tmp_path / "rota.yaml", [officer])
    engine = engine_for(sqlite_url)
    try:
        async with running_router(harness.info, rota, sqlite_url, tmp_path / "state"):
            call = await harness.place_call(digits=digits, hold=60)
            exp = await harness.wait_caller_hangup(call, within=70)
            async with engine.connect() as conn:
                rows = (await conn.execute(select(calls))).all()
    finally:
        await engine.dispose()

    assert exp.hung_up_by == "network"  # goodbye after CALLROUTER_MENU_ATTEMPTS offers
    assert harness.officers_rung(call) == []
    assert rows == []
    deadline = time.monotonic() + 10
    while not (mine := [c for c in cdr_lines(harness) if c.get("src") == call.caller_number]):
        assert time.monotonic() < deadline, "no CDR line for the call"
        await asyncio.sleep(0.2)
    assert mine[-1]["dcontext"] == "callrouter-hotline"
    assert "callrouter=fallback" not in mine[-1].get("userfield", "")


async def test_given_an_invalid_rota_is_written_then_calls_keep_following_the_old_one(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    old = officer_number(ANSWERS, 0)
    rota = write_rota(tmp_path / "rota.yaml", [old])
    engine = engine_for(sqlite_url)
    try:
        async with running_router(harness.info, rota, sqlite_url, tmp_path / "state") as router:
            metrics = router.options.metrics
            version = await asyncio.to_thread(rota.read_text, encoding="utf-8")
            broken = version.replace("ring_timeout: 5", "ring_timeout: 1").replace(
                f'number: "{old}"', 'number: "not-a-number"'
            )
            await asyncio.to_thread(rota.write_text, broken, encoding="utf-8")
            router.options.reload_rota.set()  # what SIGHUP does (the file poll would too)
            deadline = time.monotonic() + 10
            while metrics.registry.get_sample_value("callrouter_rota_reload_refusals_total") != 1.0:
                assert time.monotonic() < deadline, "the invalid rota was not refused"
                await asyncio.sleep(0.1)
            call = await harness.place_call(digits="3", hold=3)
            await harness.wait_caller_hangup(call, within=20)
            rows = await wait_for_call(engine, call.caller_number)
            reloads = metrics.registry.get_sample_value("callrouter_rota_reloads_total")
    finally:
        await engine.dispose()

    assert harness.officers_rung(call) == [old]
    assert rows.call["outcome"] == "answered"
    assert rows.call["answered_number"] == old
    assert not reloads
