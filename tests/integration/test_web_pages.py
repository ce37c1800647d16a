"""The admin web over HTTP (httpx + ASGI) against real SQLite and PostgreSQL databases.

Each test names the behaviour; the bad-input cases check both the clear response and that
nothing changed in the database that should not have.
"""

from __future__ import annotations

import asyncio
import io
import re
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from callrouter.cases.config import load_cases_config
from callrouter.cases.edit import CaseRules
from callrouter.metrics import Metrics
from callrouter.store.models import callbacks, cases
from callrouter.web import create_app
from tests.integration.web_harness import (
    CALLBACK_ID,
    CALLBACK_NUMBER,
    FEED_TOKEN,
    METRICS_TOKEN,
    PASSWORD,
    START,
    TZ,
    WebEnv,
    csrf_of,
    form_token,
    login,
    web,
    web_db_url,
)

pytestmark = pytest.mark.integration
__all__ = ["web", "web_db_url"]  # fixtures imported from the harness


def _first_unclassified(env: WebEnv) -> str:
    """An answered call nobody has recorded a case for."""
    with_case = {c["call_id"] for c in env.rows.cases}
    for row in env.rows.calls:
        if row["outcome"] == "answered" and row["id"] not in with_case:
            return str(row["id"])
    raise AssertionError("sample month has no call without a case")


# -- log-in -------------------------------------------------------------------------------
async def test_pages_redirect_to_login_when_not_logged_in(web: WebEnv) -> None:
    async with web.client() as client:
        for path in ("/", "/callbacks", "/report", "/rota", f"/calls/{_first_unclassified(web)}"):
            response = await client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?next=")


async def test_wrong_password_is_refused_with_a_clear_message_and_no_session(web: WebEnv) -> None:
    async with web.client() as client:
        response = await login(client, password="sai-mat-khau")  # noqa: S106 (wrong on purpose)
        assert response.status_code == 401
        assert "Sai tên đăng nhập hoặc mật khẩu." in response.text
        assert (await client.get("/")).status_code == 303
    assert web.metrics.value("callrouter_web_logins_total", {"result": "bad_password"}) == 1


async def test_unknown_user_is_refused_like_a_wrong_password(web: WebEnv) -> None:
    async with web.client() as client:
        response = await login(client, user="khong-ton-tai", password=PASSWORD)
        assert response.status_code == 401
        assert "Sai tên đăng nhập hoặc mật khẩu." in response.text


async def test_repeated_failures_lock_the_user_even_for_the_right_password(web: WebEnv) -> None:
    async with web.client() as client:
        for _ in range(3):
            assert (await login(client, password="sai")).status_code  # noqa: S106 == 401
        locked = await login(client)
        assert locked.status_code == 429
        assert "Đăng nhập sai quá nhiều lần" in locked.text
        assert (await client.get("/")).status_code == 303
        web.clock.advance(timedelta(minutes=16))
        assert (await login(client)).status_code == 303


async def test_login_form_without_csrf_token_is_refused(web: WebEnv) -> None:
    async with web.client() as client:
        await client.get("/login")
        response = await client.post(
            "/login", data={"username": "admin", "password": PASSWORD, "csrf": "forged"}
        )
        assert response.status_code == 403
        assert (await client.get("/")).status_code == 303


