"""Wiring: settings → rota, call log, ARI client, Stasis application, admin web; one TaskGroup.

Plain constructor injection, no module-level singletons. :func:`serve` runs until its
``stop`` event is set, then stops taking new calls (they go to the dialplan fallback),
lets calls in progress finish within ``drain_seconds``, and cancels the rest (a bridged
call stays up in Asterisk; the next router adopts it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.asterisk.agi_access import AgiAccess, check_exposure
from callrouter.asterisk.ari import AriClient
from callrouter.asterisk.callbacks import AmiCallbackDialer
from callrouter.asterisk.cdr_import import cdr_file_from_env
from callrouter.asterisk.fastagi import AgiCallFlow
from callrouter.asterisk.fastagi_server import FastAgiServer
from callrouter.asterisk.prompts import PromptCatalog
from callrouter.asterisk.session_parts import FlowConfig
from callrouter.asterisk.stale import Reconnections
from callrouter.asterisk.stasis_app import StasisApp
from callrouter.calls.live import LiveCalls, LiveState
from callrouter.calls.plan import Clock, utc_now
from callrouter.errors import AsteriskError, ConfigError
from callrouter.logs import mask_url
from callrouter.metrics import Metrics
from callrouter.notices.board import NoticeBoard
from callrouter.notices.watch import ModuleReload, watch_notices
from callrouter.notify.scheduler import scheduler_from_settings
from callrouter.rota import Rota
from callrouter.rota.status import RotaTracker
from callrouter.rota_source import FallbackInclude, RotaSource
from callrouter.routing import Target
from callrouter.settings import Settings
from callrouter.store.db import make_engine
from callrouter.store.queries import last_answering_officers
from callrouter.store.writer import CallLog
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


class CallMonitor:
    """The call flow's observer: feeds the live-calls view and the metrics."""

    def __init__(self, live: LiveCalls, metrics: Metrics) -> None:
        self.live = live
        self.metrics = metrics

    def call_started(self, *, linkedid: str, caller: str | None, branch: int, at: datetime) -> None:
        if not self.live.started(linkedid=linkedid, caller=caller, branch=branch, started_at=at):
            self.metrics.live_refused.inc()

    def call_state(
        self, *, linkedid: str, state: str, at: datetime, target: Target | None = None
    ) -> None:
        live_state = _LIVE_STATES.get(state)
        if live_state is None:
            return
        if target is None:
            self.live.updated(linkedid=linkedid, state=live_state, at=at)
            return
        self.live.updated(
            linkedid=linkedid,
            state=live_state,
            at=at,
            officer_name=target.officer_name,
            number=target.number,
            officer_id=target.officer_id,
            number_label=target.number_label,
        )

    def leg_ringing(self, *, post_dial_delay: float) -> None:
        self.metrics.observe_post_dial_delay(post_dial_delay)

    def leg_ended(
        self, *, result: str, linkedid: str | None = None, target: Target | None = None
    ) -> None:
        self.metrics.attempt_ended(result)
        if linkedid is not None and target is not None:
            self.live.leg_ended(
                linkedid=linkedid, officer_id=target.officer_id, number=target.number
            )

    def call_ended(self, *, linkedid: str, outcome: str, wait_seconds: float | None) -> None:
        self.live.ended(linkedid=linkedid)
        self.metrics.call_ended(outcome, wait_seconds)


async def last_answered_officers(engine: AsyncEngine) -> dict[int, str]:
    """Who answered the last answered call of each branch (the rotation state), from the
    call log, so a restart does not reset ``rotate``. Empty when the log cannot be read."""
    try:
        return await last_answering_officers(engine)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("serve.rotation_state_unavailable", error=type(exc).__name__)
        return {}


@dataclass
class ServeOptions:
    """What a running ``serve`` is given besides its :class:`~callrouter.settings.Settings`:
    the command line's flags and the live objects it shares (metrics, live calls, the notice
    board). Anything an operator configures is a setting, read from ``settings`` (one home)."""

    drain_seconds: float = 30.0
    rota_poll_seconds: float = 2.0
    moh_class: str | None = None
    #: None: read from the environment (CALLROUTER_WEB_*); ``enabled=False`` runs no web
    web: WebSettings | None = None
    metrics: Metrics = field(default_factory=Metrics)
    live: LiveCalls = field(default_factory=LiveCalls)
    #: set it (e.g. on SIGHUP) to reload the rota now instead of at the next poll
    reload_rota: asyncio.Event = field(default_factory=asyncio.Event)
    #: health notices played to waiting callers (None: none; the file is watched)
    notices: NoticeBoard | None = None


def _no_notices(_at: datetime, _audience: str) -> list[str]:
    return []


def ari_client(settings: Settings) -> AriClient:
    password = settings.ari_password.get_secret_value()
    if not password:
        raise ConfigError(
            "no ARI password: set CALLROUTER_ARI_PASSWORD or CALLROUTER_ARI_PASSWORD_FILE"
        )
    # REST on the events socket where Asterisk answers there (22.4 and later), issue 23
    return AriClient(
        settings.ari_url, settings.ari_user, password, settings.ari_app, rest_on_socket=True
    )


