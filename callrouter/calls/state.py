"""The states of a call in the ARI flow and the transitions between them.

::

    RECEIVED ──► RINGING ──► BRIDGED
       │            │
       │            ▼
       ├──────► UNANSWERED ──► FORWARDING ──► BRIDGED
       └──────► AFTER_HOURS ─┘
    any state but FAILED and ENDED ──► FAILED (handed to the dialplan fallback)
    any state but ENDED ──► ENDED (the call's end is written down; nothing follows)

A caller who hangs up ends the call from the state it was in (the outcome says
``abandoned``); what the call ended as is :class:`~callrouter.calls.vocabulary.Outcome`, not
a state. A transition missing from :data:`TRANSITIONS` is a bug in the flow and raises
:class:`IllegalTransition`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from callrouter.errors import CallrouterError


class CallState(StrEnum):
    RECEIVED = "received"
    RINGING = "ringing"
    BRIDGED = "bridged"
    AFTER_HOURS = "after_hours"
    UNANSWERED = "unanswered"
    FORWARDING = "forwarding"
    FAILED = "failed"
    ENDED = "ended"


_TRANSITIONS_BEFORE_THE_END: Final[dict[CallState, frozenset[CallState]]] = {
    CallState.RECEIVED: frozenset(
        {CallState.RINGING, CallState.AFTER_HOURS, CallState.UNANSWERED, CallState.FAILED}
    ),
    CallState.RINGING: frozenset({CallState.BRIDGED, CallState.UNANSWERED, CallState.FAILED}),
    CallState.AFTER_HOURS: frozenset({CallState.FORWARDING, CallState.FAILED}),
    CallState.UNANSWERED: frozenset({CallState.FORWARDING, CallState.FAILED}),
    CallState.FORWARDING: frozenset({CallState.BRIDGED, CallState.FAILED}),
    CallState.BRIDGED: frozenset({CallState.FAILED}),
    CallState.FAILED: frozenset(),
}
TRANSITIONS: Final[dict[CallState, frozenset[CallState]]] = {
    **{
        state: targets | {CallState.ENDED} for state, targets in _TRANSITIONS_BEFORE_THE_END.items()
    },
    CallState.ENDED: frozenset(),
}

#: States in which the caller no longer waits for an officer of the rota.
PAST_RINGING: Final = frozenset(
    {
        CallState.UNANSWERED,
        CallState.AFTER_HOURS,
        CallState.FORWARDING,
        CallState.FAILED,
        CallState.ENDED,
    }
)
#: States in which the caller hears the hold music between prompts.
ON_HOLD: Final = frozenset({CallState.RINGING, CallState.FORWARDING})


class IllegalTransition(CallrouterError):
    """The flow tried a transition the table does not allow."""

    def __init__(self, old: CallState, new: CallState) -> None:
        super().__init__(f"call state {old} cannot become {new}")
        self.old = old
        self.new = new


def transition(old: CallState, new: CallState) -> CallState:
    """``new`` if the table allows ``old`` → ``new``; else :class:`IllegalTransition`."""
    if new not in TRANSITIONS[old]:
        raise IllegalTransition(old, new)
    return new
