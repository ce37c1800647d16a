"""FastAGI mode's simultaneous ringing over real sockets, with a real call log (SQLite): each
Local leg reports itself, the first ``answered`` wins, a late one is told to drop its leg
(``CALLROUTER_AGI_WON=0``), and a leg's late report never changes a finished attempt."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from callrouter.asterisk.fastagi import AgiCallFlow
from callrouter.asterisk.fastagi_server import FastAgiServer
from callrouter.rota import load_rota
from callrouter.routing import CallInfo, Decision, decide
from callrouter.store.writer import CallLog
from tests.e2e.callflow_support import write_rota
from tests.integration.test_fastagi_server import the_call

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

NUMBERS = ["0905100001", "0905100002", "0906100003"]
LINKEDID = "pbx-20.1"


@dataclass
class Running:
    server: FastAgiServer
    log: CallLog
    url: str


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    rota = load_rota(
        write_rota(
            tmp_path / "rota.yaml", NUMBERS, strategy="simultaneous", confirm=(True, True, True)
        )
    )
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"

    def decider(now: datetime, call: CallInfo) -> Decision:
        return decide(rota, now, call)

    async with CallLog(url, tmp_path / "spool", tz=rota.timezone) as log:
        server = FastAgiServer(AgiCallFlow(log, decider).routes(), connection_timeout=2.0)
        await server.start("127.0.0.1", 0)
        try:
            yield Running(server, log, url)
        finally:
            await server.close()


async def agi(port: int, script: str, *args: str) -> dict[str, str]:
    """Act as Asterisk running ``AGI(agi://…/script,args)``: answer every command 200 and
    return the variables callrouter set (``EXEC MSet``)."""
    lines = [
        "agi_network: yes",
        f"agi_network_script: {script}",
        "agi_channel: Local/1@callrouter-agi-leg-00000001;2",
        "agi_uniqueid: u1",
        "agi_callerid: 0987654321",
        *(f"agi_arg_{i}: {a}" for i, a in enumerate(args, start=1)),
    ]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out: dict[str, str] = {}
    try:
        writer.write(("\n".join(lines) + "\n\n").encode())
        await writer.drain()
        async with asyncio.timeout(5):
            while line := await reader.readline():
                _verb, _app, arg = line.decode().rstrip("\n").split(" ", 2)
                for item in arg.strip('"').split(","):
                    name, _, value = item.partition("=")
                    out[name] = value
                writer.write(b"200 result=0\n")
                await writer.drain()
    finally:
        writer.close()
    return out


async def test_a_declined_leg_ends_alone_the_first_answer_wins_and_a_late_one_is_dropped(
    running: Running,
) -> None:
    port = running.server.port
    got = await agi(port, "route", LINKEDID, "3")
    assert (got["CALLROUTER_AGI_STRATEGY"], got["CALLROUTER_AGI_PRESTARTED"]) == (
        "simultaneous",
        "1",
    )
    # Leg 3 presses 9: its Local channel reports it; the others ring on.
    assert await agi(port, "attempt", LINKEDID, "end", "3", "3", "ANSWER", "16", "9") == {}
    # Leg 2 presses 1 first and takes the call; nothing is set on its channel (it bridges).
    assert await agi(port, "answered", LINKEDID, "2", "2", NUMBERS[1]) == {}
    # Leg 1 presses 1 a moment later: told to drop; its Local channel's report changes nothing.
    assert await agi(port, "answered", LINKEDID, "1", "1", NUMBERS[0]) == {
        "CALLROUTER_AGI_WON": "0"
    }
    assert await agi(port, "attempt", LINKEDID, "end", "1", "1", "ANSWER", "16", "1") == {}
    # The winner's Local channel going away, then the caller's end of the call.
    assert await agi(port, "attempt", LINKEDID, "end", "2", "2", "ANSWER", "16", "1") == {}
    assert await agi(port, "attempt", LINKEDID, "end", "1", "all", "ANSWER", "16", "") == {}
    args = (LINKEDID, "abandoned", "1", "1", "all", "ANSWER", "16")
    assert await agi(port, "end", *args) == {}
    await running.log.flush()

    call, attempts = await the_call(running.url)
    assert (call["mode"], call["outcome"], call["answered_number"]) == (
        "agi",
        "answered",
        NUMBERS[1],
    )
    assert [(a["seq"], a["number"], a["result"], a["cause"]) for a in attempts] == [
        (1, NUMBERS[0], "cancelled", None),
        (2, NUMBERS[1], "answered", 16),
        (3, NUMBERS[2], "declined", None),
    ]
    assert [a["answered_at"] is not None for a in attempts] == [False, True, False]


async def test_an_answer_after_the_call_is_over_is_dropped(running: Running) -> None:
    port = running.server.port
    await agi(port, "route", LINKEDID, "3")
    await agi(port, "end", LINKEDID, "abandoned", "1", "1", "all", "", "16")
    assert await agi(port, "answered", LINKEDID, "1", "1", NUMBERS[0]) == {
        "CALLROUTER_AGI_WON": "0"
    }
    await running.log.flush()
    call, attempts = await the_call(running.url)
    assert call["outcome"] == "abandoned"
    assert {a["result"] for a in attempts} == {"cancelled"}
