"""Renderings of one set of figures: terminal table, CSV, XLSX, DOCX structure, charts."""

from __future__ import annotations

import csv
import io
import os
import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from docx import Document
from matplotlib import font_manager
from matplotlib.ft2font import FT2Font
from openpyxl import load_workbook

from callrouter.report.charts import ALL_CHART_TEXT, FONT_FAMILY, all_charts
from callrouter.report.figures import (
    CaseCounts,
    CaseFigures,
    CountRow,
    DayRow,
    Figures,
    HourRow,
    NotableCase,
    NumberRow,
    OfficerRow,
    Totals,
    UnitInfo,
)
from callrouter.report.periods import adhoc_period, month_period, require_ended
from callrouter.report.render import render
from callrouter.report.render_docx import date_line
from callrouter.report.settings import ReportSettings

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)  # 5 Dec 03:00 in Vietnam


def figures(*, empty: bool = False, notes: str | None = None) -> Figures:
    period = month_period("2026-11")
    if empty:
        totals = Totals()
    else:
        totals = Totals(
            received=40,
            answered=30,
            abandoned=5,
            abandoned_short=2,
            unanswered=2,
            after_hours=3,
            answered_within_sl=25,
            wait_seconds_sum=300.0,
            wait_count=30,
            talk_seconds_sum=5400.0,
            talk_count=30,
            wait_p90_seconds=21.5,
            wait_histogram=[(10, 27), (22, 3)],
            repeat_callers=4,
            callbacks_requested=3,
            callbacks_done=2,
            callbacks_open=1,
        )
    return Figures(
        generated_at=NOW,
        unit=UnitInfo(name="TRUNG TÂM Y TẾ HUYỆN MÊ LINH", governing_body="UBND HUYỆN MÊ LINH"),
        branch=3,
        timezone="Asia/Ho_Chi_Minh",
        service_level_seconds=20,
        period=period,
        totals=totals,
        by_day=[
            DayRow(day=d, received=0 if empty else d.day % 3, answered=0 if empty else d.day % 2)
            for d in period.days()
        ],
        by_hour=[
            HourRow(hour=h, received=0 if empty else (h in (8, 9, 14)) * 10) for h in range(24)
        ],
        officers=[]
        if empty
        else [
            OfficerRow(
                officer_id="o1",
                name="Nguyễn Văn An",
                answered=30,
                attempts=33,
                talk_seconds_sum=5400.0,
                talk_count=30,
                wait_seconds_sum=300.0,
                wait_count=30,
            )
        ],
        numbers=[] if empty else [NumberRow(number="0912345678", label="Di động", attempts=33)],
        cases=CaseFigures()
        if empty
        else CaseFigures(
            counts=CaseCounts(
                conversations=30,
                received=12,
                answered=6,
                in_progress=1,
                forwarded=2,
                resolved=1,
                told=2,
                overdue=1,
                notable=1,
            ),
            by_kind=[
                CountRow(key="hoi_dap", label="Hỏi đáp", count=6),
                CountRow(key="phan_anh", label="Phản ánh", count=2),
                CountRow(key="kien_nghi", label="Kiến nghị", count=4),
            ],
            by_topic=[CountRow(key="tiem_chung", label="Tiêm chủng", count=12)],
            by_agency=[CountRow(key="so_y_te", label="Sở Y tế", count=5)],
            notable=[
                NotableCase(
                    ref="7/2026",
                    kind="Kiến nghị",
                    topic="Tiêm chủng",
                    summary="Đề nghị tiêm chủng buổi chiều",
                    status="Đã phản hồi người dân",
                    agency="Sở Y tế",
                    result="Đã bố trí",
                )
            ],
        ),
        notes=notes,
    )


