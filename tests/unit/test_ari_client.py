"""The ARI client against an in-process aiohttp server that speaks ARI's shapes.

This checks the client's own behaviour (error mapping, parameters, auth header, filter,
reconnect with backoff); tests/integration/test_ari_client.py checks it against a real
Asterisk.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import structlog.testing
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from callrouter.asterisk.ari import AriClient, Backoff, Event, socket_safe
from callrouter.asterisk.ari_socket import lost_answer_lookup
from callrouter.errors import AriConflict, AriNotFound, AriRequestError, AsteriskUnavailable

pytestmark = pytest.mark.unit

USER, PASSWORD = "callrouter", "s3cret-pw"


@dataclass
class FakeAri:
    """Records what the client sent; scripts how the events socket behaves."""

    requests: list[tuple[str, str, dict[str, str], Any, str]] = field(default_factory=list)
    ws_attempts: int = 0
    reject_first_ws: int = 0  # answer 503 to this many connection attempts
    #: what each connection of the events socket sends (a string goes as it is)
    events_per_connection: list[list[dict[str, Any] | str]] = field(default_factory=list)
    close_after_send: bool = True
    status_for: dict[str, int] = field(default_factory=dict)
    event_filters: list[Any] = field(default_factory=list)
    #: answer RESTRequest messages on the events socket (Asterisk 22.4 and later); False:
    #: ignore them, as an older Asterisk does
    rest_over_ws: bool = False
    #: the (method, path, query, body) of each request that came on the events socket
    ws_requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    #: the RESTRequest messages left unanswered (rest_over_ws False)
    ignored_ws: list[dict[str, Any]] = field(default_factory=list)
    #: close the events socket instead of answering a RESTRequest for this path
    drop_socket_on: str = ""
    #: do that request before closing (Asterisk did it; only its answer is lost)
    done_before_drop: bool = False
    #: the ids of the channels originated (POST /channels/{id}): a second gets 409
    channels: list[str] = field(default_factory=list)
    #: GET /channels/{id} does not find them yet (Asterisk still dialling: no snapshot)
    channels_hidden: bool = False
    #: the statuses GET /applications/{app} answers, in turn (then 200)
    app_statuses: list[int] = field(default_factory=list)
    #: how many events sockets the client closed itself
    client_closes: int = 0
    #: called at each GET /applications/{app}; what it returns is kept in ``probed``
    probe: Callable[[], Any] | None = None
    probed: list[Any] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ari/events", self.events)
        app.router.add_route("*", "/ari/{tail:.*}", self.rest)
        return app

    async def rest(self, request: web.Request) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        auth = request.headers.get("Authorization", "")
        self.requests.append(
            (request.method, request.path, dict(request.query), body, auth + "|" + str(request.url))
        )
        status, data = self.answer(request.method, request.path, body)
        if data is None:
            return web.Response(status=status)
        return web.json_response(data, status=status)

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        """The status and JSON (None: no content) of one request, however it came."""
        if path.endswith("/eventFilter"):
            self.event_filters.append(body)
        status = self.status_for.get(path)
        if status:
            return status, {"message": f"status {status}"}
        originated = re.fullmatch(r"/ari/channels/([^/]+)", path)
        if originated and method in ("POST", "GET"):
            channel_id = originated[1]
            known = channel_id in self.channels and not (method == "GET" and self.channels_hidden)
            if (method == "POST") is known:
                exists = "already exists" if method == "POST" else "not found"
                return (409 if method == "POST" else 404), {"message": f"Channel {exists}"}
            if method == "POST":
                self.channels.append(channel_id)
            return 200, {"id": channel_id, "name": "PJSIP/x-1", "state": "Down", "caller": {}}
        if method == "POST" and path.startswith("/ari/channels/"):
            channel_id = path.split("/")[3]
            return 200, {"id": channel_id, "name": "PJSIP/x-1", "state": "Down", "caller": {}}
        if path == "/ari/channels/c1/variable":
            return 200, {"value": "linked-1"}
        if method == "GET" and path.startswith("/ari/applications/"):
            if self.probe is not None:
                self.probed.append(self.probe())
            if self.app_statuses and self.app_statuses.pop(0) == 404:
                return 404, {"message": "Application not found"}
            return 200, {"name": path.rsplit("/", 1)[1]}
        return 204, None

    async def rest_request(self, ws: web.WebSocketResponse, text: str) -> bool:
        """Answer one RESTRequest as Asterisk does (False: the socket was dropped instead)."""
        message = json.loads(text)
        if message.get("type") != "RESTRequest" or not self.rest_over_ws:
            self.ignored_ws.append(message)
            return True
        path = "/ari/" + message["uri"]
        query = {q["name"]: q["value"] for q in message.get("query_strings", ())}
        body = json.loads(message["message_body"]) if message.get("message_body") else None
        self.ws_requests.append((message["method"], path, query, body))
        if path == self.drop_socket_on:
            if self.done_before_drop:
                self.answer(message["method"], path, body)
            await ws.close()
            return False
        status, data = self.answer(message["method"], path, body)
        response = {
            "type": "RESTResponse",
            "request_id": message.get("request_id", ""),
            "status_code": status,
            "reason_phrase": "OK" if status < 400 else "Error",
            "uri": message["uri"],
        }
        if data is not None:
            response |= {"content_type": "application/json", "message_body": json.dumps(data)}
        await ws.send_str(json.dumps(response))
        return True

    async def events(self, request: web.Request) -> web.StreamResponse:
        self.ws_attempts += 1
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.Response(status=401)
        if self.ws_attempts <= self.reject_first_ws:
            return web.Response(status=503)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        batch = self.events_per_connection.pop(0) if self.events_per_connection else []
        for item in batch:
            await ws.send_str(item if isinstance(item, str) else json.dumps(item))
        if self.close_after_send and self.events_per_connection:
            await ws.close()
            return ws
        async for msg in ws:  # keep open until the client goes away
            if msg.type == WSMsgType.CLOSE:
                break
            if msg.type == WSMsgType.TEXT and not await self.rest_request(ws, msg.data):
                break
        else:
            self.client_closes += 1  # (aiohttp answers the close frame and ends the loop)
        return ws


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeAri, str]]:
    state = FakeAri()
    server = TestServer(state.app())
    await server.start_server()
    try:
        yield state, str(server.make_url(""))
    finally:
        await server.close()


def is_ready(ari: AriClient) -> bool:
    return ari.ready


def fast_backoff() -> Backoff:
    return Backoff(initial=0.01, factor=2.0, maximum=0.05, rng=random.Random(1))


async def test_client_maps_404_409_and_other_statuses_to_typed_errors(
    fake: tuple[FakeAri, str],
) -> None:
    state, url = fake
    state.status_for = {
        "/ari/channels/gone/answer": 404,
        "/ari/channels/busy/answer": 409,
        "/ari/channels/bad/answer": 400,
    }
    async with AriClient(url, USER, PASSWORD, "callrouter") as ari:
        with pytest.raises(AriNotFound) as not_found:
            await ari.answer("gone")
        assert not_found.value.status == 404
        assert not_found.value.message == "status 404"
        with pytest.raises(AriConflict):
            await ari.answer("busy")
        with pytest.raises(AriRequestError) as other:
            await ari.answer("bad")
        assert type(other.value) is AriRequestError
        assert other.value.status == 400


async def test_client_raises_asterisk_unavailable_when_nothing_listens() -> None:
    async with AriClient("http://127.0.0.1:9", USER, PASSWORD, "callrouter") as ari:
        with pytest.raises(AsteriskUnavailable) as exc:
            await ari.list_channels()
    assert PASSWORD not in str(exc.value)


async def test_originate_sends_app_args_originator_preset_id_and_timeout(
    fake: tuple[FakeAri, str],
) -> None:
    state, url = fake
    async with AriClient(url, USER, PASSWORD, "callrouter") as ari:
        channel = await ari.originate(
            endpoint="PJSIP/0912345678@trunk",
            app="callrouter",
            app_args=["officer", "c1"],
            channel_id="leg-1",
            originator="c1",
            ring_timeout=7,
            variables={"CALLROUTER_LEG": "1"},
        )
    assert channel.id == "leg-1"
    method, path, query, body, _ = state.requests[-1]
    assert (method, path) == ("POST", "/ari/channels/leg-1")
    assert query == {
        "endpoint": "PJSIP/0912345678@trunk",
        "app": "callrouter",
        "appArgs": "officer,c1",
        "originator": "c1",
        "timeout": "7",
    }
    assert body == {"variables": {"CALLROUTER_LEG": "1"}}


async def test_bridge_members_travel_as_the_channel_query_parameter(
    fake: tuple[FakeAri, str],
) -> None:
    state, url = fake
    async with AriClient(url, USER, PASSWORD, "callrouter") as ari:
        await ari.add_channels("b1", ["caller", "officer"])
        await ari.hangup("caller", reason="busy")
        await ari.continue_in_dialplan("caller", context="fallback", extension="s", priority=1)
        value = await ari.get_variable("c1", "CHANNEL(linkedid)")
    assert value == "linked-1"
    assert state.requests[0][1:4] == (
        "/ari/bridges/b1/addChannel",
        {"channel": "caller,officer"},
        None,
    )
    assert state.requests[1][:3] == ("DELETE", "/ari/channels/caller", {"reason": "busy"})
    assert state.requests[2][2] == {"context": "fallback", "extension": "s", "priority": "1"}


async def test_credentials_go_in_the_authorization_header_never_the_url(
    fake: tuple[FakeAri, str],
) -> None:
    state, url = fake
    async with AriClient(url, USER, PASSWORD, "callrouter") as ari:
        await ari.answer("c1")
        assert PASSWORD not in repr(ari)
    header_and_url = state.requests[-1][4]
    header, request_url = header_and_url.split("|", 1)
    assert header.startswith("Basic ")
    assert PASSWORD not in request_url
    assert USER not in request_url


def stasis_start(channel_id: str) -> dict[str, Any]:
    return {
        "type": "StasisStart",
        "application": "callrouter",
        "timestamp": "2026-11-28T15:00:00.123+0000",
        "args": ["branch=3"],
        "channel": {
            "id": channel_id,
            "name": "PJSIP/trunk-00000001",
            "state": "Ring",
            "caller": {"name": "", "number": "0912345678"},
            "connected": {"name": "", "number": ""},
            "dialplan": {"context": "hotline", "exten": "1022", "priority": 5},
        },
    }


async def until_first_event(url: str) -> tuple[list[Event], AriClient, bool]:
    """Run a client's event stream until an event reaches the handler, then stop it: the
    events received, the client, and whether it was ready while the stream ran."""
    received: list[Event] = []
    got = asyncio.Event()

    def on_event(event: Event) -> None:
        received.append(event)
        got.set()

    async with AriClient(url, USER, PASSWORD, "callrouter", backoff=fast_backoff()) as ari:
        task = asyncio.create_task(ari.run_events(on_event))
        await asyncio.wait_for(got.wait(), 5)
        ready = is_ready(ari)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return received, ari, ready


async def test_events_are_filtered_on_the_server_and_on_the_client(
    fake: tuple[FakeAri, str],
) -> None:
    state, url = fake
    noise = {"type": "ChannelVarset", "variable": "X", "value": "1", "channel": {"id": "c1"}}
    state.events_per_connection = [[noise, stasis_start("c1"), noise]]
    state.close_after_send = False
    received, ari, was_ready = await until_first_event(url)
    assert was_ready
    assert not is_ready(ari)
    assert ari.dropped_events >= 1
    assert [e.type for e in received] == ["StasisStart"]
    event = received[0]
    assert event.channel is not None
    assert event.channel.caller.number == "0912345678"
    assert event.channel.context == "hotline"
    assert event.args == ("branch=3",)
    at = event.at()
    assert at is not None
    assert at.microsecond == 123000
    allowed = {item["type"] for item in state.event_filters[0]["allowed"]}
    assert "StasisStart" in allowed
    assert "ChannelVarset" not in allowed


async def test_events_socket_reconnects_after_503_and_after_a_drop(
    fake: tuple[FakeAri, str],
) -> None:
    state, url = fake
    state.reject_first_ws = 2
    state.events_per_connection = [[stasis_start("c1")], [stasis_start("c2")]]
    state.close_after_send = True
    seen: list[str] = []
    connected = 0
    done = asyncio.Event()

    def on_event(event: Event) -> None:
        assert event.channel is not None
        seen.append(event.channel.id)
        if len(seen) == 2:
            done.set()

    async def on_connected() -> None:
        nonlocal connected
        connected += 1

    async with AriClient(url, USER, PASSWORD, "callrouter", backoff=fast_backoff()) as ari:
        task = asyncio.create_task(ari.run_events(on_event, on_connected))
        await asyncio.wait_for(done.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert ari.connects == 2
    assert seen == ["c1", "c2"]
    assert connected == 2
    assert state.ws_attempts == 4  # two 503s, then two good connections
    assert len(state.event_filters) == 2  # filter set again after the reconnect


async def test_watchers_wake_on_each_change_and_settled_waits_for_on_connected(
    fake: tuple[FakeAri, str],
) -> None:
    """The restart repair waits on these changes (no polling, no sleep): ``settled`` counts a
    connection only once the application's own reconciliation (``on_connected``) has run."""
    state, url = fake
    state.events_per_connection = [[]]
    gate = asyncio.Event()

    async def on_connected() -> None:
        await gate.wait()

    async with AriClient(url, USER, PASSWORD, "callrouter", backoff=fast_backoff()) as ari:
        task = asyncio.create_task(ari.run_events(lambda _event: None, on_connected))
        while not ari.ready:
            await asyncio.wait_for(ari.changed(), 5)
        assert (ari.connects, ari.settled) == (1, 0)
        waiter = asyncio.create_task(ari.changed())
        await asyncio.sleep(0.05)
        assert not waiter.done()  # nothing changed while on_connected runs
        gate.set()
        await asyncio.wait_for(waiter, 5)
        assert ari.settled == 1
        lost = asyncio.create_task(ari.changed())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(lost, 5)
        assert not ari.ready


