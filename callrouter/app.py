"""Wiring: settings → rota, call log, ARI client, Stasis application, admin web; one TaskGroup.

Plain constructor injection, no module-level singletons. :func:`serve` runs until its
``stop`` event is set, then stops taking new calls (they go to the dialplan fallback),
lets calls in progress finish within ``drain_seconds``, and cancels the rest (a bridged
call stays up in Asterisk; the next router adopts it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.asterisk.ari import AriClient
from callrouter.asterisk.callbacks import AmiCallbackDialer
from callrouter.asterisk.cdr_import import cdr_file_from_env
from callrouter.asterisk.fallback import write_fallback_include
from callrouter.asterisk.prompts import PromptCatalog
from callrouter.asterisk.stale import Reconnections
from callrouter.asterisk.stasis import Clock, FlowConfig, StasisApp, utc_now
from callrouter.errors import AsteriskError, ConfigError, RotaError, RotaValidationError
from callrouter.metrics import Metrics
from callrouter.rota import Rota, load_rota
from callrouter.routing import CallInfo, Decision, decide
from callrouter.settings import Settings
from callrouter.store.db import make_engine
from callrouter.store.models import Call
from callrouter.store.writer import CallLog
from callrouter.web.live import LiveCalls, LiveState
from callrouter.web.rotastatus import RotaTracker
from callrouter.web.server import WebServer
from callrouter.web.settings import WebSettings
from callrouter.web.wiring import build_app

log = structlog.get_logger(__name__)

_LIVE_STATES: dict[str, LiveState] = {
    "waiting": "waiting",
    "ringing": "ringing",
    "talking": "talking",
    "announcing": "announcing",
}


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
        self._stamp = self._stat()

    @classmethod
    async def load(
        cls, path: Path, *, tracker: RotaTracker | None = None, metrics: Metrics | None = None
    ) -> RotaSource:
        rota = await asyncio.to_thread(_load_warm, path)
        return cls(path, rota, tracker=tracker, metrics=metrics)

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
            await self.reload()

    async def reload(self) -> bool:
        """Load the file again; True if the new rota is now in force."""
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
        if self.on_reloaded is not None:
            await self.on_reloaded(rota)
        return True


class FallbackInclude:
    """Keeps the dialplan fallback's include file (numbers, confirm flags) equal to the rota:
    written at start and after every reload, then the dialplan is reloaded over ARI."""

    def __init__(self, path: Path, ari: AriClient) -> None:
        self.path = path
        self.ari = ari

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
        try:
            await self.ari.reload_module("pbx_config.so")
        except AsteriskError as exc:
            log.warning("fallback_include.dialplan_reload_failed", error=str(exc))
        else:
            log.info("fallback_include.dialplan_reloaded")

    async def update(self, rota: Rota) -> None:
        if await self.write(rota) and self.ari.ready:
            await self.reload_dialplan()


class CallMonitor:
    """The call flow's observer: feeds the live-calls view and the metrics."""

    def __init__(self, live: LiveCalls, metrics: Metrics) -> None:
        self.live = live
        self.metrics = metrics

    def call_started(self, *, linkedid: str, caller: str | None, branch: int, at: datetime) -> None:
        self.live.started(linkedid=linkedid, caller=caller, branch=branch, started_at=at)

    def call_state(
        self,
        *,
        linkedid: str,
        state: str,
        at: datetime,
        officer_name: str | None = None,
        number: str | None = None,
    ) -> None:
        live_state = _LIVE_STATES.get(state)
        if live_state is not None:
            self.live.updated(
                linkedid=linkedid,
                state=live_state,
                at=at,
                officer_name=officer_name,
                number=number,
            )

    def leg_ringing(self, *, post_dial_delay: float) -> None:
        self.metrics.observe_post_dial_delay(post_dial_delay)

    def leg_ended(self, *, result: str) -> None:
        self.metrics.attempt_ended(result)

    def call_ended(self, *, linkedid: str, outcome: str, wait_seconds: float | None) -> None:
        self.live.ended(linkedid=linkedid)
        self.metrics.call_ended(outcome, wait_seconds)


