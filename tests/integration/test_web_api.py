"""The read-only JSON API over real HTTP: tokens from the admin command's store, who is on
duty, a case's status by reference AND caller number, revoked tokens refused."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from callrouter.cases.edit import CaseInput
from callrouter.store import api_tokens
from callrouter.store.cases import open_case
from callrouter.store.models import api_tokens as api_tokens_table
from tests.integration.web_harness import (
    CALLBACK_ID,
    CALLBACK_NUMBER,
    WebEnv,
    client_from,
    serving,
    web,
    web_db_url,
)

pytestmark = pytest.mark.integration
__all__ = ["web", "web_db_url"]


async def _case(web: WebEnv) -> str:
    rules = web.app.state.web.ctx.case_rules
    case = await open_case(
        web.engine,
        rules,
        CaseInput(kind="hoi_dap", summary="Hỏi về tiêm chủng"),
        branch=3,
        by="admin",
        at=web.clock(),
        callback_id=CALLBACK_ID,
    )
    return case.ref


@pytest.mark.parametrize("web_db_url", ["sqlite", "postgresql"], indirect=True)
async def test_status_needs_the_reference_and_the_callers_number(web: WebEnv) -> None:
    ref = await _case(web)
    token = await api_tokens.issue_token(web.engine, "tổng đài 1022", web.clock())
    auth = {"authorization": f"Bearer {token}"}
    async with serving(web) as base, client_from(base, "127.0.0.2", headers=auth) as client:
        ok = await client.get(
            "/api/v1/cases/status", params={"ref": ref, "number": CALLBACK_NUMBER}
        )
        assert ok.status_code == 200
        body = ok.json()
        assert body["ref"] == ref
        assert body["status"] == "in_progress"
        assert "summary" not in body  # status only, never the content
        assert "Hỏi về" not in ok.text
        # The number in another written form is the same caller.
        intl = "+84" + CALLBACK_NUMBER[1:]
        again = await client.get("/api/v1/cases/status", params={"ref": ref, "number": intl})
        assert again.status_code == 200

        async def timed(params: dict[str, str]) -> tuple[int, float]:
            best = float("inf")
            status = 0
            for _ in range(15):
                start = time.perf_counter()
                response = await client.get("/api/v1/cases/status", params=params)
                best = min(best, time.perf_counter() - start)
                status = response.status_code
                assert response.json() == {"error": "not found"} or status == 200
            return status, best

        wrong_number = await timed({"ref": ref, "number": "0911999888"})
        no_such_ref = await timed({"ref": "999/2026", "number": CALLBACK_NUMBER})
        garbage = await timed({"ref": "x", "number": "y"})
        assert wrong_number[0] == no_such_ref[0] == garbage[0] == 404
        # The same single query answers all three: no timing tells a reference exists.
        assert abs(wrong_number[1] - no_such_ref[1]) < 0.01

        duty = await client.get("/api/v1/duty")
        assert duty.status_code == 200
        assert duty.json()["open"] is True
        assert duty.json()["officers"]
        assert all(set(o) == {"id", "name"} for o in duty.json()["officers"])
        night = await client.get("/api/v1/duty", params={"at": "2026-11-10T23:30:00+07:00"})
        assert night.status_code == 200
        bad_at = await client.get("/api/v1/duty", params={"at": "tomorrow"})
        assert bad_at.status_code == 400

        # Revoked: 401 at once, whatever the request.
        assert await api_tokens.revoke_token(web.engine, "tổng đài 1022", web.clock()) == 1
        refused = await client.get("/api/v1/duty")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        async with client_from(base, "127.0.0.3") as anonymous:
            assert (await anonymous.get("/api/v1/duty")).status_code == 401
    uses = await web.scalar(sa.select(api_tokens_table.c.uses))
    assert uses == 2 + 15 * 3 + 3  # every accepted use counted (the refused one is not)
