"""callrouter not running: the shipped dialplan's fallback rings the rota's numbers itself.

Driven through the two real Asterisks: the pstn calls 1022 on the pbx and presses 3;
``Stasis(callrouter)`` fails because no app is connected; the pbx rings the numbers of the
include file written from the rota (``render_fallback_include``), with press-1 confirmation on
numbers marked confirm. Assertions are what the caller's and the officers' phones experienced
(pstn UserEvents), the pbx's own view (bridge, fallback events) and the CDR it wrote.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from callrouter.asterisk import contract
from callrouter.asterisk.fallback import write_fallback_include
from callrouter.rota import Rota, parse_rota
from tests.e2e.harness import (
    ANSWERS,
    BUSY,
    FAILS,
    PRESSES_1,
    PRESSES_9,
    RINGS_FOREVER,
    VOICEMAIL,
    AmiEvent,
    Harness,
    Sandbox,
    officer_number,
)

# func_only: the session fixture may build the sandbox first (minutes on a fresh machine);
# the 60 s bound is on the test itself.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60, func_only=True)]


def rota_with(
    numbers: list[tuple[str, bool]],
    *,
    confirm_timeout: int = 3,
    rounds: int = 1,
    max_wait: int = 120,
    nobody_answered: str = "message",
) -> Rota:
    """A test rota whose registered numbers are ``numbers`` (number, confirm), in that order."""
    lines = ["unit: e2e", "numbers:"]
    for i, (number, confirm) in enumerate(numbers):
        lines += [
            f"  - label: so-{i + 1}",
            f'    number: "{number}"',
            f"    confirm: {'true' if confirm else 'false'}",
        ]
    lines += [
        "officers:",
        "  - {id: a, name: Nguyễn Văn An, phone: '0901900001', email: a@example.vn}",
        "shifts:",
        "  - days: mon-sun",
        '    start: "00:00"',
        '    end: "23:59"',
        "    duty:",
        "      - {officer: a, at: so-1}",
        "policy:",
        "  ring_timeout: 5",
        f"  rounds: {rounds}",
        f"  confirm_timeout: {confirm_timeout}",
        f"  max_wait: {max_wait}",
        f"  nobody_answered_action: {nobody_answered}",
    ]
    return parse_rota("\n".join(lines) + "\n", "e2e-rota.yaml")


def install(sandbox: Sandbox, rota: Rota) -> None:
    """What `callrouter rota dialplan` does on a server: write the include, reload."""
    write_fallback_include(rota, sandbox.info().pbx.etc_dir / contract.FALLBACK_INCLUDE_FILENAME)
    sandbox.cli("pbx", "dialplan reload")


async def fallback_started(harness: Harness, caller: str) -> AmiEvent:
    return await harness.events.wait_for(
        lambda e: (
            e.user_event == contract.EVENT_FALLBACK
            and e.source == "pbx"
            and e.get("CallerIDNum") == caller
        ),
        within=15,
        what="fallback start on the pbx",
    )


def _read_cdrs(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def cdr_record(sandbox: Sandbox, linkedid: str, within: float = 10) -> dict[str, Any]:
    """The pbx's final CDR of a fallback call (cdr_custom JSON lines, written at hang-up)."""
    path: Path = sandbox.info().pbx.log_dir / "cdr-custom" / "callrouter-cdr.json"
    deadline = time.monotonic() + within
    while True:
        for record in await asyncio.to_thread(_read_cdrs, path):
            if record.get("linkedid") == linkedid and "result=" in str(record.get("userfield")):
                return record
        if time.monotonic() > deadline:
            raise TimeoutError(f"no CDR for linkedid {linkedid} in {path}")
        await asyncio.sleep(0.1)


