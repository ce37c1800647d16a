"""How ``callrouter serve`` builds the admin web from the parts it already has.

    web_settings = WebSettings()
    metrics = Metrics()
    live = LiveCalls()
    tracker = RotaTracker(path=settings.rota_path)        # the rota watcher reports to it
    engine = make_engine(settings.effective_database_url())
    app = build_app(settings, web_settings, engine=engine, rota=tracker, live=live,
                    metrics=metrics, ari_ready=lambda: ari.ready, dialer=None)
    server = WebServer(app, web_settings.host, web_settings.port)
    async with asyncio.TaskGroup() as group:
        group.create_task(server.run())
        ...
        await stop.wait()
        server.stop()

Everything is plain constructor injection; nothing here keeps state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from callrouter.calls.live import LiveCalls
from callrouter.cases.edit import CaseRules
from callrouter.cases.setup import cases_config
from callrouter.metrics import Metrics
from callrouter.notices.board import NoticeBoard
from callrouter.report.settings import ReportSettings
from callrouter.rota.status import RotaInfo
from callrouter.settings import Settings
from callrouter.store.dashboard import database_answers
from callrouter.web.app import CallbackDialer, Clock, ReadinessCheck, create_app, utc_now
from callrouter.web.cases import default_rules
from callrouter.web.settings import WebSettings


def readiness_checks(
    *,
    ari_ready: Callable[[], bool] | None = None,
    rota: RotaInfo,
    engine: AsyncEngine,
    accepting_calls: Callable[[], bool] | None = None,
    link: str = "ari",
    link_ready: Callable[[], bool] | None = None,
) -> dict[str, ReadinessCheck]:
    """``/healthz`` is ready when the link to Asterisk is up (check ``link``: ``ari``
    connected in ARI mode, ``agi`` listening in FastAGI mode), a rota is loaded and the
    database answers (and, when ``accepting_calls`` is given, while the router still takes
    new calls: during a graceful shutdown's drain a load balancer should stop sending calls
    here). ``ari_ready`` is the ARI mode's ``link_ready``."""
    ready = link_ready if link_ready is not None else ari_ready
    if ready is None:
        raise TypeError("readiness_checks: give link_ready (or ari_ready)")
    link_up = ready

    async def connected() -> bool:
        return link_up()

    async def rota_loaded() -> bool:
        return rota.rota is not None

    async def database() -> bool:
        return await database_answers(engine)

    checks: dict[str, ReadinessCheck] = {link: connected, "rota": rota_loaded, "database": database}
    if accepting_calls is not None:
        accepting = accepting_calls

        async def taking_calls() -> bool:
            return accepting()

        checks["accepting_calls"] = taking_calls
    return checks


def build_app(
    settings: Settings,
    web_settings: WebSettings,
    *,
    engine: AsyncEngine,
    rota: RotaInfo,
    live: LiveCalls,
    metrics: Metrics,
    ari_ready: Callable[[], bool] | None = None,
    link: str = "ari",
    link_ready: Callable[[], bool] | None = None,
    accepting_calls: Callable[[], bool] | None = None,
    dialer: CallbackDialer | None = None,
    report_settings: ReportSettings | None = None,
    clock: Clock = utc_now,
    notices: NoticeBoard | None = None,
) -> Starlette:
    """The admin web for these settings, with the standard readiness checks (``link``/
    ``link_ready``: see :func:`readiness_checks`; ``ari_ready`` is ARI mode's shorthand;
    ``notices``: serve's notice board, edited on ``/notices``)."""
    return create_app(
        web_settings,
        engine=engine,
        rota=rota,
        live=live,
        metrics=metrics,
        readiness=readiness_checks(
            ari_ready=ari_ready,
            rota=rota,
            engine=engine,
            accepting_calls=accepting_calls,
            link=link,
            link_ready=link_ready,
        ),
        dialer=dialer,
        categories=settings.categories,
        branch=settings.branch,
        timezone=settings.timezone,
        service_level_seconds=settings.service_level_seconds,
        report_settings=report_settings,
        clock=clock,
        case_rules=_case_rules(settings, rota),
        cases_path=settings.cases_path,
        misdial_seconds=settings.misdial_seconds,
        notices=notices,
    )


def _case_rules(settings: Settings, rota: RotaInfo) -> CaseRules:
    """The cases file when configured (a bad one stops the start, like a bad rota)."""
    rules = default_rules(settings.categories, rota.rota, settings.timezone)
    if settings.cases_path is None:
        return rules
    return replace(rules, config=cases_config(settings))