@dataclass
class Runtime:
    """What both modes of ``callrouter serve`` share: the rota (watched, reloadable on
    request), the fallback include kept equal to it, the call log, the call-back dialer (AMI,
    when configured), the live-calls view and metrics fed by the call flow, and the admin web."""

    settings: Settings
    options: ServeOptions
    stop: asyncio.Event
    rota: RotaSource
    include: FallbackInclude
    include_written: bool
    engine: AsyncEngine
    call_log: CallLog
    dialer: AmiCallbackDialer | None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _server: WebServer | None = None
    _web_task: asyncio.Task[None] | None = None

    @property
    def metrics(self) -> Metrics:
        return self.options.metrics

    def monitor(self) -> CallMonitor:
        """The call flow's observer: feeds the live-calls view and the metrics."""
        return CallMonitor(self.options.live, self.metrics)

    def start(
        self,
        group: asyncio.TaskGroup,
        *,
        link: str,
        link_ready: Callable[[], bool],
        calls_in_progress: Callable[[], float],
        reload_module: ModuleReload | None = None,
    ) -> None:
        """Start the rota watcher, the reload-on-request loop and (when enabled) the admin
        web, whose ``/healthz`` also checks ``link`` (``ari`` connected / ``agi`` listening)
        and answers 503 once ``stop`` is set (draining)."""
        self.metrics.track_calls_in_progress(calls_in_progress)
        web_settings = self.options.web if self.options.web is not None else WebSettings()
        if web_settings.enabled:
            web_app = build_app(
                self.settings,
                web_settings,
                engine=self.engine,
                rota=self.rota.tracker,
                live=self.options.live,
                metrics=self.metrics,
                link=link,
                link_ready=link_ready,
                accepting_calls=lambda: not self.stop.is_set(),  # 503 while draining
                dialer=self.dialer,
                notices=self.options.notices,
            )
            self._server = WebServer(web_app, web_settings.host, web_settings.port)
            log.info("serve.web", host=web_settings.host, port=self._server.port)
            self._web_task = group.create_task(self._server.run())  # ends on server.stop()
        self._tasks += [
            group.create_task(self.rota.watch(self.options.rota_poll_seconds)),
            group.create_task(_reload_on_request(self.rota, self.options.reload_rota)),
        ]
        if self.options.notices is not None:
            self._tasks.append(
                group.create_task(
                    watch_notices(
                        self.options.notices, reload_module, self.options.rota_poll_seconds
                    )
                )
            )
        notify = scheduler_from_settings(
            self.settings,
            self.engine,
            lambda: self.rota.rota,
            base_url=web_settings.base_url,
            metrics=self.metrics,
        )
        self._tasks.append(group.create_task(notify.run(self.stop)))

    def stop_tasks(self) -> None:
        """Stop what :meth:`start` started (the web server ends its requests cleanly)."""
        for task in self._tasks:
            task.cancel()
        self.options.live.close()  # the officer screens' event streams end now
        if self._server is not None:
            self._server.stop()