def test_table_shows_vietnamese_figures_and_skips_empty_hours() -> None:
    text = render(figures(), "table").decode()
    assert "Tổng số cuộc gọi đến" in text
    assert "Tỷ lệ trả lời trong 20 giây" in text
    assert "67,6%" in text  # 25 within 20 s of 37 offered
    assert "Nguyễn Văn An" in text
    assert "08:00–08:59" in text
    assert "03:00–03:59" not in text


def test_given_empty_month_then_table_says_no_calls() -> None:
    text = render(figures(empty=True), "table").decode()
    assert "không nhận được cuộc gọi nào" in text


def test_csv_has_every_table_with_raw_numbers() -> None:
    data = render(figures(), "csv")
    assert data.startswith(b"\xef\xbb\xbf")  # a BOM: Excel on Windows reads it as UTF-8
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["table", "row", "column", "value"]
    summary = {r[1]: r[3] for r in rows if r[0] == "summary"}
    assert summary["received"] == "40"
    assert float(summary["answer_rate"]) == pytest.approx(30 / 37)
    assert ["by_day", "1", "Ngày", "2026-11-01"] in rows
    assert {r[0] for r in rows} >= {"summary", "by_day", "by_hour", "officers", "cases_kinds"}
    assert ["cases_kinds", "3", "Tỷ lệ trên cuộc gọi có đàm thoại", str(4 / 30)] in rows


def test_xlsx_has_one_sheet_per_table_with_number_formats_and_frozen_headers() -> None:
    wb = load_workbook(io.BytesIO(render(figures(), "xlsx")))
    assert wb.sheetnames == [
        "Báo cáo",
        "PAKN theo loại",
        "PAKN kết quả",
        "PAKN theo lĩnh vực",
        "PAKN đã chuyển",
        "PAKN tiêu biểu",
        "Tổng hợp",
        "Theo ngày",
        "Theo giờ",
        "Cán bộ",
        "Số máy",
    ]
    summary = wb["Tổng hợp"]
    assert summary.freeze_panes == "A2"
    assert summary["A1"].value == "Chỉ tiêu"
    assert summary["B2"].value == 40
    assert summary["B2"].number_format == "#,##0"
    assert summary["B5"].value == pytest.approx(30 / 37)  # answer rate, a real fraction
    assert summary["B5"].number_format == "0.0%"
    days = wb["Theo ngày"]
    assert days.freeze_panes == "A2"
    assert days["A2"].number_format == "dd/mm/yyyy"
    assert days["A2"].value == datetime(2026, 11, 1)
    officers = wb["Cán bộ"]
    assert officers["D2"].number_format == "[h]:mm:ss"
    assert officers["D2"].value == timedelta(hours=1, minutes=30)  # a real duration


LETTERHEAD = ReportSettings(
    governing_body="SỞ Y TẾ THÀNH PHỐ A",
    unit_name="Trung tâm Y tế khu vực Bắc Sông",
    place="Bắc Sông",
    addressees=["Sở Y tế thành phố A", "Văn phòng Ủy ban nhân dân thành phố A"],
    signer_authority="KT. GIÁM ĐỐC",
    signer_title="Phó Giám đốc",
    signer_name="Nguyễn Thị Hoa",
    reference="Công văn số 123/SYT-VP ngày 10/8/2025 của Sở Y tế",
    document_number="15",
    document_symbol="BC-TTYT",
)
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _xml(element: object) -> str:
    return element.xml  # type: ignore[attr-defined,no-any-return]


