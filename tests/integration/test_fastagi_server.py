"""The FastAGI server over real sockets, with a real call log (SQLite): good requests get
their decision as SET VARIABLE commands; bad clients (garbage, a 1 MB header block, a client
that stops mid-header, an unknown script, a connect-and-close health check) are logged and
dropped while other connections carry on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import RowMapping, select

from callrouter.asterisk.fastagi import AgiCallFlow
from callrouter.asterisk.fastagi_server import FastAgiServer
from callrouter.calls.vocabulary import FORWARD_OFFICER_ID
from callrouter.rota import load_rota
from callrouter.routing import CallInfo, Decision, decide
from callrouter.store.db import make_engine
from callrouter.store.models import Call, CallAttempt, CallEvent, callbacks
from callrouter.store.writer import CallLog
from tests.e2e.callflow_support import write_rota

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

NUMBERS = ["0901100001", "0902100002"]


@dataclass
class Running:
    server: FastAgiServer
    flow: AgiCallFlow
    log: CallLog
    url: str

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    rota = load_rota(write_rota(tmp_path / "rota.yaml", NUMBERS, confirm=(True, False)))
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"

    def decider(now: datetime, call: CallInfo) -> Decision:
        return decide(rota, now, call)

    async with CallLog(url, tmp_path / "spool", tz=rota.timezone) as log:
        flow = AgiCallFlow(log, decider)
        server = FastAgiServer(flow.routes(), header_timeout=0.5, connection_timeout=2.0)
        await server.start("127.0.0.1", 0)
        try:
            yield Running(server, flow, log, url)
        finally:
            await server.close()


def headers(script: str, *args: str, callerid: str = "0987654321", uniqueid: str = "u1") -> bytes:
    lines = [
        "agi_network: yes",
        f"agi_network_script: {script}",
        "agi_request: agi://127.0.0.1/" + script,
        "agi_channel: PJSIP/pstn-trunk-00000001",
        "agi_language: vi",
        f"agi_uniqueid: {uniqueid}",
        f"agi_callerid: {callerid}",
        "agi_context: callrouter-agi",
        *(f"agi_arg_{i}: {a}" for i, a in enumerate(args, start=1)),
    ]
    return ("\n".join(lines) + "\n\n").encode()


async def exchange(port: int, block: bytes, within: float = 5.0) -> list[str]:
    """Act as Asterisk: send the header block, answer every command 200, return them."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    commands: list[str] = []
    try:
        writer.write(block)
        await writer.drain()
        async with asyncio.timeout(within):
            while line := await reader.readline():
                commands.append(line.decode().rstrip("\n"))
                writer.write(b"200 result=0\n")  # EXEC MSet returns 0
                await writer.drain()
    finally:
        writer.close()
    return commands


def variables(commands: list[str]) -> dict[str, str]:
    """The variables set by ``EXEC MSet "A=1,B=2"`` commands, in order."""
    out = {}
    for command in commands:
        verb, app, arg = command.split(" ", 2)
        assert (verb, app) == ("EXEC", "MSet")
        for item in arg.strip('"').split(","):
            name, _, value = item.partition("=")
            out[name] = value
    return out


async def route(port: int, linkedid: str) -> dict[str, str]:
    return variables(await exchange(port, headers("route", linkedid, "3")))