@contextlib.asynccontextmanager
async def router_runtime(
    settings: Settings, stop: asyncio.Event, options: ServeOptions, *, mode: str
) -> AsyncIterator[Runtime]:
    """Load the rota, write the fallback include, open the call log and the AMI dialer;
    closed in reverse (the call log flushed) when the block ends."""
    rota = await RotaSource.load(
        settings.rota_path, tracker=RotaTracker(path=settings.rota_path), metrics=options.metrics
    )
    log.info(
        "serve.starting",
        mode=mode,
        event_loop=type(asyncio.get_running_loop()).__module__.partition(".")[0],
        rota=str(settings.rota_path),
        rota_version=rota.rota.version,
        **(
            {"ari": mask_url(settings.ari_url), "app": settings.ari_app}
            if mode == "ari"
            else {"host": settings.agi_host, "port": settings.agi_port}
        ),
    )
    include = FallbackInclude(settings.dialplan_include)
    include_written = await include.write(rota.rota)
    rota.on_reloaded = include.update
    engine = make_engine(settings.effective_database_url())
    dialer: AmiCallbackDialer | None = None
    try:
        async with CallLog(
            settings.effective_database_url(),
            settings.effective_spool_dir(),
            tz=rota.rota.timezone,
            misdial_seconds=settings.misdial_seconds,
            batch_window=settings.batch_seconds,
        ) as call_log:
            options.metrics.track_spool_depth(lambda: call_log.stats().pending)
            options.metrics.track_unknown_causes(lambda: call_log.stats().unknown_causes)
            dialer = await _callback_dialer(settings, engine, lambda: rota.rota, call_log)
            yield Runtime(
                settings=settings,
                options=options,
                stop=stop,
                rota=rota,
                include=include,
                include_written=include_written,
                engine=engine,
                call_log=call_log,
                dialer=dialer,
            )
            await call_log.flush()
    finally:
        if dialer is not None:
            dialer.close()
        await engine.dispose()


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
    metrics = options.metrics
    ari = ari_client(settings)  # fails fast on a missing password, before anything starts
    try:
        prompts = PromptCatalog(settings.sounds_dir, folder=settings.prompt_folder)
    except ValueError as exc:
        raise ConfigError(f"prompts: {exc}") from exc
    async with router_runtime(settings, stop, options, mode="ari") as rt, ari:
        rt.include.reloader = partial(ari.reload_module, "pbx_config.so")
        rt.include.can_reload = lambda: ari.ready
        app = StasisApp(
            ari,
            rt.call_log,
            rt.rota.decide,
            FlowConfig(
                app=settings.ari_app,
                moh_class=options.moh_class,
                prompts=prompts,
                caller=settings.caller_times(),
                notices=options.notices.sounds if options.notices is not None else _no_notices,
            ),
            clock=clock,
            observer=rt.monitor(),
            last_officers=await last_answered_officers(rt.engine),
        )
        metrics.ari_connected.set_function(lambda: 1.0 if ari.ready else 0.0)
        async with asyncio.TaskGroup() as group:
            rt.start(
                group,
                link="ari",
                link_ready=lambda: ari.ready,
                calls_in_progress=lambda: app.active_calls,
                reload_module=ari.reload_module,
            )
            app_task = group.create_task(app.run())
            ready_task = group.create_task(
                _when_ready(
                    ari,
                    metrics,
                    started,
                    rt.include.reload_dialplan if rt.include_written else None,
                )
            )
            # Rows of calls that ended unwatched (router down, Asterisk restarted).
            stale_task = group.create_task(
                Reconnections(
                    rt.engine,
                    rt.call_log,
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
            for task in (app_task, ready_task, stale_task):
                task.cancel()
            rt.stop_tasks()
    log.info("serve.stopped")


async def serve_agi(
    settings: Settings,
    stop: asyncio.Event,
    *,
    options: ServeOptions | None = None,
    clock: Clock = utc_now,
    started: asyncio.Event | None = None,
    background: Callable[[], Coroutine[Any, Any, None]] | None = None,
) -> None:
    """``callrouter serve --mode agi``: the FastAGI server on ``settings.agi_host:agi_port``
    until ``stop`` is set, with the same rota watcher, fallback include, call-back dialer,
    live calls, metrics and admin web as ARI mode. ``/healthz`` is ready when the AGI server
    listens, the rota is loaded and the database answers. On ``stop``: new calls go to the
    dialplan fallback, calls in progress get ``drain_seconds`` to finish. ``started`` is set
    once it listens; ``background`` (e.g. the fallback CDR importer) runs beside it."""
    options = options or ServeOptions()
    access = AgiAccess.from_text(settings.agi_secret.get_secret_value(), settings.agi_allow)
    check_exposure(settings.agi_host, access)
    async with router_runtime(settings, stop, options, mode="agi") as rt:
        if rt.dialer is not None:
            rt.include.reloader = rt.dialer.reload_dialplan
        flow = AgiCallFlow(
            rt.call_log,
            rt.rota.decide,
            clock=clock,
            observer=rt.monitor(),
            caller=settings.caller_times(),
        )
        # The rotation state comes from the call log, as in ARI mode: a restart keeps
        # `rotate` fair (read once the call log has made sure the tables exist).
        flow.last_officer.update(await last_answered_officers(rt.engine))
        server = FastAgiServer(
            flow.routes(), access=access, on_refused=rt.metrics.agi_refused_connection
        )
        async with asyncio.TaskGroup() as group:
            listening = asyncio.Event()
            serve_task = group.create_task(
                server.serve(settings.agi_host, settings.agi_port, listening)
            )
            rt.start(
                group,
                link="agi",
                link_ready=lambda: server.listening,
                calls_in_progress=lambda: flow.active_calls,
                reload_module=rt.dialer.reload_module if rt.dialer is not None else None,
            )
            extra: asyncio.Task[None] | None = (
                group.create_task(background()) if background is not None else None
            )
            await listening.wait()
            if rt.include_written:
                await rt.include.reload_dialplan()
            if started is not None:
                started.set()
            await stop.wait()
            log.info("serve.stopping", mode="agi", calls_in_progress=flow.active_calls)
            flow.stop_accepting()
            if not await flow.drain(options.drain_seconds):
                log.warning("serve.drain_timeout", mode="agi", calls_in_progress=flow.active_calls)
            # Requests already accepted (a hang-up handler's `end`) finish or are cut, and
            # their sockets closed, before serve returns: no channel waits on a router gone.
            await server.close()
            for task in (serve_task, extra):
                if task is not None:
                    task.cancel()
            rt.stop_tasks()
    log.info("serve.stopped", mode="agi")


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
            await ari.changed()
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
