"""Shared fixtures.

Services a test needs (PostgreSQL, the Asterisk sandbox) are *required* under ``CI=true``:
when they cannot be reached the test fails with a clear message instead of skipping.

Parallel runs (pytest-xdist, ``-n N``): each worker ``gwK`` owns what could collide with
another worker's tests —

* its own sandbox slot ``CALLROUTER_SANDBOX_SLOT + K`` (ports, state and CDR files of that
  slot's pbx + pstn pair), started once per worker by the session fixture ``sandbox``;
* its own PostgreSQL database ``<test database>_gwK`` (created on first use), so tests that
  share tables of one database (the web tests' database, the e2e call logs) never meet;
* its own temporary directories (pytest's ``tmp_path`` is per worker).

The demo test takes the slot after the workers' (``CALLROUTER_DEMO_SLOT`` overrides it).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest
import uvloop
from hypothesis import HealthCheck, settings

# Hypothesis profiles. `ci` (the default) bounds the fuzz suites' time in CI; `deep` is run by
# hand before a release (`pytest tests -m fuzz --hypothesis-profile=deep
# --hypothesis-show-statistics`): at least 10,000 examples per suite. Tests that need fewer or
# more than the profile give their own @settings.
settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "deep",
    max_examples=10_000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

if TYPE_CHECKING:
    from tests.e2e.harness import Sandbox

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

PG_URL = os.environ.get(
    "CALLROUTER_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/callrouter_test"
)

# pytest-xdist names its workers gw0, gw1, ... and says how many there are; "" without xdist.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
WORKER_INDEX = int(WORKER[2:]) if WORKER.startswith("gw") else 0
WORKER_COUNT = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
BASE_SLOT = int(os.environ.get("CALLROUTER_SANDBOX_SLOT", "0"))
MAX_SLOTS = 6  # scripts/asterisk-sandbox: slots 0..5

#: This process's sandbox slot (the e2e session sandbox and the ARI client tests use it).
SLOT = BASE_SLOT + WORKER_INDEX
#: The demo test's own slot, after every worker's.
DEMO_SLOT = int(os.environ.get("CALLROUTER_DEMO_SLOT", str(BASE_SLOT + WORKER_COUNT)))


def where() -> str:
    """Which worker and slot this process is, for messages."""
    return f"worker {WORKER or 'main'}, sandbox slot {SLOT}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The container stage last: under scripts/test its images are still being built in the
    background while the rest of the suite runs (tests/e2e/test_containers.py waits for them)."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/e2e/test_containers.py"))


#: test modules whose async tests run on both event loops ``serve`` can run on
#: (CALLROUTER_EVENT_LOOP): the ARI client and the FastAGI server, serve's two doors
BOTH_LOOPS = frozenset({"test_ari_client.py", "test_fastagi_server.py"})


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """pytest-asyncio's loops: asyncio's for every test, uvloop's too in :data:`BOTH_LOOPS`."""
    if item.path.name in BOTH_LOOPS:
        return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
    return {"asyncio": asyncio.new_event_loop}


def require_service(what: str, reason: str) -> None:
    """Fail under CI (a missing service is a broken build), skip on a developer's laptop."""
    message = f"{what} is not available: {reason}"
    if IN_CI:
        pytest.fail(message + " (CI=true: required, run scripts/services-up)", pytrace=False)
    pytest.skip(message)


def _tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


async def _create_database(admin_url: str, name: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            )
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of the PostgreSQL test database (``scripts/services-up`` creates it); under
    pytest-xdist each worker's own database beside it, created on first use."""
    parts = urlsplit(PG_URL.replace("+asyncpg", ""))
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    if not _tcp_open(host, port):
        require_service("PostgreSQL", f"nothing listens on {host}:{port}")
    if not WORKER:
        return PG_URL
    from sqlalchemy.engine import make_url

    base = make_url(PG_URL)
    name = f"{base.database}_{WORKER}"
    try:
        # In a thread of its own: an async fixture may be the first to ask, inside a running loop.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _create_database(PG_URL, name)).result()
    except Exception as exc:  # any driver error: say which worker could not get its database
        require_service("PostgreSQL", f"{where()}: cannot create database {name}: {exc}")
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """Fresh pbx + pstn instances on this worker's slot for the test session (stopped at its
    end). Used by the e2e tests and the ARI client's integration tests alike."""
    from tests.e2e.harness import Sandbox, SandboxError

    if not 0 <= SLOT < MAX_SLOTS or not 0 <= DEMO_SLOT < MAX_SLOTS:
        pytest.fail(
            f"{where()}: slots run from 0 to {MAX_SLOTS - 1} (demo slot {DEMO_SLOT}); "
            f"use fewer workers or a lower CALLROUTER_SANDBOX_SLOT",
            pytrace=False,
        )
    box = Sandbox(SLOT)
    started = time.monotonic()
    try:
        box.start()
    except (SandboxError, OSError, subprocess.SubprocessError) as exc:
        require_service("Asterisk sandbox", f"{where()} did not start: {exc}")
    print(f"\nasterisk sandbox up for {where()} in {time.monotonic() - started:.2f} s")
    try:
        yield box
    finally:
        box.stop()
