"""The report page's approve button: the logged-in account approves the period's draft (the
only kind of report that is sent), with the CSRF token; nothing to approve is a clear refusal."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from callrouter.store.models import report_drafts
from tests.integration.web_harness import START, USER, WebEnv, form_token, login, web, web_db_url

pytestmark = pytest.mark.integration
__all__ = ["web", "web_db_url"]  # fixtures imported from the harness

STEM = "bao-cao-1022-2026-10"


async def _draft(env: WebEnv) -> None:
    async with env.engine.begin() as conn:
        await conn.execute(sa.delete(report_drafts))
        await conn.execute(
            sa.insert(report_drafts).values(
                stem=STEM,
                period_start=date(2026, 10, 1),
                period_end=date(2026, 10, 31),
                created_at=START,
                directory="/var/lib/callrouter/reports/" + STEM,
            )
        )


async def test_approve_button_records_the_logged_in_account(web: WebEnv) -> None:
    await _draft(web)
    async with web.client() as client:
        await login(client)
        page = await client.get("/report?month=2026-10&cutoff=0")
        assert "dự thảo, chờ duyệt" in page.text
        assert 'action="/report/approve"' in page.text
        token = await form_token(client, "/report?month=2026-10")
        forged = await client.post("/report/approve", data={"csrf": "x", "month": "2026-10"})
        assert forged.status_code == 403
        assert await web.scalar(sa.select(report_drafts.c.approved_by)) is None
        done = await client.post("/report/approve", data={"csrf": token, "month": "2026-10"})
        assert done.status_code == 303
        assert done.headers["location"] == "/report?month=2026-10"
        assert await web.scalar(sa.select(report_drafts.c.approved_by)) == USER
        after = await client.get("/report?month=2026-10")
        assert f"duyệt bởi {USER}" in after.text
        assert 'action="/report/approve"' not in after.text  # approved once
        again = await client.post("/report/approve", data={"csrf": token, "month": "2026-10"})
        assert again.status_code == 400
        assert "already approved" in again.text


async def test_approve_without_a_draft_is_refused_clearly(web: WebEnv) -> None:
    async with web.engine.begin() as conn:
        await conn.execute(sa.delete(report_drafts))
    async with web.client() as client:
        await login(client)
        page = await client.get("/report?month=2026-09")
        assert "Chưa lập dự thảo" in page.text
        token = await form_token(client, "/report?month=2026-09")
        refused = await client.post("/report/approve", data={"csrf": token, "month": "2026-09"})
        assert refused.status_code == 400
        assert "no draft to approve" in refused.text
