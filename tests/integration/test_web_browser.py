"""The admin web in a real headless Chromium (Debian ``chromium`` + ``chromium-driver``).

The app runs in uvicorn inside this test's event loop on a real TCP port (the same
:class:`~callrouter.web.WebServer` that ``callrouter serve`` uses); selenium's blocking
WebDriver calls run in a worker thread so the loop keeps serving. The test logs in, reads
the dashboard, records a case from a call page, and takes screenshots it checks: not
blank, and the key Vietnamese texts present in the DOM.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from PIL import Image

from callrouter.store.models import cases
from callrouter.web import WebServer
from tests.conftest import require_service
from tests.integration.web_harness import (
    CALLBACK_ID,
    CALLBACK_NUMBER,
    PASSWORD,
    USER,
    WebEnv,
    web,
    web_db_url,
)

pytestmark = pytest.mark.integration
__all__ = ["web", "web_db_url"]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
    "--lang=vi-VN",
)
WAIT = 20.0
T = TypeVar("T")


PHONE = (360, 740)  # a common Android phone's CSS viewport


@contextlib.contextmanager
def chromium(tmp_path: Path, *, phone: bool = False) -> Iterator[Any]:
    """A headless Chromium driven by chromedriver; ``phone``: a 360x740 touch phone
    (Chromium's mobile emulation: viewport, device pixel ratio, mobile user agent)."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        require_service("Chromium", "install Debian's chromium and chromium-driver packages")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tmp_path / ("chromium-phone" if phone else "chromium-profile")
    profile.mkdir()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    if phone:
        width, height = PHONE
        metrics = {"width": width, "height": height, "pixelRatio": 2.0, "touch": True}
        options.add_experimental_option(
            "mobileEmulation",
            {"deviceMetrics": metrics, "clientHints": {"platform": "Android", "mobile": True}},
        )
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    with chromium(tmp_path) as driver:
        yield driver


@pytest.fixture
def phone(tmp_path: Path) -> Iterator[Any]:
    """Chromium as a 360x740 phone."""
    with chromium(tmp_path, phone=True) as driver:
        yield driver


@pytest.fixture
async def server(web: WebEnv) -> AsyncIterator[str]:
    srv = WebServer(web.app, "127.0.0.1", 0)
    task = asyncio.create_task(srv.run())
    async with asyncio.timeout(WAIT):
        await srv.wait_started()
    try:
        yield f"http://127.0.0.1:{srv.port}"
    finally:
        srv.stop()
        async with asyncio.timeout(WAIT):
            await task


async def run(fn: Callable[..., T], *args: Any) -> T:
    """A blocking WebDriver call, off the event loop that serves the page."""
    return await asyncio.to_thread(fn, *args)


# Chromium answers a read of an element whose document a navigation has just replaced with
# "unknown error: unhandled inspector error: ... Node with given id does not belong to the
# document" rather than a stale element reference (a log-in redirect in CI, 2026-12-06): both
# mean "look again".
DETACHED_NODE = "does not belong to the document"


def _text_is_present(css: str, text: str) -> Callable[[Any], bool]:
    """A wait condition: ``text`` is in the first element matching ``css`` (looks again while
    the element is missing, stale or detached by a navigation)."""
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        WebDriverException,
    )
    from selenium.webdriver.common.by import By

    def present(driver: Any) -> bool:
        try:
            return text in driver.find_element(By.CSS_SELECTOR, css).text
        except (NoSuchElementException, StaleElementReferenceException):
            return False
        except WebDriverException as exc:
            if DETACHED_NODE in (exc.msg or ""):
                return False
            raise

    return present


def _wait_for_text(driver: Any, css: str, text: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT).until(_text_is_present(css, text))


def _check_screenshot(path: Path) -> None:
    with Image.open(path) as image:
        rgb = image.convert("RGB")
        width, height = rgb.size
        assert width >= 800
        assert height >= 600
        colours = rgb.getcolors(maxcolors=1 << 20)
        assert colours is not None
        assert len(colours) > 50, "screenshot looks blank"
        most, _ = max(colours)
        assert most < 0.95 * width * height, "screenshot is almost one colour"


async def log_in(browser: Any, server: str) -> None:
    """Log in as the admin from the log-in page and wait for the dashboard."""
    from selenium.webdriver.common.by import By

    await run(browser.get, f"{server}/login")
    await run(lambda: browser.find_element(By.ID, "username").send_keys(USER))
    await run(lambda: browser.find_element(By.ID, "password").send_keys(PASSWORD))
    await run(lambda: browser.find_element(By.ID, "login-button").click())
    await run(_wait_for_text, browser, "h1", "Tổng quan")


