"""What a door of the call flow needs around it: the call log and who follows calls live.

:class:`CallLogPort` is satisfied by :class:`callrouter.store.CallLog`; :class:`CallObserver`
by the live view and the metrics. Both are written to only through
:class:`callrouter.calls.recorder.CallRecorder`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from callrouter.routing import Target


class CallLogPort(Protocol):
    """What the call flow needs of :class:`callrouter.store.CallLog` (all non-blocking)."""

    def call_started(
        self,
        *,
        linkedid: str,
        uniqueid: str,
        branch: int,
        caller: str | None,
        started_at: datetime,
        mode: str,
        rota_version: str | None,
    ) -> str: ...

    def attempt_started(
        self,
        *,
        linkedid: str,
        seq: int,
        officer_id: str,
        officer_name: str,
        number: str,
        number_label: str | None,
        channel_id: str,
        started_at: datetime,
    ) -> None: ...

    def attempt_ended(
        self,
        *,
        linkedid: str,
        seq: int,
        result: str,
        cause: int | None,
        ended_at: datetime,
        answered_at: datetime | None = None,
    ) -> None: ...

    def call_answered(
        self,
        *,
        linkedid: str,
        answered_at: datetime,
        officer_id: str,
        officer_name: str,
        number: str,
    ) -> None: ...

    def call_ended(
        self,
        *,
        linkedid: str,
        ended_at: datetime,
        outcome: str,
        hangup_cause: int | None,
        late: bool = False,
    ) -> None:
        """``late``: the writer did not see the call through (the CDR import, FastAGI's end of a
        call this process did not route); the store then only fills a missing outcome or
        corrects ``failed`` (store/records.py)."""
        ...

    def event(self, *, linkedid: str, at: datetime, type: str, data: dict[str, Any]) -> None: ...

    def callback_requested(
        self,
        *,
        linkedid: str | None,
        number: str,
        reason: str,
        created_at: datetime,
        recording: str | None,
    ) -> str: ...


class CallObserver(Protocol):
    """Who wants to follow calls as they happen (live view, metrics). Never blocks.

    Every method does nothing unless overridden (:class:`NoObserver` is this class as is)."""

    def call_started(self, *, linkedid: str, caller: str | None, branch: int, at: datetime) -> None:
        return None

    def call_state(
        self, *, linkedid: str, state: str, at: datetime, target: Target | None = None
    ) -> None:
        """The call is ``state`` now; ``target``: the officer rung (``ringing``) or talking."""
        return None

    def leg_ringing(self, *, post_dial_delay: float) -> None:
        return None

    def leg_ended(
        self, *, result: str, linkedid: str | None = None, target: Target | None = None
    ) -> None:
        """An officer leg ended with ``result`` (``target``: whose, when the flow knows)."""
        return None

    def call_ended(self, *, linkedid: str, outcome: str, wait_seconds: float | None) -> None:
        return None


class NoObserver(CallObserver):
    """A :class:`CallObserver` that ignores everything."""
