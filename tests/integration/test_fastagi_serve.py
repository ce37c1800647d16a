"""The real ``callrouter serve --mode agi`` process: the admin web, ``/healthz`` and
``/metrics`` as in ARI mode, fed by the FastAGI call flow; a graceful SIGTERM drains; the rota
is reloaded on SIGHUP and the dialplan fallback include is rewritten from it.

The test plays Asterisk over real sockets (the FastAGI requests the shipped dialplan sends),
with a real SQLite call log; no Asterisk is needed: AGI mode never connects to one unless AMI
credentials are set (here they are not, so the operator is told to reload the dialplan).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from callrouter.store.db import make_engine
from callrouter.store.models import Call
from tests.e2e.agi_support import AGI_SECRET
from tests.e2e.callflow_support import write_rota
from tests.e2e.faults_support import ServeProcess, agi_serve_process, free_port
from tests.integration.test_fastagi_server import exchange, variables
from tests.integration.test_fastagi_server import headers as plain_headers


def headers(script: str, *args: str) -> bytes:
    """A request as the shipped dialplan sends it with the secret in CALLROUTER_AGI_URL (the
    process under test gets the secret, as agi_serve_process configures it)."""
    return plain_headers(f"{AGI_SECRET}/{script}", *args)


async def route(port: int, linkedid: str) -> dict[str, str]:
    return variables(await exchange(port, headers("route", linkedid, "3")))


pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

FIRST, SECOND = "0901200001", "0902200002"


@dataclass
class AgiServe:
    serve: ServeProcess
    agi_port: int
    include: Path
    url: str
    rota: Path

    @property
    def proc(self) -> asyncio.subprocess.Process:
        return self.serve.proc

    @property
    def web(self) -> str:
        return f"http://127.0.0.1:{self.serve.port}"

    def log_events(self) -> list[dict[str, object]]:
        out = []
        for line in self.serve.log_text().splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def logged(self, event: str) -> bool:
        return any(e.get("event") == event for e in self.log_events())


async def healthz(web: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=web, timeout=2) as client:
        return await client.get("/healthz")


async def until(check: object, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while True:
        result = check() if callable(check) else check
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.1)


async def status_is(web: str, status: int) -> bool:
    try:
        return (await healthz(web)).status_code == status
    except httpx.HTTPError:
        return False


def metric(text: str, name: str) -> float:
    """One sample of the Prometheus text (0.0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


@pytest.fixture
async def agi_serve(tmp_path: Path) -> AsyncIterator[AgiServe]:
    rota = write_rota(tmp_path / "rota.yaml", [FIRST])
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    agi_port = free_port()
    include = tmp_path / "asterisk" / "callrouter_fallback.conf"
    include.parent.mkdir()
    async with agi_serve_process(
        rota,
        url,
        tmp_path / "state",
        agi_port=agi_port,
        env={"CALLROUTER_DIALPLAN_INCLUDE": str(include)},
        drain=30,
    ) as serve:
        yield AgiServe(serve, agi_port, include, url, rota)


async def test_agi_mode_serves_healthz_metrics_and_the_admin_web(agi_serve: AgiServe) -> None:
    health = (await healthz(agi_serve.web)).json()
    # Ready means: the AGI server listens, a rota is loaded, the database answers (no ARI).
    assert health == {
        "status": "ready",
        "checks": {"agi": True, "rota": True, "database": True, "accepting_calls": True},
    }
    async with httpx.AsyncClient(base_url=agi_serve.web, timeout=5) as client:
        login = await client.get("/login")
        assert login.status_code == 200
        assert 'name="password"' in login.text
        assert (await client.get("/", follow_redirects=False)).status_code == 303

        # A call routed over FastAGI is in progress, then rung, then abandoned: the metrics
        # follow the AGI flow (post-dial delay has no AGI-mode measure: the dialplan dials).
        got = await route(agi_serve.agi_port, "pbx-9.1")
        assert got["CALLROUTER_AGI_OK"] == "1"
        metrics = (await client.get("/metrics")).text
        assert metric(metrics, "callrouter_calls_in_progress") == 1
        end = headers("end", "pbx-9.1", "abandoned", "1", "1", "1", "NOANSWER", "16")
        await exchange(agi_serve.agi_port, end)
        metrics = (await client.get("/metrics")).text
        assert metric(metrics, "callrouter_calls_in_progress") == 0
        assert metric(metrics, 'callrouter_calls_total{outcome="abandoned"}') == 1
        assert metric(metrics, 'callrouter_attempts_total{result="cancelled"}') == 1
        assert metric(metrics, "callrouter_post_dial_delay_seconds_count") == 0

        # A request without the AGI URL's secret is refused and counted on /metrics.
        assert await exchange(agi_serve.agi_port, plain_headers("route", "pbx-9.9", "3")) == []
        metrics = (await client.get("/metrics")).text
        assert metric(metrics, 'callrouter_agi_refused_total{reason="secret"}') == 1
    # serve runs on the event loop it is told to (CALLROUTER_EVENT_LOOP; default uvloop's)
    [starting] = [e for e in agi_serve.log_events() if e.get("event") == "serve.starting"]
    assert starting["event_loop"] == os.environ.get("CALLROUTER_EVENT_LOOP", "uvloop")
    # serve keeps glibc's malloc thresholds fixed (callrouter/malloc.py)
    tuned = [e for e in agi_serve.log_events() if e.get("event") == "serve.malloc_thresholds"]
    assert [e["result"] for e in tuned] == ["fixed"]
    # and keeps what it loaded at start out of the cyclic collector's full passes
    [frozen] = [e for e in agi_serve.log_events() if e.get("event") == "serve.gc_frozen"]
    assert int(str(frozen["objects"])) > 50_000


async def test_agi_mode_sigterm_drains_with_healthz_503_and_new_calls_go_to_the_fallback(
    agi_serve: AgiServe,
) -> None:
    got = await route(agi_serve.agi_port, "pbx-9.2")
    assert got["CALLROUTER_AGI_OK"] == "1"
    assert agi_serve.proc.returncode is None
    agi_serve.proc.send_signal(signal.SIGTERM)
    await until(lambda: status_is(agi_serve.web, 503), 10, "/healthz 503 while draining")
    health = (await healthz(agi_serve.web)).json()
    assert health["checks"]["accepting_calls"] is False
    assert health["checks"]["agi"] is True  # still there for the calls in progress
    # A new call gets no decision: the dialplan's fallback takes it.
    late = await route(agi_serve.agi_port, "pbx-9.3")
    assert "CALLROUTER_AGI_OK" not in late
    assert agi_serve.proc.returncode is None
    # The call in progress ends; the router then stops on its own, well before --drain 30.
    started = time.monotonic()
    end = headers("end", "pbx-9.2", "abandoned", "1", "1", "1", "NOANSWER", "16")
    await exchange(agi_serve.agi_port, end)
    assert await asyncio.wait_for(agi_serve.proc.wait(), 20) == 0
    assert time.monotonic() - started < 15
    engine = make_engine(agi_serve.url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(Call.__table__))).mappings().all()
    finally:
        await engine.dispose()
    assert [(r["linkedid"], r["mode"], r["outcome"]) for r in rows] == [
        ("pbx-9.2", "agi", "abandoned")
    ]
    assert agi_serve.logged("agi.not_accepting")


