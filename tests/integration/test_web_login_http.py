"""Log-in throttle, sessions and hostile form input against the real web server over HTTP.

Each client is a real TCP connection from its own loopback address (127.0.0.2, 127.0.0.3…:
Linux routes all of 127/8 to lo), so "another client" is another peer address, exactly what
the server sees in production (or what a trusted proxy's X-Forwarded-For names).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
import structlog
from pydantic import ValidationError

from callrouter.store.models import web_sessions
from callrouter.web import WebSettings
from callrouter.web.app import SID_COOKIE
from callrouter.web.security import hash_password
from tests.integration.web_harness import (
    PASSWORD,
    USER,
    WebEnv,
    client_from,
    csrf_of,
    form_token,
    login,
    serving,
    web,
    web_db_url,
)

pytestmark = pytest.mark.integration
__all__ = ["web", "web_db_url"]


async def fail_logins(client: httpx.AsyncClient, times: int, user: str = USER) -> None:
    for _ in range(times):
        response = await login(client, user=user, password="sai-mat-khau")  # noqa: S106
        assert response.status_code == 401, response.text[:200]


# -- throttle ---------------------------------------------------------------------------------
@pytest.mark.parametrize("web_db_url", ["sqlite"], indirect=True)
async def test_failures_from_one_client_never_lock_the_right_password_out_of_another(
    web: WebEnv,
) -> None:
    async with serving(web) as base:
        async with client_from(base, "127.0.0.2") as attacker:
            await fail_logins(attacker, 3)
            assert (await login(attacker)).status_code == 429  # that pair is locked
        async with client_from(base, "127.0.0.3") as officer:
            response = await login(officer)
            assert response.status_code == 303, response.text[:300]
            assert (await officer.get("/")).status_code == 200


@pytest.mark.parametrize("web_db_url", ["sqlite"], indirect=True)
async def test_behind_a_trusted_proxy_its_header_names_the_client_and_nobody_else_can_spoof_it(
    web: WebEnv,
) -> None:
    async with serving(web, trusted_proxies=["127.0.0.1"]) as base:
        guesser = {"x-forwarded-for": "198.51.100.7"}
        async with client_from(base, "127.0.0.1", headers=guesser) as proxied:
            await fail_logins(proxied, 3)
            assert (await login(proxied)).status_code == 429
        officer = {"x-forwarded-for": "203.0.113.20, 198.51.100.8"}  # right-most counts
        async with client_from(base, "127.0.0.1", headers=officer) as proxied:
            assert (await login(proxied)).status_code == 303
        # A peer that is not the proxy: its X-Forwarded-For is ignored, a new one each try
        # does not reset its count.
        async with client_from(base, "127.0.0.4") as direct:
            for n in range(3):
                direct.headers["x-forwarded-for"] = f"192.0.2.{n + 1}"
                assert (await login(direct, password="sai")).status_code == 401  # noqa: S106
            direct.headers["x-forwarded-for"] = "192.0.2.99"
            assert (await login(direct)).status_code == 429


@pytest.mark.parametrize("web_db_url", ["sqlite"], indirect=True)
async def test_a_huge_user_name_is_refused_unread_and_a_long_one_is_cut_before_kept_or_logged(
    web: WebEnv,
) -> None:
    async with serving(web) as base, client_from(base, "127.0.0.5") as client:
        token = csrf_of((await client.get("/login")).text)
        huge = await client.post(
            "/login", data={"username": "x" * 1_000_000, "password": "p", "csrf": token}
        )
        assert huge.status_code == 413

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked upload
            yield f"csrf={token}&password=p&username=".encode()
            for _ in range(20):
                yield b"z" * 10_000

        chunked = await client.post(
            "/login",
            content=chunks(),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert chunked.status_code == 413
        with structlog.testing.capture_logs() as logs:
            long = await client.post(
                "/login", data={"username": "y" * 50_000, "password": "p", "csrf": token}
            )
        assert long.status_code == 401
        assert "y" * 101 not in long.text
    failed = [e for e in logs if e["event"] == "web.login_failed"]
    assert failed
    assert all(len(e["user"]) <= 100 for e in failed)
    assert all(len(str(v)) <= 100 for e in logs for v in e.values())
    throttle = web.app.state.web.throttle
    assert throttle.tracked() == [("127.0.0.5", "y" * 100)]


# -- sessions ---------------------------------------------------------------------------------
@pytest.mark.parametrize("web_db_url", ["sqlite", "postgresql"], indirect=True)
async def test_a_cookie_copied_before_logout_is_refused_after_it(web: WebEnv) -> None:
    async with serving(web) as base:
        async with client_from(base, "127.0.0.2") as client:
            assert (await login(client)).status_code == 303
            stolen = dict(client.cookies)
            token = await form_token(client)
            assert (await client.post("/logout", data={"csrf": token})).status_code == 303
        async with client_from(base, "127.0.0.6", cookies=stolen) as thief:
            response = await thief.get("/")
            assert response.status_code == 303
            assert response.headers["location"].startswith("/login")
    assert await web.scalar(sa.select(sa.func.count()).select_from(web_sessions)) == 0


@pytest.mark.parametrize("web_db_url", ["sqlite", "postgresql"], indirect=True)
async def test_a_session_survives_a_restart_and_a_password_change_revokes_it(
    web: WebEnv,
) -> None:
    # Even a server with a random signing secret (none configured) keeps the log-in.
    async with serving(web, session_secret="") as base, client_from(base, "127.0.0.2") as c:
        assert (await login(c)).status_code == 303
        cookies = dict(c.cookies)
    async with (
        serving(web, session_secret="") as base,
        client_from(base, "127.0.0.2", cookies=cookies) as c,
    ):
        assert (await c.get("/")).status_code == 200
    new_hash = hash_password("mật-khẩu-mới-2026")
    async with (
        serving(web, users={USER: new_hash}) as base,
        client_from(base, "127.0.0.2", cookies=cookies) as c,
    ):
        response = await c.get("/")
        assert response.status_code == 303
        assert "expired=1" in response.headers["location"]
    assert await web.scalar(sa.select(sa.func.count()).select_from(web_sessions)) == 0


@pytest.mark.parametrize("web_db_url", ["sqlite"], indirect=True)
async def test_cookies_are_secure_unless_plain_http_is_set_and_that_only_on_loopback(
    web: WebEnv,
) -> None:
    async with serving(web, plain_http=False) as base, client_from(base, "127.0.0.2") as c:
        page = await c.get("/login")
        assert "secure" in page.headers["set-cookie"].lower()
        response = await c.post(
            "/login",
            data={"username": USER, "password": PASSWORD, "csrf": csrf_of(page.text)},
        )
        # The signed cookie is Secure too, so a plain-HTTP client cannot send its CSRF back:
        # the refusal shows the cookie was never available over plain HTTP.
        assert response.status_code == 403
    with pytest.raises(ValidationError, match="PLAIN_HTTP"):
        WebSettings(plain_http=True, host="0.0.0.0")  # noqa: S104 (the refused case)
    assert WebSettings(plain_http=True, host="::1").plain_http
    async with serving(web) as base, client_from(base, "127.0.0.2") as c:
        ok = await login(c)
        sid = [h for h in ok.headers.get_list("set-cookie") if h.startswith(SID_COOKIE)]
        assert len(sid) == 1
        assert "httponly" in sid[0].lower()
        assert "samesite=strict" in sid[0].lower()


@pytest.mark.parametrize("web_db_url", ["sqlite"], indirect=True)
async def test_out_of_range_months_are_a_clear_400(web: WebEnv) -> None:
    async with serving(web) as base, client_from(base, "127.0.0.2") as c:
        await login(c)
        for query in (
            "month=9999-12",
            "month=2101-01",
            "month=2026-13",
            "month=" + "2" * 5000,
            "month=2026-11&cutoff=" + "9" * 400,
        ):
            response = await c.get(f"/report?{query}")
            assert response.status_code == 400, query
            assert "Kỳ báo cáo không hợp lệ" in response.text
            assert "2" * 100 not in response.text
            chart = await c.get(f"/report/chart/by_day.png?{query}")
            assert chart.status_code == 400, query
        assert (await c.get("/report?month=2026-11")).status_code == 200
