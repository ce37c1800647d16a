"""The ARI call session, by phase: ringing the officers (in turn or all at once), the
press-1 confirmation, and the bridge between the caller and the officer who took the call."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from callrouter.asterisk import contract
from callrouter.asterisk.ari import Event
from callrouter.asterisk.session_hold import HoldPhase
from callrouter.asterisk.session_parts import (
    BRIDGE_NAME_PREFIX,
    GONE_EVENTS,
    CallerGone,
    Leg,
    officer_leg_args,
    wake_time,
)
from callrouter.calls.plan import attempt_plan, ring_seconds
from callrouter.calls.state import CallState
from callrouter.calls.vocabulary import (
    LEG_ID_PREFIX,
    LegResult,
    Outcome,
    result_for_cause,
)
from callrouter.errors import (
    AriNotFound,
    AriRequestError,
    AsteriskError,
)
from callrouter.routing import Decision, Target

log = structlog.get_logger(__name__)


class RingingPhase(HoldPhase):
    """Rings the officers and bridges the one who takes the call."""

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
                first = False
                await self._originate_first(legs, originations, write_down)
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

    async def _originate_first(
        self,
        legs: list[tuple[Leg, int]],
        originations: list[Coroutine[Any, Any, None]],
        write_down: Callable[[], None],
    ) -> None:
        """Originate the first group's legs, write the call down, then hold the caller."""

        # gather() starts its tasks in order: each originate request is written to
        # ARI's socket in its task's first step, then the bookkeeping runs. The caller
        # is put on hold (greeting, music) once Asterisk has taken the requests, a few
        # ms later: a playback starting at the same moment measurably slowed the
        # officer's INVITE on a loaded 2-core box (bench/bench_native.py).
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
                variables=contract.GUARD_HANDLER,
            )
        except (AriRequestError, ValueError) as exc:
            # Asterisk refused the leg (bad endpoint, no such trunk): a failed attempt, ended
            # only once its start is written down (a bad number fails before any await).
            log.warning("leg.originate_refused", seq=leg.seq, error=str(exc))
            await self.written_down.wait()
            self.destroyed.add(leg.channel_id)  # no channel was made: nothing will report
            self._end_leg(leg, LegResult.FAILED)

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
        """Bridge guard: each leg's hang-up handler (there from its start) is told the other
        leg's name, so neither party is left alone in the bridge if one hangs up while
        callrouter is down."""
        if leg.channel_name is None:
            leg.channel_name = (await self.ari.get_channel(leg.channel_id)).name
        for channel_id, peer in (
            (self.caller.id, leg.channel_name),
            (leg.channel_id, self.caller.name),
        ):
            try:
                name, value = contract.peer_guard(peer)
            except ValueError:
                log.warning("call.bridge_unguarded", channel=channel_id)
                continue
            await self.ari.set_variable(channel_id, name, value)

    async def _destroy_bridge(self) -> None:
        if self.bridge_id is not None:
            with contextlib.suppress(AriNotFound):
                await self.ari.destroy_bridge(self.bridge_id)
            self.bridge_id = None
