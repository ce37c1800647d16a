"""The 1022 menu of the shipped dialplan: a key other than 3, or no key, gets a clear message."""

from __future__ import annotations

import pytest

from callrouter.asterisk import contract
from tests.e2e.harness import AmiEvent, Harness

# func_only: the session fixture may build the sandbox first (minutes on a fresh machine);
# the 60 s bound is on the test itself.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60, func_only=True)]


def prompts_played(harness: Harness, caller_number: str) -> list[str]:
    """Prompts the pbx played to this caller, in order (its dialplan steps, from AMI)."""

    def played(e: AmiEvent) -> bool:
        return (
            e.source == "pbx"
            and e.name == "Newexten"
            and e.get("CallerIDNum") == caller_number
            and e.get("Application").lower() in {"playback", "background"}
        )

    return [e["AppData"] for e in harness.events.find(played)]


async def test_other_key_then_silence_gets_messages_menu_again_and_goodbye(
    harness: Harness,
) -> None:
    call = await harness.place_call(digits="5", hold=50)
    caller = await harness.wait_caller_hangup(call, within=50)

    assert caller.answered_at is not None
    assert caller.hung_up_by == "network", "the pbx said goodbye and hung up"
    p = contract.PROMPTS
    assert prompts_played(harness, call.caller_number) == [
        p["welcome"],  # the key interrupts the welcome
        p["other_branch"],  # key 5: not served here
        p["menu"],
        p["no_input"],  # no key
        p["menu"],
        p["no_input"],
        p["menu"],
        p["no_input"],
        p["goodbye"],  # after CALLROUTER_MENU_ATTEMPTS (3) offers
    ]
    assert harness.officers_rung(call) == []
