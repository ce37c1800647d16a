"""The rota in force while serving: loaded warm (its first decision paid off the call path),
reloaded when its file changes (an invalid file is refused and the running rota stays), and
the dialplan fallback's include file kept equal to it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from callrouter.asterisk.fallback import write_fallback_include
from callrouter.errors import AsteriskError, RotaError, RotaValidationError
from callrouter.filestamp import file_stamp
from callrouter.metrics import Metrics
from callrouter.rota import Rota, load_rota
from callrouter.rota.status import RotaTracker
from callrouter.routing import CallInfo, Decision, decide

log = structlog.get_logger(__name__)


def _load_warm(path: Path) -> Rota:
    """Load the rota and make one decision with it, off the event loop.

    The first decision of a rota computes its holiday calendar (~0.3 s, lunar dates
    included); paying that here keeps it off the first caller's post-dial delay.
    """
    rota = load_rota(path)
    now = datetime.now(UTC)
    for at in (now, now + timedelta(days=1)):
        decide(rota, at, CallInfo(linkedid="warm-up", caller=None, branch=rota.branch))
    return rota


def _warn_without_email(rota: Rota, path: Path) -> None:
    """Officers no notification can reach (``rota check`` says the same, with the lines)."""
    missing = [o.id for o in rota.without_email()]
    if missing:
        log.warning("rota.officers_without_email", path=str(path), officers=missing)


class RotaSource:
    """The rota in force; reloaded when its file changes, an invalid file is refused."""

    def __init__(
        self,
        path: Path,
        rota: Rota,
        *,
        tracker: RotaTracker | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.path = path
        self.rota = rota
        self.tracker = tracker or RotaTracker(path=path)
        self.metrics = metrics
        #: awaited after each successful reload (serve: rewrite the fallback include)
        self.on_reloaded: Callable[[Rota], Awaitable[None]] | None = None
        self.tracker.loaded(rota, datetime.now(UTC))
        self._stamp = file_stamp(path)
        _warn_without_email(rota, path)

    @classmethod
    async def load(
        cls, path: Path, *, tracker: RotaTracker | None = None, metrics: Metrics | None = None
    ) -> RotaSource:
        rota = await asyncio.to_thread(_load_warm, path)
        return cls(path, rota, tracker=tracker, metrics=metrics)

    def decide(self, now: datetime, call: CallInfo) -> Decision:
        return decide(self.rota, now, call)

    async def watch(self, interval: float = 2.0) -> None:
        """Poll the file; swap the rota in when a changed file validates."""
        while True:
            await asyncio.sleep(interval)
            stamp = await asyncio.to_thread(file_stamp, self.path)
            if stamp is None or stamp == self._stamp:
                continue
            self._stamp = stamp
            await self.reload()

    async def reload(self) -> bool:
        """Load the file again; True if the new rota is now in force."""
        # What is read now is what the watcher must not load again (a SIGHUP after an edit
        # would otherwise reload, and reload the dialplan, twice).
        self._stamp = await asyncio.to_thread(file_stamp, self.path)
        try:
            rota = await asyncio.to_thread(_load_warm, self.path)
        except (RotaError, OSError) as exc:
            problems = (
                exc.problems
                if isinstance(exc, RotaValidationError)
                else [str(exc) if isinstance(exc, RotaError) else f"{exc.strerror}"]
            )
            log.error("rota.reload_refused", path=str(self.path), problems=problems)
            self.tracker.refused(problems, datetime.now(UTC))
            if self.metrics is not None:
                self.metrics.rota_refusals.inc()
            return False
        self.rota = rota
        self.tracker.loaded(rota, datetime.now(UTC))
        if self.metrics is not None:
            self.metrics.rota_reloads.inc()
        log.info("rota.reloaded", path=str(self.path), version=rota.version)
        _warn_without_email(rota, self.path)
        if self.on_reloaded is not None:
            await self.on_reloaded(rota)
        return True


DialplanReload = Callable[[], Awaitable[None]]
"""Reloads Asterisk's dialplan (ARI: module reload; FastAGI mode: AMI); raises AsteriskError."""


class FallbackInclude:
    """Keeps the dialplan fallback's include file (numbers, confirm flags) equal to the rota:
    written at start and after every reload, then the dialplan is reloaded through
    ``reloader`` (ARI mode: over ARI; FastAGI mode: over AMI). Without a reloader (FastAGI
    mode without AMI credentials) the operator is told to reload the dialplan."""

    def __init__(
        self,
        path: Path,
        reloader: DialplanReload | None = None,
        *,
        can_reload: Callable[[], bool] = lambda: True,
    ) -> None:
        self.path = path
        self.reloader = reloader
        self.can_reload = can_reload

    async def write(self, rota: Rota) -> bool:
        if not await asyncio.to_thread(self.path.parent.is_dir):
            log.warning(
                "fallback_include.not_written",
                path=str(self.path),
                reason="no such directory (set CALLROUTER_DIALPLAN_INCLUDE)",
            )
            return False
        try:
            await asyncio.to_thread(write_fallback_include, rota, self.path)
        except (OSError, ValueError) as exc:
            log.error("fallback_include.not_written", path=str(self.path), reason=str(exc))
            return False
        log.info("fallback_include.written", path=str(self.path), rota_version=rota.version)
        return True

    async def reload_dialplan(self) -> None:
        if self.reloader is None:
            log.warning(
                "fallback_include.dialplan_not_reloaded",
                path=str(self.path),
                reason="no AMI credentials (set CALLROUTER_AMI_PASSWORD)",
                todo='the operator must run: asterisk -rx "dialplan reload"',
            )
            return
        try:
            await self.reloader()
        except AsteriskError as exc:
            log.warning("fallback_include.dialplan_reload_failed", error=str(exc))
        else:
            log.info("fallback_include.dialplan_reloaded")

    async def update(self, rota: Rota) -> None:
        if await self.write(rota) and self.can_reload():
            await self.reload_dialplan()
