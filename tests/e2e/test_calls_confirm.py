"""Numbers that must press 1 before they are bridged, in ARI mode and in FastAGI mode.

Every press-1 scenario runs in both modes (the ``router_mode`` fixture of tests/e2e/conftest.py)
and expects the same ``calls``/``call_attempts`` rows (``calls.mode`` apart) and the same
experience on the phones.

*Simultaneous ringing*: every number of the round rings at once and each one that picks up is
asked to press 1. A leg that declines (another key), picks up and never presses 1 (a voicemail
box) or hangs up while asked is only *that* leg's attempt: the other legs keep ringing and the
first to press 1 takes the call; the legs still ringing or still being asked are then
`cancelled`. ARI mode does this itself; in FastAGI mode the shipped dialplan rings each number
through its own Local channel (``[callrouter-agi-leg]``), so one leg's refusal no longer ends
the whole Dial.

*Sequential ringing*: an officer who hangs up in the middle of the press-1 prompt is a
`declined` attempt (with its hang-up cause) and the next number rings; the caller is never
bridged with the leg that is gone (FastAGI mode: Dial's pre-bridge subroutine keeps
``GOSUB_RESULT=CONTINUE`` until the leg is accepted).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from tests.e2e.callflow_support import (
    CallRows,
    engine_for,
    officer_id_at,
    wait_for_call,
    write_rota,
)
from tests.e2e.harness import (
    HANGS_UP,
    PRESSES_1,
    PRESSES_9,
    RINGS_FOREVER,
    VOICEMAIL,
    Harness,
    PlacedCall,
    officer_number,
)
from tests.e2e.router_modes import RouterMode

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120, func_only=True)]

RING_TIMEOUT = 15
CONFIRM_TIMEOUT = 2
#: length of the shipped callrouter/confirm prompt (vi), after which CONFIRM_TIMEOUT runs
PROMPT_SECONDS = 5.2


def _cause(mode: RouterMode, attempt: dict[str, Any]) -> int | None:
    """The leg's hang-up cause as both modes must agree on it. A leg callrouter itself hung up
    carries, in ARI mode, the cause Asterisk reports for that hang-up (16 normal clearing, 26
    answered elsewhere); in FastAGI mode Asterisk reports none there and the row keeps NULL
    (issue 14: never a default). So a cancelled or unanswered leg's cause is not compared
    across modes, and a declined leg's NULL in FastAGI mode counts as ARI's 16."""
    cause = attempt["cause"]
    if attempt["result"] in ("cancelled", "no_answer"):
        return None
    if mode.name == "agi" and attempt["result"] == "declined" and cause is None:
        return 16
    return cast(int | None, cause)


def comparable(rows: CallRows, mode: RouterMode) -> dict[str, Any]:
    """What must be the same in both modes: the call's outcome and answerer, and every
    attempt's officer, number, result and (for a leg that did not take the call) cause."""
    return {
        "outcome": rows.call["outcome"],
        "answered_officer_id": rows.call["answered_officer_id"],
        "answered_number": rows.call["answered_number"],
        "answered": rows.call["answered_at"] is not None,
        "attempts": [
            (
                a["seq"],
                a["officer_id"],
                a["number"],
                a["result"],
                None if a["result"] == "answered" else _cause(mode, a),
                a["answered_at"] is not None,
            )
            for a in rows.attempts
        ],
    }


async def pbx_bridge_channels(harness: Harness, call: PlacedCall) -> list[str] | None:
    """Names of the channels in the pbx bridge that holds the caller with someone, or None
    (ARI: callrouter's bridge; AGI: Dial's, with caller and officer once the Local pair of
    the leg optimised away — which Asterisk does when media crosses it)."""
    channels = {c["id"]: c for c in await harness.channels("pbx")}
    caller = harness.pbx_caller_channel(call)
    for bridge in await harness.bridges("pbx"):
        members = bridge.get("channels", [])
        if caller in members and len(members) >= 2:
            return [channels[m]["name"] for m in members if m in channels]
    return None