def test_docx_is_laid_out_as_a_decree_30_report() -> None:
    s = LETTERHEAD
    doc = Document(io.BytesIO(render(figures(notes="Thiếu máy bàn.\nĐề nghị bổ sung."), "docx", s)))
    head = doc.tables[0]
    left, right = (c.text for c in head.rows[0].cells)
    assert "SỞ Y TẾ THÀNH PHỐ A" in left
    assert "TRUNG TÂM Y TẾ KHU VỰC BẮC SÔNG" in left
    assert "Số: 15/BC-TTYT" in left
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in right
    assert "Độc lập - Tự do - Hạnh phúc" in right
    assert "Bắc Sông, ngày 05 tháng 12 năm 2026" in right
    # The letterhead cells' first paragraphs keep no space after (the template's is 10 pt).
    for cell in head.rows[0].cells:
        assert cell.paragraphs[0].paragraph_format.space_after == 0
    every = [p.text for p in doc.paragraphs] + [
        p.text for t in doc.tables for c in t._cells for p in c.paragraphs
    ]
    assert not any(t.strip().startswith("V/v") for t in every)  # a báo cáo has no V/v line
    assert not any("(Ký" in t or "ghi rõ họ tên" in t for t in every)  # no form placeholder
    assert not any("chưa cấu hình" in t for t in every)
    body = "\n".join(p.text for p in doc.paragraphs)
    assert "Kính gửi:\t- Sở Y tế thành phố A;" in body
    assert "\n- Văn phòng Ủy ban nhân dân thành phố A." in body
    first, second = (p for p in doc.paragraphs if "thành phố A" in p.text and "- " in p.text)
    assert first.paragraph_format.left_indent == second.paragraph_format.left_indent  # aligned
    assert "Thực hiện Công văn số 123/SYT-VP ngày 10/8/2025 của Sở Y tế, " in body
    for heading in (
        "BÁO CÁO",
        "I. TÌNH HÌNH CHUNG",
        "II. KẾT QUẢ TIẾP NHẬN, XỬ LÝ PHẢN ÁNH, KIẾN NGHỊ",
        "III. KHÓ KHĂN, VƯỚNG MẮC VÀ ĐỀ XUẤT",
        "Thiếu máy bàn.",
        "nhận 40 cuộc gọi",
        "đã tiếp nhận 12 yêu cầu của người dân (6 hỏi đáp, 2 phản ánh, 4 kiến nghị)",
        "PHỤ LỤC",
        "Biểu đồ 1. Số cuộc gọi theo ngày",
        "Biểu đồ 3. Cơ cấu cuộc gọi theo tình trạng tiếp nhận",
    ):
        assert heading in body
    assert "thường là gọi nhầm" not in body
    # Headings are kept with what follows them; a chart with its caption below it.
    for p in doc.paragraphs:
        if p.text.startswith(("I. ", "II. ", "III. ")):
            assert p.paragraph_format.keep_with_next, p.text
    caption = next(i for i, p in enumerate(doc.paragraphs) if p.text.startswith("Biểu đồ 1."))
    assert doc.paragraphs[caption - 1].paragraph_format.keep_with_next
    assert "graphicData" in _xml(doc.paragraphs[caption - 1]._p)
    # Section II comes before the signature, the telephony annex after it.
    assert body.index("II. KẾT QUẢ TIẾP NHẬN") < body.index("III.") < body.index("PHỤ LỤC")
    signature = next(i for i, t in enumerate(doc.tables) if "Nơi nhận" in t.rows[0].cells[0].text)
    annex_titles = [t.rows[0].cells[0].text for t in doc.tables[signature + 1 :]]
    assert annex_titles[0] == "Chỉ tiêu"  # the summary table, in the annex
    kinds = next(t for t in doc.tables if t.rows[0].cells[0].text == "Loại")
    assert [c.text for c in kinds.rows[3].cells] == ["Kiến nghị", "4", "13,3%"]
    foot = doc.tables[signature]
    foot_left, foot_right = (c.text for c in foot.rows[0].cells)
    assert foot_left.startswith("Nơi nhận:")
    assert foot_left.rstrip().endswith("Lưu: VT.")
    assert foot_right.split("\n")[:2] == ["KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"]
    assert foot_right.rstrip().endswith("Nguyễn Thị Hoa")
    # The signature row never splits across pages; every table row likewise.
    assert "<w:cantSplit" in _xml(foot.rows[0]._tr)
    assert len(doc.inline_shapes) == 3  # charts by day, by hour, outcome shares
    section = doc.sections[0]
    assert section.left_margin is not None
    assert section.right_margin is not None
    assert section.page_width is not None
    assert round(section.left_margin.mm) == 30
    assert round(section.right_margin.mm) == 15
    assert round(section.page_width.mm) == 210
    assert doc.styles["Normal"].font.name == "Times New Roman"
    # Page numbers: a PAGE field centred in the header, none on the first page.
    assert section.different_first_page_header_footer
    header = section.header.paragraphs[0]
    assert "PAGE" in "".join(e.text or "" for e in header._p.iter(f"{W}instrText"))
    assert header.alignment == 1  # centre
    assert "PAGE" not in _xml(section.first_page_header._element)
    # The language is Vietnamese, in the defaults and the Normal style.
    styles = doc.styles.element
    langs = {e.get(f"{W}val") for e in styles.iter(f"{W}lang")}
    assert langs == {"vi-VN"}
    assert doc.core_properties.language == "vi-VN"


