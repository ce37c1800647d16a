"""The channel variables that hand a routing decision to the FastAGI dialplan
(``CALLROUTER_AGI_*``). Split out of :mod:`callrouter.asterisk.fastagi`, which re-exports them."""

from __future__ import annotations

from typing import Final

from callrouter.asterisk.contract import FORWARD_RING_SECONDS
from callrouter.routing import Decision

VAR_PREFIX: Final = "CALLROUTER_AGI_"


def decision_variables(decision: Decision) -> list[tuple[str, str]]:
    """The channel variables that hand ``decision`` to the AGI dialplan, in setting order."""
    targets = decision.targets if decision.open else ()
    out = [
        ("OPEN", "1" if decision.open and targets else "0"),
        ("STRATEGY", str(decision.strategy)),
        ("COUNT", str(len(targets))),
        ("ROUNDS", str(max(1, decision.rounds))),
        ("MAX_WAIT", str(decision.max_wait)),
        ("CONFIRM_TIMEOUT", str(decision.confirm_timeout)),
        ("ACTION", decision.action.kind),
        ("FORWARD", decision.action.number or ""),
        ("FORWARD_RING", str(FORWARD_RING_SECONDS)),
    ]
    for n, target in enumerate(targets, start=1):
        out += [
            (f"TARGET_{n}", target.number),
            (f"CONFIRM_{n}", "1" if target.confirm else "0"),
            (f"RING_{n}", str(target.ring_timeout)),
        ]
    return [(VAR_PREFIX + name, value) for name, value in out]
