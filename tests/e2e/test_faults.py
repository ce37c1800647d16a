"""Faults through two real Asterisks and the real ``callrouter serve`` (issue 6).

callrouter runs as a real ``python -m callrouter serve`` subprocess (so it can be SIGKILLed and
SIGTERMed like in production), with its admin web on a free port for ``/healthz``, writing to a
SQLite call log this test reads. Each test checks what the callers and officers experienced
(the pstn's Caller*/Officer* events), what the pbx shows (channels, bridges) and the rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from callrouter.asterisk import contract
from callrouter.asterisk.ari import AriClient
from callrouter.errors import AriConflict, AriNotFound, AriRequestError
from callrouter.sandbox.router import Router
from callrouter.store.models import Call
from tests.e2e.callflow_support import (
    engine_for,
    running_router,
    wait_for_call,
    write_rota,
)
from tests.e2e.faults_support import (
    guard_process,
    health,
    serve_process,
    wait_health,
    wait_logged,
)
from tests.e2e.harness import (
    ANSWERS,
    PRESSES_1,
    AmiEvent,
    Harness,
    PlacedCall,
    Sandbox,
    officer_number,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150, func_only=True)]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"


async def wait_bridges(harness: Harness, count: int, within: float = 20.0) -> list[dict[str, Any]]:
    """The pbx's two-party callrouter bridges, once there are ``count`` of them."""
    deadline = time.monotonic() + within
    while True:
        bridges = [
            b
            for b in await harness.bridges("pbx")
            if b.get("name", "").startswith("callrouter-call-") and len(b["channels"]) == 2
        ]
        if len(bridges) >= count:
            return bridges
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(bridges)} of {count} callrouter bridges on the pbx")
        await asyncio.sleep(0.1)


async def wait_guarded(
    harness: Harness, bridges: list[dict[str, Any]], within: float = 5.0
) -> None:
    """Every channel of ``bridges`` carries the bridge guard's peer variable. callrouter sets
    it just after bridging (the hang-up handler is there from each leg's start), so a
    kill the moment the bridge is seen can come before it: that window is what
    ``test_given_a_kill_between_bridging_and_guarding…`` covers; the callers waiting here
    are about what happens once the calls are bridged and guarded."""
    channels = [c for b in bridges for c in b["channels"]]
    deadline = time.monotonic() + within
    for channel in channels:
        while True:
            try:
                found = await harness.ari_get(
                    "pbx", f"/channels/{channel}/variable?variable={contract.VAR_PEER}"
                )
                if found.get("value"):
                    break
            except aiohttp.ClientResponseError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"channel {channel} not guarded within {within} s")
            await asyncio.sleep(0.05)


async def officer_channel(harness: Harness, call: PlacedCall) -> dict[str, Any]:
    """The officer's phone channel on the pstn that carries ``call``."""
    for c in await harness.channels("pstn"):
        if c["dialplan"]["context"] == "officer-phones" and (
            c["caller"]["number"] == call.caller_number
            or c["connected"]["number"] == call.caller_number
        ):
            return c
    raise AssertionError(f"no officer channel for {call.caller_number}")


async def hang_up_caller(harness: Harness, call: PlacedCall) -> float:
    """The caller's phone (on the pstn) hangs up; the epoch time it was asked to."""
    [chan] = [c for c in await harness.channels("pstn") if c["id"] == call.tag]
    at = time.time()
    await harness.ami("pstn").action("Hangup", Channel=chan["name"])
    return at


def is_fallback_of(call: PlacedCall) -> Callable[[AmiEvent], bool]:
    def pred(e: AmiEvent) -> bool:
        return (
            e.user_event == contract.EVENT_FALLBACK and e.get("CallerIDNum") == call.caller_number
        )

    return pred


def fallback_of(harness: Harness, call: PlacedCall) -> list[AmiEvent]:
    return harness.events.find(is_fallback_of(call))


# ------------------------------------------------------------------------------ SIGKILL


