"""The admin web's notifications page (``/thong-bao``): lists what was sent and what failed
with its SMTP error, filters by state, refuses a bad filter, and needs a log-in."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from callrouter.notify.plan import Notice
from callrouter.store import outbox
from callrouter.store.models import notifications
from tests.integration.web_harness import START, WebEnv, login, web, web_db_url

pytestmark = pytest.mark.integration
__all__ = ["web", "web_db_url"]  # fixtures imported from the harness


async def _fill(env: WebEnv) -> None:
    async with env.engine.begin() as conn:
        await conn.execute(sa.delete(notifications))
    notices = [
        Notice(
            f"shift:{who}|{who}@x.example",
            "shift_reminder",
            f"{who}@x.example",
            subject,
            "…",
            START,
        )
        for who, subject in (("lan", "Nhắc ca Lan"), ("dung", "Nhắc ca Dũng"))
    ]
    await outbox.enqueue(env.engine, notices, START)
    sent, refused = await outbox.due(env.engine, START + timedelta(seconds=1))
    await outbox.mark_sent(env.engine, sent, START)
    await outbox.mark_failed(
        env.engine,
        refused,
        START,
        "SMTP 127.0.0.1:25 refused: 550 mailbox unavailable",
        permanent=True,
        max_attempts=8,
        retry_seconds=30,
    )


async def test_the_page_lists_sent_and_failed_notices_with_the_error(web: WebEnv) -> None:
    await _fill(web)
    async with web.client() as client:
        response = await client.get("/thong-bao")
        assert response.status_code == 303  # log-in first
        await login(client)
        page = (await client.get("/thong-bao")).text
        assert "Nhắc ca Lan" in page
        assert "Nhắc ca Dũng" in page
        assert "550 mailbox unavailable" in page
        assert "Không gửi được (1)" in page
        failed = (await client.get("/thong-bao?status=failed")).text
        assert "Nhắc ca Dũng" in failed
        assert "Nhắc ca Lan" not in failed
        bad = await client.get("/thong-bao?status=<script>")
        assert bad.status_code == 400
        assert "<script>" not in bad.text
