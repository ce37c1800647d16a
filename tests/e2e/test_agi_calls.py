"""The real-calls scenarios in FastAGI mode, through two real Asterisks.

The pbx's shipped dialplan (global ``CALLROUTER_ROUTER=agi``) asks the real
``callrouter serve --mode agi`` where to send branch 3 over FastAGI, then dials the pstn's
officer phones itself (``dialplan/extensions_callrouter_agi.conf``) and reports each attempt
back. Each test checks the phones' experience (pstn events) and the rows written, which must
be the same as in ARI mode (tests/e2e/test_calls_ari.py) with ``mode = 'agi'``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import structlog

from callrouter.asterisk import contract
from callrouter.asterisk.fallback import write_fallback_include
from callrouter.rota import load_rota
from tests.e2e.agi_support import agi_mode, free_port, running_agi_router
from tests.e2e.callflow_support import (
    CallRows,
    engine_for,
    officer_id_at,
    wait_for_call,
    write_rota,
)
from tests.e2e.harness import (
    ANSWERS,
    BUSY,
    PRESSES_1,
    PRESSES_9,
    RINGS_FOREVER,
    VOICEMAIL,
    Harness,
    PlacedCall,
    Sandbox,
    officer_number,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120, func_only=True)]

RING_TIMEOUT = 5


@pytest.fixture
def agi_port(sandbox: Sandbox) -> Iterator[int]:
    port = free_port()
    with agi_mode(sandbox, port):
        yield port


def seconds(a: datetime | None, b: datetime | None) -> float:
    assert a is not None
    assert b is not None
    return (b - a).total_seconds()


async def agi_call(
    harness: Harness,
    tmp_path: Path,
    port: int,
    numbers: list[str],
    *,
    hold: float,
    url: str | None = None,
    **rota: object,
) -> tuple[PlacedCall, CallRows]:
    """Run the AGI router with a rota ringing ``numbers``; place one call; wait for its rows."""
    url = url or f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    rota.setdefault("ring_timeout", RING_TIMEOUT)
    rota_path = write_rota(tmp_path / "rota.yaml", numbers, **rota)  # type: ignore[arg-type]
    engine = engine_for(url)
    try:
        async with running_agi_router(rota_path, url, tmp_path / "state", port=port):
            call = await harness.place_call(digits="3", hold=hold)
            await harness.wait_caller_hangup(call, within=hold + 40)
            rows = await wait_for_call(engine, call.caller_number)
    finally:
        await engine.dispose()
    assert rows.call["mode"] == "agi"
    return call, rows


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
async def test_agi_given_first_number_answers_then_caller_is_bridged_to_it_and_call_is_answered(
    harness: Harness, tmp_path: Path, agi_port: int, db: str, request: pytest.FixtureRequest
) -> None:
    url = None if db == "sqlite" else request.getfixturevalue("pg_url")
    first, second = officer_number(ANSWERS, 1), officer_number(ANSWERS, 1)
    call, rows = await agi_call(harness, tmp_path, agi_port, [first, second], hold=8, url=url)

    caller = harness.caller(call)
    assert caller.failed is None
    assert caller.hung_up_by == "caller"
    officer = harness.officer(first, call)
    assert officer.answered
    assert harness.officers_rung(call) == [first]
    assert officer.hung_up_at is not None
    assert caller.hung_up_at is not None
    assert abs(officer.hung_up_at - caller.hung_up_at) < 2.0
    bridged = harness.bridged(call)
    assert bridged is not None  # the pbx bridged the caller with the officer

    c = rows.call
    assert c["outcome"] == "answered"
    assert c["answered_officer_id"] == officer_id_at(0)
    assert c["answered_number"] == first
    assert c["rota_version"] is not None
    assert c["wait_seconds"] is not None
    assert 0.5 <= c["wait_seconds"] <= 4.0  # 1 s of ringing
    assert c["talk_seconds"] is not None
    assert c["talk_seconds"] > 3.0
    [attempt] = rows.attempts
    assert (attempt["seq"], attempt["number"], attempt["result"]) == (1, first, "answered")
    assert attempt["officer_id"] == officer_id_at(0)
    assert attempt["answered_at"] is not None


async def test_agi_given_first_number_busy_then_second_answers(
    harness: Harness, tmp_path: Path, agi_port: int
) -> None:
    busy, answers = officer_number(BUSY, 0), officer_number(ANSWERS, 1)
    call, rows = await agi_call(harness, tmp_path, agi_port, [busy, answers], hold=8)

    assert harness.officers_rung(call) == [busy, answers]
    assert not harness.officer(busy, call).answered
    second = harness.officer(answers, call)
    assert second.answered
    busy_rang = harness.officer(busy, call).rang_at
    assert busy_rang is not None
    assert second.rang_at is not None
    assert second.rang_at - busy_rang < 1.0  # failover at once

    c = rows.call
    assert c["outcome"] == "answered"
    assert c["answered_officer_id"] == officer_id_at(1)
    assert c["answered_number"] == answers
    assert [(a["seq"], a["number"], a["result"], a["cause"]) for a in rows.attempts] == [
        (1, busy, "busy", 17),
        (2, answers, "answered", rows.attempts[1]["cause"]),
    ]


async def test_agi_given_first_number_never_answers_then_second_rings_after_the_ring_timeout(
    harness: Harness, tmp_path: Path, agi_port: int
) -> None:
    silent, answers = officer_number(RINGS_FOREVER, 0), officer_number(ANSWERS, 1)
    call, rows = await agi_call(harness, tmp_path, agi_port, [silent, answers], hold=14)

    assert harness.officers_rung(call) == [silent, answers]
    first, second = harness.officer(silent, call), harness.officer(answers, call)
    assert not first.answered
    assert second.answered
    assert first.rang_at is not None
    assert second.rang_at is not None
    assert RING_TIMEOUT - 0.5 <= second.rang_at - first.rang_at <= RING_TIMEOUT + 1.5

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


async def test_agi_given_every_number_fails_then_call_is_unanswered_and_caller_is_told(
    harness: Harness, tmp_path: Path, agi_port: int
) -> None:
    busy, silent = officer_number(BUSY, 0), officer_number(RINGS_FOREVER, 0)
    call, rows = await agi_call(harness, tmp_path, agi_port, [busy, silent], hold=40)

    caller = harness.caller(call)
    assert caller.hung_up_by == "network"  # after the "nobody answered" prompt
    assert harness.officers_rung(call) == [busy, silent]
    c = rows.call
    assert c["outcome"] == "unanswered"
    assert c["answered_at"] is None
    assert [(a["result"], a["cause"]) for a in rows.attempts] == [("busy", 17), ("no_answer", 19)]
    assert c["wait_seconds"] == pytest.approx(RING_TIMEOUT, abs=1.5)


async def test_agi_given_caller_hangs_up_while_ringing_then_call_is_abandoned_with_its_wait(
    harness: Harness, tmp_path: Path, agi_port: int
) -> None:
    silent = officer_number(RINGS_FOREVER, 0)
    call, rows = await agi_call(harness, tmp_path, agi_port, [silent], hold=4, ring_timeout=20)

    caller = harness.caller(call)
    assert caller.hung_up_by == "caller"
    officer = harness.officer(silent, call)
    assert officer.rang
    assert not officer.answered
    c = rows.call
    assert c["outcome"] == "abandoned"
    assert c["answered_at"] is None
    assert c["wait_seconds"] is not None
    assert caller.hung_up_at is not None
    assert caller.digits_sent_at is not None
    assert c["wait_seconds"] == pytest.approx(caller.hung_up_at - caller.digits_sent_at, abs=1.0)
    [attempt] = rows.attempts
    assert attempt["result"] == "cancelled"


async def test_agi_given_simultaneous_strategy_then_all_ring_and_the_first_to_answer_wins(
    harness: Harness, tmp_path: Path, agi_port: int
) -> None:
    silent, answers = officer_number(RINGS_FOREVER, 0), officer_number(ANSWERS, 1)
    call, rows = await agi_call(
        harness,
        tmp_path,
        agi_port,
        [silent, answers],
        hold=6,
        ring_timeout=10,
        strategy="simultaneous",
    )

    first, second = harness.officer(silent, call), harness.officer(answers, call)
    assert first.rang_at is not None
    assert second.rang_at is not None
    assert abs(second.rang_at - first.rang_at) < 0.5
    assert second.answered
    assert not first.answered
    assert first.hung_up_at is not None
    assert second.answered_at is not None
    assert first.hung_up_at - second.answered_at < 1.0
    assert rows.call["outcome"] == "answered"
    assert rows.call["answered_number"] == answers
    assert {a["number"]: a["result"] for a in rows.attempts} == {
        silent: "cancelled",
        answers: "answered",
    }


async def test_agi_given_two_rounds_then_every_number_is_tried_twice_before_unanswered(
    harness: Harness, tmp_path: Path, agi_port: int
) -> None:
    one, two = officer_number(BUSY, 0), officer_number(BUSY, 0)
    call, rows = await agi_call(harness, tmp_path, agi_port, [one, two], hold=30, rounds=2)

    assert harness.officers_rung(call) == [one, two, one, two]
    assert rows.call["outcome"] == "unanswered"
    assert [(a["seq"], a["number"], a["result"]) for a in rows.attempts] == [
        (1, one, "busy"),
        (2, two, "busy"),
        (3, one, "busy"),
        (4, two, "busy"),
    ]


async def test_agi_given_max_wait_then_ringing_stops_there_even_with_rounds_left(
    harness: Harness, tmp_path: Path, agi_port: int
) -> None:
    silent = officer_number(RINGS_FOREVER, 0)
    call, rows = await agi_call(
        harness, tmp_path, agi_port, [silent], hold=45, rounds=5, max_wait=12
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


async def test_agi_given_a_confirm_number_then_the_officer_must_press_1_before_being_bridged(
    harness: Harness, tmp_path: Path, agi_port: int
) -> None:
    presses_1 = officer_number(PRESSES_1, 0)
    call, rows = await agi_call(
        harness, tmp_path, agi_port, [presses_1], hold=10, confirm=(True,), ring_timeout=10
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
    assert seconds(rows.call["started_at"], rows.call["answered_at"]) >= 1.0


async def test_agi_given_a_voicemail_picks_up_a_confirm_number_then_the_next_number_gets_it(
    harness: Harness, tmp_path: Path, agi_port: int
) -> None:
    voicemail, answers = officer_number(VOICEMAIL, 0), officer_number(ANSWERS, 1)
    call, rows = await agi_call(
        harness,
        tmp_path,
        agi_port,
        [voicemail, answers],
        hold=18,
        confirm=(True, False),
        ring_timeout=10,
    )

    box, officer = harness.officer(voicemail, call), harness.officer(answers, call)
    assert box.answered
    assert box.pressed == []
    assert box.hung_up_at is not None
    assert officer.rang_at is not None
    assert box.hung_up_at <= officer.rang_at + 0.5
    assert officer.answered
    assert rows.call["outcome"] == "answered"
    assert rows.call["answered_number"] == answers
    assert [(a["number"], a["result"]) for a in rows.attempts] == [
        (voicemail, "no_answer"),
        (answers, "answered"),
    ]
    assert rows.attempts[0]["answered_at"] is None


async def test_agi_given_the_officer_presses_another_key_then_the_call_is_declined_and_moves_on(
    harness: Harness, tmp_path: Path, agi_port: int
) -> None:
    presses_9, answers = officer_number(PRESSES_9, 0), officer_number(ANSWERS, 1)
    call, rows = await agi_call(
        harness,
        tmp_path,
        agi_port,
        [presses_9, answers],
        hold=10,
        confirm=(True, False),
        ring_timeout=10,
    )

    assert harness.officer(presses_9, call).pressed == ["9"]
    assert harness.officer(answers, call).answered
    assert [(a["number"], a["result"]) for a in rows.attempts] == [
        (presses_9, "declined"),
        (answers, "answered"),
    ]
    assert rows.call["answered_number"] == answers


async def test_agi_given_the_agi_server_is_unreachable_then_the_dialplan_fallback_takes_the_caller(
    harness: Harness, sandbox: Sandbox, tmp_path: Path, agi_port: int
) -> None:
    # Nothing listens on agi_port: AGISTATUS=FAILURE -> [callrouter-fallback].
    answers = officer_number(ANSWERS, 1)
    rota = load_rota(write_rota(tmp_path / "rota.yaml", [answers], ring_timeout=RING_TIMEOUT))
    write_fallback_include(rota, sandbox.info().pbx.etc_dir / contract.FALLBACK_INCLUDE_FILENAME)
    sandbox.cli("pbx", "dialplan reload")
    sandbox.cli("pbx", f"dialplan set global {contract.GLOBAL_AGI_URL} agi://127.0.0.1:{agi_port}")
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
    harness: Harness, tmp_path: Path, agi_port: int
) -> None:
    first, second = officer_number(ANSWERS, 1), officer_number(ANSWERS, 1)
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    rota_path = write_rota(tmp_path / "rota.yaml", [first], ring_timeout=RING_TIMEOUT)
    engine = engine_for(url)
    try:
        async with running_agi_router(rota_path, url, tmp_path / "state", port=agi_port):
            call = await harness.place_call(digits="3", hold=8)
            await harness.wait_user_event("OfficerAnswered", source="pstn", Number=first, within=20)
            with structlog.testing.capture_logs() as logs:
                await asyncio.gather(
                    *(poke(agi_port, b"") for _ in range(20)),
                    poke(agi_port, b"garbage\n\n"),
                    poke(agi_port, b"agi_network_script: nope\n\n"),
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
    assert "agi.headers_too_large" in events
    assert harness.caller(call).hung_up_by == "caller"
    assert harness.bridged(call) is not None
    assert rows.call["outcome"] == "answered"
    assert later_rows.call["outcome"] == "answered"
    assert harness.officer(first, later).answered or harness.officer(second, later).answered


async def test_agi_given_nobody_answers_and_a_forward_action_then_the_caller_is_forwarded(
    harness: Harness, tmp_path: Path, agi_port: int
) -> None:
    busy, agency = officer_number(BUSY, 0), officer_number(ANSWERS, 1)
    call, rows = await agi_call(
        harness, tmp_path, agi_port, [busy], hold=10, nobody_answered=f"forward:{agency}"
    )

    assert harness.officers_rung(call) == [busy, agency]
    assert harness.officer(agency, call).answered
    assert harness.bridged(call) is not None  # the caller talks to the forward number
    # As in ARI mode: nobody on the rota answered, so the call counts as unanswered.
    assert rows.call["outcome"] == "unanswered"
    assert [(a["number"], a["result"]) for a in rows.attempts] == [(busy, "busy")]


async def test_agi_given_the_rota_is_closed_then_the_caller_is_told_and_the_call_is_after_hours(
    harness: Harness, tmp_path: Path, agi_port: int
) -> None:
    answers = officer_number(ANSWERS, 1)
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    rota_path = write_rota(tmp_path / "rota.yaml", [answers])
    # Shifts only on a weekday three days away: closed now (and for the whole test).
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[
        (datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).weekday() + 3) % 7
    ]
    rota_path.write_text(
        rota_path.read_text(encoding="utf-8").replace("days: mon-sun", f"days: {day}"),
        encoding="utf-8",
    )
    engine = engine_for(url)
    try:
        async with running_agi_router(rota_path, url, tmp_path / "state", port=agi_port):
            call = await harness.place_call(digits="3", hold=20)
            caller = await harness.wait_caller_hangup(call, within=40)
            rows = await wait_for_call(engine, call.caller_number)
    finally:
        await engine.dispose()

    assert caller.hung_up_by == "network"  # after the announcement
    assert harness.officers_rung(call) == []
    assert rows.call["outcome"] == "after_hours"
    assert rows.attempts == []
