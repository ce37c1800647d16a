"""``WebServer``: uvicorn inside the caller's event loop, on a real TCP socket."""

from __future__ import annotations

import asyncio
import signal

import httpx
import pytest

from callrouter.errors import ConfigError
from callrouter.web import WebServer
from tests.integration.web_harness import WebEnv, web, web_db_url

pytestmark = pytest.mark.integration
__all__ = ["web", "web_db_url"]


@pytest.mark.parametrize("web_db_url", ["sqlite"], indirect=True)
async def test_server_answers_over_tcp_and_stops_when_asked(web: WebEnv) -> None:
    server = WebServer(web.app, "127.0.0.1", 0)
    task = asyncio.create_task(server.run())
    async with asyncio.timeout(10):
        await server.wait_started()
    # The process's signal handlers stay the host's (serve owns SIGTERM/SIGINT).
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
        health = await client.get("/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "ready"
    server.stop()
    async with asyncio.timeout(10):
        await task
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{server.port}/healthz")


@pytest.mark.parametrize("web_db_url", ["sqlite"], indirect=True)
async def test_cancelling_the_server_task_closes_the_socket(web: WebEnv) -> None:
    server = WebServer(web.app, "127.0.0.1", 0)
    task = asyncio.create_task(server.run())
    async with asyncio.timeout(10):
        await server.wait_started()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert server.socket.fileno() == -1


@pytest.mark.parametrize("web_db_url", ["sqlite"], indirect=True)
async def test_port_in_use_is_a_clear_config_error(web: WebEnv) -> None:
    first = WebServer(web.app, "127.0.0.1", 0)
    try:
        with pytest.raises(ConfigError, match=r"cannot listen on 127\.0\.0\.1:\d+.*CALLROUTER_WEB"):
            WebServer(web.app, "127.0.0.1", first.port)
    finally:
        first.socket.close()