class _Heading:
    """An element read once while Chromium swaps the document under it (CI, 2026-12-06)."""

    def __init__(self, reads: list[str]) -> None:
        self.reads = reads

    @property
    def text(self) -> str:
        from selenium.common.exceptions import WebDriverException

        read = self.reads.pop(0)
        if read == "detached":
            raise WebDriverException(
                "unknown error: unhandled inspector error: "
                '{"code":-32000,"message":"Node with given id does not belong to the document"}'
            )
        return read


class _Navigating:
    """The one WebDriver call the wait makes, answered as Chromium did in the failed CI run."""

    def __init__(self, reads: list[str]) -> None:
        self.heading = _Heading(reads)

    def find_element(self, by: str, css: str) -> _Heading:
        return self.heading


def test_waiting_for_a_text_looks_again_when_a_navigation_detaches_the_element() -> None:
    driver = _Navigating(["Đăng nhập quản trị", "detached", "Tổng quan"])
    _wait_for_text(driver, "h1", "Tổng quan")
    assert driver.heading.reads == []


def test_waiting_for_a_text_still_raises_other_browser_errors() -> None:
    from selenium.common.exceptions import WebDriverException

    class Crashed(_Navigating):
        def find_element(self, by: str, css: str) -> _Heading:
            raise WebDriverException("chrome not reachable")

    with pytest.raises(WebDriverException, match="chrome not reachable"):
        _wait_for_text(Crashed([]), "h1", "Tổng quan")


@pytest.mark.parametrize("web_db_url", ["sqlite"], indirect=True)
async def test_admin_logs_in_sees_dashboard_and_records_a_case_in_chromium(
    web: WebEnv, server: str, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    shots = Path(os.environ.get("CALLROUTER_WEB_SCREENSHOTS", tmp_path))
    await run(lambda: shots.mkdir(parents=True, exist_ok=True))
    await run(browser.get, f"{server}/")
    await run(_wait_for_text, browser, "h1", "Đăng nhập quản trị")
    # A wrong password first: the page says so and stays on the log-in form.
    await run(lambda: browser.find_element(By.ID, "username").send_keys(USER))
    await run(lambda: browser.find_element(By.ID, "password").send_keys("sai-mật-khẩu"))
    await run(lambda: browser.find_element(By.ID, "login-button").click())
    await run(_wait_for_text, browser, ".error-text", "Sai tên đăng nhập hoặc mật khẩu.")
    login_png = shots / "login-refused.png"
    assert await run(browser.save_screenshot, str(login_png))
    _check_screenshot(login_png)
    await run(lambda: browser.find_element(By.ID, "password").send_keys(PASSWORD))
    await run(lambda: browser.find_element(By.ID, "login-button").click())
    await run(_wait_for_text, browser, "h1", "Tổng quan")

    body = await run(lambda: browser.find_element(By.TAG_NAME, "body").text)
    for text in (
        "Cán bộ đang trực",
        "Nguyễn Thị Lan",
        "Hôm nay 10/11/2026",
        "Cuộc gọi gần đây",
        "Cuộc gọi đang diễn ra",
        "Ghi nhận nội dung",
    ):
        assert text in body, text
    dashboard_png = shots / "dashboard.png"
    assert await run(browser.save_screenshot, str(dashboard_png))
    _check_screenshot(dashboard_png)

    link = await run(lambda: browser.find_element(By.CSS_SELECTOR, "a.todo"))
    href = await run(link.get_attribute, "href")
    call_id = href.rsplit("/", 1)[-1].partition("#")[0]
    await run(link.click)
    await run(_wait_for_text, browser, "#cases h2", "Hỏi đáp, phản ánh, kiến nghị")
    await run(lambda: Select(browser.find_element(By.ID, "case-kind")).select_by_value("phan_anh"))
    await run(
        lambda: Select(browser.find_element(By.ID, "case-topic")).select_by_value("tiem_chung")
    )
    await run(
        lambda: browser.find_element(By.ID, "case-summary").send_keys("Điểm tiêm đóng cửa sớm")
    )
    await run(lambda: browser.find_element(By.ID, "case-button").click())
    await run(_wait_for_text, browser, ".flash", "Đã ghi nhận hồ sơ số")
    await run(_wait_for_text, browser, "#cases .case-status", "Đang xử lý")
    call_png = shots / "case-recorded.png"
    assert await run(browser.save_screenshot, str(call_png))
    _check_screenshot(call_png)

    async with web.engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(cases.c.kind, cases.c.topic, cases.c.summary, cases.c.opened_by).where(
                    cases.c.call_id == call_id, cases.c.opened_by == USER
                )
            )
        ).one()
    assert tuple(row) == ("phan_anh", "tiem_chung", "Điểm tiêm đóng cửa sớm", USER)


