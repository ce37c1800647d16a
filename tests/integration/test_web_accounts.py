"""Officers' own accounts over real HTTP: an officer logs in as themselves, sees only their
unit's calls, and an officer who left the rota is refused at once, old session included."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from callrouter.rota import Rota, parse_rota
from callrouter.store import accounts as store
from callrouter.store.models import accounts, calls, web_sessions
from tests.integration.web_harness import (
    EXAMPLE_ROTA,
    PASSWORD_HASH,
    WebEnv,
    client_from,
    csrf_of,
    load_example_rota,
    login,
    serving,
    web,
    web_db_url,
)

pytestmark = pytest.mark.integration
__all__ = ["web", "web_db_url"]

OFFICER = "lan"


async def _officer_with_password(web: WebEnv) -> None:
    created, disabled = await store.sync_with_rota(web.engine, load_example_rota(), web.clock())
    assert (created, disabled) == (len(load_example_rota().officers), 0)
    assert await store.set_password(web.engine, OFFICER, PASSWORD_HASH, web.clock())


def _rota_without_lan() -> Rota:
    text = EXAMPLE_ROTA.read_text(encoding="utf-8")
    text = re.sub(r"\blan\b(?!\.nt)", "lan_moi", text)
    return parse_rota(text, str(EXAMPLE_ROTA))


@pytest.mark.parametrize("web_db_url", ["sqlite", "postgresql"], indirect=True)
async def test_an_officer_logs_in_as_themselves_and_sees_only_their_units_calls(
    web: WebEnv,
) -> None:
    await _officer_with_password(web)
    own, other = web.rows.calls[0]["id"], web.rows.calls[1]["id"]
    async with web.engine.begin() as conn:
        await conn.execute(sa.update(calls).where(calls.c.id == other).values(branch=5))
    async with serving(web) as base, client_from(base, "127.0.0.2") as client:
        assert (await login(client, user=OFFICER)).status_code == 303
        page = await client.get("/")
        assert page.status_code == 200
        assert (await client.get(f"/calls/{own}")).status_code == 200
        assert (await client.get(f"/calls/{other}")).status_code == 404
        # A wrong password for the officer is refused like any other.
        async with client_from(base, "127.0.0.3") as stranger:
            refused = await login(stranger, user=OFFICER, password="sai")  # noqa: S106
            assert refused.status_code == 401
        # The admin (CALLROUTER_WEB_USERS) still sees every unit's call.
        async with client_from(base, "127.0.0.4") as admin:
            assert (await login(admin)).status_code == 303
            assert (await admin.get(f"/calls/{other}")).status_code == 200
    async with web.engine.connect() as conn:
        users = (await conn.execute(sa.select(web_sessions.c.user_name))).scalars().all()
    assert sorted(users) == ["admin", OFFICER]


@pytest.mark.parametrize("web_db_url", ["sqlite", "postgresql"], indirect=True)
async def test_an_officer_who_left_the_rota_is_disabled_and_their_old_session_refused(
    web: WebEnv,
) -> None:
    await _officer_with_password(web)
    async with serving(web) as base:
        async with client_from(base, "127.0.0.2") as client:
            assert (await login(client, user=OFFICER)).status_code == 303
            assert (await client.get("/")).status_code == 200
            cookies = dict(client.cookies)
        # The rota is reloaded without the officer.
        new_rota = _rota_without_lan()
        web.tracker.loaded(new_rota, web.clock())
        web.clock.advance(timedelta(seconds=5))
        async with client_from(base, "127.0.0.5", cookies=cookies) as old:
            response = await old.get("/")
            assert response.status_code == 303
            assert response.headers["location"].startswith("/login")
        async with client_from(base, "127.0.0.6") as again:
            assert (await login(again, user=OFFICER)).status_code == 401
    async with web.engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(accounts.c.enabled, accounts.c.disabled_at).where(
                    accounts.c.id == OFFICER
                )
            )
        ).one()
        sessions_left = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(web_sessions)
                .where(web_sessions.c.user_name == OFFICER)
            )
        ).scalar()
    assert row.enabled is False  # log-in off, the row (and history) kept
    assert row.disabled_at is not None
    assert sessions_left == 0
    # The reload's sync does the same for the account list (and counts nothing twice).
    created, disabled = await store.sync_with_rota(web.engine, new_rota, web.clock())
    assert (created, disabled) == (1, 0)


@pytest.mark.parametrize("web_db_url", ["sqlite"], indirect=True)
async def test_a_one_time_link_sets_the_password_once_and_then_is_dead(web: WebEnv) -> None:
    await store.sync_with_rota(web.engine, load_example_rota(), web.clock())
    token = await store.issue_link(web.engine, OFFICER, web.clock(), timedelta(hours=24))
    assert token is not None
    new_password = "mật-khẩu-riêng-của-lan"  # noqa: S105 (test-only)
    async with serving(web) as base, client_from(base, "127.0.0.2") as client:
        page = await client.get(f"/dat-mat-khau/{token}")
        assert page.status_code == 200
        assert OFFICER in page.text
        csrf = csrf_of(page.text)
        mismatch = await client.post(
            f"/dat-mat-khau/{token}", data={"csrf": csrf, "password": "x" * 12, "again": "y" * 12}
        )
        assert mismatch.status_code == 400
        done = await client.post(
            f"/dat-mat-khau/{token}",
            data={"csrf": csrf, "password": new_password, "again": new_password},
        )
        assert done.status_code == 303
        assert (await client.get(f"/dat-mat-khau/{token}")).status_code == 404
        assert (await login(client, user=OFFICER, password=new_password)).status_code == 303
        assert (await client.get("/")).status_code == 200
    # An expired link is as dead as a spent one.
    late = await store.issue_link(web.engine, "dung", web.clock(), timedelta(hours=24))
    assert late is not None
    web.clock.advance(timedelta(hours=25))
    async with serving(web) as base, client_from(base, "127.0.0.3") as client:
        assert (await client.get(f"/dat-mat-khau/{late}")).status_code == 404


@pytest.mark.parametrize("web_db_url", ["sqlite", "postgresql"], indirect=True)
async def test_an_officer_without_an_email_has_an_account_with_no_address(web: WebEnv) -> None:
    text = EXAMPLE_ROTA.read_text(encoding="utf-8")
    assert "    email: lan.nt@ttytsonha.example.vn\n" in text
    no_email = parse_rota(text.replace("    email: lan.nt@ttytsonha.example.vn\n", ""), "r.yaml")

    async def address() -> str | None:
        async with web.engine.connect() as conn:
            query = sa.select(accounts.c.email).where(accounts.c.id == OFFICER)
            value: str | None = (await conn.execute(query)).scalar_one()
            return value

    await store.sync_with_rota(web.engine, no_email, web.clock())
    assert await address() is None  # NULL, not the text "None"
    await store.sync_with_rota(web.engine, load_example_rota(), web.clock())
    assert await address() == "lan.nt@ttytsonha.example.vn"