@contextlib.asynccontextmanager
async def database_locked(path: Path) -> AsyncIterator[None]:
    """Hold SQLite's write lock on ``path`` (readers go on): a router can only spool."""
    con = await asyncio.to_thread(sqlite3.connect, path, timeout=0, check_same_thread=False)
    try:
        await asyncio.to_thread(con.execute, "BEGIN IMMEDIATE")
        yield
    finally:
        await asyncio.to_thread(con.rollback)
        await asyncio.to_thread(con.close)


async def test_given_callrouter_is_killed_mid_call_then_calls_go_on_and_rows_are_closed_later(
    harness: Harness, sandbox: Sandbox, tmp_path: Path, sqlite_url: str
) -> None:
    """SIGKILL with two bridged calls: both go on; one ends while callrouter is down and the
    bridge guard hangs up its caller; a new call meanwhile is rung by the dialplan fallback;
    the router that comes back adopts the other bridge, and closes both calls' rows."""
    answers = officer_number(ANSWERS, 0)
    rota = write_rota(tmp_path / "rota.yaml", [answers], ring_timeout=5)
    engine = engine_for(sqlite_url)
    try:
        # One state directory, as in production: the router that comes back replays what the
        # killed one had spooled but not yet written to the database.
        state = tmp_path / "state"
        # Killed while the two calls are only in its spool: the database is locked for writes
        # from before the calls until after the kill.
        async with (
            serve_process(harness.info, rota, sqlite_url, state) as first,
            database_locked(tmp_path / "calls.sqlite3"),
        ):
            call_a = await harness.place_call(digits="3", hold=90)
            call_c = await harness.place_call(digits="3", hold=90)
            bridges = await wait_bridges(harness, 2)
            await wait_guarded(harness, bridges)
            first.proc.kill()
            assert await first.proc.wait() == -signal.SIGKILL
            async with engine.connect() as conn:
                written = (await conn.execute(select(Call.caller))).scalars().all()
            assert call_a.caller_number not in written
            assert call_c.caller_number not in written
        assert await health(first.healthz) is None
        # Both calls go on in Asterisk.
        still = await wait_bridges(harness, 2, within=1)
        assert {b["id"] for b in still} == {b["id"] for b in bridges}
        assert harness.caller(call_a).hung_up_at is None
        assert harness.caller(call_c).hung_up_at is None

        # A new call while callrouter is down: the dialplan fallback rings the rota's number.
        call_b = await harness.place_call(digits="3", hold=6)
        fallback = await harness.events.wait_for(
            is_fallback_of(call_b), within=15, what="fallback of call B"
        )
        assert fallback.get("Reason") == contract.REASON_STASIS_FAILED

        # The officer of call A hangs up while callrouter is down: the caller is not left
        # alone in the bridge (the bridge guard's hang-up handler on the pbx ends it).
        officer_a = await officer_channel(harness, call_a)
        hung_up_at = time.time()
        await harness.ami("pstn").action("Hangup", Channel=officer_a["name"])
        caller_a = await harness.wait_caller_hangup(call_a, within=10)
        assert caller_a.hung_up_by == "network"
        assert caller_a.hung_up_at is not None
        assert caller_a.hung_up_at - hung_up_at < 2.0
        caller_b = await harness.wait_caller_hangup(call_b, within=40)
        assert harness.officer(answers, call_b).answered
        assert caller_b.hung_up_by == "caller"

        restarted_at = time.time()
        async with serve_process(harness.info, rota, sqlite_url, state) as second:
            # Call A ended while it was down: its row is closed from what Asterisk shows.
            rows_a = await wait_for_call(engine, call_a.caller_number, within=15)
            # Call C is still bridged: adopted, so the officer is not left alone either.
            asked = await hang_up_caller(harness, call_c)
            await harness.wait_user_event(
                "OfficerHangup", source="pstn", Number=answers, Caller=call_c.caller_number
            )
            officer_c = harness.officer(answers, call_c)
            rows_c = await wait_for_call(engine, call_c.caller_number, within=15)
            assert second.proc.returncode is None
        await harness.wait_idle(within=10)
    finally:
        await engine.dispose()

    assert officer_c.hung_up_at is not None
    assert officer_c.hung_up_at - asked < 2.0
    for rows in (rows_a, rows_c):
        c = rows.call
        assert c["outcome"] == "answered", c
        assert c["answered_number"] == answers
        assert c["ended_at"] is not None
        assert c["talk_seconds"] is not None
        assert c["talk_seconds"] > 0
        [attempt] = rows.attempts
        assert attempt["result"] == "answered"
    # Call A ended while callrouter was down; its row's end is no earlier than the hang-up and
    # no later than the moment the second router found it gone.
    assert caller_a.hung_up_at - 1.0 <= rows_a.call["ended_at"].timestamp() <= restarted_at + 5