def test_given_no_letterhead_then_docx_shows_placeholders_not_a_borrowed_place() -> None:
    doc = Document(io.BytesIO(render(figures(), "docx", ReportSettings())))
    head = doc.tables[0]
    text = "\n".join(c.text for c in head.rows[0].cells)
    assert "[CHƯA CẤU HÌNH: TÊN ĐƠN VỊ BAN HÀNH]" in text
    assert "[chưa cấu hình: địa danh], ngày" in text
    assert "MÊ LINH" not in text.upper()
    body = "\n".join(p.text for p in doc.paragraphs)
    assert "Kính gửi: [chưa cấu hình: nơi nhận báo cáo (Kính gửi)]." in body


def test_given_one_addressee_then_it_stands_on_the_line_of_kinh_gui() -> None:
    s = LETTERHEAD.model_copy(update={"addressees": ["Sở Y tế thành phố A;"]})
    doc = Document(io.BytesIO(render(figures(), "docx", s)))
    assert "Kính gửi: Sở Y tế thành phố A." in [p.text for p in doc.paragraphs]


def test_given_empty_month_then_docx_says_so_without_charts() -> None:
    doc = Document(io.BytesIO(render(figures(empty=True), "docx")))
    body = "\n".join(p.text for p in doc.paragraphs)
    assert "không nhận được cuộc gọi nào" in body
    assert "không tiếp nhận phản ánh, kiến nghị" in body
    assert len(doc.inline_shapes) == 0


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2026, 12, 4, 20, 0, tzinfo=UTC), "Bắc Sông, ngày 05 tháng 12 năm 2026"),
        (datetime(2027, 1, 20, 3, 0, tzinfo=UTC), "Bắc Sông, ngày 20 tháng 01 năm 2027"),
        (datetime(2027, 3, 9, 3, 0, tzinfo=UTC), "Bắc Sông, ngày 09 tháng 3 năm 2027"),
    ],
)
def test_date_line_pads_days_below_10_and_months_1_and_2(when: datetime, expected: str) -> None:
    assert date_line("Bắc Sông", when, "Asia/Ho_Chi_Minh") == expected


def test_chart_font_has_every_vietnamese_letter_the_charts_use() -> None:
    path = font_manager.findfont(
        font_manager.FontProperties(family=FONT_FAMILY), fallback_to_default=False
    )
    charmap = FT2Font(path).get_charmap()
    text = (
        "".join(ALL_CHART_TEXT)
        + "ăâđêôơưĂÂĐÊÔƠƯàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵ"
    )
    missing = sorted({c for c in text if ord(c) not in charmap and not c.isspace()})
    assert missing == []


def test_charts_render_vietnamese_text_without_missing_glyph_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph … missing from font(s)"
        charts = all_charts(figures())
    assert [caption for caption, _ in charts] == list(ALL_CHART_TEXT[:3])
    for _, png in charts:
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert len(png) > 10_000


