"""Exponential backoff with jitter, for reconnecting to Asterisk."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Exponential backoff with jitter: ``initial·factor^n`` capped at ``maximum``; the
    actual delay is drawn uniformly from the upper half of that (so two clients restarted
    together do not reconnect in lock-step, and no delay is ever near zero)."""

    initial: float = 0.1
    factor: float = 2.0
    maximum: float = 5.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * self.factor**self.attempt)
        self.attempt += 1
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.attempt = 0
