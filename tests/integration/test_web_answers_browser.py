"""The answer book in a real headless Chromium: an officer records a question from a call,
opens the book from the case, types "tiem chung" without diacritics, sees the agreed answer
highlighted and attaches it to the case; the month's usage counts it."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from callrouter.answers.book import AnswerDraft
from callrouter.answers.store import create_answer, usage
from tests.integration.test_web_browser import (
    _check_screenshot,
    _wait_for_text,
    browser,
    log_in,
    run,
    server,
)
from tests.integration.web_harness import START, WebEnv, web, web_db_url

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
