"""Wiring: settings → rota, call log, ARI client, Stasis application; one TaskGroup.

Plain constructor injection, no module-level singletons. :func:`serve` runs until its
``stop`` event is set, then stops taking new calls (they go to the dialplan fallback),
lets calls in progress finish within ``drain_seconds``, and cancels the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from callrouter.asterisk.ari import AriClient
from callrouter.asterisk.stasis import Clock, FlowConfig, StasisApp, utc_now
from callrouter.errors import ConfigError, RotaError
from callrouter.rota import Rota, load_rota
from callrouter.routing import CallInfo, Decision, decide
from callrouter.settings import Settings
from callrouter.store.writer import CallLog

log = structlog.get_logger(__name__)


class RotaSource:
    """The rota in force; reloaded when its file changes, an invalid file is refused."""

    def __init__(self, path: Path, rota: Rota) -> None:
        self.path = path
        self.rota = rota
        self._stamp = self._stat()

    @classmethod
    async def load(cls, path: Path) -> RotaSource:
        rota = await asyncio.to_thread(_load_warm, path)
        return cls(path, rota)

    def _stat(self) -> tuple[float, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_mtime, st.st_size)

    def decide(self, now: datetime, call: CallInfo) -> Decision:
        return decide(self.rota, now, call)

    async def watch(self, interval: float = 2.0) -> None:
        """Poll the file; swap the rota in when a changed file validates."""
        while True:
            await asyncio.sleep(interval)
            stamp = await asyncio.to_thread(self._stat)
            if stamp is None or stamp == self._stamp:
                continue
            self._stamp = stamp
            try:
                rota = await asyncio.to_thread(_load_warm, self.path)
            except RotaError as exc:
                log.error("rota.reload_refused", path=str(self.path), error=str(exc))
                continue
            except OSError as exc:
                log.error("rota.reload_refused", path=str(self.path), error=exc.strerror)
                continue
            self.rota = rota
            log.info("rota.reloaded", path=str(self.path), version=rota.version)


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


@dataclass
class ServeOptions:
    drain_seconds: float = 30.0
    rota_poll_seconds: float = 2.0
    moh_class: str | None = None


def ari_client(settings: Settings) -> AriClient:
    password = settings.ari_password.get_secret_value()
    if not password:
        raise ConfigError(
            "no ARI password: set CALLROUTER_ARI_PASSWORD or CALLROUTER_ARI_PASSWORD_FILE"
        )
    return AriClient(settings.ari_url, settings.ari_user, password, settings.ari_app)


async def serve(
    settings: Settings,
    stop: asyncio.Event,
    *,
    options: ServeOptions | None = None,
    clock: Clock = utc_now,
    started: asyncio.Event | None = None,
) -> None:
    """Run the router until ``stop`` is set. ``started`` is set once ARI events flow."""
    options = options or ServeOptions()
    rota = await RotaSource.load(settings.rota_path)
    log.info(
        "serve.starting",
        ari=settings.ari_url,
        app=settings.ari_app,
        rota=str(settings.rota_path),
        rota_version=rota.rota.version,
    )
    async with (
        CallLog(
            settings.effective_database_url(),
            settings.effective_spool_dir(),
            tz=rota.rota.timezone,
        ) as call_log,
        ari_client(settings) as ari,
    ):
        app = StasisApp(
            ari,
            call_log,
            rota.decide,
            FlowConfig(app=settings.ari_app, moh_class=options.moh_class),
            clock=clock,
        )
        async with asyncio.TaskGroup() as group:
            app_task = group.create_task(app.run())
            watch_task = group.create_task(rota.watch(options.rota_poll_seconds))
            if started is not None:
                ready_task = group.create_task(_signal_ready(ari, started))
            await stop.wait()
            log.info("serve.stopping", calls_in_progress=app.active_calls)
            app.stop_accepting()
            finished = await app.drain(options.drain_seconds)
            if not finished:
                log.warning("serve.drain_timeout", calls_in_progress=app.active_calls)
            watch_task.cancel()
            app_task.cancel()
            if started is not None:
                ready_task.cancel()
        await call_log.flush()
    log.info("serve.stopped")


async def _signal_ready(ari: AriClient, started: asyncio.Event) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await ari.wait_ready()
        started.set()