async def test_a_failing_handler_does_not_stop_the_event_stream(
    fake: tuple[FakeAri, str],
) -> None:
    state, url = fake
    state.events_per_connection = [[stasis_start("boom"), stasis_start("ok")]]
    state.close_after_send = False
    seen: list[str] = []
    done = asyncio.Event()

    def on_event(event: Event) -> None:
        assert event.channel is not None
        if event.channel.id == "boom":
            raise RuntimeError("handler bug")
        seen.append(event.channel.id)
        done.set()

    async with AriClient(url, USER, PASSWORD, "callrouter", backoff=fast_backoff()) as ari:
        task = asyncio.create_task(ari.run_events(on_event))
        await asyncio.wait_for(done.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert seen == ["ok"]


async def test_a_frame_that_is_not_an_event_is_logged_and_the_stream_goes_on(
    fake: tuple[FakeAri, str],
) -> None:
    state, url = fake
    named = stasis_start("c1")
    named["channel"]["caller"]["name"] = "Nguyễn Thị Hà"
    state.events_per_connection = [
        ["{not json", "[1, 2]", '"text"', json.dumps(named, ensure_ascii=False)]
    ]
    state.close_after_send = False
    with structlog.testing.capture_logs() as logs:
        received, _, _ = await until_first_event(url)
    assert [e.channel.caller.name for e in received if e.channel is not None] == ["Nguyễn Thị Hà"]
    assert [e["length"] for e in logs if e["event"] == "ari.events.bad_json"] == [9]


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(initial=0.1, factor=2.0, maximum=1.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert len(set(delays[4:])) > 1  # jitter: not lock-step at the cap
    backoff.reset()
    assert backoff.next_delay() <= 0.1


def test_event_parses_causes_and_tolerates_missing_fields() -> None:
    event = Event.from_json(
        {"type": "ChannelDestroyed", "cause": 17, "cause_txt": "User busy", "channel": {"id": "l"}}
    )
    assert event.cause == 17
    assert event.channel is not None
    assert event.channel.id == "l"
    assert event.at() is None
    bare = Event.from_json({"type": "PlaybackFinished", "playback": {"id": "p1"}})
    assert bare.channel is None
    assert bare.playback_id == "p1"
    assert bare.cause is None


async def wait_for_rest_over_websocket(ari: AriClient) -> None:
    async with asyncio.timeout(5):
        while not ari.rest_over_websocket:
            await ari.changed()


async def test_rest_moves_onto_the_events_socket_when_asterisk_answers_there(
    fake: tuple[FakeAri, str],
) -> None:
    state, url = fake
    state.rest_over_ws = True
    state.status_for = {"/ari/channels/gone": 404}
    state.close_after_send = False
    async with AriClient(
        url, USER, PASSWORD, "callrouter", backoff=fast_backoff(), rest_on_socket=True
    ) as ari:
        task = asyncio.create_task(ari.run_events(lambda _event: None))
        await wait_for_rest_over_websocket(ari)
        over_http = len(state.requests)
        channel = await ari.originate(
            endpoint="PJSIP/0912345678@trunk",
            app="callrouter",
            channel_id="leg-1",
            variables={"CALLROUTER_LEG": "1"},
        )
        assert await ari.get_variable("c1", "CHANNEL(linkedid)") == "linked-1"
        await ari.hangup("leg-1", reason="busy")
        with pytest.raises(AriNotFound) as not_found:
            await ari.get_channel("gone")
        # Asterisk would run these on the channel's own thread, holding the socket: HTTP.
        await ari.set_variable("leg-1", "CALLROUTER_PEER", "c1")
        await ari.add_channels("b1", ["c1", "leg-1"])
        await ari.answer("c1")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not ari.rest_over_websocket
    assert channel.id == "leg-1"
    assert not_found.value.message == "status 404"
    assert [r[:2] for r in state.requests[over_http:]] == [
        ("POST", "/ari/channels/leg-1/variable"),
        ("POST", "/ari/bridges/b1/addChannel"),
        ("POST", "/ari/channels/c1/answer"),
    ]
    assert state.ws_requests[0][:2] == ("GET", "/ari/applications/callrouter")  # the question
    assert state.ws_requests[1:] == [
        (
            "POST",
            "/ari/channels/leg-1",
            {"endpoint": "PJSIP/0912345678@trunk", "app": "callrouter"},
            {"variables": {"CALLROUTER_LEG": "1"}},
        ),
        ("GET", "/ari/channels/c1/variable", {"variable": "CHANNEL(linkedid)"}, None),
        ("DELETE", "/ari/channels/leg-1", {"reason": "busy"}, None),
        ("GET", "/ari/channels/gone", {}, None),
    ]
    # Asterisk filters its answers like events: the application lets them through.
    assert "RESTResponse" in {item["type"] for item in state.event_filters[0]["allowed"]}


async def test_rest_stays_on_http_when_asterisk_does_not_answer_on_the_socket(
    fake: tuple[FakeAri, str],
) -> None:
    state, url = fake
    state.close_after_send = False
    async with AriClient(
        url,
        USER,
        PASSWORD,
        "callrouter",
        backoff=fast_backoff(),
        request_timeout=1.0,
        rest_on_socket=True,
    ) as ari:
        task = asyncio.create_task(ari.run_events(lambda _event: None))
        async with asyncio.timeout(5):
            while ari.rest_transport != "asking":
                await ari.changed()
            await ari.answer("c1")  # while the question is out: over HTTP
            while ari.rest_transport == "asking":  # the question's 1 s timeout
                await ari.changed()
        assert ari.rest_transport == "http"
        assert await ari.get_variable("c1", "CHANNEL(linkedid)") == "linked-1"
        assert ari._socket_rest.pending == {}
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [m["uri"] for m in state.ignored_ws] == ["applications/callrouter"]  # it did ask
    assert [r[:2] for r in state.requests if not r[1].endswith("/eventFilter")] == [
        ("POST", "/ari/channels/c1/answer"),
        ("GET", "/ari/channels/c1/variable"),
    ]


@pytest.mark.parametrize(
    ("method", "path", "safe", "read_back"),
    [
        # originate under an id: a repeat is refused (409), the leg read back
        ("POST", "/channels/callrouter-leg-1-x", True, "/channels/callrouter-leg-1-x"),
        ("DELETE", "/channels/c1", True, None),  # hang up
        ("DELETE", "/playbacks/callrouter-prompt-1", True, None),
        ("POST", "/channels/c1/moh", True, None),
        ("DELETE", "/channels/c1/moh", True, None),
        ("POST", "/channels/c1/ring", True, None),
        ("GET", "/channels/c1/variable", True, None),
        ("GET", "/channels", True, None),
        ("POST", "/bridges/b1", True, "/bridges/b1"),
        ("DELETE", "/bridges/b1", True, None),
        ("POST", "/applications/callrouter/subscription", True, None),
        ("PUT", "/applications/callrouter/eventFilter", True, None),
        # Asterisk runs these on the channel's own thread (they wait out a prompt):
        ("POST", "/channels/c1/variable", False, None),
        ("POST", "/channels/c1/answer", False, None),
        ("POST", "/bridges/b1/addChannel", False, None),
        ("POST", "/bridges/b1/removeChannel", False, None),
        # a repeat after a lost answer would do it twice: HTTP
        ("POST", "/channels", False, None),  # originate without an id
        ("POST", "/channels/c1/play", False, None),
        ("POST", "/channels/c1/play/callrouter-prompt-1", False, None),  # Asterisk plays it twice
        ("POST", "/channels/create", False, None),
        ("POST", "/channels/externalMedia", False, None),
        ("POST", "/channels/c1/continue", False, None),
        ("POST", "/channels/c1/record", False, None),
        # not measured: HTTP
        ("PUT", "/asterisk/modules/pbx_config.so", False, None),
        ("POST", "/channels/c1/dial", False, None),
        ("DELETE", "/channels/c1/variable", False, None),
        ("POST", "/channels/c1/play/p1/extra", False, None),
    ],
)
def test_only_requests_asterisk_answers_at_once_and_may_repeat_travel_on_the_socket(
    method: str, path: str, safe: bool, read_back: str | None
) -> None:
    """Which requests go on the events socket, and for those that create something under
    their own id, where it is read back when Asterisk refuses a repeat after a lost answer."""
    assert socket_safe(method, path) is safe
    assert lost_answer_lookup(method, path) == read_back


@pytest.mark.parametrize(
    ("done_before_the_drop", "shown"), [(True, True), (True, False), (False, True)]
)
async def test_an_officers_leg_whose_answer_was_lost_with_the_socket_is_dialled_once(
    fake: tuple[FakeAri, str], done_before_the_drop: bool, shown: bool
) -> None:
    """The socket drops after the originate went out on it. Asterisk dialled or never read
    it: either way the client sends it again over HTTP and ends with one leg, read back when
    Asterisk refuses the id a second time (409), never an error; also when Asterisk does not
    show the leg yet (CI: 409, then 404 while it dialled)."""
    state, url = fake
    state.rest_over_ws = True
    state.drop_socket_on = "/ari/channels/callrouter-leg-1-x"
    state.done_before_drop = done_before_the_drop
    state.channels_hidden = not shown
    state.events_per_connection = [[], []]
    state.close_after_send = False
    async with AriClient(
        url, USER, PASSWORD, "callrouter", backoff=fast_backoff(), rest_on_socket=True
    ) as ari:
        task = asyncio.create_task(ari.run_events(lambda _event: None))
        await wait_for_rest_over_websocket(ari)
        leg = await ari.originate(
            endpoint="PJSIP/0901@trunk", app="callrouter", channel_id="callrouter-leg-1-x"
        )
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert leg.id == "callrouter-leg-1-x"
    assert state.channels == ["callrouter-leg-1-x"]  # dialled once
    over_http = [r[:2] for r in state.requests if "/channels/" in r[1]]
    read_back = [("GET", "/ari/channels/callrouter-leg-1-x")] if done_before_the_drop else []
    assert over_http == [("POST", "/ari/channels/callrouter-leg-1-x"), *read_back]


async def test_a_request_in_flight_when_the_socket_drops_is_sent_again_over_http(
    fake: tuple[FakeAri, str],
) -> None:
    state, url = fake
    state.rest_over_ws = True
    state.drop_socket_on = "/ari/channels/c1"
    state.events_per_connection = [[], []]
    state.close_after_send = False
    # The reconnect waits at least 1 s: the next request surely goes before the new socket.
    backoff = Backoff(initial=2.0, maximum=2.0, rng=random.Random(1))
    async with AriClient(
        url, USER, PASSWORD, "callrouter", backoff=backoff, rest_on_socket=True
    ) as ari:
        task = asyncio.create_task(ari.run_events(lambda _event: None))
        await wait_for_rest_over_websocket(ari)
        await ari.hangup("c1")  # the socket drops under it: sent again over HTTP
        assert not ari.rest_over_websocket
        await ari.hangup("c2")  # over HTTP, until the new socket has answered
        await wait_for_rest_over_websocket(ari)  # the client reconnected and asked again
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert ari.connects == 2
    over_http = [r[:2] for r in state.requests]
    assert ("DELETE", "/ari/channels/c1") in over_http  # after it went out on the socket
    assert ("DELETE", "/ari/channels/c1") in [r[:2] for r in state.ws_requests]
    assert ("DELETE", "/ari/channels/c2") in over_http


async def test_a_replaced_application_goes_unready_and_stands_by_until_it_is_free(
    fake: tuple[FakeAri, str],
) -> None:
    """Asterisk gives the application's events to another socket and sends this one
    ``ApplicationReplaced``: the client goes unready at once, closes its socket, delivers
    nothing more from it, tells the application (``on_replaced``) and connects again only
    after three "free" answers in a row."""
    state, url = fake
    replaced = {"type": "ApplicationReplaced", "application": "callrouter"}
    state.events_per_connection = [[replaced, stasis_start("c1")], [stasis_start("c2")]]
    state.close_after_send = False
    state.app_statuses = [200, 404, 200, 404, 404, 404]  # taken, free, taken again, free x3
    seen: list[tuple[str, bool]] = []
    told: list[bool] = []
    done = asyncio.Event()

    def on_event(event: Event) -> None:
        seen.append((event.channel_id or "", ari.ready))
        done.set()

    async with AriClient(
        url, USER, PASSWORD, "callrouter", backoff=fast_backoff(), standby_poll=0.01
    ) as ari:
        state.probe = lambda: (ari.ready, state.client_closes)
        with structlog.testing.capture_logs() as logs:
            task = asyncio.create_task(
                ari.run_events(on_event, on_replaced=lambda: told.append(ari.ready))
            )
            await asyncio.wait_for(done.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (ari.connects, ari.replaced) == (2, 1)
    assert told == [False]  # once, unready already
    assert seen == [("c2", True)]  # nothing after ApplicationReplaced reached the call flow
    # unready, its socket closed, all through the stand-by
    assert state.probed == [(False, 1)] * 6
    asked = [r for r in state.requests if r[0] == "GET" and "/applications/" in r[1]]
    assert len(asked) == 6
    events = [(e["event"], e["log_level"]) for e in logs if e["event"].startswith("ari.")]
    assert ("ari.application_replaced", "error") in events
    assert ("ari.standby_over", "warning") in events
    assert "ari.events.reconnect" not in [name for name, _ in events]