async def test_login_then_next_only_goes_to_local_paths(web: WebEnv) -> None:
    async with web.client() as client:
        page = await client.get("/login?next=//evil.example/x")
        response = await client.post(
            "/login",
            data={
                "username": "admin",
                "password": PASSWORD,
                "csrf": csrf_of(page.text),
                "next": "//evil.example/x",
            },
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/"


async def test_idle_session_expires_and_a_post_after_expiry_changes_nothing(web: WebEnv) -> None:
    call_id = _first_unclassified(web)
    async with web.client() as client:
        assert (await login(client)).status_code == 303
        token = await form_token(client, f"/calls/{call_id}")
        web.clock.advance(timedelta(minutes=31))
        response = await client.post(
            f"/calls/{call_id}/cases",
            data={"csrf": token, "kind": "phan_anh", "topic": "tiem_chung"},
        )
        assert response.status_code == 401
        assert "Phiên đăng nhập đã hết hạn" in response.text
        assert (await client.get("/")).status_code == 303  # the session is gone
        await login(client)
        web.clock.advance(timedelta(minutes=31))
        again = await client.get("/")
        assert again.status_code == 303
        assert "expired=1" in again.headers["location"]
        notice = await client.get(again.headers["location"])
        assert "Phiên đăng nhập đã hết hạn. Vui lòng đăng nhập lại." in notice.text
    assert await web.scalar(sa.select(cases.c.id).where(cases.c.call_id == call_id)) is None


async def test_session_expires_after_its_maximum_age_even_when_active(web: WebEnv) -> None:
    async with web.client() as client:
        await login(client)
        for _ in range(29):  # active every 25 minutes (never idle) for 12 h 05 min
            web.clock.advance(timedelta(minutes=25))
            still = await client.get("/login")
        assert still.status_code == 200  # the last one already found the session over
        assert "Phiên đăng nhập đã hết hạn" in still.text


async def test_logout_ends_the_session(web: WebEnv) -> None:
    async with web.client() as client:
        await login(client)
        token = await form_token(client)
        assert (await client.post("/logout", data={"csrf": token})).status_code == 303
        assert (await client.get("/")).status_code == 303


# -- dashboard ------------------------------------------------------------------------------
async def test_dashboard_shows_duty_today_live_and_recent_calls_with_masked_numbers(
    web: WebEnv,
) -> None:
    web.live.started(
        linkedid="live-1", caller="0988777666", branch=3, started_at=START - timedelta(seconds=9)
    )
    web.live.updated(
        linkedid="live-1", state="ringing", at=START, officer_name="Nguyễn Thị Lan", number="x"
    )
    today = START.astimezone(TZ).date()
    todays = [r for r in web.rows.calls if r["local_day"] == today and r["branch"] == 3]
    async with web.client() as client:
        await login(client)
        page = await client.get("/")
    assert page.status_code == 200
    html = page.text
    assert "Cán bộ đang trực" in html
    assert "Nguyễn Thị Lan" in html
    assert "Ca tiếp theo" in html
    assert f"<th>Tổng số cuộc gọi</th><td>{len(todays)}</td>" in html
    answered = sum(1 for r in todays if r["outcome"] == "answered")
    assert f"<th>Đã trả lời</th><td>{answered}</td>" in html
    assert "Cuộc gọi đang diễn ra (1)" in html
    assert "Đang đổ chuông cán bộ" in html
    assert "098*****66" in html
    assert "0988777666" not in html
    past = [r for r in web.rows.calls if r["started_at"] <= START and r["branch"] == 3]
    recent = sorted(past, key=lambda r: r["started_at"], reverse=True)[:25]
    later = min(
        (r for r in web.rows.calls if r["started_at"] > START), key=lambda r: r["started_at"]
    )
    assert f'data-call-id="{later["id"]}"' not in html  # nothing from after "now"
    for row in recent[:5]:
        assert f'data-call-id="{row["id"]}"' in html
        assert row["caller"] not in html  # never a full caller number on the dashboard
    with_attempts = next(
        r for r in recent if any(a["call_id"] == r["id"] for a in web.rows.attempts)
    )
    attempt = next(a for a in web.rows.attempts if a["call_id"] == with_attempts["id"])
    assert attempt["officer_name"] in html


# -- cases on the call page ---------------------------------------------------------------
async def _record(client: Any, call_id: str, **fields: str) -> Any:
    token = await form_token(client)
    return await client.post(f"/calls/{call_id}/cases", data={"csrf": token, **fields})


async def test_recording_a_petition_on_the_call_page_gives_a_reference_and_a_deadline(
    web: WebEnv,
) -> None:
    call_id = _first_unclassified(web)
    async with web.client() as client:
        await login(client)
        page = await client.get(f"/calls/{call_id}")
        assert 'id="case-form"' in page.text
        assert "Kiến nghị" in page.text
        response = await _record(
            client,
            call_id,
            kind="kien_nghi",
            topic="tiem_chung",
            summary="Đề nghị tiêm chủng buổi chiều",
            status="forwarded",
            agency="so_y_te",
        )
        assert response.status_code == 303
        page = await client.get(response.headers["location"])
        # 10 Nov 2026 + 10 working days, 24 Nov (Ngày Văn hóa Việt Nam) being a holiday: 25 Nov.
        assert "hạn xử lý 25/11/2026" in page.text
        assert "Đã chuyển" in page.text
    async with web.engine.connect() as conn:
        row = (await conn.execute(sa.select(cases).where(cases.c.call_id == call_id))).one()
    assert (row.kind, row.topic, row.status, row.agency) == (
        "kien_nghi",
        "tiem_chung",
        "forwarded",
        "so_y_te",
    )
    assert row.opened_by == "admin"
    assert row.opened_at == START


async def test_bad_case_input_is_refused_with_a_clear_message_and_nothing_saved(
    web: WebEnv,
) -> None:
    call_id = _first_unclassified(web)
    async with web.client() as client:
        await login(client)
        for fields, message in (
            ({"kind": "kien_nghi", "topic": "<script>"}, "không có trong danh sách"),
            ({"kind": "to_cao"}, "không có"),
            ({"kind": "phan_anh", "summary": "x" * 2001}, "tối đa 2000 ký tự"),
            ({"kind": "phan_anh", "status": "forwarded"}, "cần ghi cơ quan nhận"),
            ({"kind": "phan_anh", "status": "told"}, "hồ sơ mới không thể"),
        ):
            response = await _record(client, call_id, **fields)
            assert response.status_code == 400, fields
            assert message in response.text, (fields, response.text)
            assert "<script>" not in response.text
        unknown = await _record(client, "khong-co-cuoc-goi-nay", kind="phan_anh")
        assert unknown.status_code == 404
    assert await web.scalar(sa.select(cases.c.id).where(cases.c.call_id == call_id)) is None


async def test_forged_case_form_is_refused_and_changes_nothing(web: WebEnv) -> None:
    call_id = _first_unclassified(web)
    async with web.client() as client:
        await login(client)
        for data in ({"kind": "phan_anh"}, {"csrf": "made-up-token", "kind": "phan_anh"}):
            response = await client.post(f"/calls/{call_id}/cases", data=data)
            assert response.status_code == 403
            assert "Không có thay đổi nào được thực hiện" in response.text
    assert await web.scalar(sa.select(cases.c.id).where(cases.c.call_id == call_id)) is None


async def test_result_then_citizen_told_and_an_illegal_jump_is_refused(web: WebEnv) -> None:
    call_id = _first_unclassified(web)
    async with web.client() as client:
        await login(client)
        await _record(client, call_id, kind="phan_anh", status="forwarded", agency="bhxh")
        case_id = await web.scalar(sa.select(cases.c.id).where(cases.c.call_id == call_id))
        page = await client.get(f"/cases/{case_id}")
        token = csrf_of(page.text)
        bad = await client.post(
            f"/cases/{case_id}", data={"csrf": token, "version": "1", "status": "told"}
        )
        assert bad.status_code == 400
        assert "không thể chuyển hồ sơ từ" in bad.text
        web.clock.advance(timedelta(minutes=20))
        steps = (
            {"status": "resolved", "result": "BHXH đã cấp lại thẻ"},
            {"status": "told", "notable_shown": "1", "notable": "1"},
        )
        for version, step in enumerate(steps, start=1):
            done = await client.post(
                f"/cases/{case_id}", data={"csrf": token, "version": str(version), **step}
            )
            assert done.status_code == 303, done.text
        page = await client.get(f"/cases/{case_id}")
        assert "Đã phản hồi người dân" in page.text
        assert "BHXH đã cấp lại thẻ" in page.text
        assert page.text.count("<tr><td>") >= 3  # three history rows
    async with web.engine.connect() as conn:
        row = (await conn.execute(sa.select(cases).where(cases.c.id == case_id))).one()
    assert (row.status, row.told_by, row.notable, row.version) == ("told", "admin", True, 3)


async def test_two_people_saving_the_same_case_the_second_is_told_and_keeps_input(
    web: WebEnv,
) -> None:
    call_id = _first_unclassified(web)
    async with web.client() as first, web.client() as second:
        await login(first)
        await login(second)
        await _record(first, call_id, kind="kien_nghi", summary="Bản đầu")
        case_id = await web.scalar(sa.select(cases.c.id).where(cases.c.call_id == call_id))
        t1 = csrf_of((await first.get(f"/cases/{case_id}")).text)
        t2 = csrf_of((await second.get(f"/cases/{case_id}")).text)
        saved = await first.post(
            f"/cases/{case_id}", data={"csrf": t1, "version": "1", "summary": "Sửa của người 1"}
        )
        assert saved.status_code == 303
        late = await second.post(
            f"/cases/{case_id}", data={"csrf": t2, "version": "1", "summary": "Sửa của người 2"}
        )
        assert late.status_code == 409
        assert "đã bị thay đổi trong lúc bạn sửa" in late.text
        assert "Sửa của người 2" in late.text  # the second person's input is still on the form
    assert await web.scalar(sa.select(cases.c.summary).where(cases.c.id == case_id)) == (
        "Sửa của người 1"
    )


async def test_cases_page_filters_by_status_kind_topic_agency_overdue_and_period(
    web: WebEnv,
) -> None:
    async with web.client() as client:
        await login(client)
        everything = await client.get("/cases")
        assert everything.status_code == 200
        forwarded = [c for c in web.rows.cases if c["status"] == "forwarded"]
        page = await client.get("/cases", params={"status": "forwarded", "agency": "so_y_te"})
        refs = {f"{c['ref_seq']}/{c['ref_year']}" for c in forwarded if c["agency"] == "so_y_te"}
        listed = set(re.findall(r'<a href="/cases/[^"]+">([0-9]+/[0-9]{4})</a>', page.text))
        assert listed == refs
        overdue = await client.get("/cases", params={"overdue": "1", "kind": "phan_anh"})
        assert "quá hạn" in overdue.text
        assert "Hỏi đáp</td>" not in overdue.text
        none = await client.get("/cases", params={"from": "2025-01-01", "to": "2025-01-31"})
        assert "Không có hồ sơ nào khớp bộ lọc" in none.text
        bad = await client.get("/cases", params={"from": "hôm qua"})
        assert bad.status_code == 400


async def test_a_case_from_a_call_back_or_by_hand(web: WebEnv) -> None:
    async with web.client() as client:
        await login(client)
        listing = await client.get("/callbacks")
        assert f"/cases/new?callback={CALLBACK_ID}" in listing.text
        form = await client.get("/cases/new", params={"callback": CALLBACK_ID})
        assert form.status_code == 200
        assert 'name="callback_id"' in form.text
        saved = await client.post(
            "/cases",
            data={
                "csrf": csrf_of(form.text),
                "callback_id": CALLBACK_ID,
                "kind": "phan_anh",
                "summary": "Lời nhắn ngoài giờ: điểm tiêm đóng cửa",
            },
        )
        assert saved.status_code == 303
        by_hand = await client.post(
            "/cases", data={"csrf": csrf_of(form.text), "kind": "hoi_dap", "status": "answered"}
        )
        assert by_hand.status_code == 303
        missing = await client.get("/cases/new", params={"callback": "khong-co"})
        assert missing.status_code == 404
        forged = await client.post(
            "/cases", data={"csrf": csrf_of(form.text), "callback_id": "khong-co", "kind": "khac"}
        )
        assert forged.status_code == 404
    async with web.engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(cases.c.callback_id, cases.c.call_id, cases.c.kind).where(
                    cases.c.opened_by == "admin"
                )
            )
        ).all()
    assert sorted(rows, key=lambda r: r.kind) == [
        (None, None, "hoi_dap"),
        (CALLBACK_ID, None, "phan_anh"),
    ]


