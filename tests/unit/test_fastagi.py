"""FastAGI mode's pure parts: what a leg that came back to the dialplan counts as, and the
channel variables that carry a decision."""

from __future__ import annotations

import pytest

from callrouter.asterisk.fastagi import attempt_result, decision_variables
from callrouter.asterisk.fastagi_server import FastAgiServer
from callrouter.calls.vocabulary import LegResult
from callrouter.routing import Action, Decision, Strategy, Target

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("dialstatus", "cause", "digit", "expected"),
    [
        ("BUSY", 17, "", (LegResult.BUSY, 17)),
        ("BUSY", None, "", (LegResult.BUSY, 17)),
        ("NOANSWER", 16, "", (LegResult.NO_ANSWER, 19)),
        # Picked up, no key within the confirm time (a voicemail box), or another key: no cause,
        # as ARI mode records a leg it dropped; hung up while asked ("-"): declined, its cause.
        ("ANSWER", 16, "", (LegResult.NO_ANSWER, None)),
        ("ANSWER", 16, "9", (LegResult.DECLINED, None)),
        ("ANSWER", 16, "-", (LegResult.DECLINED, 16)),
        ("CONGESTION", 34, "", (LegResult.FAILED, 34)),
        ("CHANUNAVAIL", 1, "", (LegResult.FAILED, 1)),
        ("CHANUNAVAIL", 21, "", (LegResult.DECLINED, 21)),
        ("CANCEL", 16, "", (LegResult.CANCELLED, 16)),
        ("", None, "", (LegResult.FAILED, None)),
    ],
)
def test_a_leg_that_did_not_take_the_call_counts_like_in_ari_mode(
    dialstatus: str, cause: int | None, digit: str, expected: tuple[LegResult, int | None]
) -> None:
    assert attempt_result(dialstatus, cause, digit) == expected


def target(n: int, *, confirm: bool) -> Target:
    return Target(
        officer_id=f"o{n}",
        officer_name=f"Cán bộ {n}",
        number=f"090110000{n}",
        number_label=None,
        confirm=confirm,
        ring_timeout=5 + n,
    )


def decision(*, open_: bool, targets: tuple[Target, ...]) -> Decision:
    return Decision(
        open=open_,
        reason="test",
        targets=targets,
        strategy=Strategy.SIMULTANEOUS,
        rounds=2,
        max_wait=30,
        confirm_timeout=3,
        action=Action(kind="forward", number="02433334444"),
        rota_version="abc",
    )


def test_an_open_decision_becomes_variables_in_ring_order() -> None:
    got = dict(
        decision_variables(
            decision(open_=True, targets=(target(1, confirm=True), target(2, confirm=False)))
        )
    )
    assert got == {
        "CALLROUTER_AGI_OPEN": "1",
        "CALLROUTER_AGI_STRATEGY": "simultaneous",
        "CALLROUTER_AGI_COUNT": "2",
        "CALLROUTER_AGI_ROUNDS": "2",
        "CALLROUTER_AGI_MAX_WAIT": "30",
        "CALLROUTER_AGI_CONFIRM_TIMEOUT": "3",
        "CALLROUTER_AGI_ACTION": "forward",
        "CALLROUTER_AGI_FORWARD": "02433334444",
        "CALLROUTER_AGI_FORWARD_RING": "30",
        "CALLROUTER_AGI_TARGET_1": "0901100001",
        "CALLROUTER_AGI_CONFIRM_1": "1",
        "CALLROUTER_AGI_RING_1": "6",
        "CALLROUTER_AGI_TARGET_2": "0901100002",
        "CALLROUTER_AGI_CONFIRM_2": "0",
        "CALLROUTER_AGI_RING_2": "7",
    }


def test_a_closed_decision_has_no_targets() -> None:
    got = dict(decision_variables(decision(open_=False, targets=(target(1, confirm=False),))))
    assert got["CALLROUTER_AGI_OPEN"] == "0"
    assert got["CALLROUTER_AGI_COUNT"] == "0"
    assert not any(k.startswith("CALLROUTER_AGI_TARGET_") for k in got)


async def test_plain_def_routes_are_refused() -> None:
    def sync_route(request: object) -> None:
        return None

    with pytest.raises(TypeError, match="async def"):
        FastAgiServer({"route": sync_route})  # type: ignore[dict-item]
