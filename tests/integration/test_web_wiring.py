"""``build_app`` + ``readiness_checks``: what ``callrouter serve`` mounts, with real parts."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from callrouter.calls.live import LiveCalls
from callrouter.errors import ConfigError
from callrouter.metrics import Metrics
from callrouter.rota.status import RotaTracker
from callrouter.settings import Settings
from callrouter.store.db import make_engine
from callrouter.store.migrate import upgrade
from callrouter.web import WebSettings, build_app
from callrouter.web.app import SID_COOKIE
from tests.integration.web_harness import (
    EXAMPLE_ROTA,
    PASSWORD_HASH,
    START,
    USER,
    csrf_of,
    load_example_rota,
    login,
)

pytestmark = pytest.mark.integration


async def _health(app: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get("/healthz")


async def test_healthz_reflects_ari_rota_and_a_real_database(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.sqlite3'}")
    await upgrade(engine)
    tracker = RotaTracker(path=EXAMPLE_ROTA)
    ari = {"up": False}
    app = build_app(
        Settings(_env_file=None),
        WebSettings(_env_file=None),
        engine=engine,
        rota=tracker,
        live=LiveCalls(),
        metrics=Metrics(),
        ari_ready=lambda: ari["up"],
    )
    try:
        response = await _health(app)
        assert response.status_code == 503
        assert response.json()["checks"] == {"ari": False, "rota": False, "database": True}
        ari["up"] = True
        tracker.loaded(load_example_rota(), START)
        response = await _health(app)
        assert response.status_code == 200
        assert response.json()["status"] == "ready"
    finally:
        await engine.dispose()


async def test_healthz_stops_being_ready_while_serve_drains(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.sqlite3'}")
    await upgrade(engine)
    tracker = RotaTracker(path=EXAMPLE_ROTA)
    tracker.loaded(load_example_rota(), START)
    accepting = {"yes": True}
    app = build_app(
        Settings(_env_file=None),
        WebSettings(_env_file=None),
        engine=engine,
        rota=tracker,
        live=LiveCalls(),
        metrics=Metrics(),
        ari_ready=lambda: True,
        accepting_calls=lambda: accepting["yes"],
    )
    try:
        assert (await _health(app)).status_code == 200
        accepting["yes"] = False
        response = await _health(app)
        assert response.status_code == 503
        assert response.json()["checks"]["accepting_calls"] is False
    finally:
        await engine.dispose()


async def test_healthz_is_not_ready_when_the_database_does_not_answer() -> None:
    engine = make_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nothing")
    tracker = RotaTracker(path=EXAMPLE_ROTA)
    tracker.loaded(load_example_rota(), START)
    app = build_app(
        Settings(_env_file=None),
        WebSettings(_env_file=None),
        engine=engine,
        rota=tracker,
        live=LiveCalls(),
        metrics=Metrics(),
        ari_ready=lambda: True,
    )
    try:
        response = await _health(app)
        assert response.status_code == 503
        assert response.json()["checks"] == {"ari": True, "rota": True, "database": False}
    finally:
        await engine.dispose()


async def test_pages_say_clearly_when_the_database_does_not_answer() -> None:
    engine = make_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nothing")
    tracker = RotaTracker(path=EXAMPLE_ROTA)
    tracker.loaded(load_example_rota(), START)
    app = build_app(
        Settings(_env_file=None),
        WebSettings(_env_file=None, users={USER: PASSWORD_HASH}, plain_http=True),
        engine=engine,
        rota=tracker,
        live=LiveCalls(),
        metrics=Metrics(),
        ari_ready=lambda: True,
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            # Sessions live in the database: logging in says so instead of failing oddly.
            page = await login(client)
            assert page.status_code == 503
            assert "Cơ sở dữ liệu tạm thời không trả lời" in page.text
            # A browser that still holds a session cookie gets the same page.
            token = csrf_of((await client.get("/login")).text)
            client.cookies.set(SID_COOKIE, "a-session-from-before-the-outage")
            page = await client.get("/")
            assert page.status_code == 503
            assert "Cơ sở dữ liệu tạm thời không trả lời" in page.text
            post = await client.post("/calls/x/cases", data={"csrf": token, "kind": "phan_anh"})
            assert post.status_code == 503
            assert "thao tác chưa được thực hiện" in post.text
    finally:
        await engine.dispose()


def test_a_malformed_password_hash_in_the_settings_is_a_clear_config_error() -> None:
    engine = make_engine("sqlite+aiosqlite:///unused.sqlite3")
    with pytest.raises(
        ConfigError, match=r"CALLROUTER_WEB_USERS: password hash of 'lan': expected"
    ):
        build_app(
            Settings(_env_file=None),
            WebSettings(_env_file=None, users={USER: PASSWORD_HASH, "lan": "hunter2"}),
            engine=engine,
            rota=RotaTracker(path=EXAMPLE_ROTA),
            live=LiveCalls(),
            metrics=Metrics(),
            ari_ready=lambda: True,
        )
