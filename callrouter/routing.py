"""The routing decision: ``decide(rota, now, call) -> Decision``. Pure: no I/O, no clock.

* Closed (no one on duty: outside shifts, a closed holiday, an override closing the line)
  → no targets, the rota's after-hours action.
* Open → the on-duty officers as ordered targets (each number at most once per round),
  the rota's strategy, rounds, timeouts, and the nobody-answered action.
* ``rotate``: the same targets, grouped by officer (an officer's numbers stay together in
  ring order), starting with the officer *after* the one who answered the branch's last
  call (``CallInfo.last_officer_id``, derived from the call log by the caller), so calls
  are spread fairly; unknown or absent state starts with the first officer listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from callrouter.rota.duty import lookup
from callrouter.rota.model import Action, Rota, Strategy, Target

__all__ = ["Action", "CallInfo", "Decision", "Strategy", "Target", "decide"]


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What the decision needs to know about an incoming call."""

    linkedid: str
    caller: str | None
    branch: int = 3
    last_officer_id: str | None = None  # who answered the branch's last call (rotation state)


@dataclass(frozen=True, slots=True)
class Decision:
    """Open or closed and why, whom to ring in which order, and what to do otherwise."""

    open: bool
    reason: str
    targets: tuple[Target, ...]
    strategy: Strategy
    rounds: int
    max_wait: int
    confirm_timeout: int
    action: Action  # after-hours action when closed, nobody-answered action when open
    rota_version: str


def _rotated(targets: tuple[Target, ...], last_officer_id: str | None) -> tuple[Target, ...]:
    officers: list[str] = []
    for target in targets:
        if target.officer_id not in officers:
            officers.append(target.officer_id)
    first = 0
    if last_officer_id is not None and last_officer_id in officers:
        first = (officers.index(last_officer_id) + 1) % len(officers)
    rank = {oid: (i - first) % len(officers) for i, oid in enumerate(officers)}
    # sorted() is stable: an officer's numbers keep their ring order
    return tuple(sorted(targets, key=lambda t: rank[t.officer_id]))


def decide(rota: Rota, now: datetime, call: CallInfo) -> Decision:
    """Decide how to route ``call`` arriving at ``now`` (timezone-aware) under ``rota``."""
    policy = rota.policy
    if call.branch != rota.branch:
        return Decision(
            open=False,
            reason=f"branch {call.branch} is not served by this rota (branch {rota.branch})",
            targets=(),
            strategy=policy.strategy,
            rounds=policy.rounds,
            max_wait=policy.max_wait,
            confirm_timeout=policy.confirm_timeout,
            action=rota.after_hours,
            rota_version=rota.version,
        )
    ix = rota.index
    slot = lookup(ix, now)
    if not slot.open:
        return Decision(
            open=False,
            reason=slot.reason,
            targets=(),
            strategy=policy.strategy,
            rounds=policy.rounds,
            max_wait=policy.max_wait,
            confirm_timeout=policy.confirm_timeout,
            action=ix.after_hours,
            rota_version=rota.version,
        )
    targets = slot.targets
    if policy.strategy is Strategy.ROTATE:
        targets = _rotated(targets, call.last_officer_id)
    return Decision(
        open=True,
        reason=slot.reason,
        targets=targets,
        strategy=policy.strategy,
        rounds=policy.rounds,
        max_wait=policy.max_wait,
        confirm_timeout=policy.confirm_timeout,
        action=ix.nobody_answered,
        rota_version=rota.version,
    )
