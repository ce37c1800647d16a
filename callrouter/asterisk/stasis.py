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

The session is split by phase, each a base class of the next (in the spirit of
wazo-calld's per-feature call states): :mod:`~callrouter.asterisk.session_core` (state
enum and transition table, events in, rows out through the
:class:`~callrouter.calls.recorder.CallRecorder`), :mod:`~callrouter.asterisk.session_hold`
(prompts, reminders, music), :mod:`~callrouter.asterisk.session_ringing` (legs, press-1,
bridge), :mod:`~callrouter.asterisk.session_actions` (message, forward, hand back), and
here the call from StasisStart to its end. :mod:`~callrouter.asterisk.stasis_app` routes
events to sessions. The ARI it speaks to is a :class:`~callrouter.calls.ari_port.AriPort`;
the unit tests replay recorded traces through it (callrouter/calls/fake_ari.py).
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from callrouter.asterisk import contract
from callrouter.asterisk.session_actions import ActionsPhase
from callrouter.asterisk.session_parts import (
    ARG_LINKEDID,
    CallerGone,
)
from callrouter.calls.state import PAST_RINGING, CallState
from callrouter.calls.vocabulary import (
    LegResult,
    Outcome,
)
from callrouter.errors import (
    AriNotFound,
    AsteriskError,
    CallrouterError,
)
from callrouter.routing import CallInfo, Decision

log = structlog.get_logger(__name__)


class CallSession(ActionsPhase):
    """One caller channel in Stasis, from StasisStart to the end of the call."""

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
                if not self.host.taken_over():
                    await self._stopped()
                raise
            except Exception as exc:
                log.exception("call.failed", state=self.state)
                await self._fail_to_dialplan(exc)
            finally:
                await self._stop_reminders()
                await self._settle_or_let_go()
                for channel_id in [self.caller.id, *self.legs]:
                    self.host.unregister(channel_id)
                if self.state is not CallState.ENDED:  # never logged: nothing written
                    self._enter(CallState.ENDED)

    async def _run(self) -> None:
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
        self._watch_caller()  # a logged call waits for the caller's hang-up cause
        self.record.observer = self.host.observer
        call_id = self.record.started(
            self.caller.id, branch, self.caller_number, self.started_at, rota_version
        )
        self.logged = True
        structlog.contextvars.bind_contextvars(call_id=call_id)

    async def _fail_to_dialplan(self, exc: BaseException) -> None:
        """Step 8: log, clean up our legs, and let the dialplan fallback take the caller."""
        state = self.state
        if state is not CallState.ENDED:  # (an end already written stays as written)
            self._enter(CallState.FAILED)
        with contextlib.suppress(AsteriskError):
            await self._cleanup_legs()
            await self._stop_hold()
        if self.logged and state is not CallState.ENDED:
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
        if self.state in PAST_RINGING:
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

    def _watch_caller(self) -> None:
        """Subscribe to the caller's channel: Asterisk sends its ChannelDestroyed (the
        hang-up cause) only to an application subscribed to it; Stasis alone ends at
        StasisEnd. Asked as the call is logged, i.e. once the first originate requests are
        on the wire: the subscription's request ahead of them held the originate back by
        ~0.2 ms of the router's own time (bench/results/stasis-to-originate.txt)."""
        if self._subscribed is None:
            self._subscribed = asyncio.create_task(self._subscribe_caller())

    async def _subscribe_caller(self) -> None:
        try:
            await self.ari.subscribe(f"channel:{self.caller.id}")
        except AsteriskError as exc:
            log.info("call.cause_subscription_failed", error=str(exc))

    async def _settle_or_let_go(self) -> None:
        """Settle; taken over (now or while settling), no event comes any more: write only an
        end already known, and ask Asterisk nothing more (the subscription too)."""
        if not self.host.taken_over():
            try:
                await self._settle()
                return
            except asyncio.CancelledError:
                if not self.host.taken_over():
                    raise
                self._let_go_now()
                raise
        self._let_go_now()

    def _let_go_now(self) -> None:
        if self._subscribed is not None:
            self._subscribed.cancel()
        self._write_end_if_settled(force=True)

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
