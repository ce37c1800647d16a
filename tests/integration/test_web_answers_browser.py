"""The answer book in a real headless Chromium: an officer records a question from a call,
opens the book from the case, types "tiem chung" without diacritics, sees the agreed answer
highlighted and attaches it to the case; the month's usage counts it. A clerk edits an
answer's text and the versions table keeps the old one with its account; an officer's
attachment is counted on the month's report page."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callrouter.answers.book import AnswerDraft
from callrouter.cases.edit import CaseInput
from callrouter.store import accounts as account_store
from callrouter.store.answers import create_answer, usage
from callrouter.store.cases import open_case
from tests.integration.test_web_browser import (
    _check_screenshot,
    _wait_for_text,
    browser,
    log_in,
    run,
    server,
)
from tests.integration.web_harness import (
    PASSWORD,
    PASSWORD_HASH,
    START,
    USER,
    WebEnv,
    load_example_rota,
    web,
    web_db_url,
)

pytestmark = pytest.mark.integration
__all__ = ["browser", "server", "web", "web_db_url"]

ANSWER = AnswerDraft(
    title="Lịch tiêm chủng mở rộng tháng 11",
    topic="tiem_chung",
    body="Trẻ dưới 1 tuổi tiêm chủng tại trạm y tế xã vào ngày 25 hằng tháng.",
    source="Công văn số 123/SYT-NVY ngày 01/11/2026",
    agreed_on=date(2026, 11, 1),
)


@pytest.mark.parametrize("web_db_url", ["sqlite"], indirect=True)
async def test_officer_finds_tiem_chung_and_attaches_it_to_the_case_in_chromium(
    web: WebEnv, server: str, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    answer_id = await create_answer(web.engine, ANSWER, account="van.thu", now=START)
    shots = Path(os.environ.get("CALLROUTER_WEB_SCREENSHOTS", tmp_path))
    await run(lambda: shots.mkdir(parents=True, exist_ok=True))
    await log_in(browser, server)
    link = await run(lambda: browser.find_element(By.CSS_SELECTOR, "a.todo"))
    await run(link.click)
    await run(_wait_for_text, browser, "#cases h2", "Hỏi đáp, phản ánh, kiến nghị")
    await run(lambda: Select(browser.find_element(By.ID, "case-kind")).select_by_value("hoi_dap"))
    await run(
        lambda: Select(browser.find_element(By.ID, "case-topic")).select_by_value("tiem_chung")
    )
    await run(lambda: browser.find_element(By.ID, "case-summary").send_keys("Hỏi lịch tiêm"))
    await run(lambda: browser.find_element(By.ID, "case-button").click())
    await run(_wait_for_text, browser, ".flash", "Đã ghi nhận hồ sơ số")
    case_link = await run(lambda: browser.find_element(By.CSS_SELECTOR, "#cases a.case-ref"))
    await run(case_link.click)
    await run(_wait_for_text, browser, "#answers h2", "Câu trả lời thống nhất đã dùng")
    await run(lambda: browser.find_element(By.ID, "case-find-answer").click())
    await run(_wait_for_text, browser, "#answers-for-case", "Chọn câu trả lời đã dùng")
    await run(lambda: browser.find_element(By.ID, "answer-q").send_keys("tiem chung"))
    await run(lambda: browser.find_element(By.ID, "answer-search-button").click())
    await run(_wait_for_text, browser, "#answer-hits h2", ANSWER.title)
    marks = await run(
        lambda: [m.text for m in browser.find_elements(By.CSS_SELECTOR, "#answer-hits h2 mark")]
    )
    assert marks == ["tiêm", "chủng"]
    found_png = shots / "answer-found.png"
    assert await run(browser.save_screenshot, str(found_png))
    _check_screenshot(found_png)
    await run(lambda: browser.find_element(By.CSS_SELECTOR, "button.attach").click())
    await run(_wait_for_text, browser, ".flash", "Đã gắn câu trả lời")
    await run(_wait_for_text, browser, "#case-answers", ANSWER.title)

    local = START.date()
    used, _ = await usage(web.engine, local.replace(day=1), local.replace(day=30))
    assert [(u.answer_id, u.cases) for u in used] == [(answer_id, 1)]


def _versions(browser: Any) -> list[list[str]]:
    from selenium.webdriver.common.by import By

    return [
        [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        for row in browser.find_elements(By.CSS_SELECTOR, "#answer-versions tbody tr")
    ]


@pytest.mark.parametrize("web_db_url", ["sqlite"], indirect=True)
async def test_clerk_edits_the_body_and_the_versions_table_keeps_the_old_one_in_chromium(
    web: WebEnv, server: str, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    answer_id = await create_answer(web.engine, ANSWER, account="van.thu", now=START)
    await log_in(browser, server)
    await run(browser.get, f"{server}/answers/{answer_id}")
    await run(_wait_for_text, browser, "h1", f"Câu trả lời số {answer_id}")
    body = await run(lambda: browser.find_element(By.ID, "answer-body"))
    await run(body.clear)
    await run(body.send_keys, "Trẻ dưới 1 tuổi tiêm chủng vào ngày 20 hằng tháng.")
    await run(lambda: browser.find_element(By.ID, "answer-save").click())
    await run(_wait_for_text, browser, ".flash", "Đã lưu phiên bản 2")
    rows = await run(_versions, browser)
    # Newest first: the clerk's version 2, then version 1 as van.thu saved it.
    assert [(r[0], r[2], r[4]) for r in rows] == [
        ("2", USER, "Trẻ dưới 1 tuổi tiêm chủng vào ngày 20 hằng tháng."),
        ("1", "van.thu", ANSWER.body),
    ]
    shots = Path(os.environ.get("CALLROUTER_WEB_SCREENSHOTS", tmp_path))
    await run(lambda: shots.mkdir(parents=True, exist_ok=True))
    png = shots / "answer-versions.png"
    assert await run(browser.save_screenshot, str(png))
    _check_screenshot(png)


@pytest.mark.parametrize("web_db_url", ["sqlite"], indirect=True)
async def test_an_officers_attachment_is_counted_on_the_months_report_page_in_chromium(
    web: WebEnv, server: str, browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    await account_store.sync_with_rota(web.engine, load_example_rota(), web.clock())
    assert await account_store.set_password(web.engine, "lan", PASSWORD_HASH, web.clock())
    answer_id = await create_answer(web.engine, ANSWER, account="van.thu", now=START)
    case = await open_case(
        web.engine,
        web.app.state.web.cases.rules,
        CaseInput(kind="hoi_dap", topic="tiem_chung", summary="Hỏi lịch tiêm"),
        branch=3,
        by="lan",
        at=START,
    )
    # The officer logs in straight to the case and attaches the answer from the book.
    await run(browser.get, f"{server}/login?next=/cases/{case.id}")
    await run(lambda: browser.find_element(By.ID, "username").send_keys("lan"))
    await run(lambda: browser.find_element(By.ID, "password").send_keys(PASSWORD))
    await run(lambda: browser.find_element(By.ID, "login-button").click())
    await run(_wait_for_text, browser, "#answers h2", "Câu trả lời thống nhất đã dùng")
    await run(lambda: browser.find_element(By.ID, "case-find-answer").click())
    await run(_wait_for_text, browser, "#answers-for-case", "Chọn câu trả lời đã dùng")
    await run(lambda: browser.find_element(By.ID, "answer-q").send_keys("lich tiem"))
    await run(lambda: browser.find_element(By.ID, "answer-search-button").click())
    await run(_wait_for_text, browser, "#answer-hits h2", ANSWER.title)
    await run(lambda: browser.find_element(By.CSS_SELECTOR, "button.attach").click())
    await run(_wait_for_text, browser, ".flash", "Đã gắn câu trả lời")
    # The clerk's report page for that month counts it.
    await run(browser.delete_all_cookies)
    await log_in(browser, server)
    month = START.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%Y-%m")
    await run(browser.get, f"{server}/report?month={month}&cutoff=0")
    await run(_wait_for_text, browser, '#answers table[data-key="cases_answers"]', ANSWER.title)
    rows = await run(
        lambda: [
            [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
            for row in browser.find_elements(
                By.CSS_SELECTOR, '#answers table[data-key="cases_answers"] tr'
            )
        ]
    )
    assert [r for r in rows if r] == [[ANSWER.title, ANSWER.source, "1"]]
    local = START.date()
    used, _ = await usage(web.engine, local.replace(day=1), local.replace(day=30))
    assert [(u.answer_id, u.cases) for u in used] == [(answer_id, 1)]