async def last_answered_officers(engine: AsyncEngine) -> dict[int, str]:
    """Who answered the last answered call of each branch (the rotation state), from the
    call log, so a restart does not reset ``rotate``. Empty when the log cannot be read."""
    calls = Call.__table__
    latest = (
        select(calls.c.branch, func.max(calls.c.answered_at).label("at"))
        .where(calls.c.outcome == "answered", calls.c.answered_officer_id.is_not(None))
        .group_by(calls.c.branch)
        .subquery()
    )
    query = select(calls.c.branch, calls.c.answered_officer_id).join(
        latest, (calls.c.branch == latest.c.branch) & (calls.c.answered_at == latest.c.at)
    )
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).all()
    except (SQLAlchemyError, OSError) as exc:
        log.warning("serve.rotation_state_unavailable", error=type(exc).__name__)
        return {}
    return {int(branch): str(officer) for branch, officer in rows}


@dataclass
class ServeOptions:
    drain_seconds: float = 30.0
    rota_poll_seconds: float = 2.0
    moh_class: str | None = None
    #: None: read from the environment (CALLROUTER_WEB_*); ``enabled=False`` runs no web
    web: WebSettings | None = None
    metrics: Metrics = field(default_factory=Metrics)
    live: LiveCalls = field(default_factory=LiveCalls)
    #: set it (e.g. on SIGHUP) to reload the rota now instead of at the next poll
    reload_rota: asyncio.Event = field(default_factory=asyncio.Event)
    #: Asterisk's sounds directory when it is on this machine: prompts missing in Vietnamese
    #: are then played in English explicitly and logged (None: Asterisk's own fallback only)
    sounds_dir: Path | None = None
    #: folder under sounds/<language>/ that holds the prompts
    prompt_folder: str = "callrouter"
    #: "please stay on the line" every this many seconds while officers are rung (0: never)
    hold_reminder_seconds: float = 30.0
    #: a caller's message: longest, and the silence that ends it (seconds)
    message_max_seconds: int = 120
    message_max_silence: int = 5


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
    web_settings = options.web if options.web is not None else WebSettings()
    metrics = options.metrics
    ari = ari_client(settings)  # fails fast on a missing password, before anything starts
    try:
        prompts = PromptCatalog(options.sounds_dir, folder=options.prompt_folder)
    except ValueError as exc:
        raise ConfigError(f"prompts: {exc}") from exc
    rota = await RotaSource.load(
        settings.rota_path, tracker=RotaTracker(path=settings.rota_path), metrics=metrics
    )
    log.info(
        "serve.starting",
        ari=settings.ari_url,
        app=settings.ari_app,
        rota=str(settings.rota_path),
        rota_version=rota.rota.version,
    )
    include = FallbackInclude(settings.dialplan_include, ari)
    include_written = await include.write(rota.rota)
    rota.on_reloaded = include.update
    engine = make_engine(settings.effective_database_url())
    dialer: AmiCallbackDialer | None = None
    try:
        async with (
            CallLog(
                settings.effective_database_url(),
                settings.effective_spool_dir(),
                tz=rota.rota.timezone,
            ) as call_log,
            ari,
        ):
            app = StasisApp(
                ari,
                call_log,
                rota.decide,
                FlowConfig(
                    app=settings.ari_app,
                    moh_class=options.moh_class,
                    prompts=prompts,
                    hold_reminder_seconds=options.hold_reminder_seconds,
                    message_max_seconds=options.message_max_seconds,
                    message_max_silence=options.message_max_silence,
                ),
                clock=clock,
                observer=CallMonitor(options.live, metrics),
                last_officers=await last_answered_officers(engine),
            )
            metrics.track_spool_depth(lambda: call_log.stats().pending)
            metrics.track_calls_in_progress(lambda: app.active_calls)
            metrics.ari_connected.set_function(lambda: 1.0 if ari.ready else 0.0)
            server: WebServer | None = None
            dialer = await _callback_dialer(settings, engine, lambda: rota.rota, call_log)
            if web_settings.enabled:
                web_app = build_app(
                    settings,
                    web_settings,
                    engine=engine,
                    rota=rota.tracker,
                    live=options.live,
                    metrics=metrics,
                    ari_ready=lambda: ari.ready,
                    accepting_calls=lambda: not stop.is_set(),  # 503 while draining
                    dialer=dialer,
                )
                server = WebServer(web_app, web_settings.host, web_settings.port)
                log.info("serve.web", host=web_settings.host, port=server.port)
            async with asyncio.TaskGroup() as group:
                app_task = group.create_task(app.run())
                watch_task = group.create_task(rota.watch(options.rota_poll_seconds))
                web_task = group.create_task(server.run()) if server is not None else None
                ready_task = group.create_task(
                    _when_ready(
                        ari,
                        metrics,
                        started,
                        include.reload_dialplan if include_written else None,
                    )
                )
                reload_task = group.create_task(_reload_on_request(rota, options.reload_rota))
                # Rows of calls that ended unwatched (router down, Asterisk restarted).
                stale_task = group.create_task(
                    Reconnections(
                        engine,
                        call_log,
                        ari,
                        live=lambda: {getattr(s, "linkedid", "") for s in app.sessions.values()},
                        cdr_path=cdr_file_from_env(),
                        now=clock,
                    ).run()
                )
                await stop.wait()
                log.info("serve.stopping", calls_in_progress=app.active_calls)
                app.stop_accepting()
                if not await app.drain(options.drain_seconds):
                    log.warning("serve.drain_timeout", calls_in_progress=app.active_calls)
                for task in (watch_task, app_task, ready_task, reload_task, stale_task):
                    task.cancel()
                if server is not None and web_task is not None:
                    server.stop()
            await call_log.flush()
    finally:
        if dialer is not None:
            dialer.close()
        await engine.dispose()
    log.info("serve.stopped")