async def the_call(url: str) -> tuple[RowMapping, list[RowMapping]]:
    """The one ``calls`` row written and its attempts, in seq order."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            [call] = (await conn.execute(select(Call.__table__))).mappings().all()
            attempts = (
                (await conn.execute(select(CallAttempt.__table__).order_by(CallAttempt.seq)))
                .mappings()
                .all()
            )
    finally:
        await engine.dispose()
    return call, list(attempts)


async def test_route_sets_the_decision_as_channel_variables_and_writes_the_call(
    running: Running,
) -> None:
    got = await route(running.port, "pbx-1.1")
    assert got["CALLROUTER_AGI_OK"] == "1"
    assert got["CALLROUTER_AGI_OPEN"] == "1"
    assert got["CALLROUTER_AGI_COUNT"] == "2"
    assert [got["CALLROUTER_AGI_TARGET_1"], got["CALLROUTER_AGI_TARGET_2"]] == NUMBERS
    assert (got["CALLROUTER_AGI_CONFIRM_1"], got["CALLROUTER_AGI_CONFIRM_2"]) == ("1", "0")
    assert got["CALLROUTER_AGI_STRATEGY"] == "sequential"
    for script, args in (
        ("attempt", ("pbx-1.1", "start", "1", "1")),
        ("attempt", ("pbx-1.1", "end", "1", "1", "BUSY", "17", "")),
        ("attempt", ("pbx-1.1", "start", "2", "2")),
        ("answered", ("pbx-1.1", "2", "2", NUMBERS[1])),
        ("end", ("pbx-1.1", "abandoned", "1", "2", "2", "ANSWER", "16")),
    ):
        assert await exchange(running.port, headers(script, *args)) == []
    await running.log.flush()
    call, attempts = await the_call(running.url)
    assert (call["mode"], call["outcome"], call["caller"]) == ("agi", "answered", "0987654321")
    assert call["answered_number"] == NUMBERS[1]
    assert [(a["seq"], a["result"], a["cause"]) for a in attempts] == [
        (1, "busy", 17),
        (2, "answered", 16),
    ]


async def assert_still_serves(running: Running, linkedid: str) -> None:
    got = await route(running.port, linkedid)
    assert got["CALLROUTER_AGI_OK"] == "1"


async def test_garbage_headers_are_logged_and_dropped(running: Running) -> None:
    with structlog.testing.capture_logs() as logs:
        assert await exchange(running.port, b"GET / HTTP/1.0\r\nHost: x\r\n\n") == []
        assert await exchange(running.port, b"\x00\xff\xfe garbage\n\n") == []
    assert [e["event"] for e in logs] == ["agi.bad_request", "agi.bad_request"]
    await assert_still_serves(running, "pbx-2.1")


async def test_a_one_megabyte_header_block_is_refused(running: Running) -> None:
    block = b"agi_network: yes\n" + b"agi_junk: " + b"x" * (1024 * 1024) + b"\n\n"
    with structlog.testing.capture_logs() as logs:
        try:
            commands = await exchange(running.port, block)
        except ConnectionError:  # reset while still sending: the server hung up on it
            commands = []
    assert commands == []
    assert any(e["event"] == "agi.headers_too_large" for e in logs)
    await assert_still_serves(running, "pbx-3.1")


async def test_a_client_stopping_mid_header_times_out_without_blocking_others(
    running: Running,
) -> None:
    with structlog.testing.capture_logs() as logs:
        _reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        writer.write(b"agi_network: yes\nagi_network_scr")
        await writer.drain()
        # Meanwhile the service answers others at once.
        started = time.monotonic()
        await assert_still_serves(running, "pbx-4.1")
        assert time.monotonic() - started < 0.4
        deadline = time.monotonic() + 3
        while not any(e["event"] == "agi.headers_timeout" for e in logs):
            assert time.monotonic() < deadline, logs
            await asyncio.sleep(0.05)
        writer.close()
    # A client that sends part of a header and closes.
    with structlog.testing.capture_logs() as logs:
        _reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        writer.write(b"agi_network: yes\n")
        await writer.drain()
        writer.close()
        deadline = time.monotonic() + 3
        while not any(e["event"] == "agi.headers_cut_short" for e in logs):
            assert time.monotonic() < deadline, logs
            await asyncio.sleep(0.05)


async def test_an_unknown_script_is_logged_and_gets_no_commands(running: Running) -> None:
    with structlog.testing.capture_logs() as logs:
        assert await exchange(running.port, headers("../../etc/passwd", "x")) == []
        assert (
            await exchange(running.port, headers("attempt", "no-such-call", "start", "1", "1"))
            == []
        )
    events = [e["event"] for e in logs]
    assert events == ["agi.unknown_script", "agi.refused"]
    await assert_still_serves(running, "pbx-5.1")


async def test_a_tcp_health_check_connect_and_close_is_harmless(running: Running) -> None:
    with structlog.testing.capture_logs() as logs:
        for _ in range(20):
            _reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
            writer.close()
            await writer.wait_closed()
        await assert_still_serves(running, "pbx-6.1")
        deadline = time.monotonic() + 3
        while sum(e["event"] == "agi.closed_without_request" for e in logs) < 20:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)


async def test_fifty_concurrent_connections_all_get_their_decision(running: Running) -> None:
    results: list[Any] = await asyncio.gather(
        *(route(running.port, f"pbx-7.{i}") for i in range(50))
    )
    assert all(r["CALLROUTER_AGI_OK"] == "1" for r in results)
    assert running.flow.active_calls == 50
    assert running.server.requests == 50


async def test_a_router_restarted_mid_call_still_ends_the_call_row(
    running: Running, tmp_path: Path
) -> None:
    await route(running.port, "pbx-8.1")
    await running.log.flush()
    # A fresh process (empty memory) gets the end of that call from the hang-up handler.
    async with CallLog(running.url, tmp_path / "spool2", tz="Asia/Ho_Chi_Minh") as log:
        flow = AgiCallFlow(log, running.flow.decide)
        server = FastAgiServer(flow.routes())
        await server.start("127.0.0.1", 0)
        try:
            with structlog.testing.capture_logs() as logs:
                args = ("pbx-8.1", "abandoned", "1", "1", "1", "ANSWER", "16")
                assert await exchange(server.port, headers("end", *args)) == []
            await log.flush()
        finally:
            await server.close()
    assert [e["event"] for e in logs] == ["agi.end_of_unknown_call"]
    engine = make_engine(running.url)
    try:
        async with engine.connect() as conn:
            [call] = (await conn.execute(select(Call.__table__))).mappings().all()
    finally:
        await engine.dispose()
    assert (call["linkedid"], call["outcome"], call["mode"]) == ("pbx-8.1", "answered", "agi")


async def test_the_forward_action_is_an_attempt_of_its_own_and_the_call_stays_unanswered(
    tmp_path: Path,
) -> None:
    """As in ARI mode: nobody on the rota answered, the forward number did; the call is
    ``unanswered`` with no officer, the forward an ``answered`` attempt of officer
    ``forward`` ended when the forwarded call is over (the hang-up handler's ``forward``)."""
    forward = "0901100009"
    rota = load_rota(
        write_rota(tmp_path / "rota.yaml", NUMBERS[:1], nobody_answered=f"forward:{forward}")
    )
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"

    def decider(now: datetime, call: CallInfo) -> Decision:
        return decide(rota, now, call)

    async with CallLog(url, tmp_path / "spool", tz=rota.timezone) as log:
        server = FastAgiServer(AgiCallFlow(log, decider).routes())
        await server.start("127.0.0.1", 0)
        try:
            got = await route(server.port, "pbx-9.1")
            assert (got["CALLROUTER_AGI_ACTION"], got["CALLROUTER_AGI_FORWARD"]) == (
                "forward",
                forward,
            )
            for script, args in (
                ("attempt", ("pbx-9.1", "end", "1", "1", "BUSY", "17", "")),
                ("end", ("pbx-9.1", "unanswered", "0", "1", "", "", "")),
                ("attempt", ("pbx-9.1", "start", "2", "forward")),
                ("answered", ("pbx-9.1", "2", "forward", forward)),
                ("end", ("pbx-9.1", "forward", "1", "2", "forward", "ANSWER", "16")),
            ):
                assert await exchange(server.port, headers(script, *args)) == []
            await log.flush()
        finally:
            await server.close()
    call, attempts = await the_call(url)
    assert (call["outcome"], call["answered_officer_id"], call["answered_number"]) == (
        "unanswered",
        None,
        None,
    )
    assert [(a["seq"], a["officer_id"], a["number"], a["result"]) for a in attempts] == [
        (1, "an", NUMBERS[0], "busy"),
        (2, FORWARD_OFFICER_ID, forward, "answered"),
    ]
    assert all(a["ended_at"] is not None for a in attempts)
    assert attempts[1]["answered_at"] is not None
    # The same call events as ARI mode's forward action.
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            events = (
                await conn.execute(
                    select(CallEvent.__table__.c.type, CallEvent.__table__.c.data).order_by(
                        CallEvent.__table__.c.id
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    assert [(t, d) for t, d in events if t.startswith("forward")] == [
        ("forward", {"number": forward}),
        ("forward_answered", {"number": forward, "seq": 2}),
    ]


async def test_while_stopping_a_new_call_gets_no_decision_and_calls_in_progress_drain(
    running: Running,
) -> None:
    """Graceful shutdown (SIGTERM): `route` sets nothing (the dialplan falls back), a call
    already routed is still followed to its end, and drain() returns once it ended."""
    assert (await route(running.port, "pbx-11.1"))["CALLROUTER_AGI_OK"] == "1"
    running.flow.stop_accepting()
    assert await route(running.port, "pbx-11.2") == {}
    assert not await running.flow.drain(0.2)
    draining = asyncio.create_task(running.flow.drain(5))
    args = ("pbx-11.1", "abandoned", "1", "1", "1", "NOANSWER", "16")
    assert await exchange(running.port, headers("end", *args)) == []
    assert await draining
    await running.log.flush()
    call, _attempts = await the_call(running.url)
    assert (call["linkedid"], call["outcome"]) == ("pbx-11.1", "abandoned")


class HeldRoute:
    """A route that takes as long as the test says: ``entered`` once it runs, then waits
    for ``release``."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.finished = False

    async def __call__(self, request: Any) -> None:
        self.entered.set()
        await self.release.wait()
        self.finished = True


async def held_request(port: int, script: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(headers(script, "pbx-12.1", "forward", "0"))
    await writer.drain()
    return reader, writer


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bool:
    """True if the server closes the connection within ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            return await reader.read() == b""
    except TimeoutError:
        return False


async def test_a_request_accepted_as_the_server_closes_finishes_and_its_socket_is_closed() -> None:
    """ci11: a hang-up handler's `end` reached the router as `serve --mode agi` stopped; the
    accepted connection outlived the server and the caller's channel stayed up on it.
    close() lets such a request finish, and no accepted socket outlives it."""
    held = HeldRoute()

    async def end(request: Any) -> None:
        await held(request)

    server = FastAgiServer({"end": end}, header_timeout=0.5, connection_timeout=30.0)
    await server.start("127.0.0.1", 0)
    reader, writer = await held_request(server.port, "end")
    try:
        await asyncio.wait_for(held.entered.wait(), 5)
        closing = asyncio.create_task(server.close(grace=5.0))
        await asyncio.sleep(0.2)
        assert not closing.done(), "close() returned while an accepted request still ran"
        held.release.set()
        await asyncio.wait_for(closing, 5)
        assert held.finished
        assert await closed_by_server(reader, within=1.0)
    finally:
        writer.close()


async def test_a_request_still_running_after_the_grace_is_cut_and_its_socket_closed() -> None:
    held = HeldRoute()

    async def end(request: Any) -> None:
        await held(request)

    server = FastAgiServer({"end": end}, header_timeout=0.5, connection_timeout=30.0)
    await server.start("127.0.0.1", 0)
    port = server.port
    reader, writer = await held_request(port, "end")
    try:
        await asyncio.wait_for(held.entered.wait(), 5)
        started = time.monotonic()
        await server.close(grace=0.3)
        assert time.monotonic() - started < 2.0
        assert not held.finished
        assert await closed_by_server(reader, within=1.0), "the accepted socket outlived close()"
        with pytest.raises(ConnectionRefusedError):  # nothing listens: Asterisk's AGI fails at once
            await asyncio.open_connection("127.0.0.1", port)
    finally:
        writer.close()


async def test_a_message_becomes_a_call_back_entry_or_an_event_without_a_caller_number(
    running: Running,
) -> None:
    await route(running.port, "pbx-10.1")
    recording = "callrouter-message-pbx101-1.wav"
    args = ("pbx-10.1", "unanswered", recording)
    assert await exchange(running.port, headers("message", *args)) == []
    await exchange(running.port, headers("route", "pbx-10.2", "3", callerid="unknown"))
    args = ("pbx-10.2", "after_hours_message", "")
    assert await exchange(running.port, headers("message", *args, callerid="unknown")) == []
    with structlog.testing.capture_logs() as logs:
        assert await exchange(running.port, headers("message", "pbx-10.3", "nonsense")) == []
    assert [e["event"] for e in logs] == ["agi.refused"]
    await running.log.flush()
    engine = make_engine(running.url)
    try:
        async with engine.connect() as conn:
            entries = (await conn.execute(select(callbacks))).mappings().all()
            events = (await conn.execute(select(CallEvent.__table__))).mappings().all()
    finally:
        await engine.dispose()
    assert [(e["number"], e["reason"], e["recording"]) for e in entries] == [
        ("0987654321", "unanswered", recording)
    ]
    [without] = [e for e in events if e["type"] == "message_without_number"]
    assert without["data"] == {"recording": None, "reason": "after_hours_message"}


@pytest.mark.asyncio(loop_factories=["asyncio"])  # asyncio's accept path, patched below
async def test_a_connection_accepted_in_the_turn_the_server_stops_is_closed_not_leaked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ci14, ci15: a hang-up handler's `end` was accepted in the very turn of the event loop
    in which serve stopped listening. asyncio hands an accepted socket to its transport one
    turn later; ``asyncio.Server.close()`` in between makes that hand-over fail (its
    ``_attach`` asserts, the error is swallowed) and leaves the socket to the garbage
    collector — the caller's pbx channel waited 15 s on it. Here the stop comes right after
    the accept, in the same turn; the socket must be closed within a second."""
    loop = asyncio.get_running_loop()

    async def end(request: Any) -> None:
        return None

    server = FastAgiServer({"end": end}, header_timeout=5.0)
    original = loop._accept_connection  # type: ignore[attr-defined]  # asyncio internals
    closing: list[asyncio.Task[None]] = []

    def accept_then_stop(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)
        if not closing:  # serve's stop arrives in the same turn, after this accept
            server.stop_listening()
            closing.append(loop.create_task(server.close(grace=0.5)))

    monkeypatch.setattr(loop, "_accept_connection", accept_then_stop)
    await server.start("127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        assert await closed_by_server(reader, within=1.0), "the accepted socket was leaked"
        await asyncio.wait_for(closing[0], 5)
    finally:
        writer.close()


@pytest.mark.asyncio(loop_factories=["uvloop"])
async def test_on_uvloop_a_stopped_server_refuses_new_connections() -> None:
    """serve's default loop (uvloop) watches a listening socket itself, not through the loop's
    readers: stop_listening() must close it there, or connections go on being accepted (and
    closed unread) until close() gets to it, where asyncio's loop refuses them."""
    handled: list[Any] = []

    async def end(request: Any) -> None:
        handled.append(request)

    server = FastAgiServer({"end": end}, header_timeout=5.0)
    await server.start("127.0.0.1", 0)
    port = server.port
    server.stop_listening()
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        refused = True
    else:
        refused = False
        writer.close()
    await server.close(grace=0.5)
    assert refused, "a connection was accepted after stop_listening()"
    assert handled == []
