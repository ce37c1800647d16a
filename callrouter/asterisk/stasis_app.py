"""The Stasis application: routes ARI events to one :class:`CallSession` per caller, and
after a (re)connection reconciles what happened while events did not flow (orphan bridges,
legs and callers of a router that was restarted)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any

import structlog

from callrouter.asterisk import contract
from callrouter.asterisk.ari import Bridge, Channel, Event
from callrouter.asterisk.session_parts import (
    BRIDGE_NAME_PREFIX,
    DecideFn,
    EventSink,
    FlowConfig,
    SessionHost,
    is_officer_leg,
)
from callrouter.asterisk.stasis import CallSession
from callrouter.calls.ari_port import AriPort
from callrouter.calls.plan import Clock, utc_now
from callrouter.calls.ports import CallLogPort, CallObserver, NoObserver
from callrouter.calls.recorder import CallRecorder
from callrouter.calls.vocabulary import (
    LEG_ID_PREFIX,
    LegResult,
    Outcome,
    leg_seq,
)
from callrouter.errors import AriNotFound, AsteriskError

log = structlog.get_logger(__name__)


# --------------------------------------------------------------------------- application


class StasisApp:
    """Routes ARI events to call sessions; starts a session per caller StasisStart."""

    def __init__(
        self,
        ari: AriPort,
        call_log: CallLogPort,
        decide: DecideFn,
        config: FlowConfig,
        *,
        clock: Clock = utc_now,
        observer: CallObserver | None = None,
        last_officers: dict[int, str] | None = None,
    ) -> None:
        self.ari = ari
        self.observer = observer or NoObserver()
        self.config = config
        self.sessions: dict[str, EventSink] = {}
        self.call_log = call_log
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._group: asyncio.TaskGroup | None = None
        self._accepting = True
        self._taken_over = False
        # Rotation state: who answered each branch's last call (seeded from the call log).
        self._last_officer: dict[int, str] = dict(last_officers or {})
        self.host = SessionHost(
            ari=ari,
            call_log=call_log,
            decide=decide,
            config=config,
            clock=clock,
            register=self._register,
            unregister=self._unregister,
            last_officer=self._last_officer.get,
            answered_by=self._last_officer.__setitem__,
            observer=self.observer,
            taken_over=lambda: self._taken_over,
        )

    # -------------------------------------------------------------- lifecycle

    async def run(self) -> None:
        """Read ARI events and run call sessions until cancelled."""
        async with asyncio.TaskGroup() as group:
            self._group = group
            try:
                await self.ari.run_events(self.on_event, self.on_connected, self.let_go)
            finally:
                self._group = None

    @property
    def active_calls(self) -> int:
        return sum(1 for task in self._tasks if not task.done())

    def stop_accepting(self) -> None:
        """New calls go straight back to the dialplan fallback (graceful shutdown)."""
        self._accepting = False

    async def drain(self, bound: float) -> bool:
        """Wait up to ``bound`` seconds for calls in progress; True if all finished."""
        pending = [t for t in self._tasks if not t.done()]
        if not pending:
            return True
        _done, still = await asyncio.wait(pending, timeout=bound)
        return not still

    def let_go(self) -> None:
        """Another connection took the application over: its router has these calls now
        (it watches their bridges, hands waiting callers to the fallback, hangs up unknown
        legs), and no event of them comes here any more. Every session stops at once,
        without a request to Asterisk and without writing an end it cannot know: the rows
        stay open until ``close_stale`` closes them from the CDR (at the next connection, or
        the next start)."""
        self._taken_over = True
        calls = len({id(session) for session in self.sessions.values()})
        for task in self._tasks:  # sessions, and hand-backs the other router makes itself
            task.cancel()
        self.sessions.clear()
        log.warning("ari.calls_let_go", calls=calls)

    async def on_connected(self) -> None:
        """After every (re)connection: reconcile what happened while events did not flow.

        * a session whose channel vanished gets a synthetic ChannelDestroyed;
        * a bridge of ours that no session knows (this router was restarted mid-call) is
          watched, so when one side hangs up the other is not left alone in it;
        * a caller of ours that no session knows goes to the dialplan fallback, and an
          officer leg of ours that no session knows is hung up.
        """
        self._taken_over = False
        try:
            channels = {c.id: c for c in await self.ari.list_channels()}
            bridges = await self.ari.list_bridges()
        except AsteriskError as exc:
            log.warning("ari.reconcile_failed", error=str(exc))
            return
        self._reconcile_sessions(channels)
        in_bridges = self._reconcile_bridges(bridges)
        self._reconcile_channels(channels, in_bridges)

    def _reconcile_sessions(self, channels: dict[str, Channel]) -> None:
        """A session whose channel vanished ends; a leg answered unseen is started."""
        for channel_id, session in list(self.sessions.items()):
            channel = channels.get(channel_id)
            if channel is None:
                session.deliver(_synthetic_event("ChannelDestroyed", channel_id))
            elif channel_id.startswith(LEG_ID_PREFIX) and channel.state == "Up":
                # Answered while events did not flow: an originated leg enters Stasis
                # when it answers. A session that already knows ignores the repeat.
                session.deliver(_synthetic_event("StasisStart", channel_id))

    def _reconcile_bridges(self, bridges: list[Bridge]) -> set[str]:
        """Empty bridges of ours destroyed, unknown ones adopted; the channels in them."""
        in_bridges: set[str] = set()
        for bridge in bridges:
            if not bridge.name.startswith(BRIDGE_NAME_PREFIX):
                continue
            if not bridge.channels:
                # Both sides left while nobody watched (the bridge guard ended the call):
                # nothing to adopt; the call's row is closed from the CDR (asterisk/stale.py).
                self._spawn(self._quiet(partial(self.ari.destroy_bridge, bridge.id)))
                continue
            in_bridges.update(bridge.channels)
            if any(c in self.sessions for c in bridge.channels):
                continue
            orphan = OrphanCall(self, bridge)
            for channel_id in bridge.channels:
                self.sessions[channel_id] = orphan
            log.warning(
                "ari.orphan_bridge_adopted", bridge=bridge.id, channels=len(bridge.channels)
            )
            if len(bridge.channels) < 2:
                self._spawn(orphan.end(None))
        return in_bridges

    def _reconcile_channels(self, channels: dict[str, Channel], in_bridges: set[str]) -> None:
        """A caller or officer leg of ours that nobody knows: to the fallback, or hung up."""
        for channel in channels.values():
            if channel.id in self.sessions or channel.id in in_bridges:
                continue
            if channel.id.startswith(LEG_ID_PREFIX):
                log.warning("ari.orphan_leg_hung_up", channel=channel.id)
                self._spawn(self._quiet(partial(self.ari.hangup, channel.id, reason="normal")))
            elif channel.context == contract.CONTEXT_BRANCH3:
                log.warning("ari.orphan_caller_to_fallback", channel=channel.id)
                self._spawn(self._refuse(channel))

    @staticmethod
    async def _quiet(request: Callable[[], Awaitable[None]]) -> None:
        """One request whose failure changes nothing (made only when the task runs: a task
        cancelled before it starts leaves no request object behind, never awaited)."""
        with contextlib.suppress(AsteriskError):
            await request()

    # -------------------------------------------------------------- events

    def on_event(self, event: Event) -> None:
        session = self.sessions.get(event.channel_id or "")
        if session is not None:
            session.deliver(event)
            return
        channel = event.channel
        if channel is None or event.type != "StasisStart" or is_officer_leg(event.args):
            return
        if not self._accepting:
            self._spawn(self._refuse(channel))
            return
        new = CallSession(self.host, channel, event.args)
        self.sessions[channel.id] = new
        self._spawn(new.run())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._group is not None:
            task = self._group.create_task(coro)
        else:  # events delivered outside run() (tests drive on_event directly)
            task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refuse(self, channel: Channel) -> None:
        """Hand a caller nobody handles to the dialplan fallback.

        Asterisk runs a channel's commands in turn, after what the channel is playing: a
        caller a killed router left in Stasis still hears the prompts it queued (greeting,
        notices, "please hold"), so either request may time out here while Asterisk still
        holds it in that queue and runs it once they end. The continue is therefore sent even
        when setting the variable timed out (it queues behind it); only a caller already gone
        stops the hand-back. (ci12: the continue was skipped and the caller stayed in Stasis,
        in silence once the prompts ended.)"""
        action = self.ari.set_variable(channel.id, contract.VAR_ACTION, contract.ACTION_FALLBACK)
        if await self._queued("set_variable", channel.id, action):
            await self._queued("continue", channel.id, self.ari.continue_in_dialplan(channel.id))
            log.info("call.handed_to_fallback", channel=channel.id)

    @staticmethod
    async def _queued(step: str, channel_id: str, request: Awaitable[None]) -> bool:
        """Await one request of a hand-back; False if the channel is gone. A failure (a
        timeout behind the channel's playbacks) is logged: Asterisk may still run it."""
        try:
            await request
        except AriNotFound:
            log.info("call.gone_before_fallback", channel=channel_id)
            return False
        except AsteriskError as exc:
            log.warning(
                "call.fallback_request_failed", channel=channel_id, step=step, error=str(exc)
            )
        return True

    def _register(self, channel_id: str, session: EventSink) -> None:
        self.sessions[channel_id] = session

    def _unregister(self, channel_id: str) -> None:
        self.sessions.pop(channel_id, None)


class OrphanCall:
    """A bridged call found after a restart; ends it cleanly when either side leaves."""

    def __init__(self, app: StasisApp, bridge: Bridge) -> None:
        self.app = app
        self.bridge = bridge
        self.linkedid = bridge.name.removeprefix(BRIDGE_NAME_PREFIX)
        self.ending = False

    def deliver(self, event: Event) -> None:
        if self.ending:
            return
        if event.type == "ChannelDestroyed" or (
            event.type == "ChannelHangupRequest" and event.cause is not None
        ):
            self.app._spawn(self.end(event.cause))

    async def end(self, cause: int | None) -> None:
        if self.ending:
            return
        self.ending = True
        for channel_id in self.bridge.channels:
            with contextlib.suppress(AsteriskError):
                await self.app.ari.hangup(channel_id, reason="normal")
            self.app._unregister(channel_id)
        with contextlib.suppress(AsteriskError):
            await self.app.ari.destroy_bridge(self.bridge.id)
        if self.linkedid:
            ended = self.app.clock()
            record = CallRecorder(self.app.call_log, self.linkedid, "ari", self.app.observer)
            for channel_id in self.bridge.channels:
                seq = leg_seq(channel_id)
                if seq is not None:
                    record.leg_written(
                        seq, result=str(LegResult.ANSWERED), cause=cause, at=ended, answered_at=None
                    )
            record.written(str(Outcome.ANSWERED), at=ended, cause=cause)
            # its start is not known here: no wait to count
            record.ended(str(Outcome.ANSWERED), at=ended, started_at=None, answered_at=None)
        log.info("ari.orphan_call_ended", bridge=self.bridge.id, cause=cause)


def _synthetic_event(type_: str, channel_id: str) -> Event:
    """An event reconciliation infers from the channel list (marked ``synthetic``)."""
    return Event.from_json({"type": type_, "channel": {"id": channel_id}, "synthetic": True})