async def confirm_call(
    mode: RouterMode,
    tmp_path: Path,
    numbers: list[str],
    *,
    hold: float,
    talk_after: float | None = None,
    strategy: str = "simultaneous",
) -> tuple[PlacedCall, CallRows, list[str] | None]:
    """Route one call with every number of ``numbers`` ringing at once (or as ``strategy``
    says) and marked confirm; return it and its rows. ``talk_after``: that many seconds after
    pressing 3 the caller talks (plays a 5.7 s sound) — the sandbox phones send no audio
    otherwise — and the pbx bridge's channel names once it has are returned too."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    rota_path = write_rota(
        tmp_path / "rota.yaml",
        numbers,
        strategy=strategy,
        confirm=(True,) * len(numbers),
        confirm_timeout=CONFIRM_TIMEOUT,
        ring_timeout=RING_TIMEOUT,
        max_wait=60,
    )
    engine = engine_for(url)
    bridge: list[str] | None = None
    try:
        # message_max_seconds (the shortest an operator may set): the sandbox caller sends no
        # audio, so no silence ends a message
        async with mode.running(rota_path, url, tmp_path / "state", message_max_seconds=5):
            if talk_after is None:
                call = await mode.harness.place_call(digits="3", hold=hold)
            else:
                call = await mode.harness.place_call(
                    digits="3", hold=hold, say="vm-intro", say_after=talk_after
                )
                await mode.harness.wait_user_event(
                    "CallerSaid", source="pstn", Tag=call.tag, within=talk_after + 30
                )
                bridge = await pbx_bridge_channels(mode.harness, call)
            await mode.harness.wait_caller_hangup(call, within=hold + 60)
            rows = await wait_for_call(engine, call.caller_number)
    finally:
        await engine.dispose()
    assert rows.call["mode"] == mode.name
    return call, rows, bridge


async def test_given_one_leg_declines_then_the_other_keeps_ringing_and_takes_the_call(
    router_mode: RouterMode, harness: Harness, tmp_path: Path
) -> None:
    # The press-9 phone answers at once and declines at ~1 s; the press-1 phone picks up at
    # ~2 s and accepts at ~3 s: its leg must still be ringing when the other declines.
    presses_9, presses_1 = officer_number(PRESSES_9, 0), officer_number(PRESSES_1, 2)
    call, rows, bridge = await confirm_call(
        router_mode, tmp_path, [presses_9, presses_1], hold=5, talk_after=5
    )

    declining, accepting = harness.officer(presses_9, call), harness.officer(presses_1, call)
    assert declining.rang_at is not None
    assert accepting.rang_at is not None
    assert abs(accepting.rang_at - declining.rang_at) < 0.5  # rung together
    assert declining.pressed == ["9"]
    assert declining.hung_up_at is not None
    assert accepting.answered_at is not None
    assert declining.hung_up_at < accepting.answered_at  # dropped while the other still rang
    assert accepting.pressed == ["1"]
    caller = harness.caller(call)
    assert caller.hung_up_by == "caller"
    bridged = harness.bridged(call)
    assert bridged is not None
    assert bridged[0] >= accepting.answered_at + 0.8  # bridged only after the key press
    # Caller and officer talk directly (AGI: the Local pair optimised away) and hang up together.
    assert bridge is not None
    assert len(bridge) == 2
    assert not any(name.startswith("Local/") for name in bridge)
    assert accepting.hung_up_at is not None
    assert caller.hung_up_at is not None
    assert abs(accepting.hung_up_at - caller.hung_up_at) < 2.0

    assert comparable(rows, router_mode) == {
        "outcome": "answered",
        "answered_officer_id": officer_id_at(1),
        "answered_number": presses_1,
        "answered": True,
        "attempts": [
            (1, officer_id_at(0), presses_9, "declined", 16, False),
            (2, officer_id_at(1), presses_1, "answered", None, True),
        ],
    }
    assert rows.call["talk_seconds"] is not None
    assert rows.call["talk_seconds"] > 8.0


async def test_given_a_voicemail_never_presses_1_then_the_other_leg_still_takes_the_call(
    router_mode: RouterMode, harness: Harness, tmp_path: Path
) -> None:
    # The voicemail box picks up at once and lets the prompt and the confirm time run out
    # (~7 s); the press-1 phone only picks up after 9 s.
    voicemail, presses_1 = officer_number(VOICEMAIL, 0), officer_number(PRESSES_1, 9)
    call, rows, _bridge = await confirm_call(router_mode, tmp_path, [voicemail, presses_1], hold=16)

    box, officer = harness.officer(voicemail, call), harness.officer(presses_1, call)
    assert box.answered
    assert box.pressed == []
    assert box.hung_up_at is not None
    assert box.answered_at is not None
    assert box.hung_up_at - box.answered_at == pytest.approx(
        PROMPT_SECONDS + CONFIRM_TIMEOUT, abs=1.5
    )
    assert officer.answered_at is not None
    assert box.hung_up_at < officer.answered_at  # the box's leg ended, this one rang on
    assert officer.pressed == ["1"]
    assert harness.caller(call).hung_up_by == "caller"
    assert harness.bridged(call) is not None

    assert comparable(rows, router_mode) == {
        "outcome": "answered",
        "answered_officer_id": officer_id_at(1),
        "answered_number": presses_1,
        "answered": True,
        "attempts": [
            (1, officer_id_at(0), voicemail, "no_answer", None, False),
            (2, officer_id_at(1), presses_1, "answered", None, True),
        ],
    }


async def test_given_a_voicemail_is_still_asked_when_the_other_presses_1_then_it_is_cancelled(
    router_mode: RouterMode, harness: Harness, tmp_path: Path
) -> None:
    # Both pick up at once; the officer presses 1 after ~1 s, while the voicemail box is
    # still hearing the prompt: its leg is hung up at once and counts as cancelled.
    voicemail, presses_1 = officer_number(VOICEMAIL, 0), officer_number(PRESSES_1, 0)
    call, rows, _bridge = await confirm_call(router_mode, tmp_path, [voicemail, presses_1], hold=8)

    box, officer = harness.officer(voicemail, call), harness.officer(presses_1, call)
    assert box.answered
    assert box.pressed == []
    assert officer.pressed == ["1"]
    assert officer.answered_at is not None
    assert box.hung_up_at is not None
    assert box.hung_up_at - officer.answered_at < 2.5  # ~1 s to the key, then dropped at once
    assert harness.caller(call).hung_up_by == "caller"
    assert harness.bridged(call) is not None

    assert comparable(rows, router_mode) == {
        "outcome": "answered",
        "answered_officer_id": officer_id_at(1),
        "answered_number": presses_1,
        "answered": True,
        "attempts": [
            (1, officer_id_at(0), voicemail, "cancelled", None, False),
            (2, officer_id_at(1), presses_1, "answered", None, True),
        ],
    }


async def test_given_an_officer_hangs_up_while_asked_then_the_other_leg_still_takes_the_call(
    router_mode: RouterMode, harness: Harness, tmp_path: Path
) -> None:
    # One phone picks up at once and hangs up 1.5 s later, in the middle of the prompt; the
    # press-1 phone picks up after 4 s. The hung-up leg is declined (with its cause) and must
    # not take the caller with it.
    hangs_up, presses_1 = officer_number(HANGS_UP, 0), officer_number(PRESSES_1, 4)
    call, rows, _bridge = await confirm_call(router_mode, tmp_path, [hangs_up, presses_1], hold=8)

    gone, officer = harness.officer(hangs_up, call), harness.officer(presses_1, call)
    assert gone.answered
    assert gone.hung_up_at is not None
    assert officer.answered_at is not None
    assert gone.hung_up_at < officer.answered_at
    assert officer.pressed == ["1"]
    assert harness.caller(call).hung_up_by == "caller"
    bridged = harness.bridged(call)
    assert bridged is not None
    assert bridged[0] >= officer.answered_at + 0.8

    assert comparable(rows, router_mode) == {
        "outcome": "answered",
        "answered_officer_id": officer_id_at(1),
        "answered_number": presses_1,
        "answered": True,
        "attempts": [
            (1, officer_id_at(0), hangs_up, "declined", 16, False),
            (2, officer_id_at(1), presses_1, "answered", None, True),
        ],
    }


async def test_given_the_caller_hangs_up_while_a_leg_is_asked_then_every_leg_is_cancelled(
    router_mode: RouterMode, harness: Harness, tmp_path: Path
) -> None:
    # The voicemail box is still hearing the prompt and the other phone still rings when the
    # caller gives up, 3 s after pressing 3: both phones are hung up at once.
    voicemail, silent = officer_number(VOICEMAIL, 0), officer_number(RINGS_FOREVER, 0)
    call, rows, _bridge = await confirm_call(router_mode, tmp_path, [voicemail, silent], hold=3)

    caller = harness.caller(call)
    assert caller.hung_up_by == "caller"
    assert caller.hung_up_at is not None
    box, ringing = harness.officer(voicemail, call), harness.officer(silent, call)
    assert box.answered
    assert box.hung_up_at is not None
    assert box.hung_up_at - caller.hung_up_at < 1.0
    assert ringing.hung_up_at is not None
    assert ringing.hung_up_at - caller.hung_up_at < 1.0
    assert harness.bridged(call) is None
    assert comparable(rows, router_mode) == {
        "outcome": "abandoned",
        "answered_officer_id": None,
        "answered_number": None,
        "answered": False,
        "attempts": [
            (1, officer_id_at(0), voicemail, "cancelled", None, False),
            (2, officer_id_at(1), silent, "cancelled", None, False),
        ],
    }


async def test_given_every_leg_declines_then_the_call_is_unanswered_with_the_nobody_action(
    router_mode: RouterMode, harness: Harness, tmp_path: Path
) -> None:
    one, two = officer_number(PRESSES_9, 0), officer_number(PRESSES_9, 0)
    call, rows, _bridge = await confirm_call(router_mode, tmp_path, [one, two], hold=30)

    assert sorted(harness.officers_rung(call)) == sorted([one, two])
    assert harness.officer(one, call).pressed == ["9"]
    assert harness.officer(two, call).pressed == ["9"]
    caller = harness.caller(call)
    assert caller.hung_up_by == "network"  # after the nobody-answered action
    assert harness.bridged(call) is None
    assert comparable(rows, router_mode) == {
        "outcome": "unanswered",
        "answered_officer_id": None,
        "answered_number": None,
        "answered": False,
        "attempts": [
            (1, officer_id_at(0), one, "declined", 16, False),
            (2, officer_id_at(1), two, "declined", 16, False),
        ],
    }
    # The wait is the ringing: both declined about 1 s after picking up.
    assert rows.call["wait_seconds"] is not None
    assert rows.call["wait_seconds"] < 5.0


async def test_given_sequential_ringing_and_an_officer_hangs_up_while_asked_then_the_next_takes_it(
    router_mode: RouterMode, harness: Harness, tmp_path: Path
) -> None:
    # Sequential ringing: the first phone picks up at once and hangs up 1.5 s later, in the
    # middle of the prompt; only then does the second ring (1 s), pick up and press 1. The
    # caller must not be bridged with the leg that is gone (and lost with it).
    hangs_up, presses_1 = officer_number(HANGS_UP, 0), officer_number(PRESSES_1, 1)
    call, rows, _bridge = await confirm_call(
        router_mode, tmp_path, [hangs_up, presses_1], hold=10, strategy="sequential"
    )

    assert harness.officers_rung(call) == [hangs_up, presses_1]
    gone, officer = harness.officer(hangs_up, call), harness.officer(presses_1, call)
    assert gone.answered
    assert gone.pressed == []
    assert gone.hung_up_at is not None
    assert officer.rang_at is not None
    assert gone.hung_up_at <= officer.rang_at  # the next number rang only after the hang-up
    assert officer.answered_at is not None
    assert officer.pressed == ["1"]
    caller = harness.caller(call)
    assert caller.hung_up_by == "caller", "the caller stayed on until he hung up himself"
    bridged = harness.bridged(call)
    assert bridged is not None
    assert bridged[0] >= officer.answered_at + 0.8  # bridged only after the key press
    assert officer.talk_seconds is not None
    assert officer.talk_seconds > 1.0

    assert comparable(rows, router_mode) == {
        "outcome": "answered",
        "answered_officer_id": officer_id_at(1),
        "answered_number": presses_1,
        "answered": True,
        "attempts": [
            (1, officer_id_at(0), hangs_up, "declined", 16, False),
            (2, officer_id_at(1), presses_1, "answered", None, True),
        ],
    }