async def test_an_edited_cases_file_is_taken_and_a_bad_one_keeps_the_running_lists(
    web: WebEnv, tmp_path: Path
) -> None:
    path = tmp_path / "cases.yaml"
    path.write_text("topics:\n  tiem_chung: Tiêm chủng\n", encoding="utf-8")
    app = create_app(
        web.settings,
        engine=web.engine,
        rota=web.tracker,
        live=web.live,
        metrics=Metrics(),
        readiness={},
        clock=web.clock,
        case_rules=CaseRules(config=load_cases_config(path)),
        cases_path=path,
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await login(client)
        assert "Tiêm chủng" in (await client.get("/cases")).text
        path.write_text(
            "topics:\n  tiem_chung: Tiêm chủng\n  nha_thuoc: Nhà thuốc tư nhân\n",
            encoding="utf-8",
        )
        assert "Nhà thuốc tư nhân" in (await client.get("/cases")).text
        with capture_logs() as logs:
            path.write_text("topics:\n  Nhà Thuốc: x\n  bad: [\n", encoding="utf-8")
            page = await client.get("/cases")
        assert "Nhà thuốc tư nhân" in page.text  # the running list stays
        refused = [e for e in logs if e["event"] == "web.cases_config_refused"]
        assert refused
        assert refused[0]["problems"][0].startswith(f"{path}:")


# -- call-backs --------------------------------------------------------------------------------
async def test_callbacks_page_shows_full_number_and_a_playable_recording(web: WebEnv) -> None:
    async with web.client() as client:
        await login(client)
        page = await client.get("/callbacks")
        assert page.status_code == 200
        assert f'<td class="number full-number">{CALLBACK_NUMBER}</td>' in page.text
        assert f'<audio controls preload="none" src="/callbacks/{CALLBACK_ID}/recording">' in (
            page.text
        )
        audio = await client.get(f"/callbacks/{CALLBACK_ID}/recording")
        assert audio.status_code == 200
        assert audio.headers["content-type"] == "audio/wav"
        assert audio.content.startswith(b"RIFF")


async def test_recording_outside_the_recordings_dir_is_never_served(web: WebEnv) -> None:
    async with web.engine.begin() as conn:
        await conn.execute(
            sa.update(callbacks)
            .where(callbacks.c.id == CALLBACK_ID)
            .values(recording="../secret.wav")
        )
    async with web.client() as client:
        await login(client)
        response = await client.get(f"/callbacks/{CALLBACK_ID}/recording")
        assert response.status_code == 404
        assert "Không có bản ghi âm" in response.text
        anonymous = await web.client().get(f"/callbacks/{CALLBACK_ID}/recording")
        assert anonymous.status_code == 303


async def test_call_back_pressed_twice_places_one_call(web: WebEnv) -> None:
    async with web.client() as client:
        await login(client)
        token = await form_token(client, "/callbacks")
        first = await client.post(f"/callbacks/{CALLBACK_ID}/dial", data={"csrf": token})
        assert first.status_code == 303
        second = await client.post(f"/callbacks/{CALLBACK_ID}/dial", data={"csrf": token})
        assert second.status_code == 409
        assert "Không tạo thêm cuộc gọi thứ hai" in second.text
        page = await client.get("/callbacks")
        assert "Đang gọi lại" in page.text
    assert web.dialer.calls == [(CALLBACK_ID, CALLBACK_NUMBER)]
    outbound = await web.scalar(
        sa.select(callbacks.c.outbound_linkedid).where(callbacks.c.id == CALLBACK_ID)
    )
    assert outbound == "cbout-1"
    # Once that call is over, calling back again is allowed (the caller did not pick up).
    web.dialer.active.clear()
    async with web.client() as client:
        await login(client)
        token = await form_token(client, "/callbacks")
        again = await client.post(f"/callbacks/{CALLBACK_ID}/dial", data={"csrf": token})
        assert again.status_code == 303
    assert len(web.dialer.calls) == 2


async def test_call_back_pressed_twice_at_once_places_one_call(web: WebEnv) -> None:
    web.dialer.gate = asyncio.Event()
    async with web.client() as a, web.client() as b:
        await login(a)
        await login(b)
        ta, tb = await form_token(a, "/callbacks"), await form_token(b, "/callbacks")
        first = asyncio.create_task(a.post(f"/callbacks/{CALLBACK_ID}/dial", data={"csrf": ta}))
        # Wait until the first press is inside the dialer, then press again.
        async with asyncio.timeout(10):
            await web.dialer.entered.wait()
        second = await b.post(f"/callbacks/{CALLBACK_ID}/dial", data={"csrf": tb})
        web.dialer.gate.set()
        assert (await first).status_code == 303
    assert second.status_code == 409
    assert web.dialer.calls == [(CALLBACK_ID, CALLBACK_NUMBER)]
    assert web.metrics.value("callrouter_callbacks_dialed_total", {"result": "started"}) == 1
    assert web.metrics.value("callrouter_callbacks_dialed_total", {"result": "refused"}) == 1


async def test_call_back_that_fails_is_reported_and_can_be_retried(web: WebEnv) -> None:
    web.dialer.fail = True
    async with web.client() as client:
        await login(client)
        token = await form_token(client, "/callbacks")
        failed = await client.post(f"/callbacks/{CALLBACK_ID}/dial", data={"csrf": token})
        assert failed.status_code == 502
        assert "Không gọi lại được" in failed.text
        assert (
            await web.scalar(
                sa.select(callbacks.c.outbound_linkedid).where(callbacks.c.id == CALLBACK_ID)
            )
            is None
        )
        web.dialer.fail = False
        assert (
            await client.post(f"/callbacks/{CALLBACK_ID}/dial", data={"csrf": token})
        ).status_code == 303


async def test_forged_call_back_and_unknown_call_back_change_nothing(web: WebEnv) -> None:
    async with web.client() as client:
        await login(client)
        forged = await client.post(f"/callbacks/{CALLBACK_ID}/dial", data={"csrf": "x"})
        assert forged.status_code == 403
        token = await form_token(client, "/callbacks")
        unknown = await client.post("/callbacks/nope/dial", data={"csrf": token})
        assert unknown.status_code == 404
        assert "Không tìm thấy yêu cầu gọi lại" in unknown.text
    assert web.dialer.calls == []


async def test_marking_a_call_back_done_removes_it_from_the_open_list(web: WebEnv) -> None:
    async with web.client() as client:
        await login(client)
        token = await form_token(client, "/callbacks")
        response = await client.post(f"/callbacks/{CALLBACK_ID}/done", data={"csrf": token})
        assert response.status_code == 303
        page = await client.get("/callbacks")
        assert CALLBACK_NUMBER not in page.text
        refused = await client.post(f"/callbacks/{CALLBACK_ID}/dial", data={"csrf": token})
        assert refused.status_code == 409
    done_by = await web.scalar(sa.select(callbacks.c.done_by).where(callbacks.c.id == CALLBACK_ID))
    assert done_by == "admin"
    assert web.dialer.calls == []


# -- report -------------------------------------------------------------------------------------
async def test_report_page_shows_figures_charts_and_download_links(web: WebEnv) -> None:
    november = [r for r in web.rows.calls if r["branch"] == 3]
    async with web.client() as client:
        await login(client)
        page = await client.get("/report?month=2026-11")
        assert page.status_code == 200
        assert "<h1>Báo cáo tháng 11 năm 2026</h1>" in page.text
        assert "Tóm tắt" in page.text
        received = f"{len(november):,}".replace(",", ".")
        assert f'<tr data-key="received"><th>Tổng số cuộc gọi đến</th><td>{received}</td>' in (
            page.text
        )
        # the times' glossary, the same words as the DOCX annex (issue 18 item 4)
        assert "<h3>Cách tính thời gian</h3>" in page.text
        assert "<li>Thời gian chờ: từ thời điểm bắt đầu đến khi cán bộ trực nhận" in page.text
        for link in (
            "/report/download/xlsx?month=2026-11",
            "/report/chart/by_day.png?month=2026-11",
        ):
            assert link in page.text
        chart = await client.get("/report/chart/by_hour.png?month=2026-11")
        assert chart.status_code == 200
        assert chart.content.startswith(b"\x89PNG")
        xlsx = await client.get("/report/download/xlsx?month=2026-11")
        assert xlsx.status_code == 200
        assert "attachment" in xlsx.headers["content-disposition"]
        assert "xl/workbook.xml" in zipfile.ZipFile(io.BytesIO(xlsx.content)).namelist()
        csv = await client.get("/report/download/csv?month=2026-11")
        assert csv.status_code == 200
        assert str(len(november)) in csv.text
        bad = await client.get("/report?month=2026-13")
        assert bad.status_code == 400
        assert "Kỳ báo cáo không hợp lệ" in bad.text


# -- rota ----------------------------------------------------------------------------------------
async def test_rota_page_shows_version_refused_reload_and_feeds(web: WebEnv) -> None:
    rota = web.tracker.rota
    assert rota is not None
    web.tracker.refused(["rota.yaml:12:5: officers[0].phone: số điện thoại không hợp lệ"], START)
    async with web.client() as client:
        await login(client)
        page = await client.get("/rota")
    assert page.status_code == 200
    assert f'<code id="rota-version">{rota.version}</code>' in page.text
    assert "Lần sửa gần nhất bị từ chối" in page.text
    assert "officers[0].phone: số điện thoại không hợp lệ" in page.text
    assert "Khoảng giờ không có ai trực" in page.text
    assert f"Toàn bộ lịch: <code>http://testserver/lich/all.ics?token={FEED_TOKEN}</code>" in (
        page.text
    )
    assert "Nguyễn Thị Lan (lan): <code>" in page.text


async def test_calendar_feed_needs_its_own_token(web: WebEnv) -> None:
    async with web.client() as client:
        feed = await client.get(f"/lich/all.ics?token={FEED_TOKEN}")
        assert feed.status_code == 200
        assert feed.headers["content-type"].startswith("text/calendar")
        assert feed.text.startswith("BEGIN:VCALENDAR")
        assert "Trực 1022 nhánh 3" in feed.text
        assert (await client.get("/lich/all.ics?token=wrong")).status_code == 404
        assert (await client.get("/lich/all.ics")).status_code == 404
        assert (await client.get(f"/lich/lan.ics?token={FEED_TOKEN}")).status_code == 404
        own = await client.get("/lich/lan.ics?token=feed-token-lan")
        assert own.status_code == 200
        assert "Nguyễn Thị Lan" in own.text


# -- operations ------------------------------------------------------------------------------------
async def test_healthz_is_ready_only_when_every_check_passes(web: WebEnv) -> None:
    async with web.client() as client:
        ready = await client.get("/healthz")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "ready",
            "checks": {"ari": True, "rota": True, "database": True},
        }
        web.readiness["ari"] = False
        down = await client.get("/healthz")
        assert down.status_code == 503
        assert down.json()["checks"]["ari"] is False


async def test_metrics_require_the_bearer_token_when_configured(web: WebEnv) -> None:
    web.metrics.call_ended("answered", 4.2)
    async with web.client() as client:
        anonymous = await client.get("/metrics")
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        assert "callrouter_calls_total" not in anonymous.text
        wrong = await client.get("/metrics", headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        scrape = await client.get("/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    assert 'callrouter_calls_total{outcome="answered"} 1.0' in scrape.text
    assert "callrouter_wait_seconds_bucket" in scrape.text


async def test_unknown_page_is_a_vietnamese_404(web: WebEnv) -> None:
    async with web.client() as client:
        response = await client.get("/khong-co")
    assert response.status_code == 404
    assert "Không tìm thấy trang" in response.text
    assert response.headers["x-frame-options"] == "DENY"
