"""The notification scheduler: one asyncio task inside ``callrouter serve``.

Every ``tick_seconds`` it plans what the rota calls for (shift reminders, uncovered hours,
duty changes after a reload) and the daily digest, queues what is new in the outbox, records
the guard's alarms it finds on disk, and delivers what is due. In between, every
``missed_poll_seconds``, it looks for new missed calls (:mod:`.follow_up`) and delivers.
A failure in one round is logged and the next round goes on: notifications never stop the router.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.errors import CallrouterError
from callrouter.logs import get_logger
from callrouter.metrics import Metrics
from callrouter.notify import alarm, follow_up, plan
from callrouter.notify.email import DeliveryError, EmailNotifier, Notifier
from callrouter.notify.plan import Notice, Skipped
from callrouter.notify.settings import NotifySettings
from callrouter.notify.templates import Template, load_templates
from callrouter.report.settings import ReportSettings
from callrouter.rota.model import Rota
from callrouter.settings import Settings
from callrouter.store import outbox

log = get_logger(__name__)

#: skipped notices remembered so each counts once; past this many the memory starts over
_SKIPS_REMEMBERED = 10_000


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    def __init__(
        self,
        engine: AsyncEngine,
        notifier: Notifier,
        settings: NotifySettings,
        templates: dict[str, Template],
        rota: Callable[[], Rota],
        *,
        state_dir: Path | None = None,
        clock: Callable[[], datetime] = _utcnow,
        base_url: str = "",
        metrics: Metrics | None = None,
    ) -> None:
        self.engine = engine
        self.notifier = notifier
        self.settings = settings
        self.templates = templates
        self.rota = rota
        self.state_dir = state_dir
        self.clock = clock
        #: the admin web as users reach it, for the links to call-back entries
        self.base_url = base_url
        self.gap_watch = plan.GapWatch()
        self._last_rota: Rota | None = None
        self.metrics = metrics
        #: keys of the skipped notices already counted (each round plans them again)
        self._skips_counted: set[str] = set()

    def _count_skips(self, skipped: list[Skipped]) -> None:
        """Count and log each notice skipped for want of an e-mail, once (officer id only)."""
        for skip in skipped:
            if skip.key in self._skips_counted:
                continue
            if len(self._skips_counted) >= _SKIPS_REMEMBERED:
                self._skips_counted.clear()
            self._skips_counted.add(skip.key)
            if self.metrics is not None:
                self.metrics.notify_skipped.labels(kind=skip.kind, reason=skip.reason).inc()
            log.warning(
                "notify.skipped", kind=skip.kind, officer=skip.officer_id, reason=skip.reason
            )

    def plan(self, now: datetime) -> list[Notice]:
        rota, s, t = self.rota(), self.settings, self.templates
        notices: list[Notice] = []
        skipped: list[Skipped] = []
        if not s.enabled:
            return notices  # only the guard's alarms are recorded
        if s.shift_reminders:
            notices += plan.shift_reminders(rota, s, t["shift_reminder"], now, skipped=skipped)
        if s.uncovered_hours and s.admins:
            day = now.astimezone(rota.timezone).date()
            found = plan.gaps(rota, day, s.uncovered_days)
            introduced = self.gap_watch.update(day, found)
            notices += plan.uncovered_alerts(
                rota, s, t["uncovered_hours"], now, found, introduced=introduced
            )
        last, self._last_rota = self._last_rota, rota
        if s.duty_changes and last is not None and last is not rota:
            notices += plan.duty_changes(last, rota, s, t["duty_changed"], now, skipped=skipped)
        self._count_skips(skipped)
        return notices

    async def missed_calls(self, now: datetime) -> list[Notice]:
        s = self.settings
        if not (s.enabled and s.missed_calls):
            return []
        rota = self.rota()
        found = await follow_up.new_missed_calls(self.engine, rota, now)
        skipped: list[Skipped] = []
        notices = follow_up.missed_call_notices(
            rota,
            s,
            self.templates["missed_call"],
            found,
            now,
            base_url=self.base_url,
            skipped=skipped,
        )
        self._count_skips(skipped)
        return notices

    async def digest(self, now: datetime) -> list[Notice]:
        s, rota = self.settings, self.rota()
        if not (s.enabled and s.digest) or not follow_up.digest_due(s, rota, now):
            return []
        found = await follow_up.digest_of(self.engine, rota, now)
        skipped: list[Skipped] = []
        notices = follow_up.digest_notices(
            rota, s, self.templates["digest"], found, now, skipped=skipped
        )
        self._count_skips(skipped)
        return notices

    async def tick(self) -> int:
        """One round: plan, queue, record the guard's alarms, deliver; how many were sent."""
        now = self.clock()
        notices = self.plan(now) + await self.missed_calls(now) + await self.digest(now)
        new = await outbox.enqueue(self.engine, notices, now)
        if new:
            log.info("notify.queued", count=new)
        if self.state_dir is not None:
            await alarm.record_guard_alarms(self.engine, self.state_dir)
        return await self.deliver(now)

    async def quick(self) -> int:
        """The round between two ticks: new missed calls only, then deliver what is due."""
        now = self.clock()
        new = await outbox.enqueue(self.engine, await self.missed_calls(now), now)
        if new:
            log.info("notify.queued", count=new, kind="missed_call")
        return await self.deliver(now)

    async def deliver(self, now: datetime) -> int:
        sent = 0
        for row in await outbox.due(self.engine, now):
            try:
                await self.notifier.send(row.recipient, row.subject, row.body, row.ics)
            except DeliveryError as exc:
                gave_up = await outbox.mark_failed(
                    self.engine,
                    row,
                    self.clock(),
                    str(exc),
                    permanent=exc.permanent,
                    max_attempts=self.settings.max_attempts,
                    retry_seconds=self.settings.retry_seconds,
                )
                log.warning(
                    "notify.failed", id=row.id, kind=row.kind, error=str(exc), gave_up=gave_up
                )
                continue
            await outbox.mark_sent(self.engine, row, self.clock())
            sent += 1
            log.info("notify.sent", id=row.id, kind=row.kind)
        return sent

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        full_at = loop.time()
        wait = min(self.settings.tick_seconds, self.settings.missed_poll_seconds)
        while not stop.is_set():
            try:
                if loop.time() >= full_at:
                    full_at = loop.time() + self.settings.tick_seconds
                    await self.tick()
                else:
                    await self.quick()
            except (CallrouterError, SQLAlchemyError, OSError) as exc:
                log.warning("notify.round_failed", error=f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)


def scheduler_from_settings(
    settings: Settings,
    engine: AsyncEngine,
    rota: Callable[[], Rota],
    *,
    base_url: str,
    metrics: Metrics | None = None,
) -> Scheduler:
    """The scheduler ``serve`` runs. With ``CALLROUTER_NOTIFY_ENABLED`` off it sends nothing
    and only records the guard's alarms. A template file with an unknown placeholder stops
    the start with file:line."""
    notify = NotifySettings()
    if not notify.enabled:
        log.info("notify.off", hint="set CALLROUTER_NOTIFY_ENABLED=true to send notifications")
    templates = load_templates(notify.templates_dir)
    if notify.enabled and not notify.admins:
        log.warning("notify.no_admins", hint="set CALLROUTER_NOTIFY_ADMINS for uncovered hours")
    return Scheduler(
        engine,
        EmailNotifier(ReportSettings()),
        notify,
        templates,
        rota,
        state_dir=settings.state_dir,
        base_url=base_url,
        metrics=metrics,
    )
