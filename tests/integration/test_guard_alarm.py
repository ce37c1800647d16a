"""The guard's alarms against a real /healthz (aiohttp), a real SMTP server (aiosmtpd) and
the recording AMI stand-in of test_guard: the fallback alarm reaches the admins once per
outage (a restarted guard does not send it again), and bad health past the threshold raises
the health alarm naming what is down."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web

from callrouter.guard import Guard, GuardConfig
from callrouter.notify.alarm import FILE_NAME, GuardAlarms
from callrouter.notify.email import EmailNotifier
from callrouter.notify.templates import load_templates
from callrouter.report.settings import ReportSettings
from tests.e2e.agi_support import free_port
from tests.integration.test_guard import RecordingAmi, healthz, wait_until
from tests.integration.test_notify import ADMINS, Inbox, Smtp

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def _alarms(smtp_port: int, state: Path) -> GuardAlarms:
    mail = ReportSettings(_env_file=None, smtp_host="127.0.0.1", smtp_port=smtp_port)
    return GuardAlarms(EmailNotifier(mail), ADMINS, load_templates(None), "TTYT thử", state)


async def _guard_until(
    guard: Guard, done: Callable[[], bool], what: str, *, health_port: int
) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(guard.run(stop))
    try:
        async with healthz(health_port):
            await wait_until(lambda: guard.seen_alive, 5, "the guard never saw the router")
        await wait_until(done, 10, what)
    finally:
        stop.set()
        await task


async def test_a_fallback_alarms_the_admins_once_even_across_a_guard_restart(
    tmp_path: Path,
) -> None:
    smtp_port, health_port = free_port(), free_port()
    config = GuardConfig(f"http://127.0.0.1:{health_port}/healthz", interval=0.05, dead_after=2)
    record = tmp_path / FILE_NAME

    def recorded() -> bool:
        return record.exists() and all(a in record.read_text(encoding="utf-8") for a in ADMINS)

    with Smtp(smtp_port, Inbox()) as inbox:
        guard = Guard(RecordingAmi(), config, _alarms(smtp_port, tmp_path))
        await _guard_until(guard, recorded, "no alarm recorded", health_port=health_port)
        assert sorted(r for rcpts, _ in inbox.messages for r in rcpts) == sorted(ADMINS)
        (_, first), _ = inbox.messages
        assert "chuyển cuộc gọi sang phương án dự phòng" in str(first["Subject"])
        assert "TTYT thử" in str(first["Subject"])

        # The guard restarts: the alarm of that outage is in its record, not sent again.
        restarted = _alarms(smtp_port, tmp_path)
        (key,) = {k.split("|")[0] for k in restarted.sent()}
        assert key.startswith("fallback:")
        values = {"at": "x", "callers": "1"}
        assert await restarted.raise_alarm(key, "fallback_alarm", values) == 0
        assert len(inbox.messages) == 2


@contextlib.asynccontextmanager
async def unhealthy(port: int) -> AsyncIterator[None]:
    """A live router whose database is down: /healthz answers 503 naming it."""

    async def not_ready(_request: web.Request) -> web.Response:
        body = {"status": "not ready", "checks": {"ari": True, "database": False}}
        return web.json_response(body, status=503)

    app = web.Application()
    app.router.add_get("/healthz", not_ready)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield
    finally:
        await runner.cleanup()


async def test_bad_health_past_the_threshold_alarms_the_admins_with_what_is_down(
    tmp_path: Path,
) -> None:
    smtp_port, health_port = free_port(), free_port()
    config = GuardConfig(
        f"http://127.0.0.1:{health_port}/healthz",
        interval=0.05,
        dead_after=2,
        health_alarm_after=0.5,
    )
    ami = RecordingAmi()
    with Smtp(smtp_port, Inbox()) as inbox:
        guard = Guard(ami, config, _alarms(smtp_port, tmp_path))
        stop = asyncio.Event()
        task = asyncio.create_task(guard.run(stop))
        try:
            async with unhealthy(health_port):
                await wait_until(lambda: len(inbox.messages) >= 2, 10, "no health alarm")
        finally:
            stop.set()
            await task
    assert ami.actions == []  # a live router keeps its callers
    (_, msg), _ = inbox.messages
    assert "không hoạt động bình thường" in str(msg["Subject"])
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    assert "database" in str(body.get_content())
