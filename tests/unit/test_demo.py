"""The demo's scenes are what they claim: each scene rota is valid and routes the way the
scene's expected rows say, given how the sandbox's phone numbers behave (09BB…)."""

from __future__ import annotations

from datetime import datetime, time

import pytest

from callrouter.demo import DEMO_ROTA
from callrouter.demo_scenes import SCENES, Scene, narrate, scene_rota_text
from callrouter.errors import ConfigError
from callrouter.rota import load_rota, parse_rota
from callrouter.routing import CallInfo, decide
from callrouter.sandbox import Event

pytestmark = pytest.mark.unit

BASE = DEMO_ROTA.read_text(encoding="utf-8")
TZ = load_rota(DEMO_ROTA).timezone
# What the first leg to a pstn number does (tests/asterisk/README.md), with and without
# press-1 confirmation.
FIRST_RESULT = {
    ("0901", False): "answered",
    ("0902", False): "busy",
    ("0902", True): "busy",
    ("0903", False): "no_answer",
    ("0903", True): "no_answer",
    ("0904", True): "no_answer",  # a voicemail box never presses 1
    ("0905", True): "answered",
}


@pytest.mark.parametrize(
    "scene", [s for s in SCENES if s.router_up], ids=lambda s: s.title.split(" / ")[-1]
)
def test_each_scene_rota_routes_as_the_scene_expects(scene: Scene) -> None:
    today = datetime.now(TZ).date()
    rota = parse_rota(scene_rota_text(BASE, scene, today), "scene")
    for at in (time(0, 0), time(10, 0), time(23, 59)):  # the override holds all day
        now = datetime.combine(today, at, tzinfo=TZ)
        decision = decide(rota, now, CallInfo(linkedid="x", caller="0988000001"))
        if scene.closed:
            assert not decision.open
            continue
        targets = decision.targets
        assert [t.officer_id for t in targets] == [who for who, _ in scene.duty]
        first = targets[0]
        expected = FIRST_RESULT[(first.number[:4], first.confirm)]
        if scene.abandon_after is not None:
            assert expected == "no_answer"  # it rings on while the caller gives up
            assert scene.results == ("cancelled",)
        else:
            assert scene.results[0] == expected
            if scene.answered_by is not None:
                winner = targets[len(scene.results) - 1]
                assert winner.officer_id == scene.answered_by
                assert FIRST_RESULT[(winner.number[:4], winner.confirm)] == "answered"


def test_demo_rota_has_no_overrides_and_refuses_a_base_that_has_some() -> None:
    load_rota(DEMO_ROTA)
    with pytest.raises(ConfigError, match="overrides"):
        scene_rota_text(BASE + "overrides: []\n", SCENES[0], datetime.now(TZ).date())


def test_every_kind_of_call_the_brief_asks_for_is_a_scene() -> None:
    outcomes = {s.outcome for s in SCENES}
    assert {"answered", "abandoned", "after_hours"} <= outcomes
    assert any(s.callback == "after_hours_message" and s.leaves_message for s in SCENES)
    results = {r for s in SCENES for r in s.results}
    assert {"busy", "no_answer", "answered", "cancelled"} <= results
    assert any(not s.router_up and s.mode == "fallback" for s in SCENES)


def test_narration_ignores_other_callers_phones_and_reads_router_events() -> None:
    phones = {"0901100001": "máy may-co-quan"}
    mine = Event("pstn", {"UserEvent": "OfficerRinging", "Number": "0901100001", "Caller": "1"})
    other = Event("pstn", {"UserEvent": "OfficerRinging", "Number": "0901100001", "Caller": "2"})
    line = narrate(mine, phones, "1")
    assert line is not None
    assert "máy may-co-quan (0901100001)" in line[1]
    assert narrate(other, phones, "1") is None
    received = Event("callrouter", {"event": "call.received", "open": False, "reason": "x"})
    assert narrate(received, phones, "1") == ("callrouter", "nhận cuộc gọi: đóng / closed — x")
    theirs = Event("pstn", {"UserEvent": "CallerAnswered", "Tag": "t2"})
    assert narrate(theirs, phones, "1", "t1") is None
    assert narrate(Event("pstn", {"UserEvent": "CallerAnswered", "Tag": "t1"}), phones, "1", "t1")
