"""The ARI call session, by phase. This module: what every phase shares — the call's
state (:class:`~callrouter.calls.state.CallState`), its events in, and its records
(attempts and the call's end, written once Asterisk reported each hang-up cause)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

import structlog

from callrouter.asterisk.ari import Channel, Event
from callrouter.asterisk.session_parts import (
    GONE_EVENTS,
    Leg,
    SessionHost,
)
from callrouter.calls.recorder import CallRecorder
from callrouter.calls.state import CallState, transition
from callrouter.calls.vocabulary import (
    LegResult,
    Outcome,
    caller_number,
)
from callrouter.errors import (
    AriNotFound,
)

log = structlog.get_logger(__name__)


class SessionCore:
    """One caller channel in Stasis, from StasisStart to the end of the call."""

    def __init__(self, host: SessionHost, caller: Channel, args: tuple[str, ...]) -> None:
        self.host = host
        self.ari = host.ari
        self.config = host.config
        self.caller = caller
        self.args = args
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        #: the call's rows, live state and log lines; it follows the host's observer once
        #: the call is logged
        self.record = CallRecorder(host.call_log, caller.id, "ari")
        #: what Asterisk gave as the caller's number, and the dialable form kept in the rows
        self.caller_raw = caller.caller.number
        self.caller_number: str | None = caller_number(caller.caller.number)
        self.started_at = host.clock()
        self.state = CallState.RECEIVED
        self.legs: dict[str, Leg] = {}
        self.seq = 0
        self.logged = False
        self.moh = False
        #: prompts playing to the caller while waiting; music starts when the last one ends
        self.hold_prompts: list[str] = []
        self.reminder: asyncio.Task[None] | None = None
        self.action_at: datetime | None = None  # the closed/nobody-answered action began
        self.bridge_id: str | None = None
        self.caller_gone_cause: int | None = None
        self.caller_is_gone = False
        #: the hang-up cause Asterisk reports per channel: a ChannelDestroyed always carries
        #: the channel's own (also after a plain BYE, whose hang-up request carries none)
        self.causes: dict[str, int] = {}
        self.destroyed: set[str] = set()
        self._destroyed_event = asyncio.Event()
        #: ended attempts and the call's end waiting for their channel's ChannelDestroyed
        #: (written as soon as it comes, or by _settle at the end with what is known)
        self._unsettled: dict[str, tuple[Leg, LegResult, datetime]] = {}
        self._ending: tuple[Outcome, datetime] | None = None
        #: the caller goes on in the dialplan: its cause is not ours to wait for
        self._caller_stays = False
        self._caller_left = False
        self._subscribed: asyncio.Task[None] | None = None
        self.answered_at: datetime | None = None
        #: officer legs Asterisk reported answered (their channel went Up), and when it was
        #: seen: a leg whose answer crossed the caller's hang-up was answered all the same
        self._legs_up: dict[str, datetime] = {}
        #: legs cancelled because the caller had hung up before the flow saw them picked up
        #: (a press-1 leg excepted: picked up but unconfirmed stays cancelled)
        self._cancelled_for_caller: set[str] = set()
        #: set once the call, its decision and the first attempts are in the call log
        self.written_down = asyncio.Event()

    @property
    def linkedid(self) -> str:
        return self.record.linkedid

    def _enter(self, state: CallState) -> None:
        """Move to ``state`` (see :data:`callrouter.calls.state.TRANSITIONS`)."""
        self.state = transition(self.state, state)

    def deliver(self, event: Event) -> None:
        """Called by the application's event reader for events of our channels."""
        self._note_cause(event)
        self.queue.put_nowait(event)

    def _note_cause(self, event: Event) -> None:
        """Keep the cause Asterisk reports for a channel; write what waited for it."""
        channel_id = event.channel_id
        if channel_id is None:
            return
        if channel_id == self.caller.id:
            if event.type in GONE_EVENTS:
                self._caller_left = True  # seen on arrival, before the flow reads it
        elif event.channel is not None and event.channel.state == "Up":
            self._legs_up.setdefault(channel_id, self.host.clock())  # an officer leg answered
        if event.type == "ChannelDestroyed":
            if event.cause:  # 0 is Asterisk's "not defined": unknown
                self.causes[channel_id] = event.cause
            self.destroyed.add(channel_id)
            self._destroyed_event.set()
            pending = self._unsettled.pop(channel_id, None)
            if pending is not None:
                self._write_leg_end(*pending)
            self._write_end_if_settled()
        elif event.type == "ChannelHangupRequest" and event.cause:
            self.causes.setdefault(channel_id, event.cause)

    def _end_leg(self, leg: Leg, result: LegResult, *, at: datetime | None = None) -> None:
        """The attempt ended with ``result``; its row gets the cause Asterisk reports for
        the leg's channel, so it is written once the channel's ChannelDestroyed is in."""
        if leg.ended:
            return
        leg.ended = True
        if (
            result is LegResult.CANCELLED
            and self._caller_left
            and leg.picked_up_at is None  # the flow had not seen the pick-up
            and not leg.target.confirm  # an unconfirmed pick-up is not an answer
        ):
            self._cancelled_for_caller.add(leg.channel_id)
        self.record.leg_over(str(result), leg.target)
        ended = at or self.host.clock()
        if leg.channel_id in self.destroyed:
            self._write_leg_end(leg, result, ended)
        else:
            self._unsettled[leg.channel_id] = (leg, result, ended)

    def _write_leg_end(self, leg: Leg, result: LegResult, ended: datetime) -> None:
        answered_at = leg.answered_at
        up_at = self._legs_up.get(leg.channel_id)
        if up_at is not None and leg.channel_id in self._cancelled_for_caller:
            # the officer answered as the caller hung up: the pbx took the answer after the
            # flow had cancelled the leg for the caller's hang-up; the officer did answer
            result, answered_at = LegResult.ANSWERED, answered_at or min(up_at, ended)
        self.record.leg_written(
            leg.seq,
            result=str(result),
            cause=self.causes.get(leg.channel_id),
            at=ended,
            answered_at=answered_at,
        )

    async def _hangup_leg(self, leg: Leg, reason: str) -> None:
        with contextlib.suppress(AriNotFound):  # already gone: fine
            await self.ari.hangup(leg.channel_id, reason=reason)

    def _end(self, outcome: Outcome, *, at: datetime | None = None, note: str = "") -> None:
        """The call ended with ``outcome``. Its row gets the cause Asterisk reports for the
        caller's channel: written once that channel and every ended attempt have theirs
        (``_note_cause``), or by ``_settle`` with what is known."""
        if self.state is CallState.ENDED:
            return
        if not self.logged:
            log.warning("call.ended_unlogged", outcome=str(outcome), note=note)
            return
        self._enter(CallState.ENDED)
        ended = at or self.host.clock()
        self._ending = (outcome, ended)
        self._write_end_if_settled()
        self.record.ended(
            str(outcome), at=ended, started_at=self.started_at, answered_at=self.answered_at
        )
        log.info(
            "call.ended",
            outcome=str(outcome),
            duration=round((ended - self.started_at).total_seconds(), 3),
            note=note or None,
        )

    def _write_end_if_settled(self, *, force: bool = False) -> None:
        """Write the call's end once the caller's cause and the attempts are in (or
        ``force``: the wait for them is over)."""
        if self._ending is None:
            return
        if not force and (self._unsettled or not self._caller_settled()):
            return
        outcome, ended = self._ending
        self._ending = None
        for pending in list(self._unsettled.values()):
            self._write_leg_end(*pending)
        self._unsettled.clear()
        self.record.written(str(outcome), at=ended, cause=self.causes.get(self.caller.id))

    def _caller_settled(self) -> bool:
        return self._caller_stays or self.caller.id in self.destroyed
