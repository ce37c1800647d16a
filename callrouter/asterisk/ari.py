"""A thin typed client for the Asterisk REST Interface (ARI), on aiohttp.

Only what the call flow needs: channels, bridges, the application's event filter, and the
events WebSocket with reconnect.

* REST errors become typed exceptions: 404 → :class:`AriNotFound`, 409 →
  :class:`AriConflict`, any other error status → :class:`AriRequestError`; a connection
  that cannot be made → :class:`AsteriskUnavailable`.
* Credentials travel only in the ``Authorization`` header (HTTP Basic), never in a URL,
  and never in a log line.
* :meth:`AriClient.run_events` keeps the WebSocket ``GET /ari/events?app=NAME`` open for
  as long as it runs: on any disconnect it reconnects with exponential backoff and jitter,
  re-registers the application and its event filter, and calls ``on_connected`` so the
  application can reconcile the calls it had in progress. :attr:`AriClient.ready` says
  whether events are flowing right now. Replaced by another connection, it stands by
  (:mod:`callrouter.asterisk.ari_standby`).
* ``ChannelVarset`` and every other event type the call flow does not use is filtered out
  twice: by Asterisk (``PUT /applications/{app}/eventFilter``) and by a client-side
  allow-list, so a server that ignores the filter still cannot flood the application.
* With ``rest_on_socket=True`` (as ``serve`` runs it, issue 23) the requests of
  :func:`~callrouter.asterisk.ari_socket.socket_safe` travel on the open events WebSocket
  (Asterisk 22.4 and later) once Asterisk has answered one there; the others, and all of
  them with an older Asterisk, go over HTTP (:mod:`callrouter.asterisk.ari_socket`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
import orjson
import structlog

from callrouter.asterisk.ari_models import Bridge, CallerId, Channel, Event
from callrouter.asterisk.ari_socket import (
    REST_RESPONSE,
    SocketClosed,
    SocketRest,
    resend_lost,
    socket_safe,
)
from callrouter.asterisk.ari_standby import STANDBY_POLL, replaced_here, stand_by
from callrouter.asterisk.ari_wire import (
    APPLICATION_REPLACED,
    DEFAULT_EVENT_TYPES,
    ERRORS_BY_STATUS,
    basic_auth,
    describe,
    error_message,
    json_text,
)
from callrouter.asterisk.backoff import Backoff
from callrouter.errors import AriRequestError, AsteriskUnavailable
from callrouter.logs import mask_url

log = structlog.get_logger(__name__)

#: Re-exported: the models moved to :mod:`callrouter.asterisk.ari_models`.
__all__ = [
    "DEFAULT_EVENT_TYPES",
    "REST_RESPONSE",
    "AriClient",
    "Backoff",
    "Bridge",
    "CallerId",
    "Channel",
    "ConnectedHandler",
    "Event",
    "EventHandler",
    "ReplacedHandler",
    "Tracer",
    "socket_safe",
]

# --------------------------------------------------------------------------- client

EventHandler = Callable[[Event], None]
ConnectedHandler = Callable[[], Awaitable[None]]
ReplacedHandler = Callable[[], None]
#: (client, one REST exchange or event as plain JSON data) — see ``AriClient.tracer``
Tracer = Callable[["AriClient", dict[str, Any]], None]


def _q(segment: str) -> str:
    return quote(segment, safe="")


class AriClient:
    """ARI over one aiohttp session. Use as ``async with AriClient(...) as ari:``."""

    #: Sees every REST exchange and every event of every client (None: nobody). Set only
    #: by the end-to-end tests to record ARI traces (callrouter/calls/fake_ari.py).
    tracer: ClassVar[Tracer | None] = None

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        app: str,
        *,
        event_types: Iterable[str] = DEFAULT_EVENT_TYPES,
        request_timeout: float = 5.0,
        backoff: Backoff | None = None,
        heartbeat: float = 10.0,
        rest_on_socket: bool = False,
        standby_poll: float = STANDBY_POLL,
    ) -> None:
        self._base = base_url.rstrip("/")
        if not self._base.endswith("/ari"):
            self._base += "/ari"
        self._auth_header = basic_auth(user, password)
        self.app = app
        self.event_types = frozenset(event_types)
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._request_timeout = request_timeout
        self._backoff = backoff if backoff is not None else Backoff()
        self._heartbeat = heartbeat
        self._session: aiohttp.ClientSession | None = None
        self._ready = asyncio.Event()
        self._change = asyncio.Event()  # replaced and set on every change below
        self.connects = 0  # how many times the events socket was (re)opened
        self.settled = 0  # of those, how many have run ``on_connected`` to its end
        self.dropped_events = 0  # events dropped by the client-side allow-list
        self.replaced = 0  # how many times another connection took the application over
        self._standby_poll = standby_poll
        #: the events socket while REST requests go over it (None: they go over HTTP)
        self._rest_ws: aiohttp.ClientWebSocketResponse | None = None
        self._asking = False  # asking a new socket whether REST may travel on it
        #: try REST on the events socket at all (``serve`` does; off by default, so a client
        #: made elsewhere, e.g. by a bench, keeps plain HTTP unless it asks)
        self._rest_on_socket = rest_on_socket
        self._socket_rest = SocketRest(request_timeout)

    def __repr__(self) -> str:  # never show the password
        return f"AriClient({mask_url(self._base)!r}, app={self.app!r})"

    async def __aenter__(self) -> AriClient:
        self._session = aiohttp.ClientSession(
            headers={"Authorization": self._auth_header},
            timeout=self._timeout,
            json_serialize=json_text,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._set_ready(False)
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("AriClient used outside 'async with'")
        return self._session

    # ------------------------------------------------------------------ readiness

    @property
    def rest_over_websocket(self) -> bool:
        """True while REST requests travel on the events WebSocket (else over HTTP)."""
        return self._rest_ws is not None and not self._rest_ws.closed

    @property
    def rest_transport(self) -> str:
        """``websocket`` while REST travels on the events socket, ``asking`` while the client
        waits for Asterisk's answer on a new socket, else ``http``."""
        if self.rest_over_websocket:
            return "websocket"
        return "asking" if self._asking else "http"

    @property
    def ready(self) -> bool:
        """True while the events WebSocket is open and the application is registered."""
        return self._ready.is_set()

    async def wait_ready(self) -> None:
        """Wait until events flow (bound it with ``asyncio.timeout``)."""
        await self._ready.wait()

    async def changed(self) -> None:
        """Wait for the next change of :attr:`ready`, :attr:`connects`, :attr:`replaced`,
        :attr:`settled` or :attr:`rest_transport` (watchers of the connection wait here)."""
        await self._change.wait()

    def _signal(self) -> None:
        change, self._change = self._change, asyncio.Event()
        change.set()

    def _set_ready(self, ready: bool) -> None:
        if ready:
            self._ready.set()
        else:
            self._ready.clear()
        self._signal()

    # ------------------------------------------------------------------ REST core

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """One REST call; returns the decoded JSON (or None for 204)."""
        clean = {k: str(v) for k, v in (params or {}).items()}
        status, text, reason = await self._exchange(method, path, clean, body)
        if status >= 400:
            cls = ERRORS_BY_STATUS.get(status, AriRequestError)
            raise cls(method, path, status, error_message(text) or reason)
        return orjson.loads(text) if text else None

    async def _exchange(
        self, method: str, path: str, params: dict[str, str], body: Mapping[str, Any] | None
    ) -> tuple[int, str, str]:
        """The transport (a replay replaces it): send one request; its status, text, reason.
        On the events WebSocket while it carries REST, else over HTTP."""
        ws = self._rest_ws
        if ws is not None and not ws.closed and socket_safe(method, path):
            try:
                status, text, reason = await self._socket_rest.exchange(
                    ws, method, path, params, body
                )
            except SocketClosed:
                status, text, reason = await resend_lost(
                    self._exchange_http, method, path, params, body
                )
        else:
            status, text, reason = await self._exchange_http(method, path, params, body)
        if AriClient.tracer is not None:
            AriClient.tracer(
                self,
                {
                    "rest": method,
                    "path": path,
                    "params": params,
                    "body": body,
                    "status": status,
                    "text": text,
                },
            )
        return status, text, reason

    async def _exchange_http(
        self, method: str, path: str, params: dict[str, str], body: Mapping[str, Any] | None
    ) -> tuple[int, str, str]:
        try:
            async with self.session.request(
                method, self._base + path, params=params, json=body
            ) as resp:
                return resp.status, await resp.text(), resp.reason or ""
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise AsteriskUnavailable(f"ARI {method} {path}: {type(exc).__name__}") from exc

    def _drop_rest_socket(self) -> None:
        """The events socket closed: REST goes back to HTTP, and whoever waits for an answer
        on the socket learns that Asterisk is unavailable (the answer cannot come)."""
        if self._rest_ws is not None:
            self._rest_ws = None
            self._signal()
        self._socket_rest.fail_all()

    async def _try_rest_over(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Ask on the open socket for this application; REST goes over the socket from its
        answer on. No answer within the request timeout (an Asterisk before REST over
        WebSocket): REST stays on HTTP for this connection."""
        try:
            status, _, reason = await self._socket_rest.exchange(
                ws, "GET", f"/applications/{_q(self.app)}", {}, None
            )
            if status != 200:
                log.info("ari.rest.over_http", app=self.app, reason=f"{status} {reason}")
            elif not ws.closed:
                self._rest_ws = ws
                log.info("ari.rest.over_websocket", app=self.app)
        except AsteriskUnavailable as exc:
            log.info("ari.rest.over_http", app=self.app, reason=str(exc))
        finally:
            self._asking = False
            self._signal()

    # ------------------------------------------------------------------ channels

    async def originate(
        self,
        *,
        endpoint: str,
        app: str,
        app_args: Iterable[str] = (),
        channel_id: str | None = None,
        originator: str | None = None,
        ring_timeout: int | None = None,
        caller_id: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Channel:
        """Create an outbound channel handed to Stasis ``app`` when it answers.

        ``ring_timeout`` (seconds) is ARI's ``timeout``: give up dialling after it (cause 19).
        With ``channel_id`` the channel gets that id (``POST /channels/{id}``), so events
        for it can be matched before this call even returns.
        """
        params: dict[str, str | int] = {"endpoint": endpoint, "app": app}
        args = ",".join(app_args)
        if args:
            params["appArgs"] = args
        if originator:
            params["originator"] = originator
        if ring_timeout is not None:
            params["timeout"] = ring_timeout
        if caller_id:
            params["callerId"] = caller_id
        path = f"/channels/{_q(channel_id)}" if channel_id else "/channels"
        body = {"variables": dict(variables)} if variables else None
        data = await self.request("POST", path, params=params, body=body)
        return Channel.from_json(data)

    async def get_channel(self, channel_id: str) -> Channel:
        return Channel.from_json(await self.request("GET", f"/channels/{_q(channel_id)}"))

    async def list_channels(self) -> list[Channel]:
        return [Channel.from_json(c) for c in await self.request("GET", "/channels") or ()]

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{_q(channel_id)}/answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        """Hang up (``reason``: normal, busy, congestion, no_answer, answered_elsewhere…)."""
        await self.request("DELETE", f"/channels/{_q(channel_id)}", params={"reason": reason})

    async def continue_in_dialplan(
        self,
        channel_id: str,
        *,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None:
        """Leave Stasis and go on in the dialplan (at the given place, or the next priority)."""
        params: dict[str, str | int] = {}
        if context:
            params["context"] = context
        if extension:
            params["extension"] = extension
        if priority is not None:
            params["priority"] = priority
        if label:
            params["label"] = label
        await self.request("POST", f"/channels/{_q(channel_id)}/continue", params=params)

    async def play(
        self,
        channel_id: str,
        media: str | Iterable[str],
        *,
        playback_id: str | None = None,
        lang: str | None = None,
    ) -> str:
        """Start playing ``media`` (e.g. ``sound:hello-world``, or several in a row); returns
        the playback id. ``lang`` overrides the channel's language for ``sound:`` media."""
        items = [media] if isinstance(media, str) else list(media)
        params: dict[str, str | int] = {"media": ",".join(items)}
        if lang:
            params["lang"] = lang
        if playback_id:
            path = f"/channels/{_q(channel_id)}/play/{_q(playback_id)}"
        else:
            path = f"/channels/{_q(channel_id)}/play"
        data = await self.request("POST", path, params=params)
        return str(data.get("id", playback_id or "")) if isinstance(data, dict) else ""

    async def record(
        self,
        channel_id: str,
        name: str,
        *,
        fmt: str = "wav",
        max_duration: int = 0,
        max_silence: int = 0,
        beep: bool = True,
        terminate_on: str = "#",
    ) -> None:
        """Record the channel's audio into Asterisk's recordings directory as
        ``<name>.<fmt>`` (``POST /channels/{id}/record``). Ends on ``terminate_on``, after
        ``max_silence`` s of silence or ``max_duration`` s (0: no limit), or on hang-up;
        RecordingFinished/RecordingFailed say so."""
        params: dict[str, str | int] = {
            "name": name,
            "format": fmt,
            "maxDurationSeconds": max_duration,
            "maxSilenceSeconds": max_silence,
            "ifExists": "fail",
            "beep": "true" if beep else "false",
            "terminateOn": terminate_on,
        }
        await self.request("POST", f"/channels/{_q(channel_id)}/record", params=params)

    async def stop_playback(self, playback_id: str) -> None:
        await self.request("DELETE", f"/playbacks/{_q(playback_id)}")

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        params: dict[str, str | int] = {"mohClass": moh_class} if moh_class else {}
        await self.request("POST", f"/channels/{_q(channel_id)}/moh", params=params)

    async def stop_moh(self, channel_id: str) -> None:
        await self.request("DELETE", f"/channels/{_q(channel_id)}/moh")

    async def ring(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{_q(channel_id)}/ring")

    async def get_variable(self, channel_id: str, variable: str) -> str:
        data = await self.request(
            "GET", f"/channels/{_q(channel_id)}/variable", params={"variable": variable}
        )
        return str(data.get("value", "")) if isinstance(data, dict) else ""

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        await self.request(
            "POST",
            f"/channels/{_q(channel_id)}/variable",
            params={"variable": variable, "value": value},
        )

    # ------------------------------------------------------------------ bridges

    async def create_bridge(
        self, bridge_id: str, *, bridge_type: str = "mixing", name: str | None = None
    ) -> Bridge:
        params: dict[str, str | int] = {"type": bridge_type}
        if name:
            params["name"] = name
        return Bridge.from_json(
            await self.request("POST", f"/bridges/{_q(bridge_id)}", params=params)
        )

    async def add_channels(self, bridge_id: str, channel_ids: Iterable[str]) -> None:
        """Add members; ARI takes them as the ``channel=a,b`` query parameter."""
        await self.request(
            "POST",
            f"/bridges/{_q(bridge_id)}/addChannel",
            params={"channel": ",".join(channel_ids)},
        )

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{_q(bridge_id)}")

    async def list_bridges(self) -> list[Bridge]:
        return [Bridge.from_json(b) for b in await self.request("GET", "/bridges") or ()]

    # ------------------------------------------------------------------ asterisk

    async def reload_module(self, module: str) -> None:
        """Reload an Asterisk module, e.g. ``pbx_config.so`` (the dialplan)."""
        await self.request("PUT", f"/asterisk/modules/{_q(module)}")

    # ------------------------------------------------------------------ applications

    async def set_event_filter(self, event_types: Iterable[str] | None = None) -> None:
        """Ask Asterisk to send this application only the listed event types (and the
        answers to REST requests made on the events socket)."""
        chosen = self.event_types if event_types is None else event_types
        types = sorted({*chosen, REST_RESPONSE, APPLICATION_REPLACED})
        await self.request(
            "PUT",
            f"/applications/{_q(self.app)}/eventFilter",
            body={"allowed": [{"type": t} for t in types]},
        )

    async def subscribe(self, event_source: str) -> None:
        """Keep this application's events of ``event_source`` (e.g. ``channel:<id>``) after
        the channel leaves Stasis, up to its ChannelDestroyed with the hang-up cause."""
        await self.request(
            "POST",
            f"/applications/{_q(self.app)}/subscription",
            params={"eventSource": event_source},
        )

    async def get_application(self) -> Mapping[str, Any]:
        data = await self.request("GET", f"/applications/{_q(self.app)}")
        return data if isinstance(data, dict) else {}

    # ------------------------------------------------------------------ events

    async def run_events(
        self,
        on_event: EventHandler,
        on_connected: ConnectedHandler | None = None,
        on_replaced: ReplacedHandler | None = None,
    ) -> None:
        """Deliver events to ``on_event`` until cancelled, reconnecting forever.

        ``on_event`` is called synchronously in the reader's task, in order; it must not
        block (hand work to a queue or task). An exception it raises is logged and the
        stream goes on. ``on_connected`` runs after every (re)connection, once the event
        filter is in place, before events are read; ``on_replaced`` when another connection
        took the application over, before standing by (:mod:`.ari_standby`).
        """
        while True:
            replaced = False
            try:
                if not (replaced := await self._session_once(on_event, on_connected, on_replaced)):
                    log.warning("ari.events.closed", app=self.app)
            except asyncio.CancelledError:
                self._set_ready(False)
                raise
            except (aiohttp.ClientError, AsteriskUnavailable, AriRequestError, OSError) as exc:
                log.warning("ari.events.unavailable", app=self.app, error=describe(exc))
            except TimeoutError:
                log.warning("ari.events.unavailable", app=self.app, error="timeout")
            self._set_ready(False)
            if replaced:
                await stand_by(self.app, self.get_application, self._standby_poll)
                continue
            delay = self._backoff.next_delay()
            log.info("ari.events.reconnect", app=self.app, in_seconds=round(delay, 3))
            await asyncio.sleep(delay)

    async def _session_once(
        self,
        on_event: EventHandler,
        on_connected: ConnectedHandler | None,
        on_replaced: ReplacedHandler | None,
    ) -> bool:
        """One events socket, to its end; True if another connection took the application."""
        url = self._base + "/events"
        params = {"app": self.app, "subscribeAll": "false"}
        async with self.session.ws_connect(url, params=params, heartbeat=self._heartbeat) as ws:
            self.connects += 1
            await self.set_event_filter()
            self._set_ready(True)
            self._backoff.reset()
            log.info("ari.events.connected", app=self.app, connects=self.connects)
            if on_connected is not None:
                try:
                    await on_connected()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("ari.events.on_connected_failed", app=self.app)
            self.settled = self.connects
            self._signal()
            # REST moves onto the socket only now: until this loop reads, nobody would read
            # an answer (on_connected's requests above go over HTTP).
            asking: asyncio.Task[None] | None = None
            if self._rest_on_socket:
                self._asking = True
                asking = asyncio.create_task(self._try_rest_over(ws))
            try:
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.TEXT:
                        if self._dispatch(message.data, on_event):
                            self.replaced += 1
                            self._set_ready(False)  # at once, not after the close handshake
                            if on_replaced is not None:
                                on_replaced()
                            return True
                    elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
                        break
            finally:
                self._drop_rest_socket()
                if asking is not None:
                    asking.cancel()
                    await asyncio.wait({asking})  # (a cancel of ours is not swallowed)
                self._asking = False  # (a task cancelled before its start runs no finally)
        return False

    def _dispatch(self, text: str, on_event: EventHandler) -> bool:
        """Hand one message on; True if it says another connection took the application."""
        try:
            data = orjson.loads(text)
        except ValueError:
            log.warning("ari.events.bad_json", length=len(text))
            return False
        if not isinstance(data, dict):
            return False
        kind = data.get("type")
        if kind == REST_RESPONSE:
            self._socket_rest.answer(data)
            return False
        if kind == APPLICATION_REPLACED:
            return replaced_here(data, self.app)
        if kind not in self.event_types:
            self.dropped_events += 1
            return False
        if AriClient.tracer is not None:
            AriClient.tracer(self, {"event": data})
        event = Event.from_json(data)
        try:
            on_event(event)
        except Exception:
            log.exception("ari.events.handler_failed", type=event.type)
        return False
