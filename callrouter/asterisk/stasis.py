"""The ARI call flow: one :class:`CallSession` state machine per call.

DESIGN.md "Call flow (ARI mode)", steps 1, 2, 4 (press-1), 5, 6, 7 and 8::

    StasisStart(caller) ──► RECEIVED ── decide() ──► closed ──► AFTER_HOURS: prompt, hang up
                                            │
                                            ▼ open
                           "please hold", then music on hold
                                            │
                       ┌──────────► RINGING (one leg, or all legs when simultaneous)
                       │                 │ busy / no answer / failed / declined, max wait
                       └─────────────────┤ not reached
                                         │ leg answered (its StasisStart); on a confirm
                                         │ number only once the officer pressed 1
                                         ▼
                                      BRIDGED ── either side hangs up ──► ANSWERED
       caller hangs up while RINGING ──► ABANDONED (legs cancelled)
       every target and round tried / max wait reached ──► UNANSWERED ─► nobody-answered
           action (forward: the dialplan fallback; message: prompt, hang up — for now)
       any exception ──► FAILED: log it, hang up our legs, hand the caller to the dialplan fallback

The pure parts (attempt plan, cause → result, ring time within the max wait) are plain
functions tested with tables; :class:`CallSession` only translates between ARI events,
ARI commands and :class:`CallLogPort` records. No routing logic lives here: it comes
from :func:`callrouter.routing.decide`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import datetime

import structlog

from callrouter.asterisk import contract
from callrouter.asterisk.ari import Channel, Event
from callrouter.asterisk.session_parts import (
    ARG_LINKEDID,
    BRIDGE_NAME_PREFIX,
    GONE_EVENTS,
    CallerGone,
    Leg,
    SessionHost,
    officer_leg_args,
    wake_time,
)
from callrouter.calls.plan import attempt_plan, ring_seconds
from callrouter.calls.recorder import CallRecorder
from callrouter.calls.state import ON_HOLD, PAST_RINGING, CallState, transition
from callrouter.calls.vocabulary import (
    FORWARD_OFFICER_ID,
    FORWARD_OFFICER_NAME,
    LEG_ID_PREFIX,
    LegResult,
    Outcome,
    caller_number,
    result_for_cause,
)
from callrouter.errors import (
    AriConflict,
    AriNotFound,
    AriRequestError,
    AsteriskError,
    CallrouterError,
)
from callrouter.routing import Action, CallInfo, Decision, Target
from callrouter.store.recordings import accepted_recording

log = structlog.get_logger(__name__)


class CallSession:
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
        self.finished = False
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
        #: set once the call, its decision and the first attempts are in the call log
        self.written_down = asyncio.Event()

    @property
    def linkedid(self) -> str:
        return self.record.linkedid

    def _enter(self, state: CallState) -> None:
        """Move to ``state`` (see :data:`callrouter.calls.state.TRANSITIONS`)."""
        self.state = transition(self.state, state)

    # ------------------------------------------------------------------ events in

    def deliver(self, event: Event) -> None:
        """Called by the application's event reader for events of our channels."""
        self._note_cause(event)
        self.queue.put_nowait(event)

    def _note_cause(self, event: Event) -> None:
        """Keep the cause Asterisk reports for a channel; write what waited for it."""
        channel_id = event.channel_id
        if channel_id is None:
            return
        if channel_id == self.caller.id and event.type in GONE_EVENTS:
            self._caller_left = True  # seen on arrival, before the flow reads it
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

    async def _next_event(self, deadline: float | None) -> Event | None:
        """The next event, or None at ``deadline`` (loop time). Raises CallerGone."""
        loop = asyncio.get_running_loop()
        while True:
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            try:
                async with asyncio.timeout(timeout):
                    event = await self.queue.get()
            except TimeoutError:
                return None
            if event.channel_id == self.caller.id:
                if event.type in GONE_EVENTS:
                    self.caller_is_gone = True
                    if event.cause is not None and self.caller_gone_cause is None:
                        self.caller_gone_cause = event.cause
                    raise CallerGone(self.caller_gone_cause)
                if event.type == "PlaybackFinished" and event.playback_id in self.hold_prompts:
                    # The waiting prompts ended: music until an officer answers.
                    self.hold_prompts.remove(event.playback_id)
                    if not self.hold_prompts and self.state in ON_HOLD:
                        await self._start_moh()
                    continue
            return event

    # ------------------------------------------------------------------ main

    async def run(self) -> None:
        """Handle the call; never raises (except cancellation)."""
        self.host.register(self.caller.id, self)
        with structlog.contextvars.bound_contextvars(channel=self.caller.id):
            try:
                await self._run()
            except CallerGone:
                await self._cleanup_legs()
                self._end(Outcome.ABANDONED)
            except asyncio.CancelledError:
                await self._stopped()
                raise
            except Exception as exc:
                log.exception("call.failed", state=self.state)
                await self._fail_to_dialplan(exc)
            finally:
                await self._stop_reminders()
                await self._settle()
                for channel_id in [self.caller.id, *self.legs]:
                    self.host.unregister(channel_id)
                self.finished = True

    async def _run(self) -> None:
        # Asterisk sends the caller's ChannelDestroyed (its hang-up cause) only to an
        # application subscribed to the channel; Stasis alone ends at StasisEnd. Asked
        # beside the first originate, not before it.
        self._subscribed = asyncio.create_task(self._subscribe_caller())
        self.record.linkedid = await self._linkedid()
        branch = contract.BRANCH
        try:
            branch = contract.branch_of(self.args)
            call = CallInfo(
                linkedid=self.linkedid,
                caller=self.caller_number,
                branch=branch,
                last_officer_id=self.host.last_officer(branch),
            )
            decision = self.host.decide(self.started_at, call)
        except Exception:
            # The row still records the call (and, once handed back, that it failed).
            self._log_started(branch, None)
            raise
        if not decision.open or not decision.targets:
            self._write_down_decision(branch, decision)
            self.written_down.set()
            await self._closed(decision)
            return
        # Ring first, write down after: between StasisStart and the originate request there
        # is only decide(); the row, the decision and the first attempts are written while
        # that request is in flight (bench/bench_native.py measures the post-dial delay).
        answered = await self._ring_targets(
            decision, write_down=lambda: self._write_down_decision(branch, decision)
        )
        if answered is None:
            await self._unanswered(decision)
            return
        await self._bridged(answered)

    def _write_down_decision(self, branch: int, decision: Decision) -> None:
        self._log_started(branch, decision.rota_version)
        self.record.decided(
            decision, at=self.started_at, caller=self.caller_number, caller_raw=self.caller_raw
        )

    async def _linkedid(self) -> str:
        """The call's Asterisk linkedid: from the Stasis arguments when the dialplan passes
        it (``linkedid=${CHANNEL(linkedid)}``, no round trip), else asked of Asterisk."""
        with contextlib.suppress(ValueError):
            passed = contract.parse_stasis_args(self.args).get(ARG_LINKEDID)
            if passed:
                return passed
        try:
            linkedid = await self.ari.get_variable(self.caller.id, "CHANNEL(linkedid)")
        except AriNotFound as exc:
            raise CallerGone(None) from exc
        return linkedid or self.caller.id

    def _log_started(self, branch: int, rota_version: str | None) -> None:
        self.record.observer = self.host.observer
        call_id = self.record.started(
            self.caller.id, branch, self.caller_number, self.started_at, rota_version
        )
        self.logged = True
        structlog.contextvars.bind_contextvars(call_id=call_id)

    # ------------------------------------------------------------------ open: ringing

    async def _ring_targets(self, decision: Decision, write_down: Callable[[], None]) -> Leg | None:
        """Ring the attempt groups in turn; the leg that takes the call, or None.

        ``write_down`` logs the call and its decision: it runs once the first originate
        requests are on the wire, before any attempt is logged (their rows need the call's).
        """
        self._enter(CallState.RINGING)
        loop = asyncio.get_running_loop()
        wait_deadline = loop.time() + decision.max_wait
        first = True
        for group in attempt_plan(decision):
            remaining = wait_deadline - loop.time()
            rings = [(t, ring_seconds(t.ring_timeout, remaining)) for t in group.targets]
            rings = [(t, ring) for t, ring in rings if ring]
            if not rings:
                log.info("call.max_wait_reached", max_wait=decision.max_wait)
                break
            legs = [(self._new_leg(target), ring) for target, ring in rings]
            originations = [self._originate(leg, ring) for leg, ring in legs]
            if first:
                # gather() starts its tasks in order: each originate request is written to
                # ARI's socket in its task's first step, then the bookkeeping runs. The caller
                # is put on hold (greeting, music) once Asterisk has taken the requests, a few
                # ms later: a playback starting at the same moment measurably slowed the
                # officer's INVITE on a loaded 2-core box (bench/bench_native.py).
                first = False

                async def bookkeeping(legs: list[tuple[Leg, int]] = legs) -> None:
                    write_down()
                    for leg, ring in legs:
                        self._log_leg(leg, ring)
                    self.written_down.set()

                results = await asyncio.gather(*originations, bookkeeping(), return_exceptions=True)
                for result in results:
                    if isinstance(result, BaseException):
                        raise result
                await self._hold_caller()
            else:
                for leg, ring in legs:
                    self._log_leg(leg, ring)
                for origination in originations:
                    await origination
            longest = max(ring for _leg, ring in legs)
            deadline = min(loop.time() + longest + self.config.ring_grace, wait_deadline + 1.0)
            winner = await self._await_legs(
                [leg for leg, _ring in legs], deadline, decision.confirm_timeout
            )
            if winner is not None:
                return winner
        return None

    def _new_leg(self, target: Target) -> Leg:
        self.seq += 1
        leg = Leg(
            seq=self.seq,
            target=target,
            channel_id=f"{LEG_ID_PREFIX}{self.seq}-{self.host.new_id()}",
            started_at=self.host.clock(),
        )
        self.legs[leg.channel_id] = leg
        # Registered before the originate request: its events can beat the REST answer.
        self.host.register(leg.channel_id, self)
        return leg

    def _log_leg(self, leg: Leg, ring: int) -> None:
        self.record.leg_started(
            leg.seq, leg.target, channel_id=leg.channel_id, at=leg.started_at, ring=ring
        )

    async def _originate(self, leg: Leg, ring: int) -> None:
        try:
            endpoint = contract.dial_string(leg.target.number, self.config.trunk)
            await self.ari.originate(
                endpoint=endpoint,
                app=self.config.app,
                app_args=officer_leg_args(self.caller.id, leg.seq),
                channel_id=leg.channel_id,
                originator=self.caller.id,
                ring_timeout=ring,
                caller_id=self.config.officer_caller_id,
            )
        except (AriRequestError, ValueError) as exc:
            # Asterisk refused the leg (bad endpoint, no such trunk): a failed attempt, ended
            # only once its start is written down (a bad number fails before any await).
            log.warning("leg.originate_refused", seq=leg.seq, error=str(exc))
            await self.written_down.wait()
            self.destroyed.add(leg.channel_id)  # no channel was made: nothing will report
            self._end_leg(leg, LegResult.FAILED)

    async def _hold_caller(self) -> None:
        """Answer the caller, play the branch greeting and "please hold", then music (on
        the last PlaybackFinished), with a "please stay on the line" reminder every
        ``hold_reminder_seconds``."""
        if self.caller.state != "Up":  # the shipped dialplan has answered already
            try:
                await self.ari.answer(self.caller.id)
            except AriNotFound as exc:
                raise CallerGone(None) from exc
            except AriConflict:
                pass  # answered meanwhile
        await self._play_while_waiting("greeting", "please_hold")
        if self.config.hold_reminder_seconds > 0 and self.reminder is None:
            self.reminder = asyncio.get_running_loop().create_task(self._remind())

    async def _play_while_waiting(self, *keys: str) -> None:
        """Queue prompts to the waiting caller (ARI plays a channel's playbacks in turn);
        music starts once the last has ended. No such prompt: straight to music."""
        for key in keys:
            choice = await self.config.prompts.choose(key)
            playback = "callrouter-prompt-" + self.host.new_id()
            self.hold_prompts.append(playback)
            try:
                await self.ari.play(
                    self.caller.id, choice.media, playback_id=playback, lang=choice.lang
                )
            except AriNotFound as exc:
                raise CallerGone(None) from exc
            except AriRequestError as exc:
                log.warning("call.prompt_failed", prompt=key, error=str(exc))
                self.hold_prompts.remove(playback)
        if not self.hold_prompts and not self.moh:
            await self._start_moh()

    async def _remind(self) -> None:
        """Every ``hold_reminder_seconds`` while ringing: music off, reminder, music on."""
        period = self.config.hold_reminder_seconds
        try:
            while True:
                await asyncio.sleep(period)
                if self.state not in ON_HOLD or self.caller_is_gone:
                    return
                if self.hold_prompts:  # something is still being said: next time
                    continue
                if self.moh:
                    self.moh = False
                    await self.ari.stop_moh(self.caller.id)
                log.info("call.hold_reminder")
                await self._play_while_waiting("hold_reminder")
        except (AsteriskError, CallerGone) as exc:
            log.info("call.hold_reminder_stopped", error=str(exc))

    async def _stop_reminders(self) -> None:
        task, self.reminder = self.reminder, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _start_moh(self) -> None:
        try:
            await self.ari.start_moh(self.caller.id, self.config.moh_class)
            self.moh = True
        except AriNotFound as exc:
            raise CallerGone(None) from exc

    async def _stop_hold(self) -> None:
        await self._stop_reminders()
        playing, self.hold_prompts = self.hold_prompts, []
        for playback in playing:
            with contextlib.suppress(AriNotFound):
                await self.ari.stop_playback(playback)
        if self.moh:
            with contextlib.suppress(AriNotFound):
                await self.ari.stop_moh(self.caller.id)
            self.moh = False

    async def _await_legs(
        self, legs: list[Leg], deadline: float, confirm_timeout: float
    ) -> Leg | None:
        """Wait until one leg answers (the others are cancelled) or every leg has ended.

        A leg to a number marked ``confirm`` only counts as answered when the person who
        picked up presses 1 after the "call from hotline 1022, press 1" prompt; another key
        is ``declined``, and no key within ``confirm_timeout`` seconds after the prompt (a
        voicemail box) is ``no_answer``. The caller keeps hearing music meanwhile.
        """
        loop = asyncio.get_running_loop()
        while any(not leg.ended for leg in legs):
            event = await self._next_event(wake_time(legs, deadline, loop.time()))
            if event is None:
                await self._on_timers(legs, deadline)
                continue
            leg = self.legs.get(event.channel_id or "")
            if leg is None or leg.ended or leg not in legs:
                continue
            winner = await self._on_leg_event(leg, legs, event, confirm_timeout)
            if winner is not None:
                return winner
        return None

    async def _on_timers(self, legs: list[Leg], deadline: float) -> None:
        """Nothing came before the next deadline: end the legs whose time is up."""
        now = asyncio.get_running_loop().time()
        for leg in legs:
            if leg.ended:
                continue
            if leg.confirm_deadline is not None:
                if leg.confirm_deadline <= now:  # picked up, no key: voicemail or nobody
                    log.info("leg.not_confirmed", seq=leg.seq)
                    await self._hangup_leg(leg, "normal")
                    self._end_leg(leg, LegResult.NO_ANSWER)
            elif now >= deadline:  # Asterisk's own originate timeout should have fired
                await self._hangup_leg(leg, "no_answer")
                self._end_leg(leg, LegResult.NO_ANSWER)

    async def _on_leg_event(
        self, leg: Leg, legs: list[Leg], event: Event, confirm_timeout: float
    ) -> Leg | None:
        """One event of a leg still ringing (or asked to press 1); the leg that takes the
        call, else None."""
        if event.type == "StasisStart" and leg.picked_up_at is None:
            leg.picked_up_at = self.host.clock()
            if event.channel is not None:
                leg.channel_name = event.channel.name
            if leg.target.confirm:
                await self._ask_to_confirm(leg)
                return None
            return await self._accept(leg, legs)
        if event.type == "ChannelDtmfReceived" and leg.confirm_deadline is not None:
            return await self._on_key(leg, legs, event.digit)
        if event.type == "PlaybackFinished" and event.playback_id == leg.confirm_playback:
            leg.confirm_playback = None
            leg.confirm_deadline = asyncio.get_running_loop().time() + confirm_timeout
        elif event.type == "ChannelStateChange" and event.channel is not None:
            if event.channel.state == "Ringing" and not leg.rang:
                leg.rang = True
                delay = (self.host.clock() - leg.started_at).total_seconds()
                self.record.observer.leg_ringing(post_dial_delay=delay)
        elif event.type == "ChannelDestroyed":
            if leg.picked_up_at is not None:  # hung up while asked to confirm
                self._end_leg(leg, LegResult.DECLINED)
            else:
                self._end_leg(leg, result_for_cause(self.causes.get(leg.channel_id)))
        return None

    async def _on_key(self, leg: Leg, legs: list[Leg], digit: str | None) -> Leg | None:
        """A key pressed by an officer asked to confirm: 1 takes the call, any other
        declines it."""
        if digit == "1":
            return await self._accept(leg, legs)
        log.info("leg.declined", seq=leg.seq, digit=digit)
        await self._hangup_leg(leg, "normal")
        self._end_leg(leg, LegResult.DECLINED)
        return None

    async def _ask_to_confirm(self, leg: Leg) -> None:
        """Play the press-1 prompt to a picked-up leg; the answer comes as DTMF events."""
        leg.confirm_playback = "callrouter-prompt-" + self.host.new_id()
        # Until the prompt ends, allow it up to prompt_limit; then confirm_timeout runs.
        leg.confirm_deadline = asyncio.get_running_loop().time() + self.config.prompt_limit
        log.info("leg.confirming", seq=leg.seq, officer=leg.target.officer_id)
        choice = await self.config.prompts.choose("confirm")
        with contextlib.suppress(AriNotFound):  # the leg is gone: its ChannelDestroyed follows
            await self.ari.play(
                leg.channel_id, choice.media, playback_id=leg.confirm_playback, lang=choice.lang
            )

    async def _accept(self, leg: Leg, legs: list[Leg]) -> Leg:
        """``leg`` takes the call: the other legs of the group are cancelled."""
        leg.answered_at = self.host.clock()
        leg.confirm_deadline = None
        if leg.confirm_playback is not None:
            with contextlib.suppress(AriNotFound):
                await self.ari.stop_playback(leg.confirm_playback)
            leg.confirm_playback = None
        log.info("leg.answered", seq=leg.seq, officer=leg.target.officer_id)
        for other in legs:
            if other is not leg and not other.ended:
                await self._hangup_leg(other, "answered_elsewhere")
                self._end_leg(other, LegResult.CANCELLED)
        return leg

    def _end_leg(self, leg: Leg, result: LegResult, *, at: datetime | None = None) -> None:
        """The attempt ended with ``result``; its row gets the cause Asterisk reports for
        the leg's channel, so it is written once the channel's ChannelDestroyed is in."""
        if leg.ended:
            return
        leg.ended = True
        self.record.leg_over(str(result))
        ended = at or self.host.clock()
        if leg.channel_id in self.destroyed:
            self._write_leg_end(leg, result, ended)
        else:
            self._unsettled[leg.channel_id] = (leg, result, ended)

    def _write_leg_end(self, leg: Leg, result: LegResult, ended: datetime) -> None:
        self.record.leg_written(
            leg.seq,
            result=str(result),
            cause=self.causes.get(leg.channel_id),
            at=ended,
            answered_at=leg.answered_at,
        )

    async def _hangup_leg(self, leg: Leg, reason: str) -> None:
        with contextlib.suppress(AriNotFound):  # already gone: fine
            await self.ari.hangup(leg.channel_id, reason=reason)

    # ------------------------------------------------------------------ answered

    async def _bridged(self, leg: Leg, outcome: Outcome = Outcome.ANSWERED) -> None:
        """Caller and ``leg`` talk until one hangs up. A forwarded call (``outcome``
        after_hours or unanswered) keeps its outcome: no officer of the rota answered it."""
        self._enter(CallState.BRIDGED)
        answered_at = leg.answered_at or self.host.clock()
        bridge_id = self.host.new_id()
        # Recorded before the bridge exists: a router killed while bridging leaves a bridge
        # the next router adopts, and the row must already say who answered.
        if outcome is Outcome.ANSWERED:
            self.record.answered(leg.target, at=answered_at)
            self.answered_at = answered_at
            self.host.answered_by(contract.branch_of(self.args), leg.target.officer_id)
        else:
            self.record.event(
                "forward_answered", at=answered_at, number=leg.target.number, seq=leg.seq
            )
        try:
            await self._stop_hold()
            await self.ari.create_bridge(
                bridge_id, bridge_type="mixing", name=BRIDGE_NAME_PREFIX + self.linkedid
            )
            self.bridge_id = bridge_id
            await self.ari.add_channels(bridge_id, [self.caller.id, leg.channel_id])
            await self._guard_bridge(leg)
        except AsteriskError as exc:
            if not self._caller_left and not isinstance(exc, AriNotFound):
                raise
            if self._caller_left:
                # The caller hung up as the officer answered (Asterisk refuses to bridge a
                # channel that left Stasis): abandoned, the officer's leg answered, let go.
                log.info("call.caller_left_while_bridging", error=str(exc))
                with contextlib.suppress(AsteriskError):
                    await self._hangup_leg(leg, "normal")
                    await self._destroy_bridge()
                self._end_leg(leg, LegResult.ANSWERED)
                self._end(Outcome.ABANDONED if outcome is Outcome.ANSWERED else outcome)
                return
            # otherwise the officer's side vanished: its events say so
        self.record.talking(leg.target, at=answered_at)
        log.info("call.bridged", officer=leg.target.officer_id, bridge=bridge_id)
        try:
            while True:
                event = await self._next_event(None)
                if (
                    event is not None
                    and event.channel_id == leg.channel_id
                    and event.type in GONE_EVENTS
                ):
                    log.info("call.officer_hung_up", cause=event.cause)
                    break
        except CallerGone as gone:
            log.info("call.caller_hung_up", cause=gone.cause)
            await self._hangup_leg(leg, "normal")
        else:
            with contextlib.suppress(AriNotFound):
                await self.ari.hangup(self.caller.id, reason="normal")
        ended = self.host.clock()
        self._end_leg(leg, LegResult.ANSWERED, at=ended)
        await self._destroy_bridge()
        self._end(outcome, at=ended if outcome is Outcome.ANSWERED else self.action_at)

    async def _guard_bridge(self, leg: Leg) -> None:
        """Bridge guard: a hang-up handler on each leg hangs up the other, so neither party
        is left alone in the bridge if one hangs up while callrouter is down."""
        if leg.channel_name is None:
            leg.channel_name = (await self.ari.get_channel(leg.channel_id)).name
        for channel_id, peer in (
            (self.caller.id, leg.channel_name),
            (leg.channel_id, self.caller.name),
        ):
            try:
                guard = contract.peer_guard(peer)
            except ValueError:
                log.warning("call.bridge_unguarded", channel=channel_id)
                continue
            for name, value in guard:
                await self.ari.set_variable(channel_id, name, value)

    async def _destroy_bridge(self) -> None:
        if self.bridge_id is not None:
            with contextlib.suppress(AriNotFound):
                await self.ari.destroy_bridge(self.bridge_id)
            self.bridge_id = None

    # ------------------------------------------------------------------ not answered

    async def _closed(self, decision: Decision) -> None:
        """Closed (outside shifts, holiday): the caller hears the closed message, then the
        after-hours action runs. Outcome ``after_hours``."""
        self._enter(CallState.AFTER_HOURS)
        await self._run_action(decision.action, Outcome.AFTER_HOURS, "closed")

    async def _unanswered(self, decision: Decision) -> None:
        """Every target and round tried (or max wait reached): the nobody-answered action.
        Outcome ``unanswered``."""
        self._enter(CallState.UNANSWERED)
        await self._stop_hold()
        await self._run_action(decision.action, Outcome.UNANSWERED, "nobody_answered")

    async def _run_action(self, action: Action, outcome: Outcome, first_prompt: str) -> None:
        """``message``: the caller's message becomes a call-back entry; ``forward:<number>``:
        that number rings and, if it answers, is bridged. The outcome stays ``outcome``.

        The call's ``ended_at`` is when the action began, so its ``wait_seconds`` is the
        time spent waiting for an officer; the message or the forwarded talk follows it
        (call-back entry, ``forward*`` events, the forward's attempt row)."""
        self.action_at = self.host.clock()
        self.record.event("action", at=self.host.clock(), action=str(action), outcome=str(outcome))
        try:
            if action.kind == "forward" and action.number:
                if await self._forward(action.number, outcome, first_prompt):
                    return  # _bridged wrote the end of the call
                await self._say(("nobody_answered",))
            else:
                await self._take_message(outcome, first_prompt)
            with contextlib.suppress(AriNotFound):
                await self.ari.hangup(self.caller.id, reason="normal")
        except CallerGone:
            log.info("call.caller_left_during_action", action=action.kind)
        self._end(outcome, at=self.action_at)

    async def _say(self, keys: Sequence[str]) -> None:
        """Play prompts to the caller and wait until the last one has ended."""
        self.record.observer.call_state(
            linkedid=self.linkedid, state="announcing", at=self.host.clock()
        )
        with contextlib.suppress(AriConflict):
            await self.ari.answer(self.caller.id)
        last = ""
        for key in keys:
            choice = await self.config.prompts.choose(key)
            last = "callrouter-prompt-" + self.host.new_id()
            try:
                await self.ari.play(
                    self.caller.id, choice.media, playback_id=last, lang=choice.lang
                )
            except AriNotFound as exc:
                raise CallerGone(None) from exc
            except AriRequestError as exc:
                log.warning("call.prompt_failed", prompt=key, error=str(exc))
        deadline = asyncio.get_running_loop().time() + self.config.prompt_limit * len(keys)
        while last:
            event = await self._next_event(deadline)
            if event is None or (event.type == "PlaybackFinished" and event.playback_id == last):
                break

    async def _take_message(self, outcome: Outcome, first_prompt: str) -> None:
        """Closed message or "nobody answered", "leave a message after the beep", record
        (beep, ``message_max_seconds``, ``message_max_silence``, ``#`` ends it), thanks.

        The recording is Asterisk's ``<recordings dir>/<name>.wav`` (the ``recording`` of
        the call-back entry). A caller who hangs up while speaking still leaves the message
        recorded so far; one who hangs up before the beep leaves a call-back without one.
        """
        await self._say((first_prompt, "leave_message"))
        name = f"callrouter-message-{_safe(self.linkedid)}-{self.host.new_id()[:8]}"
        recorded: str | None = None
        try:
            await self.ari.record(
                self.caller.id,
                name,
                fmt="wav",
                max_duration=self.config.message_max_seconds,
                max_silence=self.config.message_max_silence,
                beep=True,
                terminate_on=self.config.message_terminate_on,
            )
            recorded = name + ".wav"
            deadline = (
                asyncio.get_running_loop().time()
                + self.config.message_max_seconds
                + self.config.prompt_limit
            )
            while True:
                event = await self._next_event(deadline)
                if event is None:
                    break
                if event.type == "RecordingFailed" and event.recording.get("name") == name:
                    log.warning("call.message_failed", cause=event.recording.get("cause"))
                    recorded = None
                    break
                if event.type == "RecordingFinished" and event.recording.get("name") == name:
                    break
        except CallerGone:
            self._message_left(outcome, recorded)
            raise
        except AriNotFound as exc:
            self._message_left(outcome, recorded)
            raise CallerGone(None) from exc
        self._message_left(outcome, recorded)
        await self._say(("message_saved",))

    def _message_left(self, outcome: Outcome, recording: str | None) -> None:
        self.record.message_left(
            reason="after_hours_message" if outcome is Outcome.AFTER_HOURS else "unanswered",
            caller=self.caller_number,
            recording=accepted_recording(recording, door="ari"),
            at=self.host.clock(),
        )

    async def _forward(self, number: str, outcome: Outcome, first_prompt: str) -> bool:
        """Ring ``number`` (no press-1) with music meanwhile; True if it answered and the
        call was bridged. It is an attempt row (officer ``forward``) and a ``forward``
        event; the call keeps ``outcome``."""
        self._enter(CallState.FORWARDING)
        target = Target(
            officer_id=FORWARD_OFFICER_ID,
            officer_name=FORWARD_OFFICER_NAME,
            number=number,
            number_label=None,
            confirm=False,
            ring_timeout=self.config.forward_ring_seconds,
        )
        self.record.event("forward", at=self.host.clock(), number=number)
        leg = self._new_leg(target)
        self._log_leg(leg, target.ring_timeout)
        self.written_down.set()
        prompts = (first_prompt, "forwarding") if first_prompt == "closed" else ("forwarding",)
        await self._play_while_waiting(*prompts)
        await self._originate(leg, target.ring_timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + target.ring_timeout + self.config.ring_grace
        winner = await self._await_legs([leg], deadline, confirm_timeout=0)
        await self._stop_hold()
        if winner is None:
            return False
        await self._bridged(winner, outcome)
        return True

    async def _hand_back(self, action: str) -> None:
        """Let the caller go on in the dialplan, which reads ``CALLROUTER_ACTION``."""
        try:
            await self.ari.set_variable(self.caller.id, contract.VAR_ACTION, action)
            await self.ari.continue_in_dialplan(self.caller.id)
            log.info("call.handed_to_dialplan", action=action)
        except AriNotFound:
            log.info("call.caller_gone_before_handoff")

    async def _fail_to_dialplan(self, exc: BaseException) -> None:
        """Step 8: log, clean up our legs, and let the dialplan fallback take the caller."""
        state = self.state
        self._enter(CallState.FAILED)
        with contextlib.suppress(AsteriskError):
            await self._cleanup_legs()
            await self._stop_hold()
        if self.logged and not self.finished:
            with contextlib.suppress(CallrouterError):
                self.record.event(
                    "handed_to_fallback",
                    at=self.host.clock(),
                    error=type(exc).__name__,
                    state=state,
                )
        self._caller_stays = not self.caller_is_gone
        self._end(Outcome.FAILED, note=f"handed to fallback after {type(exc).__name__}")
        if self.caller_is_gone:
            return
        try:
            await self._hand_back(contract.ACTION_FALLBACK)
        except AsteriskError as err:
            log.warning("call.fallback_handoff_failed", error=str(err))

    async def _stopped(self) -> None:
        """The router is stopping with this call in progress.

        A bridged call stays up in Asterisk (the next router adopts its bridge); a caller
        still waiting goes to the dialplan fallback, which rings the numbers itself.
        """
        if self.state is CallState.BRIDGED:
            log.warning("call.left_bridged_on_stop", bridge=self.bridge_id)
            return
        if self.finished or self.state in PAST_RINGING:
            return
        await self._fail_to_dialplan(RuntimeError("router stopping"))

    async def _cleanup_legs(self) -> None:
        for leg in self.legs.values():
            if not leg.ended:
                with contextlib.suppress(AsteriskError):
                    await self._hangup_leg(leg, "normal")
                self._end_leg(leg, LegResult.CANCELLED)
        with contextlib.suppress(AsteriskError):
            await self._destroy_bridge()

    def _end(self, outcome: Outcome, *, at: datetime | None = None, note: str = "") -> None:
        """The call ended with ``outcome``. Its row gets the cause Asterisk reports for the
        caller's channel: written once that channel and every ended attempt have theirs
        (``_note_cause``), or by ``_settle`` with what is known."""
        if self.finished or not self.logged:
            if not self.logged:
                log.warning("call.ended_unlogged", outcome=str(outcome), note=note)
            return
        self.finished = True
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

    async def _subscribe_caller(self) -> None:
        try:
            await self.ari.subscribe(f"channel:{self.caller.id}")
        except AsteriskError as exc:
            log.info("call.cause_subscription_failed", error=str(exc))

    def _caller_settled(self) -> bool:
        return self._caller_stays or self.caller.id in self.destroyed

    async def _settle(self) -> None:
        """Wait (bounded) for the ChannelDestroyed of every channel whose row waits for its
        cause, then write what is left; a cause still unknown stays NULL."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.cause_wait
        if self._subscribed is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._subscribed), self.config.cause_wait)

        def waiting() -> bool:
            return bool(self._unsettled) or (
                self._ending is not None and not self._caller_settled()
            )

        while waiting() and (left := deadline - loop.time()) > 0:
            self._destroyed_event.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._destroyed_event.wait()
        self._write_end_if_settled(force=True)


def _safe(text: str) -> str:
    """``text`` reduced to what a recording file name may hold."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:64]