async def test_fallback_rings_in_rota_order_and_caller_talks_to_officer_who_pressed_1(
    sandbox: Sandbox, harness: Harness
) -> None:
    busy = officer_number(BUSY, 0)
    mobile = officer_number(PRESSES_1, 1)
    rota = rota_with([(busy, False), (mobile, True)])
    install(sandbox, rota)

    call = await harness.place_call(digits="3", hold=10)
    started = await fallback_started(harness, call.caller_number)
    assert started["Reason"] == contract.REASON_STASIS_FAILED
    assert started["Rota"] == rota.version
    linkedid = started["Linkedid"]

    await harness.wait_user_event("OfficerPressed", source="pstn", Number=mobile, within=20)
    # The pbx bridged the caller with the officer's leg.
    deadline = time.monotonic() + 5
    while not any(len(b["channels"]) == 2 for b in await harness.bridges("pbx")):
        assert time.monotonic() < deadline, "the pbx never bridged caller and officer"
        await asyncio.sleep(0.05)

    caller = await harness.wait_caller_hangup(call, within=30)
    assert caller.answered_at is not None
    assert caller.hung_up_by == "caller", "the call stayed up until the caller left"
    assert harness.officers_rung(call) == [busy, mobile], "numbers rung in rota order"

    first = harness.officer(busy, call)
    assert first.rang
    assert not first.answered
    await harness.wait_user_event("OfficerHangup", source="pstn", Number=mobile, within=5)
    officer = harness.officer(mobile, call)
    assert officer.answered
    assert officer.pressed == ["1"]
    assert officer.talk_seconds is not None
    assert officer.talk_seconds > 2
    assert caller.hung_up_at is not None
    assert officer.hung_up_at is not None
    assert officer.hung_up_at - caller.hung_up_at < 2.0, "officer's leg ended with the caller's"
    # the pbx's BridgeLeave may reach the harness after the pstn's OfficerHangup (ci11)
    deadline = time.monotonic() + 5
    while (bridged := harness.bridged(call)) is not None and bridged[1] is None:
        assert time.monotonic() < deadline, "the pbx never reported the bridge's end"
        await asyncio.sleep(0.05)  # events arrive on the harness's AMI reader (deadline above)
    assert bridged is not None
    since, until = bridged
    assert until is not None
    assert officer.answered_at is not None
    assert since > officer.answered_at, "bridged only after the key press, not on answer"
    assert until - since > 2

    end = await harness.wait_user_event(
        contract.EVENT_FALLBACK_END, source="pbx", Linkedid=linkedid, within=5
    )
    assert end["Result"] == "answered"
    assert end["AnsweredBy"] == mobile

    cdr = await cdr_record(sandbox, linkedid)
    fields = contract.parse_cdr_userfield(cdr["userfield"])
    assert fields is not None
    assert fields["result"] == "answered"
    assert fields["answered_by"] == mobile
    assert fields["rota"] == rota.version
    assert fields["linkedid"] == linkedid
    assert cdr["src"] == call.caller_number


async def test_fallback_voicemail_on_confirm_number_does_not_take_the_caller(
    sandbox: Sandbox, harness: Harness
) -> None:
    voicemail = officer_number(VOICEMAIL, 0)
    landline = officer_number(ANSWERS, 1)
    install(sandbox, rota_with([(voicemail, True), (landline, False)], confirm_timeout=2))

    call = await harness.place_call(digits="3", hold=15)
    started = await fallback_started(harness, call.caller_number)
    await harness.wait_user_event("OfficerAnswered", source="pstn", Number=landline, within=30)

    vm = harness.officer(voicemail, call)
    assert vm.answered, "the voicemail box answered"
    assert vm.hung_up_at is not None, "its leg was hung up for want of a key press"
    assert vm.pressed == []
    assert vm.answered_at is not None
    # Confirm prompt (about 5.2 s) then the rota's confirm timeout (2 s), no longer.
    assert vm.hung_up_at - vm.answered_at < 5.2 + 2 + 2.5
    caller = await harness.wait_caller_hangup(call, within=30)
    assert caller.hung_up_by == "caller"
    end = await harness.wait_user_event(
        contract.EVENT_FALLBACK_END, source="pbx", Linkedid=started["Linkedid"], within=5
    )
    assert end["Result"] == "answered"
    assert end["AnsweredBy"] == landline


