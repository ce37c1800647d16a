"""``callrouter guard``'s loop against a real HTTP /healthz (aiohttp) and a recording AMI
stand-in: it acts only on a router it saw alive and that then stopped answering."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from callrouter.guard import Guard, GuardConfig
from tests.e2e.agi_support import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


class Reply(dict[str, str]):
    success = True


class RecordingAmi:
    """What the guard asked of AMI; CoreShowChannels lists one waiting caller and one leg."""

    def __init__(self) -> None:
        self.actions: list[dict[str, str]] = []

    async def send_action(self, action: dict[str, str]) -> Any:
        self.actions.append(action)
        if action["Action"] == "CoreShowChannels":
            return [
                Reply(Event="CoreShowChannel", Channel="PJSIP/t-1", Uniqueid="pbx-1.0",
                      Application="Stasis", ApplicationData="callrouter,branch=3", BridgeId=""),
                Reply(Event="CoreShowChannel", Channel="PJSIP/t-2",
                      Uniqueid="callrouter-leg-1-x", Application="AppDial2", BridgeId=""),
            ]  # fmt: skip
        return [Reply(Response="Success")]


@contextlib.asynccontextmanager
async def healthz(port: int) -> AsyncIterator[None]:
    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ready"})

    app = web.Application()
    app.router.add_get("/healthz", ok)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield
    finally:
        await runner.cleanup()


async def wait_until(predicate: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.02)  # poll the guard's state (deadline above)


async def test_a_router_seen_alive_then_silent_has_its_callers_moved_and_legs_hung_up() -> None:
    port = free_port()
    ami = RecordingAmi()
    config = GuardConfig(f"http://127.0.0.1:{port}/healthz", interval=0.05, dead_after=2)
    guard = Guard(ami, config)  # AMI stand-in (panoramisk is untyped)
    stop = asyncio.Event()
    task = asyncio.create_task(guard.run(stop))
    try:
        async with healthz(port):
            await wait_until(lambda: guard.seen_alive, 5, "the guard never saw the router")
            assert ami.actions == []  # a live router's calls are its own
        await wait_until(lambda: guard.moved >= 1, 5, "the guard never moved the caller")
    finally:
        stop.set()
        await task
    first = ami.actions[:4]
    assert [a["Action"] for a in first] == ["CoreShowChannels", "Hangup", "Setvar", "Redirect"]
    assert first[1]["Channel"] == "PJSIP/t-2"
    assert (first[2]["Variable"], first[2]["Value"]) == ("CALLROUTER_FALLBACK_REASON", "guard")
    assert (first[3]["Channel"], first[3]["Context"]) == ("PJSIP/t-1", "callrouter-fallback")


async def test_a_router_never_seen_is_not_declared_dead() -> None:
    """A wrong --health-url or a disabled admin web: the guard leaves calls alone."""
    ami = RecordingAmi()
    config = GuardConfig(f"http://127.0.0.1:{free_port()}/healthz", interval=0.02, dead_after=2)
    guard = Guard(ami, config)  # AMI stand-in (panoramisk is untyped)
    stop = asyncio.Event()
    task = asyncio.create_task(guard.run(stop))
    await wait_until(lambda: guard.misses >= 10, 5, "the guard did not probe")
    stop.set()
    await task
    assert ami.actions == []