@pytest.mark.parametrize("web_db_url", ["sqlite"], indirect=True)
async def test_call_back_report_and_rota_pages_work_in_chromium(
    web: WebEnv, server: str, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    shots = Path(os.environ.get("CALLROUTER_WEB_SCREENSHOTS", tmp_path))
    await run(lambda: shots.mkdir(parents=True, exist_ok=True))
    await log_in(browser, server)

    # Call-backs: the full number, a playable recording, and "call back" pressed twice.
    await run(browser.get, f"{server}/callbacks")
    await run(_wait_for_text, browser, "h1", "Yêu cầu gọi lại chưa xử lý")
    row = f'tr[data-callback-id="{CALLBACK_ID}"]'
    number = await run(lambda: browser.find_element(By.CSS_SELECTOR, f"{row} .full-number").text)
    assert number == CALLBACK_NUMBER
    duration = await run(
        browser.execute_async_script,
        "const done = arguments[arguments.length - 1];"
        f"const a = document.querySelector('{row} audio');"
        "a.addEventListener('loadedmetadata', () => done(a.duration));"
        "a.addEventListener('error', () => done(-1));"
        "a.load();",
    )
    assert duration == pytest.approx(0.1, abs=0.02)  # the 0.1 s WAV the fixture recorded
    callbacks_png = shots / "callbacks.png"
    assert await run(browser.save_screenshot, str(callbacks_png))
    _check_screenshot(callbacks_png)
    # A second tab with the same page, loaded before the first press (two admins, two tabs).
    first_tab = await run(lambda: browser.current_window_handle)
    await run(browser.switch_to.new_window, "tab")
    second_tab = await run(lambda: browser.current_window_handle)
    await run(browser.get, f"{server}/callbacks")
    await run(_wait_for_text, browser, "h1", "Yêu cầu gọi lại chưa xử lý")
    dial = f"{row} form[action$='/dial'] button"
    await run(browser.switch_to.window, first_tab)
    await run(lambda: browser.find_element(By.CSS_SELECTOR, dial).click())
    await run(_wait_for_text, browser, ".flash", f"Đang gọi lại số {CALLBACK_NUMBER}")
    await run(_wait_for_text, browser, f"{row} .busy", "Đang gọi lại")
    await run(browser.switch_to.window, second_tab)
    await run(lambda: browser.find_element(By.CSS_SELECTOR, dial).click())
    await run(_wait_for_text, browser, "h1", "Đang gọi lại")
    await run(_wait_for_text, browser, "#error-message", "Không tạo thêm cuộc gọi thứ hai")
    await run(browser.close)
    await run(browser.switch_to.window, first_tab)
    assert web.dialer.calls == [(CALLBACK_ID, CALLBACK_NUMBER)]

    # Report: figures, three charts that load as images, download links.
    await run(browser.get, f"{server}/report?month=2026-11")
    await run(_wait_for_text, browser, "h1", "Báo cáo tháng 11 năm 2026")
    loaded = await run(
        browser.execute_async_script,
        "const done = arguments[arguments.length - 1];"
        "const imgs = [...document.querySelectorAll('.charts img')];"
        # lazy images load once a reader scrolls to them (the answer book's section is above)
        "document.querySelector('.charts').scrollIntoView();"
        "const wait = i => new Promise(r => { i.onload = r; i.onerror = r; });"
        "Promise.all(imgs.map(i => (i.complete ? null : wait(i))))"
        ".then(() => done(imgs.map(i => i.naturalWidth)));",
    )
    assert len(loaded) == 3
    assert all(width > 300 for width in loaded), loaded
    body = await run(lambda: browser.find_element(By.TAG_NAME, "body").text)
    for text in ("Tổng số cuộc gọi đến", "Tải báo cáo", "Excel (XLSX)", "Word (DOCX)", "Biểu đồ"):
        assert text in body, text
    report_png = shots / "report.png"
    assert await run(browser.save_screenshot, str(report_png))
    _check_screenshot(report_png)

    # Rota status.
    await run(browser.get, f"{server}/rota")
    await run(_wait_for_text, browser, "h1", "Tình trạng lịch trực")
    version = await run(lambda: browser.find_element(By.ID, "rota-version").text)
    assert web.tracker.rota is not None
    assert version == web.tracker.rota.version
    rota_png = shots / "rota.png"
    assert await run(browser.save_screenshot, str(rota_png))
    _check_screenshot(rota_png)
