"""A citizen's petition followed to its result, end to end: a real call through the real pbx is
bridged to an officer by the real ``callrouter serve`` (ARI); in a real headless Chromium the
officer opens that call's page, records a kiến nghị and forwards it to an agency; an admin
enters the agency's result and marks the citizen told; the month's DOCX (read back with
python-docx) counts it in the right rows of section II."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from sqlalchemy import select

from callrouter.calls.live import LiveCalls
from callrouter.cases.config import load_cases_config
from callrouter.cases.edit import CaseRules
from callrouter.cases.workdays import WorkCalendar
from callrouter.metrics import Metrics
from callrouter.report.figures import UnitInfo
from callrouter.report.periods import month_period
from callrouter.report.queries import compute_figures
from callrouter.report.render import render
from callrouter.rota import load_rota
from callrouter.rota.status import RotaTracker
from callrouter.store.models import cases
from callrouter.web import WebServer, WebSettings, create_app
from callrouter.web.security import hash_password
from tests.e2e.callflow_support import engine_for, running_router, wait_for_call, write_rota
from tests.e2e.harness import ANSWERS, Harness, Sandbox, officer_number
from tests.e2e.test_calls import wait_bridged
from tests.integration.test_web_browser import WAIT, _wait_for_text, browser, run

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180, func_only=True)]
__all__ = ["browser"]

ROOT = Path(__file__).resolve().parents[2]
OFFICER, ADMIN = "can-bo-truc", "quan-tri"
PASSWORD = "mật-khẩu-e2e-1022"  # noqa: S105 (test-only credential)
SUMMARY = "Đề nghị trạm y tế xã mở thêm buổi tiêm chủng chiều thứ Năm"
RESULT = "Sở Y tế đồng ý, trạm y tế mở thêm buổi chiều thứ Năm từ tháng sau"


async def _log_in(driver: Any, base: str, user: str) -> None:
    from selenium.webdriver.common.by import By

    await run(driver.delete_all_cookies)
    await run(driver.get, f"{base}/login")
    await run(lambda: driver.find_element(By.ID, "username").send_keys(user))
    await run(lambda: driver.find_element(By.ID, "password").send_keys(PASSWORD))
    await run(lambda: driver.find_element(By.ID, "login-button").click())
    await run(_wait_for_text, driver, "h1", "Tổng quan")


def _table(doc: Any, first_header: str) -> list[list[str]]:
    for table in doc.tables:
        if table.rows[0].cells[0].text == first_header:
            return [[c.text for c in row.cells] for row in table.rows[1:]]
    raise AssertionError(f"no table headed {first_header!r}")


async def test_officer_records_and_forwards_a_petition_admin_closes_it_and_the_docx_counts_it(
    harness: Harness, sandbox: Sandbox, tmp_path: Path, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    officer_phone = officer_number(ANSWERS, 1)
    rota_path = write_rota(tmp_path / "rota.yaml", [officer_phone], ring_timeout=5)
    engine = engine_for(url)
    try:
        async with running_router(sandbox.info(), rota_path, url, tmp_path / "state"):
            call = await harness.place_call(digits="3", hold=4)
            await wait_bridged(harness, call)
            await harness.wait_caller_hangup(call, within=40)
            rows = await wait_for_call(engine, call.caller_number)
        assert rows.call["outcome"] == "answered"
        call_id = rows.call["id"]

        rota = load_rota(rota_path)
        app = create_app(
            WebSettings(
                users={OFFICER: hash_password(PASSWORD), ADMIN: hash_password(PASSWORD)},
                session_secret="s" * 40,
                recordings_dir=tmp_path,
            ),
            engine=engine,
            rota=RotaTracker(path=rota_path),
            live=LiveCalls(),
            metrics=Metrics(),
            readiness={},
            case_rules=CaseRules(
                config=load_cases_config(ROOT / "config" / "cases.example.yaml"),
                calendar=WorkCalendar.from_policy(rota.holidays),
            ),
        )
        server = WebServer(app, "127.0.0.1", 0)
        serving = asyncio.create_task(server.run())
        try:
            async with asyncio.timeout(WAIT):
                await server.wait_started()
            base = f"http://127.0.0.1:{server.port}"

            # The officer, on the call's page: a kiến nghị, forwarded to the Sở Y tế.
            await _log_in(browser, base, OFFICER)
            await run(browser.get, f"{base}/calls/{call_id}")
            await run(_wait_for_text, browser, "#cases h2", "Hỏi đáp, phản ánh, kiến nghị")
            pick = lambda element_id, value: Select(  # noqa: E731 (a one-line helper)
                browser.find_element(By.ID, element_id)
            ).select_by_value(value)
            await run(pick, "case-kind", "kien_nghi")
            await run(pick, "case-topic", "tiem_chung")
            await run(lambda: browser.find_element(By.ID, "case-summary").send_keys(SUMMARY))
            await run(pick, "case-status", "forwarded")
            await run(pick, "case-agency", "so_y_te")
            await run(lambda: browser.find_element(By.ID, "case-button").click())
            await run(_wait_for_text, browser, ".flash", "Đã ghi nhận hồ sơ số")
            await run(_wait_for_text, browser, "#cases .case-status", "Đã chuyển")
            case_link = await run(lambda: browser.find_element(By.CSS_SELECTOR, "a.case-ref"))
            case_href = await run(case_link.get_attribute, "href")

            # The admin: the agency's result, then the citizen is told.
            await _log_in(browser, base, ADMIN)
            await run(browser.get, case_href)
            await run(_wait_for_text, browser, "#case-status-now", "Đã chuyển")
            await run(pick, "update-status", "resolved")
            await run(lambda: browser.find_element(By.ID, "update-result").send_keys(RESULT))
            await run(lambda: browser.find_element(By.ID, "update-button").click())
            await run(_wait_for_text, browser, "#case-status-now", "Đã có kết quả")
            await run(pick, "update-status", "told")
            await run(lambda: browser.find_element(By.ID, "update-button").click())
            await run(_wait_for_text, browser, "#case-status-now", "Đã phản hồi người dân")
            await run(_wait_for_text, browser, "#case-history", OFFICER)
        finally:
            server.stop()
            async with asyncio.timeout(WAIT):
                await serving

        async with engine.connect() as conn:
            case = (await conn.execute(select(cases).where(cases.c.call_id == call_id))).one()
        assert (case.kind, case.status, case.agency, case.opened_by, case.told_by) == (
            "kien_nghi",
            "told",
            "so_y_te",
            OFFICER,
            ADMIN,
        )
        assert case.summary == SUMMARY
        assert case.result == RESULT

        # The month's report, as `callrouter report monthly` computes it.
        now = datetime.now(UTC)
        local = now.astimezone(rota.timezone)
        figures = await compute_figures(
            engine,
            period=month_period(f"{local.year}-{local.month:02d}"),
            branch=3,
            service_level_seconds=20,
            timezone="Asia/Ho_Chi_Minh",
            unit=UnitInfo(name="TRUNG TÂM Y TẾ KIỂM THỬ"),
            cases_config=load_cases_config(ROOT / "config" / "cases.example.yaml"),
            now=now,
        )
    finally:
        await engine.dispose()
    doc = Document(io.BytesIO(render(figures, "docx")))
    assert _table(doc, "Loại") == [
        ["Kiến nghị", "1", "100,0%"],  # 1 request over 1 call with a conversation
        ["Tổng số yêu cầu", "1", "100,0%"],
    ]
    results = {row[0]: row[1] for row in _table(doc, "Kết quả xử lý")}
    assert results["Đã phản hồi kết quả cho người dân"] == "1"
    assert results["Đã chuyển cơ quan chức năng, chờ kết quả"] == "0"
    assert results["Quá hạn xử lý"] == "0"
    assert _table(doc, "Lĩnh vực") == [["Tiêm chủng", "1", "100,0%"]]
    assert _table(doc, "Cơ quan") == [["Sở Y tế", "1"]]
    body = "\n".join(p.text for p in doc.paragraphs)
    assert "II. KẾT QUẢ TIẾP NHẬN, XỬ LÝ PHẢN ÁNH, KIẾN NGHỊ" in body
    assert "đã tiếp nhận 1 yêu cầu của người dân (1 kiến nghị)" in body
