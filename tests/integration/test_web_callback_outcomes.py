"""The call-back list over real HTTP: age, due time in working hours, and each try's outcome."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from callrouter.store.models import callback_attempts, callbacks
from tests.integration.web_harness import (
    CALLBACK_ID,
    USER,
    WebEnv,
    client_from,
    form_token,
    login,
    serving,
    web,
    web_db_url,
)

pytestmark = pytest.mark.integration
__all__ = ["web", "web_db_url"]


def _row(html: str) -> str:
    """The list's row of the harness's call-back."""
    start = html.index(f'data-callback-id="{CALLBACK_ID}"')
    return html[start : html.index("</tr>", start)]


@pytest.mark.parametrize("web_db_url", ["sqlite", "postgresql"], indirect=True)
async def test_each_try_is_recorded_and_reached_closes_the_call_back(web: WebEnv) -> None:
    async with serving(web) as base, client_from(base, "127.0.0.2") as client:
        assert (await login(client)).status_code == 303
        page = await client.get("/callbacks")
        assert page.status_code == 200
        # Left at 20:30 on Monday, seen at 10:30 on Tuesday: 14 h old; due 4 working hours
        # after 07:30 on Tuesday (the evening is outside working hours).
        row = _row(page.text)
        assert "14 giờ 0 phút" in row
        assert "10/11 11:30" in row
        assert "quá hạn" not in row
        token = await form_token(client, "/callbacks")
        bad = await client.post(
            f"/callbacks/{CALLBACK_ID}/attempt", data={"csrf": token, "outcome": "maybe"}
        )
        assert bad.status_code == 400
        tried = await client.post(
            f"/callbacks/{CALLBACK_ID}/attempt", data={"csrf": token, "outcome": "no_answer"}
        )
        assert tried.status_code == 303
        page = await client.get("/callbacks")
        assert "Không nghe máy (admin)" in _row(page.text)  # and still open
        reached = await client.post(
            f"/callbacks/{CALLBACK_ID}/attempt", data={"csrf": token, "outcome": "reached"}
        )
        assert reached.status_code == 303
        assert CALLBACK_ID not in (await client.get("/callbacks")).text
        again = await client.post(
            f"/callbacks/{CALLBACK_ID}/attempt", data={"csrf": token, "outcome": "reached"}
        )
        assert again.status_code == 404
    async with web.engine.connect() as conn:
        tries = (
            await conn.execute(
                sa.select(callback_attempts.c.outcome, callback_attempts.c.by).order_by(
                    callback_attempts.c.id
                )
            )
        ).all()
        done_by = (
            await conn.execute(sa.select(callbacks.c.done_by).where(callbacks.c.id == CALLBACK_ID))
        ).scalar()
    assert [tuple(t) for t in tries] == [("no_answer", USER), ("reached", USER)]
    assert done_by == USER
