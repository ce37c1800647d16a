"""The ARI call session, by phase: the caller on hold (prompts, reminders, music) and
the events it waits for meanwhile."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from callrouter.asterisk.ari import Event
from callrouter.asterisk.prompts import PromptChoice
from callrouter.asterisk.session_core import SessionCore
from callrouter.asterisk.session_parts import (
    GONE_EVENTS,
    CallerGone,
)
from callrouter.calls.state import ON_HOLD
from callrouter.errors import (
    AriConflict,
    AriNotFound,
    AriRequestError,
    AsteriskError,
)

log = structlog.get_logger(__name__)


class HoldPhase(SessionCore):
    """Keeps the caller waiting while officers are rung."""

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
        await self._play_while_waiting("greeting", *self._notices("waiting"), "please_hold")
        if self.config.caller.hold_reminder_seconds > 0 and self.reminder is None:
            self.reminder = asyncio.get_running_loop().create_task(self._remind())

    def _notices(self, audience: str) -> list[PromptChoice]:
        """The health notices valid now for ``audience``, as sounds to play."""
        notices = [
            PromptChoice("notice", "sound:" + name, None)
            for name in self.config.notices(self.host.clock(), audience)
        ]
        if notices:
            log.info("call.notices", count=len(notices), audience=audience)
        return notices

    async def _play_while_waiting(self, *keys: str | PromptChoice) -> None:
        """Play prompts (or notices, chosen already) to the waiting caller, those in one
        language as one playback (ARI plays its media in turn: one request and one stop for
        greeting, notices and "please hold", not one each); music starts once the last has
        ended. No such prompt: straight to music. The bridge stops whatever is still
        playing (:meth:`_stop_hold`); stopping a playback ends its whole list."""
        runs: list[tuple[str | None, list[str]]] = []
        for key in keys:
            choice = key if isinstance(key, PromptChoice) else await self.config.prompts.choose(key)
            if runs and runs[-1][0] == choice.lang:
                runs[-1][1].append(choice.media)
            else:
                runs.append((choice.lang, [choice.media]))
        for lang, media in runs:
            playback = "callrouter-prompt-" + self.host.new_id()
            self.hold_prompts.append(playback)
            try:
                await self.ari.play(self.caller.id, media, playback_id=playback, lang=lang)
            except AriNotFound as exc:
                raise CallerGone(None) from exc
            except AriRequestError as exc:
                log.warning("call.prompt_failed", prompt=",".join(media), error=str(exc))
                self.hold_prompts.remove(playback)
        if not self.hold_prompts and not self.moh:
            await self._start_moh()

    async def _remind(self) -> None:
        """Every ``hold_reminder_seconds`` while ringing: music off, reminder, music on."""
        period = self.config.caller.hold_reminder_seconds
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
            # Not ``await task`` under suppress(CancelledError): a cancel of this session
            # arriving meanwhile would be swallowed with the reminder's, and the session
            # would go on (bridging, dialling) after a stop or a takeover.
            await asyncio.wait({task})
            if not task.cancelled() and (error := task.exception()) is not None:
                raise error  # (as ``await task`` did: the session fails to the dialplan)

    async def _start_moh(self) -> None:
        try:
            await self.ari.start_moh(self.caller.id, self.config.moh_class)
            self.moh = True
        except AriNotFound as exc:
            raise CallerGone(None) from exc

    async def _stop_hold(self) -> None:
        await self._stop_reminders()
        playing, self.hold_prompts = self.hold_prompts, []
        # Queued ones first: stopping the playing one first made Asterisk open each queued
        # sound in turn for a few ms (a notice "heard" by a caller bridged at once).
        for playback in reversed(playing):
            with contextlib.suppress(AriNotFound):
                await self.ari.stop_playback(playback)
        if self.moh:
            with contextlib.suppress(AriNotFound):
                await self.ari.stop_moh(self.caller.id)
            self.moh = False
