"""Calls in progress, as the admin page shows them: a small in-memory registry.

The call flow feeds it (``started`` when a call enters, ``updated`` as it rings officers
or is bridged, ``ended`` when it is over); the page reads :meth:`LiveCalls.snapshot`. It
holds only what is needed to draw the table and forgets a call when it ends. All methods
are synchronous and cheap: call them from the event loop, they never block.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

LiveState = Literal["waiting", "ringing", "talking", "announcing"]

STATE_LABELS: dict[str, str] = {
    "waiting": "Đang chờ",
    "ringing": "Đang đổ chuông cán bộ",
    "talking": "Đang đàm thoại",
    "announcing": "Đang phát thông báo",
}


@dataclass(frozen=True, slots=True)
class LiveCall:
    linkedid: str
    caller: str | None
    branch: int
    started_at: datetime  # tz-aware
    state: str = "waiting"
    officer_name: str | None = None  # the officer being rung, or talking
    number: str | None = None  # the number being rung, or answered at
    updated_at: datetime | None = None


MAX_LIVE_CALLS = 500
"""Far above what a hotline's trunk carries at once (a 2-core pair tops out near 110)."""
MAX_CALL_AGE = timedelta(hours=4)
"""A call still listed this long after it started lost its end (a router restart, a peer
that never reported it): it is dropped from the view."""


class LiveCalls:
    """Registry of calls in progress, keyed by Asterisk linkedid; bounded: at most
    ``max_calls`` entries, none older than ``max_age`` (forgotten as new calls come in)."""

    def __init__(
        self, *, max_calls: int = MAX_LIVE_CALLS, max_age: timedelta = MAX_CALL_AGE
    ) -> None:
        self._calls: dict[str, LiveCall] = {}
        self.max_calls = max_calls
        self.max_age = max_age

    def started(
        self, *, linkedid: str, caller: str | None, branch: int, started_at: datetime
    ) -> bool:
        """A call entered the router. False when the view is full (the call is not shown;
        the caller counts it in ``callrouter_live_calls_refused_total``)."""
        if linkedid not in self._calls and len(self._calls) >= self.max_calls:
            self.expire(started_at)
            if len(self._calls) >= self.max_calls:
                return False
        self._calls[linkedid] = LiveCall(linkedid, caller, branch, started_at)
        return True

    def expire(self, now: datetime) -> int:
        """Forget calls that started more than ``max_age`` before ``now``; how many."""
        cutoff = now - self.max_age
        stale = [k for k, c in self._calls.items() if c.started_at < cutoff]
        for linkedid in stale:
            del self._calls[linkedid]
        return len(stale)

    def updated(
        self,
        *,
        linkedid: str,
        state: LiveState,
        at: datetime,
        officer_name: str | None = None,
        number: str | None = None,
    ) -> None:
        """The call changed state; unknown linkedids are ignored (the call already ended)."""
        call = self._calls.get(linkedid)
        if call is None:
            return
        self._calls[linkedid] = replace(
            call, state=state, officer_name=officer_name, number=number, updated_at=at
        )

    def ended(self, *, linkedid: str) -> None:
        """The call is over (whatever its outcome)."""
        self._calls.pop(linkedid, None)

    def __len__(self) -> int:
        return len(self._calls)

    def snapshot(self, now: datetime | None = None) -> list[LiveCall]:
        """The calls in progress, oldest first (without those past ``max_age`` at ``now``)."""
        if now is not None:
            self.expire(now)
        return sorted(self._calls.values(), key=lambda c: c.started_at)
