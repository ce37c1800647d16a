"""The words every door of the call flow shares (ARI, FastAGI, the CDR import).

What a call and an officer leg end as, what a Q.850 hang-up cause means for a leg, how this
router names its officer legs, and the caller-number normaliser. The outcome names (home:
:mod:`callrouter.calls.outcomes`) and the normaliser (home: :mod:`callrouter.rota.phones`) are
re-exported here so a door needs only this module.
No door-specific code lives here: nothing imports back from :mod:`callrouter.asterisk`.
"""

from __future__ import annotations

from typing import Final

from callrouter.calls.outcomes import LegResult, Outcome
from callrouter.rota.phones import caller_number, is_caller_number

__all__ = [
    "CAUSE_CALL_REJECTED",
    "CAUSE_NO_ANSWER",
    "CAUSE_NO_USER_RESPONSE",
    "CAUSE_USER_BUSY",
    "FORWARD_OFFICER_ID",
    "FORWARD_OFFICER_NAME",
    "LEG_ID_PREFIX",
    "LegResult",
    "Outcome",
    "caller_number",
    "is_caller_number",
    "leg_seq",
    "result_for_cause",
]


# Q.850 cause codes Asterisk reports in ChannelDestroyed / ChannelHangupRequest / DIALSTATUS.
CAUSE_USER_BUSY: Final = 17
CAUSE_NO_USER_RESPONSE: Final = 18
CAUSE_NO_ANSWER: Final = 19
CAUSE_CALL_REJECTED: Final = 21

_RESULT_BY_CAUSE: Final[dict[int, LegResult]] = {
    CAUSE_USER_BUSY: LegResult.BUSY,
    CAUSE_NO_USER_RESPONSE: LegResult.NO_ANSWER,
    CAUSE_NO_ANSWER: LegResult.NO_ANSWER,
    CAUSE_CALL_REJECTED: LegResult.DECLINED,
}


def result_for_cause(cause: int | None) -> LegResult:
    """What an officer leg that ended *before answering* with ``cause`` counts as.

    17 busy; 18/19 no answer; 21 rejected (the officer pressed "decline"); anything else
    (unallocated number, congestion, network out of order…) is a failed attempt.
    """
    if cause is None:
        return LegResult.FAILED
    return _RESULT_BY_CAUSE.get(cause, LegResult.FAILED)


#: The attempt row of a ``forward:<number>`` action (not an officer of the rota).
FORWARD_OFFICER_ID: Final = "forward"
FORWARD_OFFICER_NAME: Final = "Chuyển tiếp"

#: Ids of the officer legs this router creates (``callrouter-leg-<seq>-<uuid>``): after a
#: restart it recognises its own channels in Asterisk, and the CDR import its own attempts.
LEG_ID_PREFIX: Final = "callrouter-leg-"


def leg_seq(channel_id: str) -> int | None:
    """The attempt number of one of our officer legs, from its channel id
    (``callrouter-leg-<seq>-<uuid>``); None for any other channel."""
    if not channel_id.startswith(LEG_ID_PREFIX):
        return None
    head = channel_id.removeprefix(LEG_ID_PREFIX).split("-", 1)[0]
    return int(head) if head.isdigit() else None
