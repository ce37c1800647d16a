"""The ARI call session, by phase: closed or nobody answered — the caller's message for a
call back, or the forward number — and handing the caller back to the dialplan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog

from callrouter.asterisk import contract
from callrouter.asterisk.prompts import PromptChoice
from callrouter.asterisk.session_parts import (
    CallerGone,
)
from callrouter.asterisk.session_ringing import RingingPhase
from callrouter.calls.state import CallState
from callrouter.calls.vocabulary import (
    FORWARD_OFFICER_ID,
    FORWARD_OFFICER_NAME,
    Outcome,
)
from callrouter.errors import (
    AriConflict,
    AriNotFound,
    AriRequestError,
)
from callrouter.routing import Action, Decision, Target
from callrouter.store.recordings import accepted_recording

log = structlog.get_logger(__name__)


class ActionsPhase(RingingPhase):
    """What happens when no officer of the rota takes the call."""

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

    async def _say(self, keys: Sequence[str | PromptChoice]) -> None:
        """Play prompts (or notices, chosen already) to the caller and wait until the last
        one has ended."""
        self.record.observer.call_state(
            linkedid=self.linkedid, state="announcing", at=self.host.clock()
        )
        with contextlib.suppress(AriConflict):
            await self.ari.answer(self.caller.id)
        last = ""
        for key in keys:
            choice = key if isinstance(key, PromptChoice) else await self.config.prompts.choose(key)
            last = "callrouter-prompt-" + self.host.new_id()
            try:
                await self.ari.play(
                    self.caller.id, choice.media, playback_id=last, lang=choice.lang
                )
            except AriNotFound as exc:
                raise CallerGone(None) from exc
            except AriRequestError as exc:
                log.warning("call.prompt_failed", prompt=choice.media, error=str(exc))
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
        after_hours = self._notices("after_hours") if outcome is Outcome.AFTER_HOURS else []
        await self._say((first_prompt, *after_hours, "leave_message"))
        name = f"callrouter-message-{_safe(self.linkedid)}-{self.host.new_id()[:8]}"
        recorded: str | None = None
        try:
            await self.ari.record(
                self.caller.id,
                name,
                fmt="wav",
                max_duration=self.config.caller.message_max_seconds,
                max_silence=self.config.caller.message_max_silence,
                beep=True,
                terminate_on=self.config.message_terminate_on,
            )
            recorded = name + ".wav"
            deadline = (
                asyncio.get_running_loop().time()
                + self.config.caller.message_max_seconds
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
        prompts: tuple[str | PromptChoice, ...] = ("forwarding",)
        if first_prompt == "closed":
            prompts = (first_prompt, *self._notices("after_hours"), "forwarding")
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


def _safe(text: str) -> str:
    """``text`` reduced to what a recording file name may hold."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:64]
