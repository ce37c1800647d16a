"""Calls routed end to end through two real Asterisks, in ARI mode and in FastAGI mode.

The pstn places a caller call to 1022 on the pbx (pressing 3). In ARI mode the pbx's shipped
dialplan hands it to Stasis and the real ``callrouter serve`` (real ARI, real database) rings
the officers' phones on the pstn; in AGI mode (global ``CALLROUTER_ROUTER=agi``) the real
``callrouter serve --mode agi`` decides over FastAGI and the shipped
``dialplan/extensions_callrouter_agi.conf`` dials and reports each attempt back. Every shared
scenario is one test run in both modes (the ``router_mode`` fixture of conftest.py, ids
``[ari]``/``[agi]``): the phones' experience (the pstn's view: who rang, who answered, who hung
up and when; the pbx's bridges) and the ``calls``/``call_attempts`` rows must be the same,
``calls.mode`` being the mode. What only one mode has is in the ``test_ari_*`` and
``test_agi_*`` tests at the end.

Test rota: ring timeout 5 s (the rota's minimum), one round, sequential.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import structlog
from sqlalchemy import select

from callrouter.asterisk import contract
from callrouter.asterisk.fallback import write_fallback_include
from callrouter.calls.vocabulary import FORWARD_OFFICER_ID
from callrouter.rota import load_rota
from callrouter.rota_source import RotaSource
from callrouter.store.models import callbacks
from tests.e2e.agi_support import AGI_SECRET, agi_mode, agi_url, free_port, running_agi_router
from tests.e2e.caller_support import heard, pbx_channel, recordings_dir
from tests.e2e.callflow_support import (
    CallRows,
    call_events,
    engine_for,
    officer_id_at,
    running_router,
    wait_for_call,
    write_rota,
)
from tests.e2e.harness import (
    ANSWERS,
    BUSY,
    FAILS,
    HANGS_UP,
    PRESSES_1,
    PRESSES_9,
    RINGS_FOREVER,
    VOICEMAIL,
    Harness,
    PlacedCall,
    Sandbox,
    officer_number,
)
from tests.e2e.router_modes import RouterMode

# func_only: the session fixture may build the sandbox first (minutes on a fresh machine).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120, func_only=True)]

RING_TIMEOUT = 5
# The caller's hold where the pbx, not the caller, must end the call: far past what the flow
# takes, so a loaded machine (prompts and ring timers late by seconds) cannot make the caller
# hang up first. The test still ends as soon as the pbx hangs up.
NETWORK_ENDS = 90
# Q.850 causes Asterisk reports (normal clearing, user busy, no answer)
CAUSE_NORMAL, CAUSE_BUSY, CAUSE_NO_ANSWER = 16, 17, 19
DATABASES = ("sqlite", "postgresql")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A call log on SQLite, or on the test PostgreSQL (ids ``[…-sqlite]``/``[…-postgresql]``)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    return str(request.getfixturevalue("pg_url"))


def seconds(a: datetime | None, b: datetime | None) -> float:
    assert a is not None
    assert b is not None
    return (b - a).total_seconds()


async def wait_bridged(harness: Harness, call: PlacedCall, within: float = 15.0) -> None:
    """Until the pbx has bridged the caller with someone (an officer)."""
    deadline = time.monotonic() + within
    while harness.bridged(call) is None:
        if time.monotonic() > deadline:
            raise TimeoutError("the caller was never bridged on the pbx")
        await asyncio.sleep(0.05)


async def two_party_bridges(harness: Harness, mode: RouterMode) -> list[dict[str, Any]]:
    """The pbx's bridges holding a caller and an officer: callrouter's own in ARI mode
    (``callrouter-call-<linkedid>``), Dial's in AGI mode."""
    return [
        b
        for b in await harness.bridges("pbx")
        if len(b.get("channels", [])) == 2
        and (mode.name == "agi" or b.get("name", "").startswith("callrouter-call-"))
    ]


def assert_mode(rows: CallRows, mode: RouterMode) -> None:
    assert rows.call["mode"] == mode.name


async def route_one_call(
    mode: RouterMode,
    tmp_path: Path,
    url: str,
    numbers: list[str],
    *,
    hold: float,
    **rota: Any,
) -> tuple[PlacedCall, CallRows]:
    """Run the mode's router with a rota ringing ``numbers``; place one call; wait for the
    caller's hang-up and the call's finished rows."""
    rota.setdefault("ring_timeout", RING_TIMEOUT)
    rota_path = write_rota(tmp_path / "rota.yaml", numbers, **rota)
    engine = engine_for(url)
    try:
        # message_max_seconds (the shortest an operator may set): the sandbox caller sends no
        # audio, so no silence ends a message
        async with mode.running(rota_path, url, tmp_path / "state", message_max_seconds=5):
            call = await mode.harness.place_call(digits="3", hold=hold)
            await mode.harness.wait_caller_hangup(call, within=hold + 40)
            rows = await wait_for_call(engine, call.caller_number)
    finally:
        await engine.dispose()
    assert_mode(rows, mode)
    return call, rows


# ----------------------------------------------------------------- scenarios of both modes