async def _reload_on_request(rota: RotaSource, request: asyncio.Event) -> None:
    while True:
        await request.wait()
        request.clear()
        log.info("rota.reload_requested", path=str(rota.path))
        await rota.reload()


async def _when_ready(
    ari: AriClient,
    metrics: Metrics,
    started: asyncio.Event | None,
    first: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Once events first flow: run ``first``, set ``started``; then count reconnections."""
    with contextlib.suppress(asyncio.CancelledError):
        await ari.wait_ready()
        if first is not None:
            await first()
        if started is not None:
            started.set()
        seen = ari.connects
        while True:
            await asyncio.sleep(1.0)
            if ari.connects > seen:
                metrics.ari_reconnects.inc(ari.connects - seen)
                seen = ari.connects


async def _callback_dialer(
    settings: Settings, engine: AsyncEngine, rota: Callable[[], Rota], call_log: CallLog
) -> AmiCallbackDialer | None:
    """The admin web's "call back" button dials over AMI when an AMI password is configured.

    Without one (or when AMI cannot be reached) serve still routes calls; the button is then
    disabled and ``callrouter callbacks call`` remains available.
    """
    if not settings.ami_password.get_secret_value():
        log.info("serve.callbacks_disabled", reason="no CALLROUTER_AMI_PASSWORD")
        return None
    try:
        return await AmiCallbackDialer.connect(
            settings.ami_host,
            settings.ami_port,
            settings.ami_user,
            settings.ami_password.get_secret_value(),
            engine,
            rota,
            call_log=call_log,
        )
    except (AsteriskError, ConfigError) as exc:
        log.warning("serve.callbacks_disabled", reason=str(exc))
        return None