async def test_given_a_kill_between_bridging_and_guarding_then_the_guard_ends_the_lone_caller(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    """The router guards a bridge just after making it; SIGKILLed in those milliseconds it
    leaves caller and officer bridged with the guard's hang-up handlers idle (no peer named
    yet). Reproduced here by taking the guard's peer variables off both legs (the handler does
    nothing without them) before the kill. When the officer then hangs up, ``callrouter guard``
    finds the caller alone in the dead application's bridge and hangs it up: not left in
    silence."""
    answers = officer_number(ANSWERS, 0)
    rota = write_rota(tmp_path / "rota.yaml", [answers], ring_timeout=5)
    state = tmp_path / "state"
    async with (
        serve_process(harness.info, rota, sqlite_url, state) as router,
        guard_process(harness.info, router.healthz, tmp_path / "guard.log"),
    ):
        call = await harness.place_call(digits="3", hold=90)
        [bridge] = await wait_bridges(harness, 1)
        await wait_guarded(harness, [bridge])
        for channel in bridge["channels"]:
            await harness.ari_post(
                "pbx", f"/channels/{channel}/variable", {"variable": contract.VAR_PEER, "value": ""}
            )
        router.proc.kill()
        assert await router.proc.wait() == -signal.SIGKILL
        # the guard has seen the router dead (3 probes 0.5 s apart) before the officer leaves
        await wait_logged(tmp_path / "guard.log", "guard.router_dead", within=5)
        assert harness.caller(call).hung_up_at is None
        officer = await officer_channel(harness, call)
        hung_up_at = time.time()
        await harness.ami("pstn").action("Hangup", Channel=officer["name"])
        caller = await harness.wait_caller_hangup(call, within=10)
    log = (tmp_path / "guard.log").read_text(errors="replace")
    assert caller.hung_up_by == "network"
    assert caller.hung_up_at is not None
    assert caller.hung_up_at - hung_up_at < 3.0, caller.hung_up_at - hung_up_at
    assert "guard.alone_in_bridge_hung_up" in log


async def wait_row(engine: Any, caller: str, within: float = 20.0) -> Any:
    return await wait_for_call(engine, caller, within=within)


# ------------------------------------------------------------------------------ Asterisk restart


async def test_given_asterisk_restarts_then_router_is_unready_reconnects_and_routes_again(
    harness: Harness, sandbox: Sandbox, tmp_path: Path, sqlite_url: str
) -> None:
    """``core restart now`` with a bridged call and a ringing one: /healthz says 503 until
    the events flow again, the cut calls' rows are ``failed`` with a cause, the next call is
    routed by callrouter (no fallback)."""
    answers = officer_number(ANSWERS, 4)  # rings 4 s, then answers
    rota = write_rota(tmp_path / "rota.yaml", [answers], ring_timeout=10, max_wait=30)
    engine = engine_for(sqlite_url)
    try:
        async with serve_process(harness.info, rota, sqlite_url, tmp_path / "s") as router:
            bridged = await harness.place_call(digits="3", hold=90)
            await wait_bridges(harness, 1)
            ringing = await harness.place_call(digits="3", hold=90)
            await harness.wait_user_event(
                "OfficerRinging", source="pstn", Number=answers, Caller=ringing.caller_number
            )
            statuses: list[int | None] = []

            async def watch() -> None:
                while True:
                    statuses.append(await health(router.healthz))
                    await asyncio.sleep(0.05)

            watcher = asyncio.create_task(watch())
            try:
                await asyncio.to_thread(sandbox.cli, "pbx", "core restart now")
                await harness.wait_caller_hangup(bridged, within=15)
                await harness.wait_caller_hangup(ringing, within=15)
                # The pbx hangs its calls up before it closes the ARI socket: until the router
                # says it reconnected to the new Asterisk, a 200 may still be the old one's
                # (and a call placed then meets a pbx that is still starting).
                await wait_logged(router.log_path, "ari.asterisk_restarted", 30, router.proc)
                back_at = await wait_health(router.healthz, 200, 30, "after the restart")
            finally:
                watcher.cancel()
            after = await harness.place_call(digits="3", hold=8)
            await harness.wait_user_event(
                "OfficerAnswered", source="pstn", Number=answers, Caller=after.caller_number
            )
            await harness.wait_caller_hangup(after, within=30)
            rows_after = await wait_row(engine, after.caller_number)
            rows_bridged = await wait_row(engine, bridged.caller_number)
            rows_ringing = await wait_row(engine, ringing.caller_number)
            assert router.proc.returncode is None
    finally:
        await engine.dispose()

    assert 503 in statuses, statuses
    assert statuses[-1] in (503, 200, None)
    assert back_at > 0
    assert rows_after.call["mode"] == "ari"  # routed by callrouter, not the fallback
    assert rows_after.call["outcome"] == "answered"
    assert [a["result"] for a in rows_after.attempts] == ["answered"]
    for rows in (rows_bridged, rows_ringing):
        c = rows.call
        assert c["outcome"] == "failed", c
        assert c["hangup_cause"] is not None, c
        assert c["ended_at"] is not None
        assert all(a["ended_at"] is not None for a in rows.attempts)
    assert rows_bridged.call["answered_at"] is not None


# ------------------------------------------------------------------------------ SIGTERM


async def test_given_sigterm_then_new_calls_go_to_the_fallback_and_calls_in_progress_finish(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    answers = officer_number(ANSWERS, 0)
    rota = write_rota(tmp_path / "rota.yaml", [answers], ring_timeout=5)
    engine = engine_for(sqlite_url)
    try:
        async with serve_process(
            harness.info, rota, sqlite_url, tmp_path / "s", drain=20
        ) as router:
            talking = await harness.place_call(digits="3", hold=8)
            await wait_bridges(harness, 1)
            router.proc.send_signal(signal.SIGTERM)
            termed = time.monotonic()
            await wait_health(router.healthz, 503, 5, "draining")
            newcomer = await harness.place_call(digits="3", hold=4)
            fallback = await harness.events.wait_for(
                is_fallback_of(newcomer), within=15, what="fallback"
            )
            caller = await harness.wait_caller_hangup(talking, within=20)
            assert await asyncio.wait_for(router.proc.wait(), 20) == 0
            exited = time.monotonic() - termed
            rows = await wait_row(engine, talking.caller_number)
            await harness.wait_caller_hangup(newcomer, within=30)
    finally:
        await engine.dispose()

    assert caller.hung_up_by == "caller"  # not cut by the shutdown
    assert exited < 20
    assert fallback.get("Reason") == contract.REASON_HANDED_BACK
    assert harness.officer(answers, newcomer).answered
    assert rows.call["outcome"] == "answered"
    assert rows.call["talk_seconds"] == pytest.approx(8, abs=1.5)


async def test_given_sigterm_then_drain_is_bounded_and_a_second_signal_exits_at_once(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    answers = officer_number(ANSWERS, 0)
    rota = write_rota(tmp_path / "rota.yaml", [answers], ring_timeout=5)
    async with serve_process(harness.info, rota, sqlite_url, tmp_path / "state", drain=3) as r1:
        call = await harness.place_call(digits="3", hold=90)
        await wait_bridges(harness, 1)
        r1.proc.send_signal(signal.SIGTERM)
        termed = time.monotonic()
        assert await asyncio.wait_for(r1.proc.wait(), 15) == 0
        bounded = time.monotonic() - termed
    # The call outlasted the bound: still bridged in Asterisk (the next router adopts it).
    await wait_bridges(harness, 1, within=1)
    assert harness.caller(call).hung_up_at is None

    async with serve_process(harness.info, rota, sqlite_url, tmp_path / "state", drain=60) as r2:
        await harness.place_call(digits="3", hold=90)
        await wait_bridges(harness, 2)
        r2.proc.send_signal(signal.SIGTERM)
        await wait_health(r2.healthz, 503, 5, "draining")
        r2.proc.send_signal(signal.SIGTERM)
        second = time.monotonic()
        await asyncio.wait_for(r2.proc.wait(), 10)
        at_once = time.monotonic() - second
    assert 3 <= bounded < 8
    assert at_once < 3


# ------------------------------------------------------------------------------ hostile timing


async def assert_one_clean_row(engine: Any, call: PlacedCall, outcomes: set[str]) -> Any:
    rows = await wait_for_call(engine, call.caller_number, within=30)  # raises on 2 rows
    assert rows.call["outcome"] in outcomes, rows.call
    assert rows.call["ended_at"] is not None
    assert all(a["ended_at"] is not None and a["result"] for a in rows.attempts), rows.attempts
    return rows


async def routed_answered(harness: Harness, engine: Any, answers: str) -> None:
    """The service still routes: a fresh call is bridged to ``answers`` and logged answered."""
    call = await harness.place_call(digits="3", hold=3)
    await harness.wait_caller_hangup(call, within=30)
    assert harness.officer(answers, call).answered
    rows = await assert_one_clean_row(engine, call, {"answered"})
    assert rows.call["mode"] == "ari"


async def test_given_callers_hang_up_at_every_moment_then_each_call_has_one_clean_row(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    """Nine callers on a press-1 number hang up 0.9 s to 6 s after the pbx answered: before
    Stasis, during the hold prompt, while the officer rings, during the press-1 prompt,
    around the bridging and while bridged. Each call ends with no channel left, one row."""
    confirm = officer_number(PRESSES_1, 1)  # rings 1 s, answers, presses 1 a second later
    rota = write_rota(tmp_path / "rota.yaml", [confirm], ring_timeout=8, confirm=(True,))
    answers = officer_number(ANSWERS, 0)
    engine = engine_for(sqlite_url)
    holds = (0.3, 0.9, 1.2, 1.6, 2.2, 2.8, 3.3, 3.8, 4.5, 6.0)
    try:
        async with running_router(harness.info, rota, sqlite_url, tmp_path / "state") as router:
            calls = [await harness.place_call(digits="3", hold=h) for h in holds]
            for call in calls:
                await harness.wait_caller_hangup(call, within=40)
            await harness.wait_idle(within=15)
            outcomes = []
            for call, hold in zip(calls, holds, strict=True):
                if hold < 0.8:  # hung up before pressing 3 reached Stasis: not a branch 3 call
                    continue
                rows = await assert_one_clean_row(engine, call, {"abandoned", "answered"})
                outcomes.append(rows.call["outcome"])
            assert not router.task.done()
            write_rota(rota, [answers], ring_timeout=5)
            router.options.reload_rota.set()
            await wait_reloaded(router, answers)
            await routed_answered(harness, engine, answers)
    finally:
        await engine.dispose()
    assert "abandoned" in outcomes
    assert "answered" in outcomes
    assert not [b for b in await harness.bridges("pbx") if b["channels"]]


async def wait_reloaded(router: Router, number: str, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        text = await asyncio.to_thread(router.settings.dialplan_include.read_text, "utf-8")
        if number in text:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("the router did not reload the rota")


FAULTS = [
    pytest.param(("POST", r"^/channels/callrouter-leg-", AriNotFound), id="originate-404"),
    pytest.param(("POST", r"^/bridges/[^/]+$", AriRequestError), id="create-bridge-500"),
    pytest.param(("POST", r"/addChannel$", AriConflict), id="add-to-bridge-409"),
    pytest.param(("POST", r"/play", AriRequestError), id="hold-prompt-500"),
]


@pytest.mark.parametrize("fault", FAULTS)
async def test_given_ari_fails_mid_flow_then_the_call_ends_cleanly_or_falls_back_with_one_row(
    harness: Harness,
    tmp_path: Path,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
    fault: tuple[str, str, type[AriRequestError]],
) -> None:
    """One ARI request of the flow answers 404/409/500 (injected in the client; Asterisk is
    real): the caller still reaches an officer (the next number when a leg cannot be made,
    the dialplan fallback when the flow gave up), the call has exactly one row, and the
    router routes the next call."""
    method, pattern, error = fault
    answers = officer_number(ANSWERS, 1)
    second = officer_number(ANSWERS, 1)
    rota = write_rota(tmp_path / "rota.yaml", [answers, second], ring_timeout=8)
    include = harness.info.pbx.etc_dir / contract.FALLBACK_INCLUDE_FILENAME
    real = AriClient.request
    injected: list[str] = []

    async def faulty(self: AriClient, m: str, path: str, **kw: Any) -> Any:
        if not injected and m == method and re.search(pattern, path):
            injected.append(path)
            raise error(m, path, {AriNotFound: 404, AriConflict: 409}.get(error, 500), "injected")
        return await real(self, m, path, **kw)

    engine = engine_for(sqlite_url)
    try:
        async with running_router(
            harness.info, rota, sqlite_url, tmp_path / "state", dialplan_include=include
        ) as router:
            monkeypatch.setattr(AriClient, "request", faulty)
            call = await harness.place_call(digits="3", hold=8)
            caller = await harness.wait_caller_hangup(call, within=45)
            rows = await assert_one_clean_row(engine, call, {"answered", "failed"})
            assert injected
            assert not router.task.done()
            await routed_answered(harness, engine, answers)
    finally:
        await engine.dispose()
    assert caller.hung_up_by == "caller"  # never cut off
    # by the router or by the fallback
    assert harness.officer(answers, call).answered or harness.officer(second, call).answered
    if error is AriNotFound:  # the first leg could not be made: the second number took it
        assert rows.call["outcome"] == "answered"
        assert [a["result"] for a in rows.attempts] == ["failed", "answered"]
    if rows.call["outcome"] == "failed":
        assert fallback_of(harness, call)
        assert fallback_of(harness, call)[0].get("Reason") == contract.REASON_HANDED_BACK


@pytest.mark.parametrize("moment", ["ringing", "bridged"])
async def test_given_the_events_socket_drops_mid_call_then_the_call_goes_on_with_one_row(
    harness: Harness,
    tmp_path: Path,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
    moment: str,
) -> None:
    """The router's ARI events WebSocket closes while the officer's phone rings (it answers
    meanwhile) or while the call is bridged: the router reconnects, reconciles, and the call
    is answered and ends cleanly, with exactly one row."""
    answers = officer_number(ANSWERS, 2)
    rota = write_rota(tmp_path / "rota.yaml", [answers], ring_timeout=8)
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    real = aiohttp.ClientSession.ws_connect

    def spy(self: aiohttp.ClientSession, url: Any, **kw: Any) -> Any:
        cm = real(self, url, **kw)

        class Spy:
            async def __aenter__(self) -> aiohttp.ClientWebSocketResponse:
                ws: aiohttp.ClientWebSocketResponse = await cm.__aenter__()
                sockets.append(ws)
                return ws

            async def __aexit__(self, *exc: Any) -> None:
                await cm.__aexit__(*exc)

        return Spy()

    monkeypatch.setattr(aiohttp.ClientSession, "ws_connect", spy)
    engine = engine_for(sqlite_url)
    try:
        async with running_router(harness.info, rota, sqlite_url, tmp_path / "state") as router:
            call = await harness.place_call(digits="3", hold=7)
            if moment == "ringing":
                await harness.wait_user_event(
                    "OfficerRinging", source="pstn", Number=answers, Caller=call.caller_number
                )
            else:
                await wait_bridges(harness, 1)
            await sockets[-1].close()
            caller = await harness.wait_caller_hangup(call, within=30)
            await harness.wait_user_event(
                "OfficerHangup", source="pstn", Number=answers, Caller=call.caller_number
            )
            rows = await assert_one_clean_row(engine, call, {"answered"})
            assert len(sockets) >= 2  # it reconnected
            assert not router.task.done()
            await routed_answered(harness, engine, answers)
    finally:
        await engine.dispose()
    officer = harness.officer(answers, call)
    assert caller.hung_up_by == "caller"
    assert officer.hung_up_at is not None
    assert caller.hung_up_at is not None
    assert officer.hung_up_at - caller.hung_up_at < 2.0  # not left alone on the line
    assert rows.call["talk_seconds"] is not None
