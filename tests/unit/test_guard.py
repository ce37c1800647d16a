"""``callrouter guard``: which channels a dead router left, from AMI's CoreShowChannel events."""

from __future__ import annotations

import pytest

from callrouter.guard import stranded

pytestmark = pytest.mark.unit


def chan(name: str, uniqueid: str, app: str, data: str = "", bridge: str = "") -> dict[str, str]:
    return {
        "Event": "CoreShowChannel",
        "Channel": name,
        "Uniqueid": uniqueid,
        "Application": app,
        "ApplicationData": data,
        "BridgeId": bridge,
    }


def test_waiting_callers_go_to_the_fallback_and_lone_legs_are_hung_up() -> None:
    channels = [
        chan("PJSIP/trunk-1", "pbx-1.0", "Stasis", "callrouter,branch=3,linkedid=pbx-1.0"),
        chan("PJSIP/trunk-2", "callrouter-leg-1-abc", "AppDial2", "(Outgoing Line)"),
        # a bridged call goes on without the router: untouched
        chan("PJSIP/trunk-3", "pbx-3.0", "Stasis", "callrouter,branch=3", bridge="b1"),
        chan("PJSIP/trunk-4", "callrouter-leg-1-def", "Stasis", "callrouter,leg", bridge="b1"),
        # another application, the menu, the fallback's own Dial: not the guard's
        chan("PJSIP/trunk-5", "pbx-5.0", "Stasis", "bench-floor,0901"),
        chan("PJSIP/trunk-6", "pbx-6.0", "BackGround", "callrouter/menu"),
        chan("PJSIP/trunk-7", "pbx-7.0", "Dial", "PJSIP/0901@pstn-trunk"),
        {"Event": "CoreShowChannelsComplete", "ListItems": "7"},
    ]
    found = stranded(channels)
    assert found.callers == ["PJSIP/trunk-1"]
    assert found.legs == ["PJSIP/trunk-2"]


def test_repeated_keys_as_panoramisk_gives_them_are_read_last_value() -> None:
    c = chan("PJSIP/trunk-1", "pbx-1.0", "Stasis", "callrouter,branch=3")
    c["BridgeId"] = ["", ""]  # type: ignore[assignment]  # panoramisk: a list when repeated
    assert stranded([c]).callers == ["PJSIP/trunk-1"]


def test_a_party_left_alone_in_a_bridge_of_the_dead_app_is_hung_up() -> None:
    """A router killed between bridging and guarding leaves an unguarded pair: when one side
    hangs up, the other stays alone in the bridge (issue 14); the guard ends it."""
    channels = [
        # the officer of b1 hung up: the caller is alone
        chan("PJSIP/trunk-1", "pbx-1.0", "Stasis", "callrouter,branch=3", bridge="b1"),
        # the caller of b2 hung up: the officer's leg is alone
        chan("PJSIP/trunk-2", "callrouter-leg-1-abc", "Stasis", "callrouter,leg", bridge="b2"),
        # a pair still talking: untouched
        chan("PJSIP/trunk-3", "pbx-3.0", "Stasis", "callrouter,branch=3", bridge="b3"),
        chan("PJSIP/trunk-4", "callrouter-leg-1-def", "Stasis", "callrouter,leg", bridge="b3"),
        # alone in a bridge of someone else's (another app, the fallback's Dial): not ours
        chan("PJSIP/trunk-5", "pbx-5.0", "Stasis", "bench-floor,0901", bridge="b5"),
        chan("PJSIP/trunk-6", "pbx-6.0", "Dial", "PJSIP/0901@pstn-trunk", bridge="b6"),
    ]
    found = stranded(channels)
    assert found.alone == ["PJSIP/trunk-1", "PJSIP/trunk-2"]
    assert (found.callers, found.legs) == ([], [])
