"""The ARI client against the real sandbox pbx (Asterisk 22): REST, events, filter, restart.

The pbx dials the pstn's officer phones over the real trunk (tests/asterisk/README.md says
how each number behaves). It uses this worker's session sandbox (tests/conftest.py): the
restart test disturbs no one else's instances, since the tests of one worker run one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import pytest
import structlog

from callrouter.asterisk.ari import DEFAULT_EVENT_TYPES, REST_RESPONSE, AriClient, Backoff, Event
from callrouter.errors import AriNotFound
from tests.e2e.harness import (
    ANSWERS,
    BUSY,
    RINGS_FOREVER,
    Sandbox,
    SandboxInfo,
    officer_number,
)

# func_only: the module fixture may build the sandbox first (minutes on a fresh machine).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(120, func_only=True)]

APP = "callrouter-ari-test"


@pytest.fixture(scope="module")
def pbx(sandbox: Sandbox) -> tuple[Sandbox, SandboxInfo]:
    return sandbox, sandbox.info()


class Recorder:
    """Collects events; ``wait`` polls for one matching a predicate, with a deadline."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._arrived = asyncio.Event()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        self._arrived.set()

    async def wait(self, predicate: Callable[[Event], bool], within: float = 10.0) -> Event:
        deadline = time.monotonic() + within
        while True:
            for event in self.events:
                if predicate(event):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching event in {[e.type for e in self.events]}")
            self._arrived.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()
            except TimeoutError:
                continue


@pytest.fixture
async def ari(
    pbx: tuple[Sandbox, SandboxInfo],
) -> AsyncIterator[tuple[AriClient, Recorder, asyncio.Task[None]]]:
    _box, info = pbx
    recorder = Recorder()
    backoff = Backoff(initial=0.2, maximum=2.0)
    async with (
        AriClient(
            info.pbx.ari_url,
            info.pbx.ari_user,
            info.pbx.ari_password,
            APP,
            backoff=backoff,
            rest_on_socket=True,
        ) as client,
        events_of(client, recorder) as task,
    ):
        async with asyncio.timeout(10):
            await client.wait_ready()
        try:
            yield client, recorder, task
        finally:
            for channel in await client.list_channels():
                with contextlib.suppress(AriNotFound):
                    await client.hangup(channel.id)


def of(channel_id: str, *types: str) -> Callable[[Event], bool]:
    return lambda e: e.channel_id == channel_id and e.type in types


async def answered_leg(
    client: AriClient,
    recorder: Recorder,
    channel_id: str,
    *,
    app_args: tuple[str, ...] = ("leg=officer",),
    variables: Mapping[str, str] | None = None,
) -> Event:
    """Dial the pstn's answering officer into the test app; its StasisStart."""
    await client.originate(
        endpoint=f"PJSIP/{officer_number(ANSWERS, 0)}@pstn-trunk",
        app=APP,
        app_args=app_args,
        channel_id=channel_id,
        ring_timeout=10,
        variables=variables,
    )
    return await recorder.wait(of(channel_id, "StasisStart"))


@contextlib.asynccontextmanager
async def events_of(client: AriClient, recorder: Recorder) -> AsyncIterator[asyncio.Task[None]]:
    """``client``'s events flowing to ``recorder`` until the block ends (then cancelled)."""
    task = asyncio.create_task(client.run_events(recorder))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def busy_leg(client: AriClient, channel_id: str, **args: Any) -> None:
    """Dial the pstn's busy officer into the test app (it ends at once, cause 17)."""
    await client.originate(
        endpoint=f"PJSIP/{officer_number(BUSY, 0)}@pstn-trunk",
        app=APP,
        channel_id=channel_id,
        ring_timeout=10,
        **args,
    )


async def test_connecting_registers_the_app_with_its_event_filter(
    ari: tuple[AriClient, Recorder, asyncio.Task[None]],
) -> None:
    client, _recorder, _task = ari
    assert client.ready
    app = await client.get_application()
    assert app["name"] == APP
    allowed = {item["type"] for item in app["events_allowed"]}
    assert allowed == set(DEFAULT_EVENT_TYPES) | {REST_RESPONSE}
    assert "ChannelVarset" not in allowed