async def test_given_first_number_answers_then_caller_is_bridged_to_it_and_call_is_answered(
    router_mode: RouterMode, harness: Harness, tmp_path: Path, db_url: str
) -> None:
    url = db_url
    first, second = officer_number(ANSWERS, 1), officer_number(ANSWERS, 1)
    rota = write_rota(tmp_path / "rota.yaml", [first, second], ring_timeout=RING_TIMEOUT)
    engine = engine_for(url)
    try:
        async with router_mode.running(rota, url, tmp_path / "state") as router:
            call = await harness.place_call(digits="3", hold=8)
            await wait_bridged(harness, call)
            bridges = await two_party_bridges(harness, router_mode)
            # What the admin page shows meanwhile (callrouter marks the call talking once
            # the officer took it: right after bridging in ARI mode, at the AGI `answered`).
            deadline = time.monotonic() + 5
            while True:
                [live] = router.live.snapshot()
                if live.state == "talking" or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            caller = await harness.wait_caller_hangup(call, within=40)
            rows = await wait_for_call(engine, call.caller_number)
            metrics = router.metrics
            assert not router.live.snapshot()
    finally:
        await engine.dispose()

    # What the phones experienced.
    assert caller.failed is None
    assert caller.hung_up_by == "caller"
    officer = harness.officer(first, call)
    assert officer.rang
    assert officer.answered
    assert harness.officers_rung(call) == [first]
    assert not harness.officer(second, call).rang
    assert officer.hung_up_at is not None
    assert caller.hung_up_at is not None
    assert abs(officer.hung_up_at - caller.hung_up_at) < 2.0  # hung up with the caller
    talk = officer.talk_seconds
    assert talk is not None
    assert talk > 3.0
    assert harness.bridged(call) is not None  # the pbx bridged the caller with the officer
    assert len(bridges) == 1
    assert len(bridges[0]["channels"]) == 2
    # Post-dial delay (pbx clock): callrouter got the call -> officer leg created. Measured
    # here: p50 3 ms (ARI), 10 ms (AGI); the bound catches blocking work (e.g. an unwarmed
    # holiday calendar, 0.3 s).
    assert router_mode.post_dial_delay(call) < 0.2
    # And the officer's phone rang soon after the caller pressed 3.
    assert caller.digits_sent_at is not None
    assert officer.rang_at is not None
    assert officer.rang_at - caller.digits_sent_at < 3.0

    assert live.state == "talking"
    assert live.caller == call.caller_number
    assert live.officer_name == "Nguyễn Văn An"
    assert metrics.value("callrouter_calls_total", {"outcome": "answered"}) == 1
    assert metrics.value("callrouter_attempts_total", {"result": "answered"}) == 1
    if router_mode.name == "ari":
        # Only ARI mode sees the officer's leg ringing (in AGI mode the dialplan dials).
        assert metrics.value("callrouter_post_dial_delay_seconds_count") == 1

    # What was written.
    c = rows.call
    assert c["outcome"] == "answered"
    assert c["mode"] == router_mode.name
    assert c["branch"] == 3
    assert c["answered_officer_id"] == officer_id_at(0)
    assert c["answered_officer_name"] == "Nguyễn Văn An"
    assert c["answered_number"] == first
    assert c["wait_seconds"] is not None
    assert 0.5 <= c["wait_seconds"] < 4.0  # ~1 s of ringing
    assert c["talk_seconds"] is not None
    assert abs(c["talk_seconds"] - talk) < 1.5
    assert c["rota_version"]
    # The cause Asterisk reports: the caller hung up normally, the officer's leg followed.
    assert c["hangup_cause"] == CAUSE_NORMAL
    [attempt] = rows.attempts
    assert (attempt["seq"], attempt["number"], attempt["result"]) == (1, first, "answered")
    assert attempt["cause"] == CAUSE_NORMAL
    assert attempt["officer_id"] == officer_id_at(0)
    assert attempt["number_label"] == "so-1"
    assert attempt["answered_at"] is not None
    assert seconds(attempt["answered_at"], attempt["ended_at"]) == pytest.approx(talk, abs=1.5)


async def test_given_first_number_busy_then_second_answers(
    router_mode: RouterMode, harness: Harness, tmp_path: Path, db_url: str
) -> None:
    busy, answers = officer_number(BUSY, 0), officer_number(ANSWERS, 1)
    call, rows = await route_one_call(router_mode, tmp_path, db_url, [busy, answers], hold=8)

    caller = harness.caller(call)
    assert caller.hung_up_by == "caller"
    assert harness.officers_rung(call) == [busy, answers]
    assert not harness.officer(busy, call).answered
    second = harness.officer(answers, call)
    assert second.answered
    # Failover is immediate: the second phone rang well within a second of the busy one.
    busy_rang = harness.officer(busy, call).rang_at
    assert busy_rang is not None
    assert second.rang_at is not None
    assert second.rang_at - busy_rang < 1.0

    c = rows.call
    assert c["outcome"] == "answered"
    assert c["answered_officer_id"] == officer_id_at(1)
    assert c["answered_number"] == answers
    assert [(a["seq"], a["number"], a["result"], a["cause"]) for a in rows.attempts] == [
        (1, busy, "busy", CAUSE_BUSY),
        (2, answers, "answered", CAUSE_NORMAL),
    ]
    assert c["hangup_cause"] == CAUSE_NORMAL


