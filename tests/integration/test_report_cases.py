"""Section II of the report from real cases on SQLite and PostgreSQL, read back from the DOCX."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from docx import Document
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.cases.config import CasesConfig
from callrouter.cases.edit import CaseInput, CaseRules
from callrouter.report.figures import Figures, UnitInfo
from callrouter.report.merge import merge_figures
from callrouter.report.periods import month_period
from callrouter.report.queries import compute_figures
from callrouter.report.render import render
from callrouter.report.sample import edge_month_rows, insert_rows
from callrouter.store.cases import open_case, update_case
from callrouter.store.migrate import upgrade

pytestmark = pytest.mark.integration

CONFIG = CasesConfig(
    topics={"tiem_chung": "Tiêm chủng", "bao_hiem_y_te": "Bảo hiểm y tế"},
    agencies={"so_y_te": "Sở Y tế", "bhxh": "Bảo hiểm xã hội huyện"},
)
RULES = CaseRules(config=CONFIG)
NOV_10 = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)


async def _seed(engine: AsyncEngine) -> None:
    await upgrade(engine)
    calls_only = edge_month_rows()  # 4 conversations in November
    calls_only.cases.clear()
    await insert_rows(engine, calls_only)
    petition = await open_case(
        engine,
        RULES,
        CaseInput(kind="kien_nghi", topic="tiem_chung", summary="Đề nghị tiêm buổi chiều"),
        branch=3,
        by="an",
        at=NOV_10,
    )
    for n, step in enumerate(
        (
            CaseInput(status="forwarded", agency="so_y_te", notable=True),
            CaseInput(status="resolved", result="Trạm y tế mở thêm buổi chiều thứ Năm"),
            CaseInput(status="told"),
        ),
        start=1,
    ):
        petition = await update_case(
            engine,
            RULES,
            petition.id,
            step,
            expected_version=petition.version,
            by="admin",
            at=NOV_10 + timedelta(days=n),
        )
    await open_case(  # forwarded, never answered: overdue by 5 December
        engine,
        RULES,
        CaseInput(kind="phan_anh", topic="bao_hiem_y_te", status="forwarded", agency="bhxh"),
        branch=3,
        by="an",
        at=NOV_10,
    )
    await open_case(
        engine,
        RULES,
        CaseInput(kind="hoi_dap", status="answered", answer="Tiêm miễn phí"),
        branch=3,
        by="an",
        at=NOV_10,
    )


async def _figures(engine: AsyncEngine, name: str, notes: str) -> Figures:
    return await compute_figures(
        engine,
        period=month_period("2026-11"),
        branch=3,
        service_level_seconds=20,
        timezone="Asia/Ho_Chi_Minh",
        unit=UnitInfo(name=name),
        cases_config=CONFIG,
        notes=notes,
        now=NOW,
    )


def _table(doc: object, first_header: str, second: str | None = None) -> list[list[str]]:
    for table in doc.tables:  # type: ignore[attr-defined]
        headers = [c.text for c in table.rows[0].cells]
        if headers[0] == first_header and (second is None or headers[1] == second):
            return [[c.text for c in row.cells] for row in table.rows[1:]]
    raise AssertionError(f"no table headed {first_header!r}")


async def test_section_ii_shows_cases_in_the_right_rows(engine: AsyncEngine) -> None:
    await _seed(engine)
    f = await _figures(engine, "TTYT A", "Thiếu máy bàn.")
    doc = Document(io.BytesIO(render(f, "docx")))
    kinds = _table(doc, "Loại")
    assert kinds == [
        ["Hỏi đáp", "1", "25,0%"],
        ["Phản ánh", "1", "25,0%"],
        ["Kiến nghị", "1", "25,0%"],
        ["Tổng số yêu cầu", "3", "75,0%"],
    ]
    results = {r[0]: r[1] for r in _table(doc, "Kết quả xử lý")}
    assert results == {
        "Trả lời ngay trong cuộc gọi": "1",
        "Đang xử lý": "0",
        "Đã chuyển cơ quan chức năng, chờ kết quả": "1",
        "Đã có kết quả": "0",
        "Đã phản hồi kết quả cho người dân": "1",
        "Quá hạn xử lý": "1",
    }
    assert _table(doc, "Cơ quan") == [["Bảo hiểm xã hội huyện", "1"], ["Sở Y tế", "1"]]
    notable = _table(doc, "Số hồ sơ")
    assert notable[0][1:4] == ["Kiến nghị", "Tiêm chủng", "Đề nghị tiêm buổi chiều"]
    assert "Trạm y tế mở thêm buổi chiều thứ Năm" in notable[0][4]
    body = "\n".join(p.text for p in doc.paragraphs)
    assert "phản ánh" in body
    assert "kiến nghị" in body


async def test_merge_of_two_units_keeps_both_notes_and_sums_cases(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await _seed(engine)
    a = await _figures(engine, "TTYT A", "Thiếu máy bàn.")
    b = await _figures(engine, "TTYT B", "Mạng di động yếu ở xã vùng cao.")
    (tmp_path / "a.json").write_text(a.to_json(), encoding="utf-8")
    merged = merge_figures(
        [(tmp_path / "a.json", a), (tmp_path / "b.json", b)],
        issuer=UnitInfo(name="PHÒNG VĂN HÓA VÀ THÔNG TIN"),
        notes="Đề nghị tập huấn cho cán bộ trực.",
        now=NOW,
    )
    assert merged.cases.counts.received == 6
    doc = Document(io.BytesIO(render(merged, "docx")))
    units = _table(doc, "Đơn vị", "Cuộc gọi có đàm thoại")  # section II's, not section I's
    assert [row[:3] for row in units[:3]] == [
        ["TTYT A", "4", "3"],
        ["TTYT B", "4", "3"],
        ["Tổng cộng", "8", "6"],
    ]
    body = "\n".join(p.text for p in doc.paragraphs)
    section_iii = body[body.index("III. KHÓ KHĂN") : body.index("Trên đây là báo cáo")]
    for text in (
        "TTYT A:",
        "Thiếu máy bàn.",
        "TTYT B:",
        "Mạng di động yếu ở xã vùng cao.",
        "Đề nghị tập huấn cho cán bộ trực.",
    ):
        assert text in section_iii
