"""The order officer legs are rung in and for how long: pure functions of a decision."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from callrouter.routing import Decision, Strategy, Target

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AttemptGroup:
    """Legs rung at the same time: one for sequential/rotate, all targets for simultaneous."""

    round: int
    targets: tuple[Target, ...]


def attempt_plan(decision: Decision) -> Iterator[AttemptGroup]:
    """The order in which officer legs are rung, round after round."""
    if not decision.targets:
        return
    for round_no in range(1, max(1, decision.rounds) + 1):
        if decision.strategy == Strategy.SIMULTANEOUS:
            yield AttemptGroup(round_no, decision.targets)
        else:
            for target in decision.targets:
                yield AttemptGroup(round_no, (target,))


def ring_seconds(ring_timeout: int, remaining_wait: float) -> int:
    """Seconds to ring a leg: its ring timeout, cut to what is left of the max wait.

    Returns 0 when less than one second of the max wait is left (stop trying).
    """
    if remaining_wait < 1:
        return 0
    return max(1, min(ring_timeout, math.floor(remaining_wait)))