async def test_given_first_number_never_answers_then_second_rings_after_the_ring_timeout(
    router_mode: RouterMode, harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    silent, answers = officer_number(RINGS_FOREVER, 0), officer_number(ANSWERS, 1)
    call, rows = await route_one_call(router_mode, tmp_path, sqlite_url, [silent, answers], hold=14)

    assert harness.officers_rung(call) == [silent, answers]
    first = harness.officer(silent, call)
    second = harness.officer(answers, call)
    assert not first.answered
    assert first.hung_up_at is not None  # its leg was ended by the ring timeout
    assert second.answered
    assert first.rang_at is not None
    assert second.rang_at is not None
    gap = second.rang_at - first.rang_at
    assert RING_TIMEOUT - 0.5 <= gap <= RING_TIMEOUT + 1.5

    c = rows.call
    assert c["outcome"] == "answered"
    assert c["answered_officer_id"] == officer_id_at(1)
    assert c["wait_seconds"] is not None
    assert c["wait_seconds"] >= RING_TIMEOUT
    assert (rows.attempts[0]["result"], rows.attempts[0]["cause"]) == ("no_answer", 19)
    assert rows.attempts[1]["result"] == "answered"
    assert seconds(rows.attempts[0]["started_at"], rows.attempts[0]["ended_at"]) == (
        pytest.approx(RING_TIMEOUT, abs=1.0)
    )


@pytest.mark.parametrize("where", ["rota", "forward"])
async def test_given_the_officer_hangs_up_while_bridged_then_the_caller_is_hung_up_too(
    router_mode: RouterMode, harness: Harness, tmp_path: Path, sqlite_url: str, where: str
) -> None:
    """The officer on the rota (or the forward number after a busy rota) answers and hangs
    up 1.5 s later: the pbx ends the caller's side with it (nobody left alone in a bridge
    or on hold), and the call's row is closed: answered by the officer, or unanswered with
    the forward as its answered attempt."""
    gone = officer_number(HANGS_UP, 1)
    busy = officer_number(BUSY, 0)
    numbers, rota = (
        ([gone], {}) if where == "rota" else ([busy], {"nobody_answered": f"forward:{gone}"})
    )
    call, rows = await route_one_call(
        router_mode, tmp_path, sqlite_url, numbers, hold=NETWORK_ENDS, **rota
    )

    caller = harness.caller(call)
    assert caller.hung_up_by == "network"
    officer = harness.officer(gone, call)
    assert officer.answered
    assert officer.hung_up_at is not None
    assert caller.hung_up_at is not None
    assert abs(caller.hung_up_at - officer.hung_up_at) < 2.0
    assert harness.bridged(call) is not None

    c = rows.call
    assert c["ended_at"] is not None
    last = rows.attempts[-1]
    assert (last["number"], last["result"]) == (gone, "answered")
    assert last["answered_at"] is not None
    assert seconds(last["answered_at"], last["ended_at"]) == pytest.approx(1.5, abs=1.5)
    if where == "rota":
        assert (c["outcome"], c["answered_officer_id"]) == ("answered", officer_id_at(0))
        assert c["talk_seconds"] == pytest.approx(1.5, abs=1.5)
    else:
        assert (c["outcome"], c["answered_officer_id"]) == ("unanswered", None)
        assert [a["officer_id"] for a in rows.attempts] == [officer_id_at(0), FORWARD_OFFICER_ID]


async def test_given_every_number_fails_then_call_is_unanswered_and_caller_is_told(
    router_mode: RouterMode, harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    busy, silent = officer_number(BUSY, 0), officer_number(RINGS_FOREVER, 0)
    call, rows = await route_one_call(
        router_mode, tmp_path, sqlite_url, [busy, silent], hold=NETWORK_ENDS
    )

    caller = harness.caller(call)
    # The pbx ended the call (after the "nobody answered" prompt), not the caller.
    assert caller.hung_up_by == "network"
    assert harness.officers_rung(call) == [busy, silent]
    assert not harness.officer(busy, call).answered
    assert not harness.officer(silent, call).answered

    c = rows.call
    assert c["outcome"] == "unanswered"
    assert c["answered_officer_id"] is None
    assert c["answered_at"] is None
    assert [(a["result"], a["cause"]) for a in rows.attempts] == [
        ("busy", CAUSE_BUSY),
        ("no_answer", CAUSE_NO_ANSWER),
    ]
    if router_mode.name == "ari":  # callrouter hung up the caller: normal clearing
        assert c["hangup_cause"] == CAUSE_NORMAL
    else:  # the dialplan's Hangup() after the message sets no cause: unknown stays NULL
        assert c["hangup_cause"] in (None, CAUSE_NORMAL)
    assert c["wait_seconds"] is not None
    assert c["wait_seconds"] == pytest.approx(RING_TIMEOUT, abs=1.5)


async def test_given_caller_hangs_up_while_ringing_then_call_is_abandoned_with_its_wait(
    router_mode: RouterMode, harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    silent = officer_number(RINGS_FOREVER, 0)
    rota = write_rota(tmp_path / "rota.yaml", [silent], ring_timeout=20)
    engine = engine_for(sqlite_url)
    try:
        async with router_mode.running(rota, sqlite_url, tmp_path / "state"):
            call = await harness.place_call(digits="3", hold=4)
            caller = await harness.wait_caller_hangup(call, within=30)
            rows = await wait_for_call(engine, call.caller_number)
            # The officer's phone stops ringing once the caller is gone.
            await harness.wait_user_event("OfficerHangup", source="pstn", Number=silent)
    finally:
        await engine.dispose()

    assert_mode(rows, router_mode)
    assert caller.hung_up_by == "caller"
    officer = harness.officer(silent, call)
    assert officer.rang
    assert not officer.answered
    assert officer.hung_up_at is not None
    assert caller.hung_up_at is not None
    assert officer.hung_up_at - caller.hung_up_at < 2.0

    c = rows.call
    assert c["outcome"] == "abandoned"
    assert c["answered_at"] is None
    # The wait: from the call reaching callrouter to the caller's hang-up (the caller held
    # 4 s after the pbx answered, part of which was the menu).
    assert c["wait_seconds"] is not None
    assert 1.0 <= c["wait_seconds"] <= 4.5
    assert caller.digits_sent_at is not None
    assert c["wait_seconds"] == pytest.approx(caller.hung_up_at - caller.digits_sent_at, abs=1.0)
    assert c["hangup_cause"] == CAUSE_NORMAL
    [attempt] = rows.attempts
    assert attempt["result"] == "cancelled"
    if router_mode.name == "ari":  # the leg callrouter hung up, as Asterisk reports it
        assert attempt["cause"] == CAUSE_NORMAL
    assert attempt["answered_at"] is None


async def test_given_simultaneous_strategy_then_all_numbers_ring_and_the_first_to_answer_wins(
    router_mode: RouterMode, harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    silent, answers = officer_number(RINGS_FOREVER, 0), officer_number(ANSWERS, 1)
    call, rows = await route_one_call(
        router_mode,
        tmp_path,
        sqlite_url,
        [silent, answers],
        hold=6,
        ring_timeout=10,
        strategy="simultaneous",
    )

    first, second = harness.officer(silent, call), harness.officer(answers, call)
    assert first.rang_at is not None
    assert second.rang_at is not None
    assert abs(second.rang_at - first.rang_at) < 0.5  # rung together
    assert second.answered
    assert not first.answered
    assert first.hung_up_at is not None
    assert second.answered_at is not None
    assert first.hung_up_at - second.answered_at < 1.0  # the loser stops ringing at once
    assert rows.call["outcome"] == "answered"
    assert rows.call["answered_number"] == answers
    results = {a["number"]: a["result"] for a in rows.attempts}
    assert results == {silent: "cancelled", answers: "answered"}


async def test_given_two_rounds_then_every_number_is_tried_twice_before_unanswered(
    router_mode: RouterMode, harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    one, two = officer_number(BUSY, 0), officer_number(BUSY, 0)
    call, rows = await route_one_call(
        router_mode, tmp_path, sqlite_url, [one, two], hold=30, rounds=2
    )

    assert harness.officers_rung(call) == [one, two, one, two]
    assert rows.call["outcome"] == "unanswered"
    assert [(a["seq"], a["number"], a["result"]) for a in rows.attempts] == [
        (1, one, "busy"),
        (2, two, "busy"),
        (3, one, "busy"),
        (4, two, "busy"),
    ]


async def test_given_max_wait_then_ringing_stops_there_even_with_rounds_left(
    router_mode: RouterMode, harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    silent = officer_number(RINGS_FOREVER, 0)
    call, rows = await route_one_call(
        router_mode, tmp_path, sqlite_url, [silent], hold=NETWORK_ENDS, rounds=5, max_wait=12
    )

    assert harness.caller(call).hung_up_by == "network"
    assert rows.call["outcome"] == "unanswered"
    rings = [seconds(a["started_at"], a["ended_at"]) for a in rows.attempts]
    assert len(rings) == 3  # 5 s + 5 s + what is left of the 12 s
    assert rings[0] == pytest.approx(5, abs=1.0)
    assert rings[1] == pytest.approx(5, abs=1.0)
    assert rings[2] == pytest.approx(2, abs=1.0)
    assert all(a["result"] == "no_answer" for a in rows.attempts)
    assert rows.call["wait_seconds"] == pytest.approx(12, abs=1.5)


async def test_given_a_confirm_number_then_the_officer_must_press_1_before_being_bridged(
    router_mode: RouterMode, harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    presses_1 = officer_number(PRESSES_1, 0)
    call, rows = await route_one_call(
        router_mode, tmp_path, sqlite_url, [presses_1], hold=10, confirm=(True,), ring_timeout=10
    )

    officer = harness.officer(presses_1, call)
    assert officer.pressed == ["1"]
    assert harness.caller(call).hung_up_by == "caller"
    bridged = harness.bridged(call)
    assert bridged is not None
    assert officer.answered_at is not None
    assert bridged[0] >= officer.answered_at + 0.8  # bridged only after the key press
    assert rows.call["outcome"] == "answered"
    [attempt] = rows.attempts
    assert attempt["result"] == "answered"
    assert attempt["answered_at"] is not None
    # Answered counts from the key press (about 1 s after pick-up), not from pick-up.
    assert seconds(rows.call["started_at"], rows.call["answered_at"]) >= 1.0


@pytest.mark.parametrize(
    ("behaviour", "pressed", "result"),
    [(VOICEMAIL, [], "no_answer"), (PRESSES_9, ["9"], "declined")],
    ids=["voicemail", "presses-9"],
)
async def test_given_a_confirm_number_picks_up_without_pressing_1_then_the_next_number_gets_it(
    router_mode: RouterMode,
    tmp_path: Path,
    behaviour: str,
    pressed: list[str],
    result: str,
) -> None:
    """A voicemail box picks up and presses nothing (``no_answer``), or the officer presses
    another key (``declined``): that leg is dropped before the next number rings, and the
    next number gets the call."""
    harness, url = router_mode.harness, f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    refuses, answers = officer_number(behaviour, 0), officer_number(ANSWERS, 1)
    call, rows = await route_one_call(
        router_mode,
        tmp_path,
        url,
        [refuses, answers],
        hold=18,
        confirm=(True, False),
        ring_timeout=10,
    )

    first, officer = harness.officer(refuses, call), harness.officer(answers, call)
    assert first.answered  # it picked up...
    assert first.pressed == pressed
    assert first.hung_up_at is not None
    assert officer.rang_at is not None
    assert first.hung_up_at <= officer.rang_at + 0.5  # ...and was dropped before the next rang
    assert officer.answered
    assert harness.caller(call).hung_up_by == "caller"
    assert rows.call["outcome"] == "answered"
    assert rows.call["answered_number"] == answers
    assert [(a["number"], a["result"]) for a in rows.attempts] == [
        (refuses, result),
        (answers, "answered"),
    ]
    assert rows.attempts[0]["answered_at"] is None


async def test_given_failing_and_unallocated_numbers_then_they_are_failed_attempts_and_it_moves_on(
    router_mode: RouterMode, harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    congested, unallocated = officer_number(FAILS, 0), "0999000001"
    answers = officer_number(ANSWERS, 1)
    call, rows = await route_one_call(
        router_mode, tmp_path, sqlite_url, [congested, unallocated, answers], hold=8
    )

    assert harness.officer(answers, call).answered
    assert rows.call["outcome"] == "answered"
    assert rows.call["answered_number"] == answers
    attempts = [(a["number"], a["result"], a["cause"]) for a in rows.attempts]
    assert attempts[0][:2] == (congested, "failed")
    assert attempts[0][2] not in (16, 17, 19, 21)  # congestion-like, not busy/no answer
    assert attempts[1][:2] == (unallocated, "failed")
    assert attempts[2][:2] == (answers, "answered")


async def test_given_nobody_answers_and_a_forward_action_then_the_caller_is_forwarded(
    router_mode: RouterMode, harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    busy, agency = officer_number(BUSY, 0), officer_number(ANSWERS, 1)
    call, rows = await route_one_call(
        router_mode, tmp_path, sqlite_url, [busy], hold=10, nobody_answered=f"forward:{agency}"
    )

    assert harness.officers_rung(call) == [busy, agency]
    assert harness.officer(agency, call).answered
    assert harness.caller(call).hung_up_by == "caller"
    assert harness.bridged(call) is not None  # the caller talks to the forward number
    # Nobody on the rota answered, so the call counts as unanswered; the forward is an
    # attempt of its own.
    assert rows.call["outcome"] == "unanswered"
    assert rows.call["answered_officer_id"] is None
    assert [(a["officer_id"], a["number"], a["result"]) for a in rows.attempts] == [
        (officer_id_at(0), busy, "busy"),
        (FORWARD_OFFICER_ID, agency, "answered"),
    ]
    # The same events in both modes: forwarding to the number, then the number answered.
    engine = engine_for(sqlite_url)
    try:
        events = await call_events(engine, rows.call["id"])
    finally:
        await engine.dispose()
    forwards = [(e["type"], e["data"]) for e in events if e["type"].startswith("forward")]
    assert forwards == [
        ("forward", {"number": agency}),
        ("forward_answered", {"number": agency, "seq": 2}),
    ]
    if router_mode.name == "agi":  # the dialplan plays the prompt (ARI mode: over ARI)
        assert any(
            e.source == "pbx"
            and e.name == "Newexten"
            and e.get("Application") == "Playback"
            and e.get("AppData") == "callrouter/forwarding"
            and e.get("CallerIDNum") == call.caller_number
            for e in harness.events.events
        )


async def test_given_the_rota_is_closed_then_the_caller_is_told_and_the_call_is_after_hours(
    router_mode: RouterMode, harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    answers = officer_number(ANSWERS, 1)
    # Shifts only on a weekday three days away: outside shifts now (and for the whole test).
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[
        (datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).weekday() + 3) % 7
    ]
    call, rows = await route_one_call(
        router_mode, tmp_path, sqlite_url, [answers], hold=NETWORK_ENDS, days=day
    )

    assert harness.caller(call).hung_up_by == "network"  # after the announcement
    assert harness.officers_rung(call) == []
    assert rows.call["outcome"] == "after_hours"
    assert rows.attempts == []


@pytest.mark.parametrize("closed", [False, True], ids=["nobody-answered", "closed"])
async def test_given_the_message_action_then_the_caller_leaves_a_message_for_a_call_back(
    router_mode: RouterMode,
    tmp_path: Path,
    sqlite_url: str,
    closed: bool,
) -> None:
    """The message action (nobody answered, or closed): "nobody answered"/"closed", "leave a
    message", beep, thanks, and a call-back entry for the caller with the recording. The
    sandbox caller says nothing: the recording ends at message_max_seconds (5 s here)."""
    harness, busy = router_mode.harness, officer_number(BUSY, 0)
    call, rows = await route_one_call(
        router_mode, tmp_path, sqlite_url, [busy], hold=NETWORK_ENDS, closed=closed
    )

    assert harness.caller(call).hung_up_by == "network"
    assert rows.call["outcome"] == ("after_hours" if closed else "unanswered")
    first = "callrouter/closed" if closed else "callrouter/nobody-answered"
    names = [h.what for h in heard(harness.info, pbx_channel(harness, call))]
    assert first in names
    assert names[names.index(first) :] == [
        first,
        "callrouter/leave-message",
        "beep",
        "callrouter/message-saved",
    ]
    engine = engine_for(sqlite_url)
    try:
        async with engine.connect() as conn:
            entries = [dict(r._mapping) for r in (await conn.execute(select(callbacks))).all()]
    finally:
        await engine.dispose()
    reason = "after_hours_message" if closed else "unanswered"
    assert [(e["call_id"], e["number"], e["reason"]) for e in entries] == [
        (rows.call["id"], call.caller_number, reason)
    ]
    recording = entries[0]["recording"]
    assert recording.endswith(".wav")
    assert (recordings_dir(harness.info) / recording).is_file()


async def test_given_rotate_then_the_next_call_starts_after_the_last_answerer_even_after_restart(
    router_mode: RouterMode, harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    """``rotate``: the rotation state comes from the call log, so a new router process
    starts the next call with the officer after the one who answered the last one."""
    first, second = officer_number(ANSWERS, 0), officer_number(ANSWERS, 0)
    rota = write_rota(tmp_path / "rota.yaml", [first, second], strategy="rotate")
    engine = engine_for(sqlite_url)
    try:
        async with router_mode.running(rota, sqlite_url, tmp_path / "state"):
            call_1 = await harness.place_call(digits="3", hold=3)
            await harness.wait_caller_hangup(call_1, within=20)
            rows_1 = await wait_for_call(engine, call_1.caller_number)
        async with router_mode.running(rota, sqlite_url, tmp_path / "state"):
            call_2 = await harness.place_call(digits="3", hold=3)
            await harness.wait_caller_hangup(call_2, within=20)
            rows_2 = await wait_for_call(engine, call_2.caller_number)
    finally:
        await engine.dispose()

    assert harness.officers_rung(call_1) == [first]
    assert rows_1.call["answered_officer_id"] == officer_id_at(0)
    assert harness.officers_rung(call_2) == [second]  # a new process, same fair order
    assert rows_2.call["answered_officer_id"] == officer_id_at(1)
    assert_mode(rows_2, router_mode)


async def test_given_ten_callers_at_once_then_each_call_has_its_own_bridge_and_row(
    router_mode: RouterMode, harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    answers = officer_number(ANSWERS, 1)
    rota = write_rota(tmp_path / "rota.yaml", [answers], ring_timeout=RING_TIMEOUT)
    engine = engine_for(sqlite_url)
    try:
        async with router_mode.running(rota, sqlite_url, tmp_path / "state") as router:
            calls = await asyncio.gather(
                *(harness.place_call(digits="3", hold=6) for _ in range(10))
            )
            deadline = time.monotonic() + 20
            while len(router.live.snapshot()) < 10 or any(
                c.state != "talking" for c in router.live.snapshot()
            ):
                assert time.monotonic() < deadline, router.live.snapshot()
                await asyncio.sleep(0.1)
            bridges = await two_party_bridges(harness, router_mode)
            callers = await asyncio.gather(
                *(harness.wait_caller_hangup(call, within=30) for call in calls)
            )
            rows = [await wait_for_call(engine, call.caller_number) for call in calls]
    finally:
        await engine.dispose()

    assert len(bridges) == 10
    assert len({ch for b in bridges for ch in b["channels"]}) == 20  # nobody shares a bridge
    assert all(harness.bridged(call) is not None for call in calls)
    assert all(c.hung_up_by == "caller" for c in callers)
    assert all(harness.officer(answers, call).answered for call in calls)
    assert [r.call["outcome"] for r in rows] == ["answered"] * 10
    assert {r.call["mode"] for r in rows} == {router_mode.name}
    assert len({r.call["linkedid"] for r in rows}) == 10
    assert all(len(r.attempts) == 1 for r in rows)
    assert all(r.attempts[0]["result"] == "answered" for r in rows)


# ------------------------------------------------------------------------- ARI mode only


async def wait_for_ari_bridge(harness: Harness, within: float = 15.0) -> dict[str, Any]:
    """The pbx's callrouter bridge once it holds two channels (caller and officer)."""
    deadline = time.monotonic() + within
    while True:
        for bridge in await harness.bridges("pbx"):
            if bridge.get("name", "").startswith("callrouter-call-") and (
                len(bridge.get("channels", [])) == 2
            ):
                return bridge
        if time.monotonic() > deadline:
            raise TimeoutError("no two-party callrouter bridge on the pbx")
        await asyncio.sleep(0.05)


async def test_ari_given_router_restarts_mid_call_then_caller_is_hung_up_when_officer_hangs_up(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    """A bridged call survives the router going away; the router that comes back adopts
    its bridge, so when the officer hangs up the caller is not left alone in it. (AGI mode
    holds no call: the dialplan's Dial bridges and ends it.)"""
    answers = officer_number(ANSWERS, 0)
    rota = write_rota(tmp_path / "rota.yaml", [answers], ring_timeout=RING_TIMEOUT)
    engine = engine_for(sqlite_url)
    try:
        async with running_router(
            harness.info, rota, sqlite_url, tmp_path / "state", drain_seconds=0
        ):
            call = await harness.place_call(digits="3", hold=60)
            bridge = await wait_for_ari_bridge(harness)
        # The first router is gone; the call goes on in Asterisk.
        assert await harness.wait_user_event("OfficerAnswered", source="pstn", Number=answers)
        assert harness.caller(call).hung_up_at is None
        still = [b for b in await harness.bridges("pbx") if b["id"] == bridge["id"]]
        assert len(still) == 1
        assert len(still[0]["channels"]) == 2

        async with running_router(harness.info, rota, sqlite_url, tmp_path / "state"):
            officer_channels = [
                c
                for c in await harness.channels("pstn")
                if c["dialplan"]["context"] == "officer-phones"
            ]
            assert len(officer_channels) == 1
            hung_up_at = time.time()
            await harness.ami("pstn").action("Hangup", Channel=officer_channels[0]["name"])
            caller = await harness.wait_caller_hangup(call, within=10)
            rows = await wait_for_call(engine, call.caller_number)
            await harness.wait_idle(within=10)
    finally:
        await engine.dispose()

    assert caller.hung_up_by == "network"
    assert caller.hung_up_at is not None
    assert caller.hung_up_at - hung_up_at < 2.0
    assert not [b for b in await harness.bridges("pbx") if b["id"] == bridge["id"]]
    c = rows.call
    assert c["outcome"] == "answered"
    assert c["answered_number"] == answers
    assert c["ended_at"] is not None
    assert c["talk_seconds"] is not None
    assert c["talk_seconds"] > 0


async def test_ari_given_the_call_flow_fails_then_the_dialplan_fallback_takes_the_caller(
    harness: Harness,
    sandbox: Sandbox,
    tmp_path: Path,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Step 8: an exception while handling a call is logged, the row says the call failed
    and was handed back, and the caller still reaches an officer through the fallback.
    (AGI mode's counterpart: test_agi_given_the_agi_server_is_unreachable_...)"""
    answers = officer_number(ANSWERS, 1)
    rota_path = write_rota(tmp_path / "rota.yaml", [answers], ring_timeout=RING_TIMEOUT)
    write_fallback_include(
        load_rota(rota_path), sandbox.info().pbx.etc_dir / contract.FALLBACK_INCLUDE_FILENAME
    )
    sandbox.cli("pbx", "dialplan reload")

    def broken_decide(self: RotaSource, now: datetime, call: Any) -> Any:
        raise RuntimeError("injected fault in the routing decision")

    monkeypatch.setattr(RotaSource, "decide", broken_decide)
    engine = engine_for(sqlite_url)
    try:
        async with running_router(harness.info, rota_path, sqlite_url, tmp_path / "state"):
            call = await harness.place_call(digits="3", hold=12)
            fallback = await harness.events.wait_for(
                lambda e: (
                    e.user_event == contract.EVENT_FALLBACK
                    and e.get("CallerIDNum") == call.caller_number
                ),
                within=15,
                what="fallback start on the pbx",
            )
            caller = await harness.wait_caller_hangup(call, within=40)
            rows = await wait_for_call(engine, call.caller_number)
            events = await call_events(engine, rows.call["id"])
    finally:
        await engine.dispose()

    assert fallback.get("Reason") == contract.REASON_HANDED_BACK
    officer = harness.officer(answers, call)
    assert officer.answered  # the fallback rang the rota's number and it answered
    assert caller.hung_up_by == "caller"
    c = rows.call
    assert c["outcome"] == "failed"
    assert c["mode"] == "ari"
    assert c["rota_version"] is None
    assert rows.attempts == []
    [handed] = [e for e in events if e["type"] == "handed_to_fallback"]
    assert handed["data"]["error"] == "RuntimeError"


async def test_given_the_rota_changes_then_the_next_call_and_the_fallback_follow_it(
    router_mode: RouterMode, harness: Harness, sandbox: Sandbox, tmp_path: Path, sqlite_url: str
) -> None:
    """serve writes the fallback include from the rota and reloads the pbx dialplan, at start
    and after each reload (ARI mode over ARI; AGI mode, which has no ARI, over AMI); routed
    calls follow the new rota at once, and so does the dialplan fallback once the router is
    gone (Stasis / AGI fails and the pbx rings the include's numbers itself)."""
    old, new = officer_number(ANSWERS, 0), officer_number(ANSWERS, 0)
    rota = write_rota(tmp_path / "rota.yaml", [old])
    include = sandbox.info().pbx.etc_dir / contract.FALLBACK_INCLUDE_FILENAME
    engine = engine_for(sqlite_url)
    try:
        async with router_mode.running(
            rota, sqlite_url, tmp_path / "state", dialplan_include=include
        ) as router:
            assert old in sandbox.cli("pbx", f"dialplan show {contract.CONTEXT_FALLBACK_TARGETS}")
            call_1 = await harness.place_call(digits="3", hold=3)
            await harness.wait_caller_hangup(call_1, within=20)

            write_rota(rota, [new])
            router.inner.options.reload_rota.set()  # what SIGHUP does
            deadline = time.monotonic() + 10
            while new not in sandbox.cli(
                "pbx", f"dialplan show {contract.CONTEXT_FALLBACK_TARGETS}"
            ):
                assert time.monotonic() < deadline, "the pbx dialplan did not follow the rota"
                await asyncio.sleep(0.1)
            await router_mode.dialplan_reloaded()
            call_2 = await harness.place_call(digits="3", hold=3)
            await harness.wait_caller_hangup(call_2, within=20)
            rows_2 = await wait_for_call(engine, call_2.caller_number)
            assert router.metrics.value("callrouter_rota_reloads_total") >= 1
        # The router is gone: the dialplan fallback takes the next call, with the new rota.
        call_3 = await harness.place_call(digits="3", hold=10)
        await harness.events.wait_for(
            lambda e: (
                e.source == "pbx"
                and e.user_event == contract.EVENT_FALLBACK_END
                and e.get("CallerIDNum") == call_3.caller_number
            ),
            within=40,
            what="the fallback's end event",
        )
        await harness.wait_caller_hangup(call_3, within=30)
    finally:
        await engine.dispose()

    assert harness.officers_rung(call_1) == [old]
    assert harness.officers_rung(call_2) == [new]
    assert harness.officers_rung(call_3) == [new]
    assert harness.officer(new, call_3).answered
    assert rows_2.call["answered_number"] == new
    assert_mode(rows_2, router_mode)
    text = include.read_text(encoding="utf-8")
    assert new in text
    assert old not in text


# ------------------------------------------------------------------------- AGI mode only


@pytest.fixture
def agi_port(sandbox: Sandbox) -> Iterator[int]:
    port = free_port()
    with agi_mode(sandbox, port):
        yield port


async def test_agi_given_the_agi_server_is_unreachable_then_the_dialplan_fallback_takes_the_caller(
    harness: Harness, sandbox: Sandbox, tmp_path: Path, agi_port: int
) -> None:
    """Nothing listens on agi_port: AGISTATUS=FAILURE -> [callrouter-fallback]. (ARI mode's
    counterpart: test_ari_given_the_call_flow_fails_...)"""
    answers = officer_number(ANSWERS, 1)
    rota = load_rota(write_rota(tmp_path / "rota.yaml", [answers], ring_timeout=RING_TIMEOUT))
    write_fallback_include(rota, sandbox.info().pbx.etc_dir / contract.FALLBACK_INCLUDE_FILENAME)
    sandbox.cli("pbx", "dialplan reload")
    sandbox.cli("pbx", f"dialplan set global {contract.GLOBAL_AGI_URL} {agi_url(agi_port)}")
    sandbox.cli("pbx", f"dialplan set global {contract.GLOBAL_ROUTER} {contract.ROUTER_AGI}")
    call = await harness.place_call(digits="3", hold=8)
    end = await harness.events.wait_for(
        lambda e: (
            e.source == "pbx"
            and e.name == "UserEvent"
            and e.get("UserEvent") == contract.EVENT_FALLBACK_END
        ),
        within=30,
        what="the fallback's end event",
    )
    await harness.wait_caller_hangup(call, within=30)
    assert harness.officer(answers, call).answered
    assert end.get("Result") == "answered"
    assert any(
        e.source == "pbx"
        and e.name == "UserEvent"
        and e.get("UserEvent") == contract.EVENT_FALLBACK
        and e.get("Reason") == "agi-failed"
        for e in harness.events.events
    )


async def poke(port: int, payload: bytes) -> None:
    """A client that connects, sends ``payload`` (maybe nothing) and closes."""
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if payload:
            writer.write(payload)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def test_agi_given_health_checks_and_garbage_during_a_live_call_then_service_is_unaffected(
    harness: Harness, tmp_path: Path, agi_port: int, sqlite_url: str
) -> None:
    first, second = officer_number(ANSWERS, 1), officer_number(ANSWERS, 1)
    rota_path = write_rota(tmp_path / "rota.yaml", [first], ring_timeout=RING_TIMEOUT)
    engine = engine_for(sqlite_url)
    try:
        async with running_agi_router(rota_path, sqlite_url, tmp_path / "state", port=agi_port):
            call = await harness.place_call(digits="3", hold=8)
            await harness.wait_user_event("OfficerAnswered", source="pstn", Number=first, within=20)
            with structlog.testing.capture_logs() as logs:
                await asyncio.gather(
                    *(poke(agi_port, b"") for _ in range(20)),
                    poke(agi_port, b"garbage\n\n"),
                    poke(agi_port, b"agi_network_script: nope\n\n"),  # no secret
                    poke(agi_port, f"agi_network_script: {AGI_SECRET}/nope\n\n".encode()),
                    poke(agi_port, b"agi_x: " + b"y" * (1024 * 1024)),
                )
                # A second caller meanwhile is routed as usual.
                rota_path.write_text(
                    rota_path.read_text(encoding="utf-8").replace(first, second), encoding="utf-8"
                )
                later = await harness.place_call(digits="3", hold=4)
                await harness.wait_caller_hangup(call, within=30)
                await harness.wait_caller_hangup(later, within=30)
            rows = await wait_for_call(engine, call.caller_number)
            later_rows = await wait_for_call(engine, later.caller_number)
    finally:
        await engine.dispose()

    events = [e["event"] for e in logs]
    assert events.count("agi.closed_without_request") >= 20
    assert "agi.bad_request" in events
    assert "agi.unknown_script" in events
    refused = [e.get("reason") for e in logs if e["event"] == "agi.refused"]
    assert "secret" in refused  # the request without the URL's secret
    assert "agi.headers_too_large" in events
    assert harness.caller(call).hung_up_by == "caller"
    assert harness.bridged(call) is not None
    assert rows.call["outcome"] == "answered"
    assert later_rows.call["outcome"] == "answered"
    assert harness.officer(first, later).answered or harness.officer(second, later).answered
