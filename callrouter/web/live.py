"""Calls in progress, as the admin page shows them: a small in-memory registry.

The call flow feeds it (``started`` when a call enters, ``updated`` as it rings officers
or is bridged, ``ended`` when it is over); the page reads :meth:`LiveCalls.snapshot`. It
holds only what is needed to draw the table and forgets a call when it ends. All methods
are synchronous and cheap: call them from the event loop, they never block.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
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


class LiveCalls:
    """Registry of calls in progress, keyed by Asterisk linkedid."""

    def __init__(self) -> None:
        self._calls: dict[str, LiveCall] = {}

    def started(
        self, *, linkedid: str, caller: str | None, branch: int, started_at: datetime
    ) -> None:
        """A call entered the router."""
        self._calls[linkedid] = LiveCall(linkedid, caller, branch, started_at)

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

    def snapshot(self) -> list[LiveCall]:
        """The calls in progress, oldest first."""
        return sorted(self._calls.values(), key=lambda c: c.started_at)
