"""Shared set-up of the admin web tests: a real database (SQLite file or PostgreSQL
``callrouter_web_test``) migrated with the real Alembic scripts and filled with a generated
month of calls, the example rota, an injected clock, and a recording call-back dialer.

The dialer is the one part replaced: the real one originates a call through Asterisk ARI
(the call flow's job, covered by the e2e suite); here it records what it was asked to do
so a test can tell one call-back from two.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from starlette.applications import Starlette

from callrouter.calls.live import LiveCalls
from callrouter.cases.config import load_cases_config
from callrouter.cases.edit import CaseRules
from callrouter.cases.workdays import WorkCalendar
from callrouter.metrics import Metrics
from callrouter.report.sample import SampleRows, generated_rows, insert_rows
from callrouter.rota import Rota, load_rota
from callrouter.rota.status import RotaTracker
from callrouter.store.db import make_engine
from callrouter.store.migrate import upgrade
from callrouter.store.models import call_attempts, call_events, callbacks, calls, cases
from callrouter.web import WebServer, WebSettings, create_app
from callrouter.web.security import hash_password
from tests.conftest import WORKER

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_ROTA = ROOT / "config" / "rota.example.yaml"
EXAMPLE_CASES = ROOT / "config" / "cases.example.yaml"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# Tuesday 10 November 2026, 10:30 in Viet Nam: inside office hours of the example rota.
START = datetime(2026, 11, 10, 10, 30, tzinfo=TZ).astimezone(UTC)
PASSWORD = "mật-khẩu-thử-1022"  # noqa: S105 (a test-only credential)
USER = "admin"
# Its own database, dropped and rebuilt by every test: two suites running at once on one
# server (two checkouts, two CI jobs) each name their own (CALLROUTER_WEB_TEST_DB).
WEB_PG_DB = os.environ.get("CALLROUTER_WEB_TEST_DB", "callrouter_web_test")
METRICS_TOKEN = "scrape-token-for-tests"  # noqa: S105 (test-only)
FEED_TOKEN = "feed-token-all-for-tests"  # noqa: S105 (test-only)
CALLBACK_NUMBER = "0977123456"
CALLBACK_ID = "cb-web-test-0001"
# One hash for the whole run: scrypt is deliberately slow.
PASSWORD_HASH = hash_password(PASSWORD)

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Clock:
    """The injected clock: tests move time forward instead of sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class RecordingDialer:
    """Records call-backs it was asked to place; ``gate`` holds a dial open until set."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    active: set[str] = field(default_factory=set)
    gate: asyncio.Event | None = None
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    fail: bool = False

    async def call_back(self, *, callback_id: str, number: str) -> str:
        self.calls.append((callback_id, number))
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise ConnectionError("ARI originate refused")
        linkedid = f"cbout-{len(self.calls)}"
        self.active.add(linkedid)
        return linkedid

    def in_progress(self, outbound_linkedid: str) -> bool:
        return outbound_linkedid in self.active


@dataclass
class WebEnv:
    app: Starlette
    engine: AsyncEngine
    clock: Clock
    dialer: RecordingDialer
    metrics: Metrics
    live: LiveCalls
    tracker: RotaTracker
    settings: WebSettings
    rows: SampleRows
    readiness: dict[str, bool]
    recordings: Path

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver"
        )

    async def scalar(self, query: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).scalar()


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match is not None, "page has no CSRF field"
    return match.group(1)


async def login(
    client: httpx.AsyncClient, *, user: str = USER, password: str = PASSWORD
) -> httpx.Response:
    page = await client.get("/login")
    return await client.post(
        "/login",
        data={"username": user, "password": password, "csrf": csrf_of(page.text), "next": "/"},
    )


async def form_token(client: httpx.AsyncClient, path: str = "/") -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


async def ensure_pg_database(pg_url: str, name: str = WEB_PG_DB) -> str:
    """The web tests' own PostgreSQL database (created when missing), emptied of tables; one
    per pytest-xdist worker (named after the worker's test database)."""
    name = f"{name}_{WORKER}" if WORKER else name
    admin = create_async_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            exists = (
                await conn.execute(
                    sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                )
            ).scalar()
            if not exists:
                await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(sa.text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()
    return url


def month_rows() -> SampleRows:
    rows = generated_rows(date(2026, 11, 1), 30, per_day=12)
    rows.callbacks.append(
        {
            "id": CALLBACK_ID,
            "call_id": None,
            "number": CALLBACK_NUMBER,
            "reason": "after_hours_message",
            "created_at": START - timedelta(hours=14),
            "recording": "callrouter-message-0001.wav",
            "done_by": None,
            "done_at": None,
            "outbound_linkedid": None,
        }
    )
    return rows


def load_example_rota() -> Rota:
    return load_rota(EXAMPLE_ROTA)


@pytest.fixture(params=["sqlite", "postgresql"])
async def web_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'web.sqlite3'}"
    else:
        pg_url = request.getfixturevalue("pg_url")
        yield await ensure_pg_database(pg_url)


@pytest.fixture
async def web(web_db_url: str, tmp_path: Path) -> AsyncIterator[WebEnv]:
    engine = make_engine(web_db_url)
    await upgrade(engine)
    async with engine.begin() as conn:
        for table in (cases, call_events, call_attempts, callbacks, calls):
            await conn.execute(sa.delete(table))
    rows = month_rows()
    await insert_rows(engine, rows)
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    # A tiny valid WAV (8 kHz mono, 0.1 s of silence): what Asterisk's Record() leaves.
    (recordings / "callrouter-message-0001.wav").write_bytes(_wav(800))
    (tmp_path / "secret.wav").write_bytes(_wav(80))

    clock = Clock(START)
    tracker = RotaTracker(path=EXAMPLE_ROTA)
    tracker.loaded(load_example_rota(), START - timedelta(hours=2))
    readiness = {"ari": True, "rota": True, "database": True}

    def flag(name: str) -> Any:
        async def check() -> bool:
            return readiness[name]

        return check

    settings = WebSettings(
        users={USER: PASSWORD_HASH},
        session_secret="s" * 40,  # pydantic coerces to SecretStr
        metrics_token=METRICS_TOKEN,
        feeds={"all": FEED_TOKEN, "lan": "feed-token-lan"},
        recordings_dir=recordings,
        session_idle_minutes=30,
        session_max_hours=12,
        login_max_failures=3,
        plain_http=True,  # httpx sends Secure cookies over https only; the tests speak http
    )
    metrics = Metrics()
    live = LiveCalls()
    dialer = RecordingDialer()
    app = create_app(
        settings,
        engine=engine,
        rota=tracker,
        live=live,
        metrics=metrics,
        readiness={name: flag(name) for name in readiness},
        dialer=dialer,
        clock=clock,
        case_rules=CaseRules(
            config=load_cases_config(EXAMPLE_CASES),
            calendar=WorkCalendar.from_policy(load_example_rota().holidays),
        ),
    )
    try:
        yield WebEnv(
            app=app,
            engine=engine,
            clock=clock,
            dialer=dialer,
            metrics=metrics,
            live=live,
            tracker=tracker,
            settings=settings,
            rows=rows,
            readiness=readiness,
            recordings=recordings,
        )
    finally:
        await engine.dispose()


def _wav(samples: int) -> bytes:
    import struct

    data = b"\x00\x00" * samples
    header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt "
    header += struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
    return header + b"data" + struct.pack("<I", len(data)) + data


def app_with(web: WebEnv, settings: WebSettings | None = None, **parts: Any) -> Starlette:
    """Another app over ``web``'s database, rota, live calls and clock (its settings, or
    ``settings``), with ``parts`` handed to create_app too (e.g. ``notices=`` a board)."""
    return create_app(
        settings or web.settings,
        engine=web.engine,
        rota=web.tracker,
        live=web.live,
        metrics=Metrics(),
        readiness={},
        dialer=web.dialer,
        clock=web.clock,
        **parts,
    )


@asynccontextmanager
async def serving(web: WebEnv, app: Starlette | None = None, **changes: Any) -> AsyncIterator[str]:
    """A real server on a free port for ``app`` (default: ``web``'s app, or its own app
    over ``web``'s database with settings changed by ``changes``); yields its base URL and
    stops it afterwards."""
    if app is None:
        settings = WebSettings(**{**web.settings.model_dump(), **changes})
        app = app_with(web, settings) if changes else web.app
    server = WebServer(app, "127.0.0.1", 0)
    task = asyncio.create_task(server.run())
    try:
        async with asyncio.timeout(10):
            await server.wait_started()
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()
        async with asyncio.timeout(10):
            await task


def client_from(base: str, address: str, **kwargs: Any) -> httpx.AsyncClient:
    """An HTTP client whose connections come from ``address`` (a loopback address)."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=base, transport=transport, **kwargs)
