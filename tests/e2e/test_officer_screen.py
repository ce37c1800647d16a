"""The officer's screen on a phone, end to end: the real ``callrouter serve`` (ARI, with its
admin web on a real port) routes real calls through the real pbx to an officer's phone on
the pstn; the officer, logged in as themselves in a real headless Chromium at 360x740, sees
the second call from the same number ring in without a reload, with the caller's earlier
call beside it; types while the "answered" update arrives (the text survives), records the
case mid-call with the agreed answer found by typing "tiem chung" in the card's answer
search (the month's report page then counts it); the earlier call, answered and never
recorded, stays on the "to finish" list. The page's CSP is asserted whole and the screen never
scrolls sideways."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from callrouter.answers.book import AnswerDraft
from callrouter.rota import load_rota
from callrouter.store import accounts as account_store
from callrouter.store.answers import create_answer
from callrouter.store.models import call_events, calls, case_answers, cases
from callrouter.web import WebSettings
from callrouter.web.security import hash_password
from tests.e2e.agi_support import free_port
from tests.e2e.callflow_support import (
    OFFICERS,
    engine_for,
    running_router,
    wait_for_call,
    write_rota,
)
from tests.e2e.harness import ANSWERS, Harness, Sandbox, officer_number
from tests.integration.test_web_browser import PHONE, WAIT, _wait_for_text, phone, run
from tests.integration.web_harness import csrf_of

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240, func_only=True)]
__all__ = ["phone"]

PASSWORD = "mật-khẩu-e2e-1022"  # noqa: S105 (test-only credential)
ADMIN = "van.thu"  # the clerk who reads the month's report
SCHEDULE = AnswerDraft(
    title="Lịch tiêm chủng cho trẻ dưới 1 tuổi",
    topic="tiem_chung",
    body="Trẻ dưới 1 tuổi được tiêm chủng tại trạm y tế xã vào ngày 25 hằng tháng.",
    source="Công văn số 123/SYT-NVY ngày 01/11/2026",
    agreed_on=date(2026, 11, 1),
)
CALLER = "0987190019"
TYPED_RINGING = "Hỏi lịch tiêm chủng"
TYPED_TALKING = " cho trẻ 9 tháng tuổi"
CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
    "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _card(call_id: str, css: str = "") -> str:
    return f'.call-card[data-call-id="{call_id}"] {css}'.strip()


async def _log_in(driver: Any, base: str, user: str) -> None:
    from selenium.webdriver.common.by import By

    await run(driver.get, f"{base}/login?next=/tiep-nhan")
    await run(lambda: driver.find_element(By.ID, "username").send_keys(user))
    await run(lambda: driver.find_element(By.ID, "password").send_keys(PASSWORD))
    await run(lambda: driver.find_element(By.ID, "login-button").click())
    await run(_wait_for_text, driver, "h1", "Tiếp nhận cuộc gọi")
    await run(_wait_for_text, driver, "#live-status", "Đã kết nối")


def _no_sideways_scroll(driver: Any) -> None:
    width, scroll = driver.execute_script(
        "return [window.innerWidth, document.documentElement.scrollWidth];"
    )
    assert width == PHONE[0]
    assert scroll <= width, f"the page is {scroll} px wide on a {width} px screen"


async def test_a_call_rings_the_officers_phone_screen_live_with_history_and_the_typing_survives(
    harness: Harness, sandbox: Sandbox, tmp_path: Path, phone: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    officer_id, officer_name = OFFICERS[0]
    number = officer_number(ANSWERS, 6)  # the officer's phone rings 6 s, then answers
    rota_path = write_rota(tmp_path / "rota.yaml", [number], ring_timeout=20)
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    port = free_port()
    encoded = await asyncio.to_thread(hash_password, PASSWORD)
    web = WebSettings(port=port, session_secret="s" * 40, plain_http=True, users={ADMIN: encoded})
    base = f"http://127.0.0.1:{port}"
    engine = engine_for(url)
    try:
        async with running_router(sandbox.info(), rota_path, url, tmp_path / "state", web=web):
            await account_store.sync_with_rota(engine, load_rota(rota_path), datetime.now(UTC))
            assert await account_store.set_password(engine, officer_id, encoded, datetime.now(UTC))
            answer_id = await create_answer(engine, SCHEDULE, account=ADMIN, now=datetime.now(UTC))

            # An earlier call from the same number, answered and never recorded.
            first = await harness.place_call(caller_number=CALLER, hold=12)
            await harness.wait_caller_hangup(first, within=40)
            earlier = (await wait_for_call(engine, CALLER)).call
            assert earlier["outcome"] == "answered"

            async with httpx.AsyncClient(base_url=base) as client:
                page = await client.get("/login")
            assert page.headers["content-security-policy"] == CSP

            await _log_in(phone, base, officer_id)
            await run(_wait_for_text, phone, "#to-finish", "Cần hoàn tất ghi nhận (1)")
            await run(phone.execute_script, "document.body.dataset.sameLoad = 'yes';")

            second = await harness.place_call(caller_number=CALLER, hold=40)
            card = await run(_element, phone, ".call-card[data-call-id]")
            call_id = await run(card.get_attribute, "data-call-id")
            assert call_id != earlier["id"]
            await run(_wait_for_text, phone, _card(call_id, ".caller"), CALLER)
            await run(_wait_for_text, phone, _card(call_id, ".state"), "Đang đổ chuông máy")
            await run(_wait_for_text, phone, _card(call_id, ".rung"), f"Số trực {number} (so-1)")
            await run(_wait_for_text, phone, _card(call_id, ".history"), "Các cuộc gọi trước (1)")
            await run(_wait_for_text, phone, _card(call_id, ".past-calls"), officer_name)
            summary = await run(
                lambda: phone.find_element(
                    By.CSS_SELECTOR, _card(call_id, "textarea[name=summary]")
                )
            )
            await run(summary.send_keys, TYPED_RINGING)
            # The answer arrives by the event stream while the half-typed text sits there.
            await run(_wait_for_text, phone, _card(call_id, ".state"), "Đang nối máy với bạn")
            await run(_wait_for_text, phone, _card(call_id, ".elapsed"), "Đàm thoại")
            await run(summary.send_keys, TYPED_TALKING)  # the same element: not redrawn
            typed = await run(summary.get_attribute, "value")
            assert typed == TYPED_RINGING + TYPED_TALKING
            assert await run(phone.execute_script, "return document.body.dataset.sameLoad;") == (
                "yes"  # no reload happened
            )
            await run(_no_sideways_scroll, phone)
            shots = Path(os.environ.get("CALLROUTER_WEB_SCREENSHOTS", tmp_path))
            await run(lambda: shots.mkdir(parents=True, exist_ok=True))
            await run(phone.save_screenshot, str(shots / "officer-form.png"))
            await run(phone.execute_script, "window.scrollTo(0, 0);")
            await run(phone.save_screenshot, str(shots / "officer-call.png"))

            # The agreed answer, found beside the call without diacritics, goes with the case.
            search = await run(
                lambda: phone.find_element(By.CSS_SELECTOR, _card(call_id, "input.answer-q"))
            )
            await run(search.send_keys, "tiem chung")
            await run(_wait_for_text, phone, _card(call_id, ".answer-hits"), SCHEDULE.title)
            marked = await run(
                lambda: [
                    m.text
                    for m in phone.find_elements(
                        By.CSS_SELECTOR, _card(call_id, ".answer-hits mark")
                    )
                ]
            )
            assert {"tiêm", "chủng"} <= set(marked)
            await run(
                lambda: phone.find_element(
                    By.CSS_SELECTOR, _card(call_id, f'button.use-answer[data-answer="{answer_id}"]')
                ).click()
            )
            await run(_wait_for_text, phone, _card(call_id, ".answer-chosen"), SCHEDULE.title)
            await run(_no_sideways_scroll, phone)

            # Recorded mid-call: back on the screen with the reference, the call still up.
            kind = await run(
                lambda: phone.find_element(By.CSS_SELECTOR, _card(call_id, "select[name=kind]"))
            )
            await run(lambda: Select(kind).select_by_value("hoi_dap"))
            await run(
                lambda: phone.find_element(
                    By.CSS_SELECTOR, _card(call_id, "button[type=submit]")
                ).click()
            )
            await run(_wait_for_text, phone, ".flash", "Đã ghi nhận hồ sơ số")
            await run(_wait_for_text, phone, ".flash", "Đã gắn 1 câu trả lời thống nhất.")
            await run(_wait_for_text, phone, _card(call_id, ".state"), "Đang nối máy với bạn")
            await run(_wait_for_text, phone, _card(call_id, ".this-call-done"), "đã có hồ sơ số")
            todo = await run(lambda: phone.find_element(By.ID, "to-finish").text)
            assert "Cần hoàn tất ghi nhận (1)" in todo  # the earlier call, not this one
            links = await run(
                lambda: [
                    a.get_attribute("href")
                    for a in phone.find_elements(By.CSS_SELECTOR, "#to-finish a.todo")
                ]
            )
            assert [h.rsplit("/", 1)[-1] for h in links] == [f"{earlier['id']}#cases"]
            await run(_no_sideways_scroll, phone)

            await harness.wait_caller_hangup(second, within=60)
            await run(_wait_for_text, phone, _card(call_id, ".state"), "Đã kết thúc")
            report = await _report_answers(base, engine, call_id)
    finally:
        async with engine.connect() as conn:
            answered = (
                await conn.execute(
                    sa.select(calls.c.id, calls.c.outcome, calls.c.answered_officer_id)
                    .where(calls.c.caller == CALLER)
                    .order_by(calls.c.started_at)
                )
            ).all()
            recorded = (
                await conn.execute(sa.select(cases.c.call_id, cases.c.summary, cases.c.opened_by))
            ).all()
            attached = (
                await conn.execute(
                    sa.select(
                        cases.c.call_id, case_answers.c.answer_id, case_answers.c.attached_by
                    ).join(cases, cases.c.id == case_answers.c.case_id)
                )
            ).all()
            audit = (
                await conn.execute(
                    sa.select(call_events.c.call_id, call_events.c.data).where(
                        call_events.c.type == "history_viewed"
                    )
                )
            ).all()
        await engine.dispose()
    assert [tuple(r) for r in answered] == [
        (earlier["id"], "answered", officer_id),
        (call_id, "answered", officer_id),
    ]
    assert [tuple(r) for r in recorded] == [(call_id, TYPED_RINGING + TYPED_TALKING, officer_id)]
    assert [tuple(r) for r in attached] == [(call_id, answer_id, officer_id)]
    # The month's report (the clerk's page) lists the answer as used once.
    assert f"<td>{SCHEDULE.title}</td><td>{SCHEDULE.source}</td><td>1</td>" in report
    assert audit, "opening the caller's history left no audit entry"
    assert {a.call_id for a in audit} == {call_id}
    assert all(a.data["by"] == officer_id for a in audit)


def _element(driver: Any, css: str) -> Any:
    """The first element matching ``css`` once there is one (within WAIT seconds)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


async def _report_answers(base: str, engine: Any, call_id: str) -> str:
    """The answer book's part of the month's report page (of the month of the call's case),
    read by the clerk."""
    async with engine.connect() as conn:
        day = await conn.scalar(sa.select(cases.c.local_day).where(cases.c.call_id == call_id))
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        form = await client.get("/login")
        logged = await client.post(
            "/login", data={"csrf": csrf_of(form.text), "username": ADMIN, "password": PASSWORD}
        )
        assert logged.status_code == 303, logged.text
        page = await client.get("/report", params={"month": f"{day:%Y-%m}", "cutoff": "0"})
    assert page.status_code == 200, page.text
    return page.text[page.text.index('id="answers"') :]
