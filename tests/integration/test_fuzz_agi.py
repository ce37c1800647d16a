"""Fuzz suite (hypothesis) of FastAGI requests against the real server over real TCP, with the
real call flow, rota decision and call log (SQLite): whatever a client sends, the server
answers or closes within its time limits, never raises out of a handler, and a request it
refuses changes nothing (no record handed to the call log, no call remembered). Everything it
accepted is written without the database refusing a row.

The server runs in its own thread and event loop for the whole module (hypothesis drives a
plain function; each example is one blocking socket exchange, as Asterisk would make it).
``--hypothesis-profile=deep`` runs 10,000 examples (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callrouter.asterisk.agi_access import AgiAccess, parse_allow
from callrouter.asterisk.fastagi import AgiCallFlow
from callrouter.asterisk.fastagi_server import CONNECTION_TIMEOUT, FastAgiServer
from callrouter.rota import load_rota
from callrouter.routing import CallInfo, Decision, decide
from callrouter.store.writer import CallLog
from tests.e2e.callflow_support import write_rota

pytestmark = [pytest.mark.integration, pytest.mark.fuzz, pytest.mark.timeout(1800)]

SECRET = secrets.token_urlsafe(24)
SCRIPTS = ["route", "attempt", "answered", "end", "message"]


@dataclass
class Served:
    port: int
    flow: AgiCallFlow
    server: FastAgiServer
    log: CallLog
    loop: asyncio.AbstractEventLoop

    def state(self) -> tuple[int, frozenset[str], int]:
        """What a refused request must not change: records handed, calls known, refusals."""
        return self.log.stats().handed, frozenset(self.flow.calls), self.server.refused


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("fuzz-agi")
    rota = load_rota(write_rota(tmp / "rota.yaml", ["0901100001", "0902100002"]))
    url = f"sqlite+aiosqlite:///{tmp / 'calls.sqlite3'}"
    ready: Future[Served] = Future()
    stop: Future[None] = Future()

    def decider(now: datetime, call: CallInfo) -> Decision:
        return decide(rota, now, call)

    async def main() -> None:
        async with CallLog(url, tmp / "spool", tz=rota.timezone) as log:
            flow = AgiCallFlow(log, decider)
            server = FastAgiServer(
                flow.routes(),
                header_timeout=0.5,
                connection_timeout=2.0,
                access=AgiAccess(secret=SECRET, allow=parse_allow("127.0.0.1, ::1")),
            )
            await server.start("127.0.0.1", 0)
            ready.set_result(Served(server.port, flow, server, log, asyncio.get_running_loop()))
            await asyncio.wrap_future(stop)
            await server.close()
            await log.flush()
            assert log.stats().rejected == 0  # nothing accepted failed its database write

    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # handed to the test thread below
            errors.append(exc)
            if not ready.done():
                ready.set_exception(exc)

    thread = threading.Thread(target=run, name="fuzz-agi-server")
    thread.start()
    served = ready.result(timeout=30)
    try:
        yield served
    finally:
        served.loop.call_soon_threadsafe(stop.set_result, None)
        thread.join(timeout=60)
        assert not thread.is_alive(), "the FastAGI server did not stop"
        assert not errors, errors


def exchange(port: int, block: bytes) -> None:
    """Act as Asterisk: send ``block``, answer every command 200 until the server closes.
    The server must close within its connection timeout (no hang)."""
    deadline = time.monotonic() + CONNECTION_TIMEOUT + 5
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(block)
            buffered = b""
            while time.monotonic() < deadline:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buffered += chunk
                while b"\n" in buffered:
                    _line, buffered = buffered.split(b"\n", 1)
                    sock.sendall(b"200 result=0\n")
        except (ConnectionResetError, BrokenPipeError):
            return  # refused before reading all of it
    raise AssertionError("the server kept the connection past its timeout")


linkedids = st.one_of(
    st.sampled_from(["pbx-1.1", "pbx-1.2", "1700000000.42"]),
    st.text(max_size=80),
    st.just("x" * 100),
)
args = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        ["start", "end", "all", "forward", "1", "2", "0", "-", "BUSY", "ANSWER", "NOANSWER",
         "16", "17", "99999999999999999999", "abandoned", "unanswered", "after_hours",
         "answered", "0901100001", "=HYPERLINK(1)", "../../etc/passwd", "x.wav", ""]
    ),
)  # fmt: skip
scripts = st.one_of(
    st.sampled_from(SCRIPTS).map(lambda s: f"{SECRET}/{s}"),
    st.sampled_from(SCRIPTS),  # without the secret
    st.text(max_size=30),
)


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:  # now and then: raw bytes
        return draw(st.binary(max_size=300)) + b"\n\n"
    lines = [
        "agi_network: yes",
        f"agi_network_script: {draw(scripts)}",
        f"agi_callerid: {draw(st.one_of(st.text(max_size=30), st.just('0987654321')))}",
        f"agi_uniqueid: {draw(linkedids)}",
        f"agi_arg_1: {draw(linkedids)}",
        *(f"agi_arg_{i}: {a}" for i, a in enumerate(draw(st.lists(args, max_size=11)), start=2)),
    ]
    text = "\n".join(lines) + "\n\n"
    return text.encode("utf-8", errors="surrogatepass")


@given(block=requests())
def test_any_fastagi_request_is_served_or_refused_without_changing_anything(
    served: Served, block: bytes
) -> None:
    handed, calls, refused = served.state()
    exchange(served.port, block)
    after = served.state()
    if after[2] > refused:  # refused: nothing written, nothing remembered
        assert after[:2] == (handed, calls)


def test_the_fuzzed_server_still_routes_a_good_call(served: Served) -> None:
    """Run after the fuzz suite (file order): the server is still healthy."""
    block = (
        f"agi_network: yes\nagi_network_script: {SECRET}/route\nagi_callerid: 0987654321\n"
        "agi_arg_1: pbx-after-fuzz\nagi_arg_2: 3\n\n"
    ).encode()
    exchange(served.port, block)
    assert "pbx-after-fuzz" in served.flow.calls