def test_xlsx_states_the_time_in_the_rotas_time_zone() -> None:
    wb = load_workbook(io.BytesIO(render(figures(), "xlsx")))
    cells = [str(c.value) for row in wb["Báo cáo"].iter_rows() for c in row if c.value]
    assert "Lập lúc 03:00 ngày 05/12/2026" in cells  # 20:00 UTC on the 4th, in Vietnam
    assert not any("UTC" in c for c in cells)


def test_given_names_like_formulas_then_csv_and_xlsx_keep_them_as_text() -> None:
    f = figures()
    officer = f.officers[0].model_copy(update={"name": '=HYPERLINK("x")'})
    f = f.model_copy(update={"officers": [officer], "unit": UnitInfo(name="+TTYT @A")})
    text = render(f, "csv").decode("utf-8-sig")
    assert "'=HYPERLINK" in text
    wb = load_workbook(io.BytesIO(render(f, "xlsx")))
    values = [c for ws in wb for row in ws.iter_rows() for c in row if c.value is not None]
    assert all(c.data_type != "f" for c in values)
    assert any(str(c.value).endswith('=HYPERLINK("x")') for c in values)


@pytest.mark.parametrize("name", ["trung-tam-y-te-khu-vuc.env", "tram-y-te-xa.env"])
def test_shipped_letterhead_examples_are_complete_and_render_without_placeholders(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in list(os.environ):
        if key.startswith("CALLROUTER_REPORT_"):
            monkeypatch.delenv(key)
    path = Path(__file__).resolve().parents[2] / "config" / "report" / name
    s = ReportSettings(_env_file=path)
    assert s.missing() == []
    assert len(s.addressees) == 2
    doc = Document(io.BytesIO(render(figures(), "docx", s)))
    text = "\n".join(
        [p.text for p in doc.paragraphs]
        + [p.text for t in doc.tables for c in t._cells for p in c.paragraphs]
    )
    assert "chưa cấu hình" not in text
    assert s.unit_name in text


def test_ad_hoc_and_partial_reports_say_what_they_are() -> None:
    adhoc = figures().model_copy(update={"period": adhoc_period("2026-11-03", "2026-11-09")})
    body = "\n".join(
        p.text for p in Document(io.BytesIO(render(adhoc, "docx", LETTERHEAD))).paragraphs
    )
    assert "báo cáo đột xuất kết quả tiếp nhận" in body
    assert "định kỳ" not in body
    partial_period = require_ended(month_period("2026-12"), date(2026, 12, 3), partial=True)
    partial = figures().model_copy(update={"period": partial_period})
    body = "\n".join(
        p.text for p in Document(io.BytesIO(render(partial, "docx", LETTERHEAD))).paragraphs
    )
    assert "tháng 12 năm 2026 (số liệu tính đến ngày 03/12/2026)" in body
    assert "thường là gọi nhầm" not in render(figures(), "table").decode()


def test_the_docx_annex_says_how_start_wait_and_talk_are_counted() -> None:
    """Issue 18 item 4: one definition of start, wait and talk for every door, in the
    report's glossary (annex, after the tables) — the start is the branch choice, so the
    greeting and menu count in no wait, the fallback's calls included."""
    texts = [p.text for p in Document(io.BytesIO(render(figures(), "docx"))).paragraphs]
    at = texts.index("Ghi chú – cách tính thời gian:")
    assert texts.index("PHỤ LỤC") < at
    assert texts[at + 1 : at + 4] == [
        "– Thời điểm bắt đầu cuộc gọi: lúc người gọi chọn nhánh (sau lời chào và phần chọn "
        "nhánh của tổng đài; phần này không tính vào thời gian chờ).",
        "– Thời gian chờ: từ thời điểm bắt đầu đến khi cán bộ trực nhận cuộc gọi; cuộc gọi "
        "không ai nhận tính đến khi kết thúc.",
        "– Thời gian đàm thoại: từ khi cán bộ trực nhận cuộc gọi đến khi cuộc gọi kết thúc.",
    ]
