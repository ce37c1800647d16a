"""The officer's screen over real HTTP: the live call rung at the officer arrives by
server-sent events (and a change of state after it), the caller's history lists earlier
calls and cases most recent first, paged and bounded, each opening leaves an audit entry,
another unit's call is refused, the "to finish" list holds answered calls without a case,
and the CSP is asserted whole."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from callrouter.cases.edit import CaseInput
from callrouter.report.sample import answered_call_row
from callrouter.store import accounts as store
from callrouter.store.cases import open_case
from callrouter.store.models import call_events, calls, cases
from tests.integration.web_harness import (
    PASSWORD_HASH,
    START,
    TZ,
    WebEnv,
    client_from,
    form_token,
    load_example_rota,
    login,
    serving,
    web,
    web_db_url,
)

pytestmark = pytest.mark.integration
__all__ = ["web", "web_db_url"]

OFFICER = "lan"
NUMBER = "0912000777"
CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
    "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def call_row(linkedid: str, caller: str, minutes_ago: float, **values: Any) -> dict[str, Any]:
    """A ``calls`` row of ``caller`` that started ``minutes_ago`` before START."""
    return answered_call_row(linkedid, caller, START - timedelta(minutes=minutes_ago), **values)


async def _officer(web: WebEnv) -> None:
    await store.sync_with_rota(web.engine, load_example_rota(), web.clock())
    assert await store.set_password(web.engine, OFFICER, PASSWORD_HASH, web.clock())


async def _next_calls(lines: Any) -> dict[str, Any]:
    """The next ``calls`` event of a server-sent event stream."""
    event = None
    async for line in lines:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: ") and event == "calls":
            data: dict[str, Any] = json.loads(line.removeprefix("data: "))
            return data
    raise AssertionError("the stream ended")


@pytest.mark.parametrize("web_db_url", ["sqlite", "postgresql"], indirect=True)
async def test_the_call_rung_at_the_officer_streams_in_with_the_callers_history_and_an_audit(
    web: WebEnv,
) -> None:
    await _officer(web)
    earlier = [call_row(f"past-{i}", NUMBER, 60 * 24 * (i + 1)) for i in range(3)]
    live_row = call_row("live-1", NUMBER, 0, outcome=None, answered_at=None, ended_at=None)
    other_unit = call_row("unit5-1", "0988000555", 30, branch=5)
    async with web.engine.begin() as conn:
        await conn.execute(sa.insert(calls), [*earlier, live_row, other_unit])
    case = await open_case(
        web.engine,
        web.app.state.web.cases.rules,
        CaseInput(kind="phan_anh", topic="tiem_chung", summary="Trạm y tế đóng cửa sớm"),
        branch=3,
        by=OFFICER,
        at=earlier[1]["started_at"] + timedelta(minutes=1),
        call_id=earlier[1]["id"],
    )
    live = web.live
    live.started(linkedid="live-1", caller=NUMBER, branch=3, started_at=START)
    live.started(linkedid="live-2", caller="0977000111", branch=3, started_at=START)
    live.updated(linkedid="live-2", state="ringing", at=START, officer_id="dung", number="1")

    async with serving(web) as base, client_from(base, "127.0.0.2", timeout=10) as client:
        assert (await login(client, user=OFFICER)).status_code == 303
        page = await client.get("/tiep-nhan")
        assert page.status_code == 200
        assert page.headers["content-security-policy"] == CSP
        assert '<script src="/static/officer.js" defer></script>' in page.text
        assert "Cần hoàn tất ghi nhận (2)" in page.text  # the answered calls without a case
        script = await client.get("/static/officer.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]

        async with client.stream("GET", "/tiep-nhan/su-kien") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            assert (await _next_calls(lines))["calls"] == []  # nothing rings me yet
            live.updated(
                linkedid="live-1",
                state="ringing",
                at=START,
                officer_name="Nguyễn Thị Lan",
                number="0226 3851 234",
                officer_id=OFFICER,
                number_label="co-dinh",
            )
            (ringing,) = (await _next_calls(lines))["calls"]
            assert ringing["call_id"] == live_row["id"]
            assert (ringing["caller"], ringing["state"]) == (NUMBER, "ringing")
            assert (ringing["number"], ringing["number_label"]) == ("0226 3851 234", "co-dinh")
            live.updated(
                linkedid="live-1",
                state="talking",
                at=START + timedelta(seconds=4),
                officer_id=OFFICER,
                number="0226 3851 234",
            )
            (talking,) = (await _next_calls(lines))["calls"]
            assert talking["state_label"] == "Đang nối máy với bạn"
            live.ended(linkedid="live-1")
            assert (await _next_calls(lines))["calls"] == []

        shown = await client.get(f"/tiep-nhan/lich-su/{live_row['id']}")
        assert shown.status_code == 200
        text = shown.text
        days = [r["started_at"].astimezone(TZ).strftime("%d/%m/%Y %H:%M") for r in earlier]
        positions = [text.index(day) for day in days]
        assert positions == sorted(positions)  # most recent first
        assert case.ref in text
        assert "Trạm y tế đóng cửa sớm" in text
        assert "Các cuộc gọi trước (3)" in text
        refused = await client.get(f"/tiep-nhan/lich-su/{other_unit['id']}")
        assert refused.status_code == 404

    async with web.engine.connect() as conn:
        audit = (
            await conn.execute(
                sa.select(call_events.c.call_id, call_events.c.data).where(
                    call_events.c.type == "history_viewed"
                )
            )
        ).all()
    assert [(a.call_id, a.data) for a in audit] == [
        (live_row["id"], {"by": OFFICER, "calls": 3, "cases": 1})
    ]


@pytest.mark.parametrize("web_db_url", ["sqlite"], indirect=True)
async def test_a_number_with_many_calls_is_shown_a_page_at_a_time(web: WebEnv) -> None:
    rows = [call_row(f"many-{i}", NUMBER, 10 * (i + 1)) for i in range(45)]
    now_row = call_row("many-now", NUMBER, 0)
    async with web.engine.begin() as conn:
        await conn.execute(sa.insert(calls), [*rows, now_row])
    seen: list[str] = []
    async with web.client() as client:
        assert (await login(client)).status_code == 303
        url: str | None = f"/tiep-nhan/lich-su/{now_row['id']}"
        pages = 0
        while url is not None:
            page = await client.get(url)
            assert page.status_code == 200
            pages += 1
            seen += [r["id"] for r in rows if f'/calls/{r["id"]}"' in page.text]
            marker = 'class="more" href="'
            url = None
            if marker in page.text:
                url = page.text.split(marker, 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert pages == 3
    assert seen == [r["id"] for r in rows]  # every earlier call once, newest first
    assert (
        await web.scalar(sa.select(sa.func.count()).where(call_events.c.type == "history_viewed"))
        == 3
    )


@pytest.mark.parametrize("web_db_url", ["sqlite"], indirect=True)
async def test_an_officer_disabled_meanwhile_loses_the_open_event_stream(web: WebEnv) -> None:
    await _officer(web)
    web.app.state.web.officer.heartbeat = 0.05
    async with serving(web) as base, client_from(base, "127.0.0.2", timeout=10) as client:
        assert (await login(client, user=OFFICER)).status_code == 303
        async with client.stream("GET", "/tiep-nhan/su-kien") as stream:
            lines = stream.aiter_lines()
            assert (await _next_calls(lines))["calls"] == []
            await store.disable_account(web.engine, OFFICER, web.clock())
            rest = [line async for line in lines]  # the server ends the stream
        assert all(not line.startswith("data: ") for line in rest)
        again = await client.get("/tiep-nhan/su-kien")
        assert again.status_code == 401


@pytest.mark.parametrize("web_db_url", ["sqlite"], indirect=True)
async def test_an_officer_cannot_record_a_case_on_another_units_call(web: WebEnv) -> None:
    await _officer(web)
    other = call_row("unit5-2", "0988000556", 30, branch=5)
    async with web.engine.begin() as conn:
        await conn.execute(sa.insert(calls), [other])
    async with web.client() as client:
        assert (await login(client, user=OFFICER)).status_code == 303
        token = await form_token(client, "/tiep-nhan")
        form = {"csrf": token, "kind": "hoi_dap", "summary": "Không được ghi"}
        for path in (f"/calls/{other['id']}/cases", f"/tiep-nhan/ho-so/{other['id']}"):
            assert (await client.post(path, data=form)).status_code == 404, path
    assert await web.scalar(sa.select(sa.func.count()).select_from(cases)) == len(web.rows.cases)
