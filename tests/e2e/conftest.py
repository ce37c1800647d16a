"""Fixtures of the end-to-end tests: one fresh pbx + pstn pair per test session (per worker).

``sandbox`` (session, tests/conftest.py) starts fresh instances on this worker's slot through
``scripts/asterisk-sandbox`` and stops them at the end; ``harness`` (per test) connects to
both instances' AMI and ARI and, after the test,
hangs up whatever is left so the next test starts from idle instances.
``router_mode`` (per test, params ``ari``/``agi``) runs a shared scenario in both routing modes
(tests/e2e/router_modes.py). ``CALLROUTER_SANDBOX_SLOT`` picks the (first) slot, default 0.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from callrouter.asterisk.ari import AriClient
from callrouter.calls.fake_ari import TRACES_ENV, TraceWriter
from tests.e2e.agi_support import agi_mode, free_port
from tests.e2e.harness import Harness, Sandbox
from tests.e2e.router_modes import MODES, RouterMode


@pytest.fixture
async def harness(sandbox: Sandbox) -> AsyncIterator[Harness]:
    """AMI + ARI access to the running sandbox; leaves both instances idle afterwards."""
    async with Harness(sandbox.info()) as h:
        try:
            yield h
        finally:
            await h.hangup_all()
            await h.wait_idle()


@pytest.fixture(params=MODES)
def router_mode(
    request: pytest.FixtureRequest, sandbox: Sandbox, harness: Harness
) -> Iterator[RouterMode]:
    """The mode a shared scenario runs in (test ids ``[ari]``/``[agi]``); in AGI mode the pbx
    sends branch 3 to FastAGI on a port of this test's own until the test ends."""
    if request.param == "agi":
        port = free_port()
        with agi_mode(sandbox, port):
            yield RouterMode("agi", harness, port)
    else:
        yield RouterMode("ari", harness)


@pytest.fixture(autouse=True)
def ari_trace(request: pytest.FixtureRequest) -> Iterator[None]:
    """With ``CALLROUTER_ARI_TRACES=<folder>``: record what the router's ARI client sent and
    received during the test into ``<folder>/<test id>.jsonl`` (replayed by the unit tests,
    callrouter/calls/fake_ari.py)."""
    folder = os.environ.get(TRACES_ENV)
    if not folder:
        yield
        return
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in request.node.name)
    with TraceWriter(Path(folder) / f"{name.strip('_')}.jsonl") as writer:
        AriClient.tracer = writer
        try:
            yield
        finally:
            AriClient.tracer = None