async def wait_for_rest_over_websocket(client: AriClient, within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not client.rest_over_websocket:
            await client.changed()


async def test_rest_travels_on_the_events_socket_with_values_unchanged(
    ari: tuple[AriClient, Recorder, asyncio.Task[None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asterisk 22.10 answers REST requests on the events socket: an answered leg's requests
    go there (setting a variable, which Asterisk runs on the channel's thread, over HTTP),
    query values and JSON bodies arrive as sent, errors keep their status."""
    client, recorder, _task = ari
    await wait_for_rest_over_websocket(client)
    over_http: list[str] = []
    real_http = client._exchange_http

    async def counted(
        method: str, path: str, params: dict[str, str], body: Mapping[str, Any] | None
    ) -> tuple[int, str, str]:
        over_http.append(f"{method} {path}")
        return await real_http(method, path, params, body)

    monkeypatch.setattr(client, "_exchange_http", counted)
    odd = "Nguyễn Văn A & co, 50% = ok?"
    await answered_leg(client, recorder, "itest-ws", variables={"CALLROUTER_TEST": odd})
    assert await client.get_variable("itest-ws", "CALLROUTER_TEST") == odd
    await client.set_variable("itest-ws", "CALLROUTER_OTHER", odd + " (2)")
    assert await client.get_variable("itest-ws", "CALLROUTER_OTHER") == odd + " (2)"
    with pytest.raises(AriNotFound):
        await client.get_channel("itest-no-such-channel")
    await client.hangup("itest-ws")
    await recorder.wait(of("itest-ws", "ChannelDestroyed"))
    assert over_http == ["POST /channels/itest-ws/variable"]


async def test_a_request_asterisk_holds_for_a_prompt_does_not_hold_the_others(
    ari: tuple[AriClient, Recorder, asyncio.Task[None]],
) -> None:
    """Asterisk sets a channel variable on the channel's own thread, which is busy while the
    channel plays a prompt outside a bridge: on the events socket that request would hold
    every later one (each call's) until the prompt ends. It goes over HTTP, so the others
    answer at once meanwhile."""
    client, recorder, _task = ari
    await wait_for_rest_over_websocket(client)
    await answered_leg(client, recorder, "itest-prompt")
    await client.play("itest-prompt", ["sound:tt-monkeys"] * 3, playback_id="itest-long")
    held = asyncio.create_task(client.set_variable("itest-prompt", "CALLROUTER_TEST", "held"))
    await asyncio.sleep(0.3)
    assert not held.done(), "Asterisk no longer holds this for a prompt: bench_socket_holds.py"
    async with asyncio.timeout(1):  # on the socket, answered though the variable waits
        assert (await client.get_channel("itest-prompt")).id == "itest-prompt"
        await client.list_bridges()
    await client.stop_playback("itest-long")
    async with asyncio.timeout(5):
        await held
    assert await client.get_variable("itest-prompt", "CALLROUTER_TEST") == "held"
    await client.hangup("itest-prompt")


async def test_an_officers_leg_whose_answer_was_lost_with_the_socket_is_dialled_once(
    ari: tuple[AriClient, Recorder, asyncio.Task[None]],
) -> None:
    """The events socket drops right after an originate went out on it: Asterisk dials, the
    answer is lost. The client sends it again over HTTP; Asterisk makes the leg from
    whichever copy it reads first and refuses the other (409), and the client reads the leg
    back: the caller's officer is dialled once and the flow gets its leg, not an error
    (issue 23)."""
    client, _recorder, _task = ari
    await wait_for_rest_over_websocket(client)
    socket = client._rest_ws
    assert socket is not None
    with structlog.testing.capture_logs() as logs:
        originate = asyncio.create_task(
            client.originate(
                # it rings on: an answer would enter Stasis while no socket is open, and
                # Asterisk hangs up a channel whose application is away
                endpoint=f"PJSIP/{officer_number(RINGS_FOREVER, 0)}@pstn-trunk",
                app=APP,
                app_args=("leg=officer",),
                channel_id="itest-lost",
                ring_timeout=10,
            )
        )
        await asyncio.sleep(0)  # the request is on the wire, its answer not read yet
        await socket.close()
        async with asyncio.timeout(10):
            leg = await originate
    assert leg.id == "itest-lost"
    events = [entry["event"] for entry in logs]
    assert "ari.rest.resent_over_http" in events, events  # the answer was lost
    # Quiet, the socket's copy comes first (the resend is refused and the leg read back:
    # AriConflict before the fix); loaded, sometimes the resend's.
    dialled = [c.id for c in await client.list_channels() if c.id.startswith("itest-lost")]
    assert dialled == ["itest-lost"]
    await client.hangup("itest-lost")


async def test_asterisk_starts_a_second_prompt_under_an_id_already_playing(
    ari: tuple[AriClient, Recorder, asyncio.Task[None]],
) -> None:
    """Why a prompt stays on HTTP (``callrouter.asterisk.ari_socket``): sent again after its
    answer was lost with the socket, it would play twice under one id, and stopping the id
    stops one (Asterisk 22.10). If this fails, Asterisk refuses the repeat now and a prompt
    may travel on the socket like an originate."""
    client, recorder, _task = ari
    await answered_leg(client, recorder, "itest-twice")
    for _ in range(2):
        await client.play("itest-twice", ["sound:tt-monkeys"] * 3, playback_id="itest-twice-1")
    await client.stop_playback("itest-twice-1")
    # a request Asterisk runs on the channel's thread waits while the other one plays
    held = asyncio.create_task(client.set_variable("itest-twice", "CALLROUTER_TEST", "held"))
    # held for 0.5 s: it would come back at once if the repeat had been refused
    finished, _ = await asyncio.wait({held}, timeout=0.5)
    assert not finished, "Asterisk refuses a repeat now: see the docstring"
    await client.stop_playback("itest-twice-1")  # the second
    async with asyncio.timeout(5):
        await held
    await client.hangup("itest-twice")


async def test_busy_leg_ends_at_once_with_cause_17_and_no_varset_noise(
    ari: tuple[AriClient, Recorder, asyncio.Task[None]],
) -> None:
    client, recorder, _task = ari
    started = time.monotonic()
    await busy_leg(client, "itest-busy", app_args=["leg=officer"])
    destroyed = await recorder.wait(of("itest-busy", "ChannelDestroyed"))
    assert destroyed.cause == 17
    assert time.monotonic() - started < 2.0
    assert not [e for e in recorder.events if e.type == "ChannelVarset"]


async def test_unanswered_leg_ends_after_its_timeout_with_cause_19(
    ari: tuple[AriClient, Recorder, asyncio.Task[None]],
) -> None:
    client, recorder, _task = ari
    started = time.monotonic()
    await client.originate(
        endpoint=f"PJSIP/{officer_number(RINGS_FOREVER, 0)}@pstn-trunk",
        app=APP,
        channel_id="itest-noanswer",
        ring_timeout=2,
    )
    destroyed = await recorder.wait(of("itest-noanswer", "ChannelDestroyed"), within=10)
    assert destroyed.cause == 19
    assert 1.5 <= time.monotonic() - started <= 5.0


async def test_answered_leg_enters_stasis_with_its_args_and_can_be_bridged(
    ari: tuple[AriClient, Recorder, asyncio.Task[None]],
) -> None:
    client, recorder, _task = ari
    start = await answered_leg(client, recorder, "itest-answer", app_args=("leg=officer", "seq=1"))
    assert start.args == ("leg=officer", "seq=1")
    assert start.channel is not None
    assert start.channel.state == "Up"
    bridge = await client.create_bridge("itest-bridge", name="callrouter-call-itest")
    assert bridge.id == "itest-bridge"
    await client.add_channels("itest-bridge", ["itest-answer"])
    # (ChannelEnteredBridge is not in the app's event filter: nothing in the flow waits for it)
    deadline = time.monotonic() + 10
    while True:
        [listed] = [b for b in await client.list_bridges() if b.id == "itest-bridge"]
        if listed.channels or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert listed.channels == ("itest-answer",)
    assert listed.name == "callrouter-call-itest"
    linkedid = await client.get_variable("itest-answer", "CHANNEL(linkedid)")
    assert linkedid
    await client.hangup("itest-answer")
    await recorder.wait(of("itest-answer", "ChannelDestroyed"))
    await client.destroy_bridge("itest-bridge")
    with pytest.raises(AriNotFound):
        await client.hangup("itest-answer")
    with pytest.raises(AriNotFound):
        await client.destroy_bridge("itest-bridge")


async def test_events_come_back_after_asterisk_restarts(
    pbx: tuple[Sandbox, SandboxInfo], ari: tuple[AriClient, Recorder, asyncio.Task[None]]
) -> None:
    box, _info = pbx
    client, recorder, _task = ari
    assert client.connects == 1
    box.cli("pbx", "core restart now")
    deadline = time.monotonic() + 30
    while client.connects < 2 or not client.ready:
        assert time.monotonic() < deadline, "the events socket did not come back"
        await asyncio.sleep(0.1)
    # Events flow again, through the re-registered app and its re-applied filter.
    await busy_leg(client, "itest-after-restart")
    destroyed = await recorder.wait(of("itest-after-restart", "ChannelDestroyed"), within=15)
    assert destroyed.cause == 17
    app = await client.get_application()
    assert "ChannelVarset" not in {item["type"] for item in app["events_allowed"]}
    await wait_for_rest_over_websocket(client)  # asked again on the new socket


async def test_a_second_connection_takes_the_application_and_the_first_stands_by(
    pbx: tuple[Sandbox, SandboxInfo],
) -> None:
    """Two clients on one application (a second router by mistake): Asterisk gives the events
    to the newer one; the older goes unready within a second and does not take the
    application back while the newer lives; once the newer is gone it connects again."""
    _box, info = pbx
    login = (info.pbx.ari_url, info.pbx.ari_user, info.pbx.ari_password, APP)
    first_events, second_events = Recorder(), Recorder()
    checks: list[int] = []  # the first client's answers to "is the application there?"
    checked = asyncio.Event()

    def trace(client: AriClient, data: dict[str, Any]) -> None:
        if client is first and (data.get("rest"), data.get("path")) == (
            "GET",
            f"/applications/{APP}",
        ):
            checks.append(int(data["status"]))
            checked.set()

    previous, AriClient.tracer = AriClient.tracer, trace
    try:
        async with (
            AriClient(*login, standby_poll=0.5, rest_on_socket=True) as first,
            AriClient(*login, rest_on_socket=True) as second,
            events_of(first, first_events),
        ):
            async with asyncio.timeout(10):
                await first.wait_ready()
            async with events_of(second, second_events):
                async with asyncio.timeout(10):
                    await second.wait_ready()
                taken_at = time.monotonic()
                async with asyncio.timeout(1):
                    while first.ready:
                        await first.changed()
                replaced_within = time.monotonic() - taken_at
                checks.clear()  # (the one made at connect, to move REST onto the socket)
                await busy_leg(second, "itest-taken")
                destroyed = await second_events.wait(of("itest-taken", "ChannelDestroyed"), 15)
                assert destroyed.cause == 17
                async with asyncio.timeout(10):  # four stand-by checks: the application is there
                    while len(checks) < 4:
                        checked.clear()
                        await checked.wait()
                assert checks[:4] == [200] * 4
                assert (first.ready, first.connects, first.replaced) == (False, 1, 1)
                assert second.ready
            async with asyncio.timeout(10):  # the newer is gone: three free checks, then back
                await first.wait_ready()
            assert first.connects == 2
            await busy_leg(first, "itest-back")
            await first_events.wait(of("itest-back", "ChannelDestroyed"), 15)
    finally:
        AriClient.tracer = previous
    assert replaced_within < 1.0
    assert not [e for e in first_events.events if e.channel_id == "itest-taken"]
