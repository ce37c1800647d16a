"""The ARI call flow's states: the transition table, and that an illegal step is an error."""

from __future__ import annotations

import pytest

from callrouter.calls.state import TRANSITIONS, CallState, IllegalTransition, transition

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("old", "new"),
    [(old, new) for old, targets in TRANSITIONS.items() for new in sorted(targets)],
)
def test_every_transition_of_the_table_is_allowed(old: CallState, new: CallState) -> None:
    assert transition(old, new) is new


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (CallState.BRIDGED, CallState.RINGING),
        (CallState.RINGING, CallState.AFTER_HOURS),
        (CallState.FAILED, CallState.RINGING),
        (CallState.FAILED, CallState.FAILED),
        (CallState.RECEIVED, CallState.BRIDGED),
        (CallState.UNANSWERED, CallState.RINGING),
        (CallState.ENDED, CallState.FAILED),
        (CallState.ENDED, CallState.ENDED),
        (CallState.ENDED, CallState.BRIDGED),
    ],
)
def test_a_transition_the_table_does_not_hold_is_an_error(old: CallState, new: CallState) -> None:
    with pytest.raises(IllegalTransition, match=f"{old} cannot become {new}"):
        transition(old, new)


def test_every_state_can_fail_except_failed_and_every_state_is_in_the_table() -> None:
    assert set(TRANSITIONS) == set(CallState)
    for state in CallState:
        can_fail = state not in (CallState.FAILED, CallState.ENDED)
        assert (CallState.FAILED in TRANSITIONS[state]) is can_fail


def test_every_state_ends_and_the_end_is_terminal() -> None:
    for state in CallState:
        assert (CallState.ENDED in TRANSITIONS[state]) is (state is not CallState.ENDED)
    assert TRANSITIONS[CallState.ENDED] == frozenset()