async def test_fallback_nobody_answers_caller_hears_message_and_call_is_unanswered(
    sandbox: Sandbox, harness: Harness
) -> None:
    forever = officer_number(RINGS_FOREVER, 0)
    broken = officer_number(FAILS, 0)
    install(sandbox, rota_with([(forever, False), (broken, False)]))

    call = await harness.place_call(digits="3", hold=40)
    started = await fallback_started(harness, call.caller_number)
    caller = await harness.wait_caller_hangup(call, within=40)

    assert caller.hung_up_by == "network", "the pbx ended the call after its message"
    assert harness.officers_rung(call) == [forever, broken]
    assert not harness.officer(forever, call).answered
    assert not harness.officer(broken, call).answered
    played = harness.events.find(
        lambda e: (
            e.source == "pbx"
            and e.name == "Newexten"
            and e.get("Linkedid") == started["Linkedid"]
            and e.get("Application") == "Playback"
        )
    )
    assert [e["AppData"] for e in played][-1] == contract.PROMPTS["nobody_answered"]
    end = await harness.wait_user_event(
        contract.EVENT_FALLBACK_END, source="pbx", Linkedid=started["Linkedid"], within=5
    )
    assert end["Result"] == "unanswered"
    # Ring timeout of the rota (5 s) was honoured on the number that never answers.
    dial_end = await harness.wait_user_event(
        contract.EVENT_FALLBACK_DIAL_END, source="pbx", Number=forever, within=1
    )
    dial = await harness.wait_user_event(
        contract.EVENT_FALLBACK_DIAL, source="pbx", Number=forever, within=1
    )
    assert dial_end["DialStatus"] == "NOANSWER"
    assert 4.5 < dial_end.timestamp - dial.timestamp < 7.0


async def test_fallback_caller_hanging_up_while_ringing_is_marked_abandoned(
    sandbox: Sandbox, harness: Harness
) -> None:
    forever = officer_number(RINGS_FOREVER, 0)
    declines = officer_number(PRESSES_9, 0)
    install(sandbox, rota_with([(declines, True), (forever, False)], confirm_timeout=2))

    call = await harness.place_call(digits="3", hold=8)
    started = await fallback_started(harness, call.caller_number)
    caller = await harness.wait_caller_hangup(call, within=30)

    assert caller.hung_up_by == "caller"
    assert harness.officers_rung(call) == [declines, forever]
    refused = harness.officer(declines, call)
    assert refused.pressed == ["9"]
    assert refused.hung_up_at is not None, "pressing 9 does not take the call"
    await harness.wait_user_event("OfficerHangup", source="pstn", Number=forever, within=5)
    assert not harness.officer(forever, call).answered
    end = await harness.wait_user_event(
        contract.EVENT_FALLBACK_END, source="pbx", Linkedid=started["Linkedid"], within=5
    )
    assert end["Result"] == "abandoned"
    cdr = await cdr_record(sandbox, started["Linkedid"])
    fields = contract.parse_cdr_userfield(cdr["userfield"])
    assert fields is not None
    assert fields["result"] == "abandoned"
    assert fields["answered_by"] == ""


async def test_fallback_stops_ringing_at_max_wait_and_forwards_to_the_rota_number(
    sandbox: Sandbox, harness: Harness
) -> None:
    forever = officer_number(RINGS_FOREVER, 0)
    agency = officer_number(ANSWERS, 1)
    rota = rota_with([(forever, False)], rounds=3, max_wait=7, nobody_answered=f"forward:{agency}")
    install(sandbox, rota)

    call = await harness.place_call(digits="3", hold=14)
    started = await fallback_started(harness, call.caller_number)
    caller = await harness.wait_caller_hangup(call, within=30)

    assert caller.hung_up_by == "caller"
    # Rounds would allow 3 x 5 s; max wait (7 s) cuts the second attempt short, then forwards.
    assert harness.officers_rung(call) == [forever, forever, agency]
    dials = harness.events.find(
        lambda e: (
            e.user_event == contract.EVENT_FALLBACK_DIAL
            and e.get("Linkedid") == started["Linkedid"]
        )
    )
    ends = harness.events.find(
        lambda e: (
            e.user_event == contract.EVENT_FALLBACK_DIAL_END
            and e.get("Linkedid") == started["Linkedid"]
        )
    )
    assert [e["Number"] for e in dials] == [forever, forever, agency]
    rung = [end.timestamp - dial.timestamp for dial, end in zip(dials, ends, strict=False)]
    assert 4.5 < rung[0] < 7.0
    assert rung[1] < 3.0, "the second attempt only got what was left of the max wait"
    assert harness.officer(agency, call).answered
    end = await harness.wait_user_event(
        contract.EVENT_FALLBACK_END, source="pbx", Linkedid=started["Linkedid"], within=5
    )
    assert end["Result"] == "forwarded"
    assert end["AnsweredBy"] == agency
