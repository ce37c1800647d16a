"""Fuzz the log-in form over HTTP (hypothesis): whatever a client sends to ``POST /login``,
the real web server answers with one of the expected statuses (never a 500, never a hang),
a refusal leaves no session behind, and only the right user, password and CSRF token log in.

``ci`` profile: 100 examples (a few seconds); by hand: ``--hypothesis-profile=deep``
(10,000) with ``--hypothesis-show-statistics``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callrouter.store.models import web_sessions
from callrouter.web.app import SID_COOKIE
from callrouter.web.security import MAX_USER_NAME
from tests.integration.web_harness import (
    PASSWORD,
    USER,
    WebEnv,
    csrf_of,
    serving,
    web,
    web_db_url,
)

pytestmark = pytest.mark.integration
__all__ = ["web", "web_db_url"]

EXPECTED = {303, 400, 401, 403, 413, 429}
_text = st.text(st.characters(codec="utf-8"), max_size=300)
_names = st.one_of(
    st.just(USER),
    st.just(f" {USER} "),
    st.just(USER.upper()),
    _text,
    st.text(min_size=MAX_USER_NAME - 2, max_size=MAX_USER_NAME + 5),
    st.just("x" * 5000),
)
_passwords = st.one_of(st.just(PASSWORD), st.just(PASSWORD + " "), _text)
_next = st.one_of(
    st.none(),
    st.sampled_from(["/", "/report", "//evil.example/", "/\\evil", "https://e.x/"]),
    _text,
)


@st.composite
def login_posts(draw: st.DrawFn) -> dict[str, Any]:
    """Either a form (fields right, wrong, missing or extra) or a raw body of any bytes."""
    if draw(st.integers(0, 9)) == 0:
        kind = draw(
            st.sampled_from(
                [
                    "application/x-www-form-urlencoded",
                    "multipart/form-data; boundary=xyz",
                    "multipart/form-data",
                    "text/plain",
                    "application/json",
                ]
            )
        )
        return {"raw": draw(st.binary(max_size=2000)), "content_type": kind}
    form: dict[str, Any] = {
        "username": draw(_names),
        "password": draw(_passwords),
        "csrf": draw(st.sampled_from(["valid", "missing", "wrong", "empty"])),
    }
    nxt = draw(_next)
    if nxt is not None:
        form["next"] = nxt
    if draw(st.booleans()):
        form[draw(st.text(min_size=1, max_size=20))] = draw(_text)
    return form


@pytest.fixture
async def base_url(web: WebEnv) -> AsyncIterator[str]:
    async with serving(web) as base:
        yield base


async def _sessions(web: WebEnv) -> int:
    return int(await web.scalar(sa.select(sa.func.count()).select_from(web_sessions)))


@pytest.mark.parametrize("web_db_url", ["sqlite"], indirect=True)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(post=login_posts())
async def test_any_login_post_is_answered_cleanly_and_a_refusal_changes_nothing(
    web: WebEnv, base_url: str, post: dict[str, Any]
) -> None:
    # Each example in a fresh throttle window (the clock is the injected one): every post
    # reaches the password check instead of the lock-out.
    web.clock.advance(timedelta(minutes=web.settings.login_window_minutes + 1))
    async with web.engine.begin() as conn:
        await conn.execute(sa.delete(web_sessions))
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        token = csrf_of((await client.get("/login")).text)
        if "raw" in post:
            response = await client.post(
                "/login", content=post["raw"], headers={"content-type": post["content_type"]}
            )
            logged_in_expected = False
        else:
            form = dict(post)
            csrf = form.pop("csrf")
            if csrf != "missing":
                form["csrf"] = {"valid": token, "wrong": token[::-1] + "x", "empty": ""}[csrf]
            response = await client.post("/login", data=form)
            logged_in_expected = (
                form.get("csrf") == token
                and form.get("username", "").strip() == USER
                and form.get("password") == PASSWORD
            )
    assert response.status_code in EXPECTED, (response.status_code, response.text[:500])
    sid_set = any(h.startswith(SID_COOKIE + "=") for h in response.headers.get_list("set-cookie"))
    if response.status_code == 303:
        assert sid_set
        assert await _sessions(web) == 1
        location = response.headers["location"]
        assert location.startswith("/")
        assert not location.startswith("//")
        assert "\\" not in location
    else:
        assert not sid_set
        assert await _sessions(web) == 0
    # Logged in exactly when the right user, password and token were sent.
    assert (response.status_code == 303) == logged_in_expected
    throttle = web.app.state.web.throttle
    assert all(len(user) <= MAX_USER_NAME for _, user in throttle.tracked())
