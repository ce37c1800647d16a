"""One way to record a call, whichever door it came in by (ARI, FastAGI, the dialplan fallback).

Every writer of the call log goes through it: the ARI session, the FastAGI flow, the CDR
import of the fallback's calls (:mod:`callrouter.asterisk.cdr_import`, door ``fallback``) and
the late writers that close a call the router did not see through (FastAGI's ``end`` of a call
this process did not route; the stale closer of :mod:`callrouter.asterisk.stale`, door ``ari``).

A :class:`CallRecorder` is bound to one call (its linkedid and its door) and writes the
three records of each step together: the call log row (:class:`CallLogPort`), what the live
view and the metrics follow (:class:`CallObserver`) and the structured log line. The log
lines carry the same event names whichever door (``call.received``, ``leg.ringing``,
``leg.ended``, ``call.answered``, ``call.ended``, ``call.written``, ``call.message_left``,
see docs/operator-guide.md) with ``door`` telling which.

What the rows mean, the same for every door (the dialplan fallback's rows, written by the CDR
import in :mod:`callrouter.asterisk.cdr_import`, included; docs/operator-guide.md, "What the
times mean"):

- **start** (``calls.started_at``): the moment the caller chose branch 3, i.e. the router was
  asked to route the call (ARI: the caller's StasisStart; FastAGI: the ``route`` request;
  fallback: the dialplan's ``CALLROUTER_ROUTED_AT``, set as branch 3 is entered and written
  into the CDR userfield as ``routed_at``) — after the greeting and menu, which count nowhere;
- **wait**: from start to the officer's answer (``answered_at``), or to the end for a call
  nobody on the rota answered;
- **talk**: from the officer's answer to the end (``ended_at``).

A step a door cannot tell apart (FastAGI learns the hang-up cause with the end; ARI waits
for each channel's ChannelDestroyed) is split in two methods: the moment (observer and
log) and the row (written once the cause is known). A writer that learns of a call after the
fact (the CDR import, the stale closer) writes only the rows: :meth:`CallRecorder.leg_opened`,
:meth:`~CallRecorder.leg_written`, :meth:`~CallRecorder.answered`,
:meth:`~CallRecorder.written` (``late=True`` where the store must not overwrite a final outcome,
store/records.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

import structlog

from callrouter.calls.ports import CallLogPort, CallObserver, NoObserver
from callrouter.errors import CallrouterError
from callrouter.logs import mask_number
from callrouter.routing import Decision, Target

log = structlog.get_logger(__name__)

#: The door a call came in by; also its ``calls.mode`` (store/models.py: ``MODES``).
Door = Literal["ari", "agi", "fallback"]

#: Longest raw caller id kept with the decision event (a peer can send anything).
RAW_CALLER_CHARS = 128


class Rung(Protocol):
    """Who a leg rang or who answered, as the rows keep it: a :class:`Target`, or what the CDR
    import makes of a number (:class:`Officer`)."""

    @property
    def officer_id(self) -> str: ...
    @property
    def officer_name(self) -> str: ...
    @property
    def number(self) -> str: ...
    @property
    def number_label(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Officer:
    """A :class:`Rung` known only from its number after the fact (no ring time, no confirm)."""

    officer_id: str
    officer_name: str
    number: str
    number_label: str | None = None


@dataclass
class CallRecorder:
    """Records one call. Never blocks (the call log queues its writes).

    ``raise_refused``: a write the call log refuses (:class:`CallrouterError`: bad record, full
    spool) raises instead of being dropped — for a writer that must not move on past a call it
    could not write (the CDR import keeps its offset and retries; the stale closer and
    FastAGI's end of an unknown call leave the error to their caller)."""

    call_log: CallLogPort
    linkedid: str
    door: Door
    observer: CallObserver = field(default_factory=NoObserver)
    raise_refused: bool = False

    @contextlib.contextmanager
    def _refusable(self) -> Iterator[None]:
        if self.raise_refused:
            yield
            return
        with contextlib.suppress(CallrouterError):
            yield

    def _log(self, event: str, *, level: str = "info", **fields: Any) -> None:
        getattr(log, level)(event, door=self.door, linkedid=self.linkedid, **fields)

    # ------------------------------------------------------------------ start

    def started(
        self,
        uniqueid: str,
        branch: int,
        caller: str | None,
        at: datetime,
        rota_version: str | None,
    ) -> str:
        """The call's row; from now on the observer follows the call. Returns its id."""
        call_id = self.call_log.call_started(
            linkedid=self.linkedid,
            uniqueid=uniqueid,
            branch=branch,
            caller=caller,
            started_at=at,
            mode=self.door,
            rota_version=rota_version,
        )
        self.observer.call_started(linkedid=self.linkedid, caller=caller, branch=branch, at=at)
        return call_id

    def decided(
        self, decision: Decision, *, at: datetime, caller: str | None, caller_raw: str | None
    ) -> None:
        """The routing decision, as a ``decision`` event (the raw caller id with it when
        the normaliser changed it) and a ``call.received`` line."""
        extra: dict[str, Any] = {}
        if caller_raw and caller_raw != caller:
            extra["caller_id"] = caller_raw[:RAW_CALLER_CHARS]
        self.event(
            "decision",
            at=at,
            open=decision.open,
            reason=decision.reason,
            targets=[t.officer_id for t in decision.targets],
            strategy=str(decision.strategy),
            action=decision.action.kind,
            **extra,
        )
        self._log(
            "call.received",
            caller=mask_number(caller),
            open=decision.open,
            reason=decision.reason,
            targets=len(decision.targets),
            strategy=str(decision.strategy),
        )

    def event(self, type_: str, *, at: datetime, **data: Any) -> None:
        self.call_log.event(linkedid=self.linkedid, at=at, type=type_, data=data)

    # ------------------------------------------------------------------ legs

    def leg_started(
        self, seq: int, target: Target, *, channel_id: str, at: datetime, ring: int
    ) -> None:
        """An officer (or the forward number) is rung: its attempt row, the live state."""
        self.leg_opened(seq, target, channel_id=channel_id, at=at)
        self.observer.call_state(
            linkedid=self.linkedid,
            state="ringing",
            at=at,
            target=target,
        )
        self._log(
            "leg.ringing",
            seq=seq,
            officer=target.officer_id,
            number=mask_number(target.number),
            ring_timeout=ring,
        )

    def leg_opened(self, seq: int, rung: Rung, *, channel_id: str, at: datetime) -> None:
        """The attempt's row (the row of :meth:`leg_started`, without the moment)."""
        self.call_log.attempt_started(
            linkedid=self.linkedid,
            seq=seq,
            officer_id=rung.officer_id,
            officer_name=rung.officer_name,
            number=rung.number,
            number_label=rung.number_label,
            channel_id=channel_id,
            started_at=at,
        )

    def leg_over(self, result: str, target: Target | None = None) -> None:
        """An attempt ended (the moment; its row may wait for the cause)."""
        self.observer.leg_ended(result=result, linkedid=self.linkedid, target=target)

    def leg_written(
        self,
        seq: int,
        *,
        result: str,
        cause: int | None,
        at: datetime,
        answered_at: datetime | None = None,
    ) -> None:
        """The attempt's row gets its end (a write the store refuses is dropped, unless
        ``raise_refused``)."""
        with self._refusable():
            self.call_log.attempt_ended(
                linkedid=self.linkedid,
                seq=seq,
                result=result,
                cause=cause,
                ended_at=at,
                answered_at=answered_at,
            )
        self._log("leg.ended", seq=seq, result=result, cause=cause)

    # ------------------------------------------------------------------ answer

    def answered(self, who: Rung, *, at: datetime) -> None:
        """An officer of the rota took the call (the row says who, before the bridge)."""
        self.call_log.call_answered(
            linkedid=self.linkedid,
            answered_at=at,
            officer_id=who.officer_id,
            officer_name=who.officer_name,
            number=who.number,
        )

    def talking(self, target: Target, *, at: datetime) -> None:
        """Caller and ``target`` talk (the live state)."""
        self.observer.call_state(
            linkedid=self.linkedid,
            state="talking",
            at=at,
            target=target,
        )
        self._log("call.answered", officer=target.officer_id)

    # ------------------------------------------------------------------ actions

    def message_left(
        self, *, reason: str, caller: str | None, recording: str | None, at: datetime
    ) -> None:
        """The caller's message becomes a call-back entry; a caller without a number
        leaves it with the call's events."""
        if not caller:
            self.event("message_without_number", at=at, recording=recording, reason=reason)
            self._log("call.message_without_number", recording=recording)
            return
        callback_id = self.call_log.callback_requested(
            linkedid=self.linkedid, number=caller, reason=reason, created_at=at, recording=recording
        )
        self._log("call.message_left", callback=callback_id, recording=recording)

    # ------------------------------------------------------------------ end

    def ended(
        self,
        outcome: str,
        *,
        at: datetime,
        started_at: datetime | None,
        answered_at: datetime | None,
    ) -> None:
        """The call is over (the moment; its row may wait for the cause). Its wait runs
        to the answer of an answered call, else to its end; none when its start is not known
        (ARI: a bridge of a call this process did not route)."""
        waited_until = answered_at if outcome == "answered" and answered_at else at
        self.observer.call_ended(
            linkedid=self.linkedid,
            outcome=outcome,
            wait_seconds=None
            if started_at is None
            else waited_until.timestamp() - started_at.timestamp(),
        )

    def written(
        self,
        outcome: str,
        *,
        at: datetime,
        cause: int | None,
        late: bool = False,
        line: str = "call.written",
        level: str = "info",
    ) -> None:
        """The call's row gets its end and hang-up cause, and its log line (``line``: a door
        whose end is worth a warning of its own names it). ``late``: this writer did not see
        the call through (the CDR import, FastAGI's end of a call it did not route): the store
        then only fills a missing outcome or corrects ``failed`` (store/records.py)."""
        with self._refusable():
            self.call_log.call_ended(
                linkedid=self.linkedid, ended_at=at, outcome=outcome, hangup_cause=cause, late=late
            )
        fields: dict[str, Any] = {"outcome": outcome, "cause": cause}
        if late:
            fields["late"] = True
        self._log(line, level=level, **fields)
