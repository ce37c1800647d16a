"""The FastAGI server locked down, over real TCP with a real call log (SQLite): a client without
the URL's secret or from outside the allow-list is refused (logged, counted in /metrics) and
writes nothing; hostile arguments are refused and change nothing; caller numbers from the AGI
header are stored in the one normalised form; the live view stays bounded under a flood."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import structlog
from sqlalchemy import RowMapping, select

from callrouter.app import CallMonitor
from callrouter.asterisk.agi_access import AgiAccess, parse_allow
from callrouter.asterisk.fastagi import AgiCallFlow
from callrouter.asterisk.fastagi_server import FastAgiServer
from callrouter.calls.live import LiveCalls
from callrouter.metrics import Metrics
from callrouter.rota import load_rota
from callrouter.routing import CallInfo, Decision, decide
from callrouter.store.db import make_engine
from callrouter.store.models import Call, callbacks
from callrouter.store.writer import CallLog
from tests.e2e.callflow_support import write_rota
from tests.integration.test_fastagi_server import exchange, headers, variables

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

SECRET = secrets.token_urlsafe(24)  # made per run: no secret in the repo
NUMBERS = ["0901100001", "0902100002"]


@dataclass
class Locked:
    server: FastAgiServer
    flow: AgiCallFlow
    log: CallLog
    url: str
    metrics: Metrics
    live: LiveCalls

    @property
    def port(self) -> int:
        return self.server.port

    def refused(self, reason: str) -> float:
        return self.metrics.value("callrouter_agi_refused_total", {"reason": reason})

    async def rows(self) -> dict[str, RowMapping]:
        await self.log.flush()
        engine = make_engine(self.url)
        try:
            async with engine.connect() as conn:
                rows = (await conn.execute(select(Call.__table__))).mappings().all()
        finally:
            await engine.dispose()
        return {r["linkedid"]: r for r in rows}


@pytest.fixture
async def locked(tmp_path: Path) -> AsyncIterator[Callable[[AgiAccess], Locked]]:
    """Start a server with the given access (one per test), stopped afterwards."""
    rota = load_rota(write_rota(tmp_path / "rota.yaml", NUMBERS, confirm=(False, False)))
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"

    def decider(now: datetime, call: CallInfo) -> Decision:
        return decide(rota, now, call)

    servers: list[FastAgiServer] = []
    async with CallLog(url, tmp_path / "spool", tz=rota.timezone) as log:
        metrics = Metrics()
        live = LiveCalls(max_calls=5)
        flow = AgiCallFlow(log, decider, observer=CallMonitor(live, metrics))

        def start(access: AgiAccess) -> Locked:
            server = FastAgiServer(
                flow.routes(),
                header_timeout=0.5,
                connection_timeout=2.0,
                access=access,
                on_refused=metrics.agi_refused_connection,
            )
            servers.append(server)
            return Locked(server, flow, log, url, metrics, live)

        try:
            yield start
        finally:
            for server in servers:
                await server.close()


async def started(make: Callable[[AgiAccess], Locked], access: AgiAccess) -> Locked:
    env = make(access)
    await env.server.start("127.0.0.1", 0)
    return env


async def test_without_the_urls_secret_nothing_is_read_or_written(
    locked: Callable[[AgiAccess], Locked],
) -> None:
    env = await started(locked, AgiAccess(secret=SECRET))
    with structlog.testing.capture_logs() as logs:
        assert await exchange(env.port, headers("route", "pbx-1.1", "3")) == []
        assert await exchange(env.port, headers("wrong-secret-0123456/route", "pbx-1.2")) == []
        assert await exchange(env.port, headers(f"{SECRET}x/route", "pbx-1.3")) == []
    assert env.refused("secret") == 3
    refusals = [e for e in logs if e["event"] == "agi.refused"]
    assert [e["reason"] for e in refusals] == ["secret"] * 3
    assert SECRET not in repr(logs)  # never logged, not even the near miss
    assert await env.rows() == {}
    got = variables(await exchange(env.port, headers(f"{SECRET}/route", "pbx-1.4", "3")))
    assert (got["CALLROUTER_AGI_OK"], got["CALLROUTER_AGI_TARGET_1"]) == ("1", NUMBERS[0])
    assert set(await env.rows()) == {"pbx-1.4"}


async def test_a_peer_outside_the_allow_list_is_closed_before_it_is_read(
    locked: Callable[[AgiAccess], Locked],
) -> None:
    env = await started(locked, AgiAccess(allow=parse_allow("10.9.8.0/24, ::2")))
    # Closed with the request unread: the kernel may answer with a reset.
    with contextlib.suppress(ConnectionResetError):
        assert await exchange(env.port, headers("route", "pbx-2.1", "3")) == []
    assert env.refused("peer") == 1
    assert await env.rows() == {}
    env = await started(locked, AgiAccess(allow=parse_allow("10.9.8.0/24, 127.0.0.1")))
    got = variables(await exchange(env.port, headers("route", "pbx-2.2", "3")))
    assert got["CALLROUTER_AGI_OK"] == "1"


@pytest.mark.parametrize(
    ("script", "args", "why"),
    [
        ("route", ("x" * 100, "3"), "a 100-character linkedid"),
        ("route", ("pbx-3.9\x00", "3"), "a linkedid with a control character"),
        ("route", ("pbx-3.9", "99999999999999999999"), "a branch past 99"),
        ("end", ("pbx-3.1", "answered", "0", "1", "1", "ANSWER", "16"), "an unknown result"),
        ("end", ("pbx-3.1", "abandoned", "1", "1", "1", "ANSWER", "9" * 30), "a huge cause"),
        ("attempt", ("pbx-3.1", "end", "1", "1", "BUSY", "17", "x"), "a key that is not a key"),
        ("attempt", ("pbx-3.1", "end", "1", "1", "busy;drop", "17", ""), "a lower-case status"),
        ("answered", ("pbx-3.1", "1", "1", "=HYPERLINK(1)"), "a number that is not one"),
        ("message", ("pbx-3.1", "unanswered", "../../etc/passwd"), "a path as recording"),
        ("message", ("pbx-3.1", "unanswered", ".hidden.wav"), "a hidden file as recording"),
        ("route", tuple(["pbx-3.9"] * 11), "eleven arguments"),
        ("route", ("pbx-3.9", "3" * 200), "an argument of 200 characters"),
    ],
)
async def test_hostile_arguments_are_refused_and_change_nothing(
    locked: Callable[[AgiAccess], Locked], script: str, args: tuple[str, ...], why: str
) -> None:
    env = await started(locked, AgiAccess())
    await exchange(env.port, headers("route", "pbx-3.1", "3"))
    before = dict(await env.rows())
    with structlog.testing.capture_logs() as logs:
        assert await exchange(env.port, headers(script, *args)) == [], why
    assert [e["reason"] for e in logs if e["event"] == "agi.refused"] == ["arguments"], why
    assert env.refused("arguments") == 1
    after = await env.rows()
    assert after == before, why
    await env.log.flush()
    engine = make_engine(env.url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(select(callbacks))).all() == []
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("callerid", "stored"),
    [
        ("+84 (90) 555-1234", "+84905551234"),
        ("unknown", None),
        ("anonymous", None),
        ('=HYPERLINK("http://x","y")', None),
        ("0" * 70, None),
    ],
)
async def test_the_agi_caller_number_goes_through_the_one_normaliser(
    locked: Callable[[AgiAccess], Locked], callerid: str, stored: str | None
) -> None:
    env = await started(locked, AgiAccess())
    await exchange(env.port, headers("route", "pbx-4.1", "3", callerid=callerid))
    assert (await env.rows())["pbx-4.1"]["caller"] == stored


async def test_a_flood_of_fake_calls_fills_the_live_view_only_to_its_cap_and_is_counted(
    locked: Callable[[AgiAccess], Locked],
) -> None:
    env = await started(locked, AgiAccess())
    for n in range(8):
        await exchange(env.port, headers("route", f"pbx-5.{n}", "3"))
    assert len(env.live) == 5
    assert env.metrics.value("callrouter_live_calls_refused_total") == 3
    # A call whose end never came is forgotten once it is older than any real call can be.
    later = env.live.snapshot()[-1].started_at + env.live.max_age + timedelta(seconds=1)
    assert env.live.snapshot(later) == []
