"""Calls in progress, as the admin page and officer screens show them: an in-memory registry.

The call flow feeds it (``started`` when a call enters, ``updated`` as it rings officers
or is bridged, ``ended`` when it is over); the page reads :meth:`LiveCalls.snapshot`. It
holds only what is needed to draw the table and forgets a call when it ends. All methods
are synchronous and cheap: call them from the event loop, they never block.

Each call also keeps its legs (who is being rung at which registered number, who talks), so
an officer's screen can show the calls ringing or bridged to *them*; every change bumps
:attr:`LiveCalls.version` and wakes :meth:`LiveCalls.wait_change` (the officer screen's
server-sent events wait there instead of polling).
"""

from __future__ import annotations

import asyncio
import contextlib
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
class LiveLeg:
    """One officer leg of a live call: rung at ``number`` since ``since``, or talking."""

    officer_id: str
    officer_name: str | None
    number: str | None
    number_label: str | None  # the registered number's label (None: the officer's own phone)
    since: datetime
    state: str = "ringing"  # or "talking"


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
    legs: tuple[LiveLeg, ...] = ()  # the officers rung now (or the one talking)

    def leg_of(self, officer_id: str) -> LiveLeg | None:
        """This officer's leg of the call (``None``: not rung now, not talking)."""
        return next((leg for leg in self.legs if leg.officer_id == officer_id), None)


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
        self.version = 0
        self.closed = False
        self._changed = asyncio.Event()

    def close(self) -> None:
        """The web is shutting down: wake every waiter (event streams end)."""
        self.closed = True
        self._bump()

    def _bump(self) -> None:
        self.version += 1
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_change(self, seen: int, within: float) -> int:
        """The version once it differs from ``seen`` (at once when it already does), or
        after ``within`` seconds without a change."""
        if self.version == seen:
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within):
                    await changed.wait()
        return self.version

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
        self._bump()
        return True

    def expire(self, now: datetime) -> int:
        """Forget calls that started more than ``max_age`` before ``now``; how many."""
        cutoff = now - self.max_age
        stale = [k for k, c in self._calls.items() if c.started_at < cutoff]
        for linkedid in stale:
            del self._calls[linkedid]
        if stale:
            self._bump()
        return len(stale)

    def updated(
        self,
        *,
        linkedid: str,
        state: LiveState,
        at: datetime,
        officer_name: str | None = None,
        number: str | None = None,
        officer_id: str | None = None,
        number_label: str | None = None,
    ) -> None:
        """The call changed state; unknown linkedids are ignored (the call already ended).

        With ``officer_id``: ``ringing`` adds that officer's leg (parallel ringing keeps
        every leg), ``talking`` leaves only theirs."""
        call = self._calls.get(linkedid)
        if call is None:
            return
        legs = call.legs
        if officer_id is not None and state in ("ringing", "talking"):
            leg = LiveLeg(officer_id, officer_name, number, number_label, at, state)
            if state == "talking":
                legs = (leg,)
            else:
                legs = (*(g for g in legs if (g.officer_id, g.number) != (officer_id, number)), leg)
        self._calls[linkedid] = replace(
            call, state=state, officer_name=officer_name, number=number, updated_at=at, legs=legs
        )
        self._bump()

    def leg_ended(self, *, linkedid: str, officer_id: str, number: str | None) -> None:
        """An officer's ringing leg ended (no answer, busy, cancelled): not rung any more.
        A talking leg stays until the call ends."""
        call = self._calls.get(linkedid)
        if call is None:
            return
        legs = tuple(
            g
            for g in call.legs
            if g.state != "ringing" or (g.officer_id, g.number) != (officer_id, number)
        )
        if legs != call.legs:
            self._calls[linkedid] = replace(call, legs=legs)
            self._bump()

    def ended(self, *, linkedid: str) -> None:
        """The call is over (whatever its outcome)."""
        if self._calls.pop(linkedid, None) is not None:
            self._bump()

    def get(self, linkedid: str) -> LiveCall | None:
        return self._calls.get(linkedid)

    def __len__(self) -> int:
        return len(self._calls)

    def snapshot(self, now: datetime | None = None) -> list[LiveCall]:
        """The calls in progress, oldest first (without those past ``max_age`` at ``now``)."""
        if now is not None:
            self.expire(now)
        return sorted(self._calls.values(), key=lambda c: c.started_at)
