"""Pure parts of the call flow: attempt order, ring time within the max wait, causes."""

from __future__ import annotations

import pytest

from callrouter.asterisk import contract
from callrouter.asterisk.session_parts import is_officer_leg, officer_leg_args
from callrouter.calls.plan import AttemptGroup, attempt_plan, ring_seconds
from callrouter.calls.vocabulary import LegResult, leg_seq, result_for_cause
from callrouter.routing import Action, Decision, Strategy, Target

pytestmark = pytest.mark.unit


def target(officer: str, ring: int = 5) -> Target:
    return Target(
        officer_id=officer,
        officer_name=officer.upper(),
        number="09" + officer.rjust(8, "0")[-8:],
        number_label=None,
        confirm=False,
        ring_timeout=ring,
    )


def decision(
    targets: tuple[Target, ...], strategy: Strategy = Strategy.SEQUENTIAL, rounds: int = 1
) -> Decision:
    return Decision(
        open=True,
        reason="shift",
        targets=targets,
        strategy=strategy,
        rounds=rounds,
        max_wait=60,
        confirm_timeout=8,
        action=Action(kind="message", number=None),
        rota_version="abc",
    )


A, B = target("a"), target("b")


@pytest.mark.parametrize(
    ("strategy", "rounds", "expected"),
    [
        (Strategy.SEQUENTIAL, 1, [(1, (A,)), (1, (B,))]),
        (Strategy.SEQUENTIAL, 2, [(1, (A,)), (1, (B,)), (2, (A,)), (2, (B,))]),
        (Strategy.ROTATE, 1, [(1, (A,)), (1, (B,))]),
        (Strategy.SIMULTANEOUS, 1, [(1, (A, B))]),
        (Strategy.SIMULTANEOUS, 3, [(1, (A, B)), (2, (A, B)), (3, (A, B))]),
        (Strategy.SEQUENTIAL, 0, [(1, (A,)), (1, (B,))]),  # at least one round
    ],
)
def test_attempt_plan_rings_targets_in_order_round_after_round(
    strategy: Strategy, rounds: int, expected: list[tuple[int, tuple[Target, ...]]]
) -> None:
    plan = list(attempt_plan(decision((A, B), strategy, rounds)))
    assert plan == [AttemptGroup(r, t) for r, t in expected]


def test_attempt_plan_is_empty_without_targets() -> None:
    assert list(attempt_plan(decision(()))) == []


@pytest.mark.parametrize(
    ("ring_timeout", "remaining", "expected"),
    [
        (20, 100.0, 20),  # plenty of wait left: the ring timeout
        (20, 12.7, 12),  # cut to what is left of the max wait
        (20, 1.0, 1),
        (20, 0.99, 0),  # under a second left: stop
        (20, -3.0, 0),
    ],
)
def test_ring_seconds_never_exceeds_the_max_wait(
    ring_timeout: int, remaining: float, expected: int
) -> None:
    assert ring_seconds(ring_timeout, remaining) == expected


@pytest.mark.parametrize(
    ("cause", "result"),
    [
        (17, LegResult.BUSY),
        (18, LegResult.NO_ANSWER),
        (19, LegResult.NO_ANSWER),
        (21, LegResult.DECLINED),
        (1, LegResult.FAILED),  # unallocated number
        (34, LegResult.FAILED),  # no circuit available
        (38, LegResult.FAILED),  # network out of order
        (None, LegResult.FAILED),
    ],
)
def test_cause_of_an_unanswered_leg_maps_to_the_attempt_result(
    cause: int | None, result: LegResult
) -> None:
    assert result_for_cause(cause) is result


def test_leg_results_are_the_call_attempts_vocabulary() -> None:
    from callrouter.calls.vocabulary import Outcome
    from callrouter.store.models import ATTEMPT_RESULTS, OUTCOMES

    assert {str(r) for r in LegResult} == set(ATTEMPT_RESULTS)
    assert {str(o) for o in Outcome} == set(OUTCOMES)


@pytest.mark.parametrize(
    ("channel_id", "seq"),
    [
        ("callrouter-leg-3-6f1c2b8e-0d6a-4bb3-9a57-1f7f4f9a0c11", 3),
        ("callrouter-leg-12-x", 12),
        ("callrouter-leg-x-1", None),
        ("pbx-1795879157.0", None),
    ],
)
def test_leg_seq_is_read_back_from_our_leg_channel_ids(channel_id: str, seq: int | None) -> None:
    assert leg_seq(channel_id) == seq


def test_officer_leg_args_mark_the_leg_so_its_stasis_start_is_not_a_new_call() -> None:
    args = officer_leg_args("pbx-1.0", 2)
    assert is_officer_leg(args)
    assert not is_officer_leg(["branch=3"])
    assert contract.parse_stasis_args(args)["seq"] == "2"