async def test_agi_mode_rewrites_the_fallback_include_on_sighup_and_says_to_reload(
    agi_serve: AgiServe,
) -> None:
    assert FIRST in agi_serve.include.read_text(encoding="utf-8")
    # No AMI credentials: nothing can reload Asterisk's dialplan, and the log says so.
    assert agi_serve.logged("fallback_include.dialplan_not_reloaded")
    write_rota(agi_serve.rota, [SECOND])
    agi_serve.proc.send_signal(signal.SIGHUP)
    await until(
        lambda: SECOND in agi_serve.include.read_text(encoding="utf-8"),
        10,
        "the include follows the rota",
    )
    assert FIRST not in agi_serve.include.read_text(encoding="utf-8")
    assert agi_serve.logged("rota.reload_requested")
    # The next call is routed with the new rota.
    got = await route(agi_serve.agi_port, "pbx-9.4")
    assert got["CALLROUTER_AGI_TARGET_1"] == SECOND
    async with httpx.AsyncClient(base_url=agi_serve.web, timeout=5) as client:
        metrics = (await client.get("/metrics")).text
    assert metric(metrics, "callrouter_rota_reloads_total") >= 1
    await exchange(agi_serve.agi_port, headers("end", "pbx-9.4", "abandoned", "1", "1", "1"))
