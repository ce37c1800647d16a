"""ARI requests on the events WebSocket (Asterisk's "REST over WebSocket"): which requests
may travel there, and the requests in flight waiting for their answers.

:class:`~callrouter.asterisk.ari.AriClient` owns the socket and its reader; it hands each
``RESTResponse`` it reads to :meth:`SocketRest.answer` and calls :meth:`SocketRest.fail_all`
when the socket closes. It asks once per connection (a ``GET`` of its own application) and
keeps HTTP when no answer comes (an older Asterisk). One round trip on the open socket costs
the router about half the CPU of an HTTP request through aiohttp (issue 23). A request in
flight when the socket drops is sent once more over HTTP; only requests whose repeat is safe
travel on the socket (``_SOCKET_KINDS``, :func:`lost_answer_lookup`).
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

import aiohttp
import structlog

from callrouter.asterisk.ari_wire import json_text
from callrouter.errors import AsteriskUnavailable

#: The message type that carries a REST answer on the events WebSocket: Asterisk filters it
#: like an event, so the application's filter must let it through.
REST_RESPONSE: Final = "RESTResponse"

log = structlog.get_logger(__name__)

#: one request over HTTP: (method, path, query, JSON body) -> (status, text, reason)
HttpExchange = Callable[
    [str, str, dict[str, str], Mapping[str, Any] | None], Awaitable[tuple[int, str, str]]
]


@dataclass(frozen=True)
class _Kind:
    """A kind of request that may travel on the events socket."""

    method: str
    path: re.Pattern[str]
    #: for a request that creates something under the id it names (the path's ``id`` group):
    #: where to read it when a repeat is refused because the id exists (409), i.e. Asterisk
    #: did the first; None: a repeat does no harm
    lookup: str | None = None


#: REST requests Asterisk answers on the events socket without waiting for a channel's own
#: thread. Asterisk runs the socket's requests one after another in the socket's reader, so a
#: request it hands to the channel's thread would hold every later request of every call for
#: as long as that channel plays a prompt outside a bridge. Measured on Asterisk 22.10 against
#: a channel playing a prompt: setting a variable, answer, addChannel and removeChannel wait
#: for the prompt's end (seconds; the events socket itself timed out behind them), everything
#: below answers in under a millisecond (``bench/bench_socket_holds.py`` measures it again, e.g.
#: after an Asterisk upgrade).
#:
#: A request's answer is lost when the socket drops after it went out: Asterisk may have done
#: it or not, and the request is sent again over HTTP. So only kinds whose repeat is safe
#: travel here: reading, the filter, music on hold, ringing, a hang-up or a stop (answered
#: 404 the second time, as when the thing ended by itself), and an originate or a bridge
#: under its own id, which Asterisk refuses a second time with 409 "already exists" (measured
#: on 22.10) whichever copy comes first: the router then reads what the first made. A prompt
#: stays on HTTP: Asterisk starts a second one under an id already playing, and stopping the
#: id stops one (the caller's next request waited behind the other, issue 23). So do an
#: originate without an id, continue, record and everything not listed.
_SOCKET_KINDS: Final[tuple[_Kind, ...]] = tuple(
    _Kind(method, re.compile(path), lookup)
    for method, path, lookup in (
        ("GET", r"/.*", None),
        ("PUT", r"/applications/[^/]+/eventFilter", None),
        ("POST", r"/applications/[^/]+/subscription", None),
        ("POST", r"/channels/[^/]+/(moh|ring)", None),
        ("DELETE", r"/channels/[^/]+(/(moh|ring))?|/bridges/[^/]+|/playbacks/[^/]+", None),
        ("POST", r"/channels/(?P<id>(?!create$|externalMedia$)[^/]+)", "/channels/{id}"),
        ("POST", r"/bridges/(?P<id>[^/]+)", "/bridges/{id}"),
    )
)


class SocketClosed(AsteriskUnavailable):
    """The events socket closed before a request's answer came (Asterisk may or may not have
    done it): it is sent again over HTTP (see ``_SOCKET_KINDS``)."""


def _kind(method: str, path: str) -> tuple[_Kind, re.Match[str]] | None:
    for kind in _SOCKET_KINDS:
        if kind.method == method and (match := kind.path.fullmatch(path)) is not None:
            return kind, match
    return None


def socket_safe(method: str, path: str) -> bool:
    """True when ``method path`` may travel on the events socket (see ``_SOCKET_KINDS``)."""
    return _kind(method, path) is not None


def lost_answer_lookup(method: str, path: str) -> str | None:
    """Where to ``GET`` what ``method path`` created when, sent again after its answer was
    lost with the socket, Asterisk refuses it because the id exists; None for the others."""
    found = _kind(method, path)
    if found is None:
        return None
    kind, match = found
    return None if kind.lookup is None else kind.lookup.format(id=match["id"])


async def resend_lost(
    http: HttpExchange,
    method: str,
    path: str,
    params: dict[str, str],
    body: Mapping[str, Any] | None,
) -> tuple[int, str, str]:
    """The events socket closed after the request went out and before its answer came:
    Asterisk may or may not have done it. It is sent again over ``http`` (only requests whose
    repeat is safe travel on the socket). An officer's leg or a bridge created under its own
    id is refused the second time with 409 when the first got through (the ids are the
    router's own, unique per leg and bridge: nobody else made it): what the first made is
    read back and is the answer. Asterisk may not show it yet (a leg it is still dialling has
    no snapshot for a moment, seen under load in CI): then the answer is the id alone."""
    log.warning("ari.rest.resent_over_http", method=method, path=path)
    status, text, reason = await http(method, path, params, body)
    lookup = lost_answer_lookup(method, path)
    if status != 409 or lookup is None:
        return status, text, reason
    found = await http("GET", lookup, {}, None)
    log.info("ari.rest.done_before_the_drop", method=method, path=path, read_back=found[0] == 200)
    if found[0] == 200:
        return found
    return 200, json_text({"id": unquote(lookup.rsplit("/", 1)[1])}), "OK"


class SocketRest:
    """The requests sent on an events socket, each waiting for its ``RESTResponse``."""

    def __init__(self, request_timeout: float) -> None:
        self.request_timeout = request_timeout
        self.pending: dict[str, asyncio.Future[tuple[int, str, str]]] = {}
        self._ids = itertools.count(1)

    async def exchange(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        method: str,
        path: str,
        params: dict[str, str],
        body: Mapping[str, Any] | None,
    ) -> tuple[int, str, str]:
        """One ``RESTRequest`` on ``ws``; its status, text and reason once answered."""
        request_id = f"r{next(self._ids)}"
        message: dict[str, Any] = {
            "type": "RESTRequest",
            "request_id": request_id,
            "method": method,
            "uri": path.lstrip("/"),
        }
        if params:
            message["query_strings"] = [{"name": k, "value": v} for k, v in params.items()]
        if body is not None:
            message["content_type"] = "application/json"
            message["message_body"] = json_text(body)
        answer: asyncio.Future[tuple[int, str, str]] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = answer
        try:
            async with asyncio.timeout(self.request_timeout):
                await ws.send_str(json_text(message))
                return await answer
        except (aiohttp.ClientConnectionError, ConnectionError) as exc:
            raise SocketClosed(f"ARI {method} {path}: {type(exc).__name__}") from exc
        except TimeoutError as exc:
            raise AsteriskUnavailable(f"ARI {method} {path}: {type(exc).__name__}") from exc
        finally:
            self.pending.pop(request_id, None)
            if answer.done() and not answer.cancelled():
                answer.exception()  # seen here, even when the send failed first

    def answer(self, data: Mapping[str, Any]) -> None:
        """A ``RESTResponse`` read off the socket, to the request waiting for it."""
        answer = self.pending.get(str(data.get("request_id", "")))
        if answer is None or answer.done():
            return  # its request timed out or was cancelled: nobody waits any more
        status = data.get("status_code")
        if not isinstance(status, int):
            answer.set_exception(AsteriskUnavailable("ARI RESTResponse without a status"))
            return
        answer.set_result(
            (status, str(data.get("message_body") or ""), str(data.get("reason_phrase") or ""))
        )

    def fail_all(self) -> None:
        """The socket closed: every request waiting learns its answer cannot come."""
        for answer in self.pending.values():
            if not answer.done():
                answer.set_exception(SocketClosed("ARI events socket closed"))
