"""A health notice written on the web in a real headless Chromium becomes the running set:
the admin opens "Thông báo cho người gọi", types the notice, its dates and who hears it;
serve's watcher (the real one, on the real file) reloads and the page lists the notice
as in use with how it is read and its measured length."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from callrouter.notices.board import NoticeBoard
from callrouter.notices.edit import read_journal
from callrouter.notices.watch import watch_notices
from tests.integration.test_web_browser import (
    WAIT,
    _check_screenshot,
    _wait_for_text,
    browser,
    log_in,
    run,
)
from tests.integration.web_harness import WebEnv, app_with, serving, web, web_db_url

pytestmark = pytest.mark.integration
__all__ = ["browser", "web", "web_db_url"]

FILE = """\
timezone: Asia/Ho_Chi_Minh
max_seconds: 20
notices: []
"""
TEXT = "Từ 15/11, TTYT huyện tiêm chủng miễn phí cho trẻ em. Xin mang theo thẻ BHYT."


@pytest.fixture
async def board(tmp_path: Path) -> AsyncIterator[NoticeBoard]:
    """serve's notice board on a real file, watched by serve's own watcher."""
    path = tmp_path / "notices.yaml"
    path.write_text(FILE, encoding="utf-8")
    board = NoticeBoard(path, sounds_dir=tmp_path / "sounds")
    watcher = asyncio.create_task(watch_notices(board, None, period=0.2))
    try:
        yield board
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


@pytest.fixture
async def notices_server(web: WebEnv, board: NoticeBoard) -> AsyncIterator[str]:
    async with serving(web, app_with(web, notices=board)) as base:
        yield base


def _type_datetime(browser: Any, element_id: str, at: datetime) -> None:
    """Type ``at`` into a ``datetime-local`` field as a person does (headless Chromium shows
    it as en-US: month, day, year, then → to the time, hour, minute, AM/PM) and check what
    the field holds."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    field = browser.find_element(By.ID, element_id)
    field.send_keys(f"{at:%m%d%Y}")
    field.send_keys(Keys.ARROW_RIGHT)
    field.send_keys(f"{at:%I%M%p}"[:5])  # 0700A, 0500P
    value = field.get_property("value")
    assert value == f"{at:%Y-%m-%dT%H:%M}", f"{element_id}: typed {at}, field holds {value!r}"


def write_notice(browser: Any, text: str, start: datetime, end: datetime, audience: str) -> None:
    """Blocking: fill in the page's "Thêm thông báo" form and save it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.find_element(By.ID, "notice-text").send_keys(text)
    _type_datetime(browser, "notice-from", start)
    _type_datetime(browser, "notice-until", end)
    Select(browser.find_element(By.ID, "notice-audience")).select_by_value(audience)
    browser.find_element(By.ID, "notice-save").click()


@pytest.mark.parametrize("web_db_url", ["sqlite"], indirect=True)
async def test_an_admin_writes_a_notice_in_chromium_and_it_becomes_the_running_set(
    web: WebEnv, notices_server: str, board: NoticeBoard, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    server = notices_server
    shots = Path(os.environ.get("CALLROUTER_WEB_SCREENSHOTS", tmp_path))
    await run(lambda: shots.mkdir(parents=True, exist_ok=True))
    await log_in(browser, server)
    link = await run(lambda: browser.find_element(By.LINK_TEXT, "Thông báo cho người gọi"))
    await run(link.click)
    await run(_wait_for_text, browser, "h1", "Thông báo y tế cho người gọi")
    await run(_wait_for_text, browser, "#notices-running", "Không có thông báo nào đang dùng")
    start, end = datetime(2026, 11, 10, 7, 0), datetime(2026, 11, 30, 17, 0)
    await run(write_notice, browser, TEXT, start, end, "all")
    await run(_wait_for_text, browser, ".flash", "Đã thêm thông báo tu-15-11-ttyt-huyen-tiem")

    # serve's watcher reads the file within its period: the notice is in the running set
    deadline = time.monotonic() + WAIT
    while "tu-15-11-ttyt-huyen-tiem" not in [r.notice.id for r in board.ready()]:
        assert time.monotonic() < deadline, "serve's watcher did not take the new file"
        await asyncio.sleep(0.1)
    [ready] = board.ready()
    assert ready.notice.audience.value == "all"
    assert ready.spoken is not None
    assert "ngày mười lăm tháng mười một" in ready.spoken
    assert "Trung tâm Y tế" in ready.spoken
    await run(browser.get, f"{server}/notices")
    await run(_wait_for_text, browser, "#notices-running", "Trung tâm Y tế huyện")
    running = await run(lambda: browser.find_element(By.ID, "notices-running").text)
    assert f"{ready.seconds:.1f} giây" in running
    assert "10/11/2026 07:00 → 30/11/2026 17:00" in running
    journal = await run(lambda: browser.find_element(By.ID, "notice-journal").text)
    assert "admin" in journal
    assert "Thêm" in journal
    [change] = read_journal(board.path)
    assert (change.account, change.action) == ("admin", "add")
    png = shots / "notice-running.png"
    assert await run(browser.save_screenshot, str(png))
    _check_screenshot(png)
