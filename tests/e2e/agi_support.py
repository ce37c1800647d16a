"""Helpers of the FastAGI-mode end-to-end tests: the real ``callrouter serve --mode agi``
(:func:`callrouter.app.serve_agi`) in the test's loop, and the sandbox pbx
switched to FastAGI mode (global ``CALLROUTER_ROUTER=agi``) for the duration."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from callrouter.app import ServeOptions, serve_agi
from callrouter.asterisk import contract
from callrouter.settings import Settings
from callrouter.web.settings import WebSettings
from tests.e2e.callflow_support import split_options
from tests.e2e.harness import Sandbox

AGI_SECRET = secrets.token_urlsafe(24)
"""The FastAGI secret of this test run: the routers get it as ``agi_secret``, the pbx's
``CALLROUTER_AGI_URL`` carries it (made per run: no secret in the repo)."""


def agi_url(port: int) -> str:
    """The dialplan's ``CALLROUTER_AGI_URL`` for a router on ``port``, with the secret."""
    return f"agi://127.0.0.1:{port}/{AGI_SECRET}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def agi_mode(sandbox: Sandbox, port: int) -> Any:
    """The pbx sends branch 3 to FastAGI at ``port`` until the block ends."""
    sandbox.cli("pbx", f"dialplan set global {contract.GLOBAL_AGI_URL} {agi_url(port)}")
    sandbox.cli("pbx", f"dialplan set global {contract.GLOBAL_ROUTER} {contract.ROUTER_AGI}")
    try:
        yield
    finally:
        sandbox.cli("pbx", f"dialplan set global {contract.GLOBAL_ROUTER} ari")


@dataclass
class AgiRouter:
    settings: Settings
    task: asyncio.Task[None]
    stop: asyncio.Event
    options: ServeOptions


@contextlib.asynccontextmanager
async def running_agi_router(
    rota_path: Path,
    database_url: str,
    state_dir: Path,
    *,
    port: int | None = None,
    background: Callable[[], Coroutine[Any, Any, None]] | None = None,
    dialplan_include: Path | None = None,
    ami: tuple[int, str, str] | None = None,
    drain_seconds: float = 10.0,
    **options: Any,
) -> AsyncIterator[AgiRouter]:
    """``callrouter serve --mode agi`` (:func:`callrouter.app.serve_agi`) in this loop;
    yields once it listens, stops after. ``dialplan_include``: where it writes the fallback
    include (default: in ``state_dir``, which no Asterisk reads); ``ami``: (port, user,
    secret) of the pbx's AMI, for call-backs and the dialplan reload after a rota change;
    ``options``: further Settings fields (e.g. ``message_max_seconds``) or ServeOptions
    fields (``live``, ``metrics``, ...)."""
    configured, serve_options = split_options(options)
    ami_settings: dict[str, Any] = {}
    if ami is not None:
        ami_settings = {"ami_port": ami[0], "ami_user": ami[1], "ami_password": SecretStr(ami[2])}
    settings = Settings(
        rota_path=rota_path,
        database_url=SecretStr(database_url),
        state_dir=state_dir,
        spool_dir=state_dir / "spool",
        agi_host="127.0.0.1",
        agi_port=port or free_port(),
        agi_secret=SecretStr(AGI_SECRET),
        dialplan_include=dialplan_include or state_dir / "callrouter_fallback.conf",
        **ami_settings,
        **configured,
    )
    await asyncio.to_thread(state_dir.mkdir, parents=True, exist_ok=True)
    stop, started = asyncio.Event(), asyncio.Event()
    # The admin web has its own tests; here it would only compete for a port.
    serve = ServeOptions(
        drain_seconds=drain_seconds, web=WebSettings(enabled=False), **serve_options
    )
    task = asyncio.create_task(
        serve_agi(settings, stop, options=serve, started=started, background=background)
    )
    waiter = asyncio.create_task(started.wait())
    done, _ = await asyncio.wait({task, waiter}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        waiter.cancel()
        task.result()
        raise RuntimeError("serve_agi returned before it listened")
    if waiter not in done:
        waiter.cancel()
        task.cancel()
        raise TimeoutError("serve_agi did not listen within 20 s")
    try:
        yield AgiRouter(settings, task, stop, serve)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
