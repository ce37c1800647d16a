"""Calls routed end to end through two real Asterisks and the real ``callrouter serve``.

The pstn places a caller call to 1022 on the pbx (pressing 3), the pbx's shipped dialplan
hands it to Stasis, callrouter (real ARI, real database) rings the officers' phones on the
pstn. Each test checks what the caller and the officers experienced (the pstn's view: who
rang, who answered, who hung up and when; the pbx's bridges) and the rows written.

Test rota: ring timeout 5 s (the rota's minimum), one round, sequential.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from callrouter.app import RotaSource
from callrouter.asterisk import contract
from callrouter.asterisk.fallback import write_fallback_include
from callrouter.rota import load_rota
from tests.e2e.callflow_support import (
    call_events,
    engine_for,
    officer_id_at,
    post_dial_delay,
    running_router,
    wait_for_call,
    write_rota,
)
from tests.e2e.harness import (
    ANSWERS,
    BUSY,
    FAILS,
    PRESSES_1,
    PRESSES_9,
    RINGS_FOREVER,
    VOICEMAIL,
    Harness,
    PlacedCall,
    Sandbox,
    officer_number,
)

# func_only: the session fixture may build the sandbox first (minutes on a fresh machine).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120, func_only=True)]

RING_TIMEOUT = 5


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"


def seconds(a: datetime | None, b: datetime | None) -> float:
    assert a is not None
    assert b is not None
    return (b - a).total_seconds()


async def wait_for_bridge(harness: Harness, within: float = 15.0) -> dict[str, Any]:
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


async def route_one_call(
    harness: Harness,
    tmp_path: Path,
    database_url: str,
    numbers: list[str],
    *,
    hold: float,
) -> tuple[PlacedCall, Any]:
    """Run the router with a rota ringing ``numbers``; place one call; wait for its rows."""
    rota = write_rota(tmp_path / "rota.yaml", numbers, ring_timeout=RING_TIMEOUT)
    engine = engine_for(database_url)
    try:
        # message_max_seconds: the sandbox caller sends no audio, so no silence ends a message
        async with running_router(
            harness.info, rota, database_url, tmp_path / "state", message_max_seconds=2
        ):
            call = await harness.place_call(digits="3", hold=hold)
            await harness.wait_caller_hangup(call, within=hold + 30)
            rows = await wait_for_call(engine, call.caller_number)
    finally:
        await engine.dispose()
    return call, rows


# ------------------------------------------------------------------------------ scenarios


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
async def test_given_first_number_answers_then_caller_is_bridged_to_it_and_call_is_answered(
    harness: Harness, tmp_path: Path, db: str, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
        if db == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    first, second = officer_number(ANSWERS, 1), officer_number(ANSWERS, 1)
    rota = write_rota(tmp_path / "rota.yaml", [first, second], ring_timeout=RING_TIMEOUT)
    engine = engine_for(url)
    try:
        async with running_router(harness.info, rota, url, tmp_path / "state") as router:
            call = await harness.place_call(digits="3", hold=8)
            bridge = await wait_for_bridge(harness)
            # What the admin page shows meanwhile (callrouter marks the call talking right
            # after it has bridged and guarded both legs: a few REST calls later).
            deadline = time.monotonic() + 5
            while True:
                [live] = router.options.live.snapshot()
                if live.state == "talking" or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            caller = await harness.wait_caller_hangup(call, within=40)
            rows = await wait_for_call(engine, call.caller_number)
            metrics = router.options.metrics
            assert not router.options.live.snapshot()
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
    assert len(bridge["channels"]) == 2
    # Post-dial delay (pbx clock): Stasis entered -> officer leg created. Measured here:
    # p50 3 ms; the bound catches blocking work (e.g. an unwarmed holiday calendar, 0.3 s).
    assert post_dial_delay(harness, call) < 0.2
    # And the officer's phone rang soon after the caller pressed 3.
    assert caller.digits_sent_at is not None
    assert officer.rang_at is not None
    assert officer.rang_at - caller.digits_sent_at < 3.0

    assert live.state == "talking"
    assert live.caller == call.caller_number
    assert live.officer_name == "Nguyễn Văn An"
    assert metrics.value("callrouter_calls_total", {"outcome": "answered"}) == 1
    assert metrics.value("callrouter_attempts_total", {"result": "answered"}) == 1
    assert metrics.value("callrouter_post_dial_delay_seconds_count") == 1

    # What was written.
    c = rows.call
    assert c["outcome"] == "answered"
    assert c["mode"] == "ari"
    assert c["branch"] == 3
    assert c["answered_officer_id"] == officer_id_at(0)
    assert c["answered_officer_name"] == "Nguyễn Văn An"
    assert c["answered_number"] == first
    assert c["wait_seconds"] is not None
    assert 0.5 <= c["wait_seconds"] < 4.0  # ~1 s of ringing
    assert c["talk_seconds"] is not None
    assert abs(c["talk_seconds"] - talk) < 1.5
    assert c["rota_version"]
    [attempt] = rows.attempts
    assert attempt["result"] == "answered"
    assert attempt["officer_id"] == officer_id_at(0)
    assert attempt["number"] == first
    assert attempt["number_label"] == "so-1"
    assert attempt["answered_at"] is not None
    assert seconds(attempt["answered_at"], attempt["ended_at"]) == pytest.approx(talk, abs=1.5)


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
async def test_given_first_number_busy_then_second_answers(
    harness: Harness, tmp_path: Path, db: str, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
        if db == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    busy, answers = officer_number(BUSY, 0), officer_number(ANSWERS, 1)
    call, rows = await route_one_call(harness, tmp_path, url, [busy, answers], hold=8)

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
    assert [(a["seq"], a["result"], a["cause"]) for a in rows.attempts] == [
        (1, "busy", 17),
        (2, "answered", rows.attempts[1]["cause"]),
    ]
    assert rows.attempts[0]["number"] == busy
    assert rows.attempts[1]["number"] == answers


async def test_given_first_number_never_answers_then_second_rings_after_the_ring_timeout(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    silent, answers = officer_number(RINGS_FOREVER, 0), officer_number(ANSWERS, 1)
    call, rows = await route_one_call(harness, tmp_path, sqlite_url, [silent, answers], hold=14)

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


async def test_given_every_number_fails_then_call_is_unanswered_and_caller_is_told(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    busy, silent = officer_number(BUSY, 0), officer_number(RINGS_FOREVER, 0)
    call, rows = await route_one_call(harness, tmp_path, sqlite_url, [busy, silent], hold=40)

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
        ("busy", 17),
        ("no_answer", 19),
    ]
    assert c["wait_seconds"] is not None
    assert c["wait_seconds"] == pytest.approx(RING_TIMEOUT, abs=1.5)


async def test_given_caller_hangs_up_while_ringing_then_call_is_abandoned_with_its_wait(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    silent = officer_number(RINGS_FOREVER, 0)
    rota = write_rota(tmp_path / "rota.yaml", [silent], ring_timeout=20)
    engine = engine_for(sqlite_url)
    try:
        async with running_router(harness.info, rota, sqlite_url, tmp_path / "state"):
            call = await harness.place_call(digits="3", hold=4)
            caller = await harness.wait_caller_hangup(call, within=30)
            rows = await wait_for_call(engine, call.caller_number)
            # The officer's phone stops ringing once the caller is gone.
            await harness.wait_user_event("OfficerHangup", source="pstn", Number=silent)
    finally:
        await engine.dispose()

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
    # The wait: from StasisStart to the caller's hang-up (the caller held 4 s after the
    # pbx answered, part of which was the menu).
    assert c["wait_seconds"] is not None
    assert 1.0 <= c["wait_seconds"] <= 4.5
    assert caller.digits_sent_at is not None
    assert c["wait_seconds"] == pytest.approx(caller.hung_up_at - caller.digits_sent_at, abs=1.0)
    [attempt] = rows.attempts
    assert attempt["result"] == "cancelled"
    assert attempt["answered_at"] is None


async def test_given_router_restarts_mid_call_then_caller_is_hung_up_when_officer_hangs_up(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    """A bridged call survives the router going away; the router that comes back adopts
    its bridge, so when the officer hangs up the caller is not left alone in it."""
    answers = officer_number(ANSWERS, 0)
    rota = write_rota(tmp_path / "rota.yaml", [answers], ring_timeout=RING_TIMEOUT)
    engine = engine_for(sqlite_url)
    try:
        async with running_router(
            harness.info, rota, sqlite_url, tmp_path / "state", drain_seconds=0
        ):
            call = await harness.place_call(digits="3", hold=60)
            bridge = await wait_for_bridge(harness)
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


async def test_given_simultaneous_strategy_then_all_numbers_ring_and_the_first_to_answer_wins(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    silent, answers = officer_number(RINGS_FOREVER, 0), officer_number(ANSWERS, 1)
    rota = write_rota(
        tmp_path / "rota.yaml", [silent, answers], ring_timeout=10, strategy="simultaneous"
    )
    engine = engine_for(sqlite_url)
    try:
        async with running_router(harness.info, rota, sqlite_url, tmp_path / "state"):
            call = await harness.place_call(digits="3", hold=6)
            await harness.wait_caller_hangup(call, within=30)
            rows = await wait_for_call(engine, call.caller_number)
    finally:
        await engine.dispose()

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
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    one, two = officer_number(BUSY, 0), officer_number(BUSY, 0)
    rota = write_rota(tmp_path / "rota.yaml", [one, two], ring_timeout=5, rounds=2)
    engine = engine_for(sqlite_url)
    try:
        async with running_router(harness.info, rota, sqlite_url, tmp_path / "state"):
            call = await harness.place_call(digits="3", hold=30)
            await harness.wait_caller_hangup(call, within=40)
            rows = await wait_for_call(engine, call.caller_number)
    finally:
        await engine.dispose()

    assert harness.officers_rung(call) == [one, two, one, two]
    assert rows.call["outcome"] == "unanswered"
    assert [(a["seq"], a["number"], a["result"]) for a in rows.attempts] == [
        (1, one, "busy"),
        (2, two, "busy"),
        (3, one, "busy"),
        (4, two, "busy"),
    ]


async def test_given_max_wait_then_ringing_stops_there_even_with_rounds_left(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    silent = officer_number(RINGS_FOREVER, 0)
    rota = write_rota(tmp_path / "rota.yaml", [silent], ring_timeout=5, rounds=5, max_wait=12)
    engine = engine_for(sqlite_url)
    try:
        async with running_router(
            harness.info, rota, sqlite_url, tmp_path / "state", message_max_seconds=2
        ):
            call = await harness.place_call(digits="3", hold=45)
            caller = await harness.wait_caller_hangup(call, within=60)
            rows = await wait_for_call(engine, call.caller_number)
    finally:
        await engine.dispose()

    assert caller.hung_up_by == "network"
    assert rows.call["outcome"] == "unanswered"
    rings = [seconds(a["started_at"], a["ended_at"]) for a in rows.attempts]
    assert len(rings) == 3  # 5 s + 5 s + what is left of the 12 s
    assert rings[0] == pytest.approx(5, abs=1.0)
    assert rings[1] == pytest.approx(5, abs=1.0)
    assert rings[2] == pytest.approx(2, abs=1.0)
    assert all(a["result"] == "no_answer" for a in rows.attempts)
    assert rows.call["wait_seconds"] == pytest.approx(12, abs=1.5)


async def test_given_the_call_flow_fails_then_the_dialplan_fallback_takes_the_caller(
    harness: Harness,
    sandbox: Sandbox,
    tmp_path: Path,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Step 8: an exception while handling a call is logged, the row says the call failed
    and was handed back, and the caller still reaches an officer through the fallback."""
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


