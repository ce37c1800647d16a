"""The dialplan's bridge guard: with callrouter gone mid-call, a hang-up ends both legs.

A minimal stand-in for callrouter's Stasis app (raw ARI over a WebSocket, written here so the
guard is tested apart from the call flow) takes the caller, originates the officer's leg,
bridges the two, names each leg's peer (``contract.peer_guard``; the caller's hang-up handler
comes from the dialplan, the officer's with its originate, ``contract.GUARD_HANDLER``) and
disconnects, as a killed router would. When the caller then hangs up, Asterisk must hang up
the officer's leg itself.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from callrouter.asterisk import contract
from tests.e2e.harness import ANSWERS, Harness, officer_number

# func_only: the session fixture may build the sandbox first (minutes on a fresh machine);
# the 60 s bound is on the test itself.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60, func_only=True)]


async def next_stasis_start(ws: Any, within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        msg = await ws.receive(timeout=deadline - time.monotonic())
        event: dict[str, Any] = json.loads(msg.data)
        if event.get("type") == "StasisStart":
            return event
    raise TimeoutError("no StasisStart")


async def test_caller_hanging_up_after_router_died_ends_the_officers_leg_too(
    harness: Harness,
) -> None:
    number = officer_number(ANSWERS, 0)
    async with harness.ari_events("pbx", contract.APP_NAME) as ws:
        call = await harness.place_call(digits="3", hold=6)
        start = await next_stasis_start(ws, within=15)
        caller = start["channel"]
        assert contract.branch_of(start["args"]) == contract.BRANCH
        await harness.ari_post(
            "pbx",
            "/channels",
            {
                "endpoint": contract.dial_string(number),
                "app": contract.APP_NAME,
                "appArgs": "officer",
                "callerId": call.caller_number,
            },
            body={"variables": dict(contract.GUARD_HANDLER)},
        )
        officer = (await next_stasis_start(ws, within=15))["channel"]
        bridge = await harness.ari_post("pbx", "/bridges", {"type": "mixing"})
        await harness.ari_post(
            "pbx",
            f"/bridges/{bridge['id']}/addChannel",
            {"channel": f"{caller['id']},{officer['id']}"},
        )
        for leg, peer in ((caller, officer), (officer, caller)):
            name, value = contract.peer_guard(peer["name"])
            await harness.ari_post(
                "pbx", f"/channels/{leg['id']}/variable", {"variable": name, "value": value}
            )
    # The "router" is gone; the bridge stays up with both legs.
    bridges = await harness.bridges("pbx")
    assert [sorted(b["channels"]) for b in bridges] == [sorted([caller["id"], officer["id"]])]

    ended = await harness.wait_caller_hangup(call, within=20)
    assert ended.hung_up_by == "caller"
    await harness.wait_user_event("OfficerHangup", source="pstn", Number=number, within=5)
    officer_phone = harness.officer(number, call)
    assert officer_phone.answered
    assert ended.hung_up_at is not None
    assert officer_phone.hung_up_at is not None
    assert officer_phone.hung_up_at - ended.hung_up_at < 2.0
    await harness.wait_idle(within=5)
