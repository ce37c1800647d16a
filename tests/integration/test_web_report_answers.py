"""The report page shows the answer book's figures the DOCX has: the most used agreed answers
and the questions (hỏi đáp) without one, proposed to the Department of Health."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from callrouter.answers.book import AnswerDraft
from callrouter.cases.edit import CaseInput
from callrouter.store.answers import attach, create_answer
from callrouter.store.cases import open_case
from tests.integration.test_report_cases import RULES
from tests.integration.web_harness import WebEnv, login, web, web_db_url

pytestmark = pytest.mark.integration
__all__ = ["web", "web_db_url"]  # fixtures imported from the harness

JULY = datetime(2026, 7, 10, 2, 0, tzinfo=UTC)
SCHEDULE = AnswerDraft(
    title="Lịch tiêm chủng mở rộng",
    topic="tiem_chung",
    body="Trẻ dưới 1 tuổi tiêm tại trạm y tế xã vào ngày 25 hằng tháng.",
    source="Công văn số 123/SYT-NVY ngày 01/06/2026",
    agreed_on=date(2026, 6, 1),
)


async def test_the_report_page_lists_used_answers_and_proposes_questions_without_one(
    web: WebEnv,
) -> None:
    schedule = await create_answer(web.engine, SCHEDULE, account="van.thu", now=JULY)
    for i, summary in enumerate(["Hỏi lịch tiêm", "Hỏi lịch tiêm", "Tiêm vắc xin dại ở đâu?"]):
        case = await open_case(
            web.engine,
            RULES,
            CaseInput(kind="hoi_dap", topic="tiem_chung", summary=summary),
            branch=3,
            by="an",
            at=JULY + timedelta(minutes=i),
        )
        if i < 2:
            await attach(web.engine, case.id, schedule, account="an", now=JULY)
    async with web.client() as client:
        await login(client)
        page = await client.get("/report?month=2026-07&cutoff=0")
    assert page.status_code == 200
    section = page.text[page.text.index('id="answers"') :]
    assert "Câu trả lời thống nhất được sử dụng nhiều nhất" in section
    assert "<td>Lịch tiêm chủng mở rộng</td><td>Công văn số 123/SYT-NVY ngày 01/06/2026</td>" in (
        section
    )
    assert "<td>2</td>" in section
    assert "Đề xuất bổ sung nội dung trả lời" in section
    assert "Trong kỳ báo cáo có 1 câu hỏi của người dân chưa có nội dung trả lời" in section
    assert "Tiêm vắc xin dại ở đâu?" in section