async def test_given_ten_callers_at_once_then_each_call_has_its_own_session_bridge_and_row(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    answers = officer_number(ANSWERS, 1)
    rota = write_rota(tmp_path / "rota.yaml", [answers], ring_timeout=RING_TIMEOUT)
    engine = engine_for(sqlite_url)
    try:
        async with running_router(harness.info, rota, sqlite_url, tmp_path / "state") as router:
            calls = await asyncio.gather(
                *(harness.place_call(digits="3", hold=6) for _ in range(10))
            )
            deadline = time.monotonic() + 20
            while len(router.options.live.snapshot()) < 10 or any(
                c.state != "talking" for c in router.options.live.snapshot()
            ):
                assert time.monotonic() < deadline, router.options.live.snapshot()
                await asyncio.sleep(0.1)
            bridges = [
                b
                for b in await harness.bridges("pbx")
                if b.get("name", "").startswith("callrouter-call-")
            ]
            callers = await asyncio.gather(
                *(harness.wait_caller_hangup(call, within=30) for call in calls)
            )
            rows = [await wait_for_call(engine, call.caller_number) for call in calls]
    finally:
        await engine.dispose()

    assert len(bridges) == 10
    assert all(len(b["channels"]) == 2 for b in bridges)
    assert len({ch for b in bridges for ch in b["channels"]}) == 20  # nobody shares a bridge
    assert all(c.hung_up_by == "caller" for c in callers)
    assert all(harness.officer(answers, call).answered for call in calls)
    assert [r.call["outcome"] for r in rows] == ["answered"] * 10
    assert len({r.call["linkedid"] for r in rows}) == 10
    assert all(len(r.attempts) == 1 for r in rows)
    assert all(r.attempts[0]["result"] == "answered" for r in rows)


async def test_given_a_confirm_number_then_the_officer_must_press_1_before_being_bridged(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    presses_1 = officer_number(PRESSES_1, 0)
    rota = write_rota(tmp_path / "rota.yaml", [presses_1], confirm=(True,), ring_timeout=10)
    engine = engine_for(sqlite_url)
    try:
        async with running_router(harness.info, rota, sqlite_url, tmp_path / "state"):
            call = await harness.place_call(digits="3", hold=10)
            await wait_for_bridge(harness)
            caller = await harness.wait_caller_hangup(call, within=30)
            rows = await wait_for_call(engine, call.caller_number)
    finally:
        await engine.dispose()

    officer = harness.officer(presses_1, call)
    assert officer.pressed == ["1"]
    assert caller.hung_up_by == "caller"
    assert rows.call["outcome"] == "answered"
    [attempt] = rows.attempts
    assert attempt["result"] == "answered"
    assert officer.answered_at is not None
    assert attempt["answered_at"] is not None
    # Answered counts from the key press (about 1 s after pick-up), not from pick-up.
    assert seconds(rows.call["started_at"], rows.call["answered_at"]) >= 1.0


async def test_given_a_voicemail_picks_up_a_confirm_number_then_the_next_number_gets_the_call(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    voicemail, answers = officer_number(VOICEMAIL, 0), officer_number(ANSWERS, 1)
    rota = write_rota(
        tmp_path / "rota.yaml", [voicemail, answers], confirm=(True, False), ring_timeout=10
    )
    engine = engine_for(sqlite_url)
    try:
        async with running_router(harness.info, rota, sqlite_url, tmp_path / "state"):
            call = await harness.place_call(digits="3", hold=18)
            caller = await harness.wait_caller_hangup(call, within=40)
            rows = await wait_for_call(engine, call.caller_number)
    finally:
        await engine.dispose()

    box, officer = harness.officer(voicemail, call), harness.officer(answers, call)
    assert box.answered  # the voicemail box picked up...
    assert box.pressed == []
    assert box.hung_up_at is not None
    assert officer.rang_at is not None
    assert box.hung_up_at <= officer.rang_at + 0.5  # ...and was dropped before the next rang
    assert officer.answered
    assert caller.hung_up_by == "caller"
    assert rows.call["outcome"] == "answered"
    assert rows.call["answered_number"] == answers
    assert [(a["number"], a["result"]) for a in rows.attempts] == [
        (voicemail, "no_answer"),
        (answers, "answered"),
    ]
    assert rows.attempts[0]["answered_at"] is None


async def test_given_the_officer_presses_another_key_then_the_call_is_declined_and_moves_on(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    presses_9, answers = officer_number(PRESSES_9, 0), officer_number(ANSWERS, 1)
    rota = write_rota(
        tmp_path / "rota.yaml", [presses_9, answers], confirm=(True, False), ring_timeout=10
    )
    engine = engine_for(sqlite_url)
    try:
        async with running_router(harness.info, rota, sqlite_url, tmp_path / "state"):
            call = await harness.place_call(digits="3", hold=10)
            await harness.wait_caller_hangup(call, within=30)
            rows = await wait_for_call(engine, call.caller_number)
    finally:
        await engine.dispose()

    assert harness.officer(presses_9, call).pressed == ["9"]
    assert harness.officer(answers, call).answered
    assert [(a["number"], a["result"]) for a in rows.attempts] == [
        (presses_9, "declined"),
        (answers, "answered"),
    ]
    assert rows.call["answered_number"] == answers


async def test_given_rotate_then_the_next_call_starts_after_the_last_answerer_even_after_restart(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    """``rotate``: the rotation state comes from the call log, so a new router process
    starts the next call with the officer after the one who answered the last one."""
    first, second = officer_number(ANSWERS, 0), officer_number(ANSWERS, 0)
    rota = write_rota(tmp_path / "rota.yaml", [first, second], strategy="rotate")
    engine = engine_for(sqlite_url)
    try:
        async with running_router(harness.info, rota, sqlite_url, tmp_path / "state"):
            call_1 = await harness.place_call(digits="3", hold=3)
            await harness.wait_caller_hangup(call_1, within=20)
            rows_1 = await wait_for_call(engine, call_1.caller_number)
        async with running_router(harness.info, rota, sqlite_url, tmp_path / "state"):
            call_2 = await harness.place_call(digits="3", hold=3)
            await harness.wait_caller_hangup(call_2, within=20)
            rows_2 = await wait_for_call(engine, call_2.caller_number)
    finally:
        await engine.dispose()

    assert harness.officers_rung(call_1) == [first]
    assert rows_1.call["answered_officer_id"] == officer_id_at(0)
    assert harness.officers_rung(call_2) == [second]  # a new process, same fair order
    assert rows_2.call["answered_officer_id"] == officer_id_at(1)


async def test_given_the_rota_changes_then_the_next_call_and_the_fallback_follow_it(
    harness: Harness, sandbox: Sandbox, tmp_path: Path, sqlite_url: str
) -> None:
    """serve writes the fallback include from the rota and reloads the pbx dialplan, at
    start and after each reload; calls follow the new rota at once."""
    old, new = officer_number(ANSWERS, 0), officer_number(ANSWERS, 0)
    rota = write_rota(tmp_path / "rota.yaml", [old])
    include = sandbox.info().pbx.etc_dir / contract.FALLBACK_INCLUDE_FILENAME
    engine = engine_for(sqlite_url)
    try:
        async with running_router(
            harness.info, rota, sqlite_url, tmp_path / "state", dialplan_include=include
        ) as router:
            assert old in sandbox.cli("pbx", f"dialplan show {contract.CONTEXT_FALLBACK_TARGETS}")
            call_1 = await harness.place_call(digits="3", hold=3)
            await harness.wait_caller_hangup(call_1, within=20)

            write_rota(rota, [new])
            router.options.reload_rota.set()  # what SIGHUP does
            deadline = time.monotonic() + 10
            while new not in sandbox.cli(
                "pbx", f"dialplan show {contract.CONTEXT_FALLBACK_TARGETS}"
            ):
                assert time.monotonic() < deadline, "the pbx dialplan did not follow the rota"
                await asyncio.sleep(0.1)
            call_2 = await harness.place_call(digits="3", hold=3)
            await harness.wait_caller_hangup(call_2, within=20)
            rows_2 = await wait_for_call(engine, call_2.caller_number)
    finally:
        await engine.dispose()

    assert harness.officers_rung(call_1) == [old]
    assert harness.officers_rung(call_2) == [new]
    assert rows_2.call["answered_number"] == new
    text = include.read_text(encoding="utf-8")
    assert new in text
    assert old not in text


async def test_given_failing_and_unallocated_numbers_then_they_are_failed_attempts_and_it_moves_on(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    congested, unallocated = officer_number(FAILS, 0), "0999000001"
    answers = officer_number(ANSWERS, 1)
    call, rows = await route_one_call(
        harness, tmp_path, sqlite_url, [congested, unallocated, answers], hold=8
    )

    assert harness.officer(answers, call).answered
    assert rows.call["outcome"] == "answered"
    assert rows.call["answered_number"] == answers
    attempts = [(a["number"], a["result"], a["cause"]) for a in rows.attempts]
    assert attempts[0][:2] == (congested, "failed")
    assert attempts[0][2] not in (16, 17, 19, 21)  # congestion-like, not busy/no answer
    assert attempts[1][:2] == (unallocated, "failed")
    assert attempts[2][:2] == (answers, "answered")
