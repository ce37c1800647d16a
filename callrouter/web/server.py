"""Run the admin web with uvicorn inside the caller's event loop (no second loop, no thread).

``callrouter serve`` starts :meth:`WebServer.run` as one task of its ``TaskGroup`` and calls
:meth:`WebServer.stop` on shutdown. uvicorn's own signal handling is switched off: the
process's SIGTERM/SIGINT belong to ``serve`` (first signal drains calls, second forces).
The listening socket is bound here, so a port already in use is a clear
:class:`~callrouter.errors.ConfigError` instead of uvicorn's ``sys.exit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator

import uvicorn
from starlette.types import ASGIApp

from callrouter.errors import ConfigError


class _InLoopServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The host process owns the signals; stop() ends this server.
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"web: cannot resolve listen address {host!r}: {exc}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"web: cannot listen on {host}:{port}: {exc.strerror} "
            "(set CALLROUTER_WEB_HOST / CALLROUTER_WEB_PORT)"
        ) from None
    sock.setblocking(False)
    return sock


class WebServer:
    """One uvicorn server for ``app`` on ``host:port``, run as a task of the caller's loop."""

    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        self.socket = bind(host, port)
        self._port = int(self.socket.getsockname()[1])
        config = uvicorn.Config(
            app,
            log_config=None,  # structlog/stdlib logging is configured by the process
            access_log=False,
            lifespan="off",
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=5,
        )
        self._server = _InLoopServer(config)
        self._ready = asyncio.Event()

    @property
    def port(self) -> int:
        """The port actually bound (useful with port 0)."""
        return self._port

    async def run(self) -> None:
        """Serve until :meth:`stop` (or cancellation); the socket is closed afterwards."""
        serving = asyncio.create_task(self._server.serve(sockets=[self.socket]))
        try:
            listening = asyncio.create_task(self._server.listening.wait())
            await asyncio.wait({serving, listening}, return_when=asyncio.FIRST_COMPLETED)
            listening.cancel()
            if self._server.started:
                self._ready.set()
            await asyncio.shield(serving)
        except asyncio.CancelledError:
            self._server.should_exit = True
            await serving
            raise
        finally:
            self.socket.close()

    async def wait_started(self) -> None:
        await self._ready.wait()

    def stop(self) -> None:
        """Ask the server to finish the requests in flight and return from :meth:`run`."""
        self._server.should_exit = True
