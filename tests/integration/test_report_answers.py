"""The answer book in the monthly report and as one DOCX, on SQLite and PostgreSQL, read back."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from docx import Document
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.answers.book import AnswerDraft
from callrouter.cases.edit import CaseInput
from callrouter.cli import cli
from callrouter.report.merge import load_figures, merge_files
from callrouter.report.render import render
from callrouter.report.sample import edge_month_rows, insert_rows
from callrouter.store.answers import attach, create_answer, retire_answer
from callrouter.store.cases import open_case
from callrouter.store.migrate import upgrade
from tests.integration.test_report_cases import NOV_10, RULES, _figures, _table

pytestmark = pytest.mark.integration

SOURCE = "Công văn số 123/SYT-NVY ngày 01/10/2026"
SCHEDULE = AnswerDraft(
    title="Lịch tiêm chủng mở rộng",
    topic="tiem_chung",
    body="Trẻ dưới 1 tuổi tiêm tại trạm y tế xã vào ngày 25 hằng tháng.\nMang sổ tiêm chủng.",
    source=SOURCE,
    agreed_on=date(2026, 10, 1),
)
CARD = AnswerDraft(
    title="Cấp lại thẻ bảo hiểm y tế",
    topic="bao_hiem_y_te",
    body="Nộp tờ khai tại bưu điện xã.",
    source="Công văn số 45/BHXH ngày 15/09/2026",
    agreed_on=date(2026, 9, 15),
    valid_until=date(2026, 10, 31),
)
UNANSWERED = 22  # two more than the report lists by name


async def _seed(engine: AsyncEngine) -> None:
    """November: 3 questions used the schedule (one also the card), 22 had no answer, and a
    petition without one (not a question: not proposed)."""
    await upgrade(engine)
    calls_only = edge_month_rows()
    calls_only.cases.clear()
    await insert_rows(engine, calls_only)
    schedule = await create_answer(engine, SCHEDULE, account="van.thu", now=NOV_10)
    card = await create_answer(engine, CARD, account="van.thu", now=NOV_10)

    async def question(summary: str | None, minutes: int, kind: str = "hoi_dap") -> str:
        case = await open_case(
            engine,
            RULES,
            CaseInput(kind=kind, topic="tiem_chung", summary=summary),
            branch=3,
            by="an",
            at=NOV_10 + timedelta(minutes=minutes),
        )
        return case.id

    for i in range(3):
        used = await question("Hỏi lịch tiêm", i)
        await attach(engine, used, schedule, account="an", now=NOV_10)
        if i == 0:
            await attach(engine, used, card, account="an", now=NOV_10)
    await question("Hỏi tiêm vắc xin sốt xuất huyết cho người lớn " + "rất dài " * 30, 10)
    for i in range(1, UNANSWERED):
        await question(None if i % 2 else f"Câu hỏi thứ {i}", 10 + i)
    await question("Đề nghị tiêm buổi chiều", 0, kind="kien_nghi")


async def test_month_report_counts_used_answers_and_proposes_the_questions_without_one(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await _seed(engine)
    f = await _figures(engine, "TTYT A", "Thiếu máy bàn.")

    data = json.loads(render(f, "json"))
    assert data["version"] == 3
    book = data["cases"]["answers"]
    assert [(u["title"], u["source"], u["count"]) for u in book["used"]] == [
        ("Lịch tiêm chủng mở rộng", SOURCE, 3),
        ("Cấp lại thẻ bảo hiểm y tế", "Công văn số 45/BHXH ngày 15/09/2026", 1),
    ]
    assert book["unanswered"] == UNANSWERED
    assert len(book["questions"]) == 20
    first = book["questions"][0]
    assert (first["topic"], first["summary"][:20]) == ("Tiêm chủng", "Hỏi tiêm vắc xin sốt")

    doc = Document(io.BytesIO(render(f, "docx")))
    assert _table(doc, "Câu trả lời") == [
        ["Lịch tiêm chủng mở rộng", SOURCE, "3"],
        ["Cấp lại thẻ bảo hiểm y tế", "Công văn số 45/BHXH ngày 15/09/2026", "1"],
    ]
    body = [p.text for p in doc.paragraphs]
    section_iii = body[body.index("III. KHÓ KHĂN, VƯỚNG MẮC VÀ ĐỀ XUẤT") :]
    assert "Thiếu máy bàn." in section_iii
    at = section_iii.index("Đề xuất bổ sung nội dung trả lời:")
    assert section_iii[at + 1].startswith(f"Trong kỳ báo cáo có {UNANSWERED} câu hỏi")
    listed = section_iii[at + 2 : at + 22]
    assert all(line.startswith("- Hồ sơ số ") for line in listed)
    assert first["ref"] in listed[0]
    assert "(Tiêm chủng): Hỏi tiêm vắc xin sốt xuất huyết" in listed[0]
    assert listed[0].endswith("….")  # a long summary is cut short
    assert section_iii[at + 22] == "- Và 2 câu hỏi khác."
    assert not any("Đề nghị tiêm buổi chiều" in line for line in listed)  # a petition

    wb = load_workbook(io.BytesIO(render(f, "xlsx")))
    assert [r[2] for r in wb["Câu trả lời đã dùng"].iter_rows(min_row=2, values_only=True)] == [
        3,
        1,
    ]
    assert wb["Câu hỏi chưa có trả lời"].max_row == 21  # header and the 20 listed
    info = [r[0] for r in wb["Báo cáo"].iter_rows(values_only=True)]
    assert "Đề xuất bổ sung nội dung trả lời" in info
    assert "Đề xuất bổ sung nội dung trả lời" in render(f, "table").decode()
    assert "cases_answers,1,Số lần sử dụng,3" in render(f, "csv").decode()

    a = tmp_path / "a.json"
    a.write_bytes(render(f, "json"))
    assert load_figures(a) == f
    b = tmp_path / "b.json"
    b.write_bytes(render(await _figures(engine, "TTYT B", ""), "json"))
    merged = merge_files([a, b], issuer=f.unit.model_copy(update={"name": "Huyện"}))
    assert merged.cases.answers is not None
    assert [u.count for u in merged.cases.answers.used] == [6, 2]
    assert merged.cases.answers.unanswered == 2 * UNANSWERED


async def test_export_docx_holds_every_answer_in_use_and_none_retired(
    engine: AsyncEngine, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await upgrade(engine)
    monkeypatch.setenv("CALLROUTER_REPORT_UNIT_NAME", "Trung tâm Y tế huyện A")
    monkeypatch.setenv("CALLROUTER_REPORT_GOVERNING_BODY", "Sở Y tế tỉnh B")
    await create_answer(engine, SCHEDULE, account="van.thu", now=NOV_10)
    await create_answer(engine, CARD, account="van.thu", now=NOV_10)
    old = await create_answer(
        engine,
        AnswerDraft("Chiến dịch cũ", "tiem_chung", "Đã kết thúc.", SOURCE, date(2026, 1, 1)),
        account="van.thu",
        now=NOV_10,
    )
    await retire_answer(engine, old, expected_version=1, account="van.thu", now=NOV_10)
    out = tmp_path / "so-tra-loi.docx"
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["answers", "export-docx", "-o", str(out), "--database-url", store_url],
    )
    assert result.exit_code == 0, result.output
    assert "2 câu trả lời" in result.output
    doc = Document(str(out))
    letterhead = [c.text for c in doc.tables[0].rows[0].cells]
    assert "TRUNG TÂM Y TẾ HUYỆN A" in letterhead[0]
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in letterhead[1]
    text = [p.text for p in doc.paragraphs]
    assert "SỔ CÂU TRẢ LỜI THỐNG NHẤT" in text
    card_at = text.index("1. Cấp lại thẻ bảo hiểm y tế")  # topics in order: bảo hiểm y tế first
    assert text[card_at + 1 : card_at + 5] == [
        "Lĩnh vực: Bảo hiểm y tế",
        "Văn bản nguồn: Công văn số 45/BHXH ngày 15/09/2026",
        "Ngày thống nhất: 15/09/2026",
        "Hiệu lực đến: 31/10/2026 (đã hết hiệu lực)",
    ]
    at = text.index("2. Lịch tiêm chủng mở rộng")
    assert "Hiệu lực đến: không thời hạn" in text[at : at + 6]
    assert "Mang sổ tiêm chủng." in text
    assert not any("Chiến dịch cũ" in t for t in text)
    fonts = {r.font.name for p in doc.paragraphs for r in p.runs if r.text.strip()}
    assert fonts == {"Times New Roman"}
    sizes = {
        r.font.size and r.font.size.pt for p in doc.paragraphs for r in p.runs if r.text.strip()
    }
    assert sizes <= {13.0, 14.0}


async def test_export_docx_of_an_empty_book_says_so_and_writes_nothing(
    engine: AsyncEngine, store_url: str, tmp_path: Path
) -> None:
    await upgrade(engine)
    out = tmp_path / "so-tra-loi.docx"
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["answers", "export-docx", "-o", str(out), "--database-url", store_url],
    )
    assert result.exit_code == 1
    assert "chưa có câu trả lời nào đang dùng" in result.output
    assert not out.exists()
