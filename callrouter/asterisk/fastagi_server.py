"""The FastAGI server: panoramisk's :class:`~panoramisk.fast_agi.Application` with its
``handler`` replaced.

The stock handler loops forever on a client that connects and closes before sending headers (a
TCP health check would freeze the event loop) and reads unbounded. Here a peer outside the
allow-list is closed before a byte is read, the header block is read with one bounded
``readuntil(b"\\n\\n")`` under a timeout, the script name is taken only once the AGI URL's
secret matched (:mod:`callrouter.asterisk.agi_access`), a closed, silent, oversized or refused
client is logged and dropped, and each connection's whole script
(:class:`~callrouter.asterisk.fastagi.AgiCallFlow`) runs under a per-connection timeout.
Routes are ``async def`` only (panoramisk wraps plain functions with ``asyncio.coroutine``,
which Python 3.11 no longer has).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from typing import Final

import structlog
from panoramisk.fast_agi import Application, Request

from callrouter.asterisk.agi_access import UNKNOWN, AgiAccess, OnRefused, Refused
from callrouter.asterisk.fastagi import AgiProtocolError, Route

log = structlog.get_logger(__name__)

MAX_HEADER_BYTES: Final = 64 * 1024
"""A real AGI header block is ~1 KB; anything past this is refused."""
HEADER_TIMEOUT: Final = 5.0
CONNECTION_TIMEOUT: Final = 10.0
CLOSE_GRACE: Final = 2.0
"""Seconds a request already accepted when the server closes gets to finish (an ``end`` from
a hang-up handler takes milliseconds); then it is cancelled and its socket closed."""


class FastAgiServer(Application):  # type: ignore[misc]  # panoramisk is untyped
    """panoramisk's FastAGI application with a bounded, time-limited ``handler``."""

    def __init__(
        self,
        routes: dict[str, Route],
        *,
        header_timeout: float = HEADER_TIMEOUT,
        connection_timeout: float = CONNECTION_TIMEOUT,
        max_header_bytes: int = MAX_HEADER_BYTES,
        access: AgiAccess | None = None,
        on_refused: OnRefused | None = None,
    ) -> None:
        super().__init__(loop=asyncio.get_running_loop())
        self.access = access or AgiAccess()
        self.on_refused = on_refused
        for path, endpoint in routes.items():
            if not asyncio.iscoroutinefunction(endpoint):
                raise TypeError(f"FastAGI route {path!r} must be an async def")
            self.add_route(path, endpoint)
        self.header_timeout = header_timeout
        self.connection_timeout = connection_timeout
        self.max_header_bytes = max_header_bytes
        self.connections = 0
        self.requests = 0
        self.refused = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._closing = False

    async def start(self, host: str, port: int) -> asyncio.Server:
        self._closing = False
        # The stream limit bounds readuntil(): a longer header block raises LimitOverrunError.
        self._server = await asyncio.start_server(
            self._accepted, host, port, limit=self.max_header_bytes, backlog=512
        )
        return self._server

    @property
    def listening(self) -> bool:
        """True while the server accepts connections (``/healthz`` in FastAGI mode)."""
        return self._server is not None and self._server.is_serving()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FastAGI server not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def serve(self, host: str, port: int, ready: asyncio.Event | None = None) -> None:
        server = await self.start(host, port)
        log.info("agi.listening", host=host, port=self.port)
        if ready is not None:
            ready.set()
        try:
            await server.serve_forever()
        finally:
            await self.close()

    def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Each accepted connection's handler is a task the server holds from the moment
        of the accept, so :meth:`close` can see every one (asyncio's own ``Server.close``
        leaves accepted connections running, or orphaned once their loop stops). One whose
        accept completes after :meth:`close` began is closed unread."""
        if self._closing:
            writer.close()
            return
        task = asyncio.get_running_loop().create_task(self.handler(reader, writer))
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    def stop_listening(self) -> None:
        """Accept nothing more from now on (the first step of :meth:`close`): connections
        still in the kernel's queue are reset when the socket closes (Asterisk's AGI fails
        at once, the dialplan goes on); one accepted already is closed unread."""
        self._closing = True
        if self._server is not None:
            loop = asyncio.get_running_loop()
            for sock in self._server.sockets:
                if not loop.remove_reader(sock.fileno()):
                    # Not asyncio's selector loop (uvloop: libuv watches the socket, not
                    # the loop's readers). Its accept makes the connection in the same
                    # callback, so nothing is half handed over: the server closes now.
                    self._server.close()
                    break

    async def close(self, grace: float = CLOSE_GRACE) -> None:
        """Stop listening (a new request is refused: Asterisk's AGI fails at once and the
        dialplan goes on), give the requests already accepted ``grace`` seconds to finish,
        then cancel the rest; every accepted socket is closed when this returns, so no
        channel waits on a router that is gone (a hang-up handler's ``end`` arriving as
        ``serve`` stops)."""
        self.stop_listening()
        if self._server is not None:
            # A connection accepted in the turn the stop came in is handed to its transport
            # on the loop's next turn; asyncio's Server.close() before that hand-over leaks
            # the socket (the transport's Server._attach asserts, asyncio swallows it, the
            # socket waits for the garbage collector and Asterisk's AGI on it). One turn
            # lets every accept already made become a connection, closed unread below.
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            self._server.close()
        pending = set(self._handlers)
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace)
            for task in late:
                task.cancel()
            if late:
                log.warning("agi.requests_cut_at_close", requests=len(late), grace=grace)
                await asyncio.wait(late, timeout=grace)
        if self._server is not None:
            await self._server.wait_closed()

    def _refuse(self, reason: str, peer: str, detail: str, event: str = "agi.refused") -> None:
        self.refused += 1
        log.warning(event, peer=peer, reason=reason, error=detail)
        if self.on_refused is not None:
            self.on_refused(reason)

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        peer = writer.get_extra_info("peername")
        peer_text = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        try:
            self.access.check_peer(peer[0] if isinstance(peer, tuple) else None)
            headers = await self._read_headers(reader, peer_text)
            if headers is None:
                self.refused += 1
                return
            await self._dispatch(headers, reader, writer, peer_text)
        except Refused as exc:  # closed before anything is answered
            self._refuse(exc.reason, peer_text, str(exc), exc.event)
        finally:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()

    async def _read_headers(
        self, reader: asyncio.StreamReader, peer: str
    ) -> OrderedDict[str, str] | None:
        try:
            async with asyncio.timeout(self.header_timeout):
                block = await reader.readuntil(b"\n\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                log.warning("agi.headers_cut_short", peer=peer, received=len(exc.partial))
            else:  # a TCP health check: connect, close
                log.info("agi.closed_without_request", peer=peer)
            return None
        except asyncio.LimitOverrunError:
            limit = self.max_header_bytes
            raise Refused(
                "bad_request", f"header block over {limit} bytes", event="agi.headers_too_large"
            ) from None
        except TimeoutError:
            log.warning("agi.headers_timeout", peer=peer, timeout=self.header_timeout)
            return None
        except (ConnectionError, OSError) as exc:
            log.info("agi.connection_lost", peer=peer, error=str(exc))
            return None
        text = block.decode(self.default_encoding, errors="replace")
        headers: OrderedDict[str, str] = OrderedDict()
        bad = 0
        for line in text.split("\n"):
            key, sep, value = line.rstrip("\r").partition(": ")
            if sep and key.startswith("agi_"):
                headers[key] = value
            elif line.strip():
                bad += 1
        if "agi_network_script" not in headers:
            raise Refused(
                "bad_request",
                f"no agi_network_script header ({bad} bad lines)",
                event="agi.bad_request",
            )
        return headers

    async def _dispatch(
        self,
        headers: OrderedDict[str, str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
    ) -> None:
        script = self.access.script(headers["agi_network_script"])
        route = self._route.get(script)
        if route is None:
            raise Refused("unknown_script", f"unknown script {script[:40]!r}", event=UNKNOWN)
        self.requests += 1
        request = Request(
            app=self, headers=headers, reader=reader, writer=writer, encoding=self.default_encoding
        )
        try:
            async with asyncio.timeout(self.connection_timeout):
                await route(request)
        except TimeoutError:
            log.warning("agi.script_timeout", script=script, timeout=self.connection_timeout)
        except AgiProtocolError as exc:
            self._refuse("arguments", peer, f"{script}: {exc}")
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("agi.connection_lost", script=script, error=str(exc))
        except Exception:
            log.exception("agi.script_failed", script=script)
