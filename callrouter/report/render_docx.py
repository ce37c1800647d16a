"""DOCX rendering (python-docx): a Vietnamese administrative report per Decree 30/2020/NĐ-CP.

Layout (Appendix I of the decree, for a "báo cáo"): A4, margins top/bottom 20 mm, left 30 mm,
right 15 mm; Times New Roman; language vi-VN; the letterhead as a borderless two-column table —
governing body (upper case) and issuing unit (upper case, bold, short rule below) and the
number/symbol on the left; national title (upper case, bold), motto (bold, rule below) and the
italic place and date on the right. A báo cáo has no "V/v" line: its summary line stands under
"BÁO CÁO" (bold, centred, short rule below). Then "Kính gửi" (several addressees line up under
it, the last ending "."), the body opening with "Thực hiện <the document answered>", and the foot
as a second borderless table whose single row never splits: "Nơi nhận" (bold italic 12 pt, list
11 pt) on the left, the signature block on the right with no form placeholder. Page numbers are
centred at the top from page 2. The annex (Phụ lục) after the signature holds the call tables
and the numbered charts ("Biểu đồ 1. …", caption below). Headings, table titles and charts are
kept with what follows them.
Blocking work: call from a worker thread or a sync CLI.
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt

from callrouter.report.charts import all_charts
from callrouter.report.docx_parts import (
    FONT,
    cant_split,
    first_para,
    font,
    keep_row_with_next,
    no_borders,
    page_number_header,
    para,
    rule_below,
    tight,
    vietnamese,
    widths,
)
from callrouter.report.figures import Figures, PeriodKind
from callrouter.report.settings import ReportSettings
from callrouter.report.tables import CASE_TABLES, Cell, Table, report_tables
from callrouter.report.words import (
    GLOSSARY_HEADING,
    PROPOSAL_HEADING,
    answer_proposal,
    case_paragraphs,
    glossary_lines,
    subject,
    telephony_paragraph,
)

_NUMERIC = {"int", "pct", "sec", "duration"}
TEXT_CM = 16.5  # A4 210 mm less 30 mm left and 15 mm right margins
LEFT_CM, RIGHT_CM = 6.5, 10.0
#: The annex (Phụ lục) after the signature: the telephony figures in full.
ANNEX_TABLES = ("summary", "officers", "numbers")
#: A merged report's one row per unit with the totals, in section I.
UNIT_TABLES = ("units",)
#: A merged report's tables with one row per unit and officer or number: grouped by unit.
_GROUPED = ("officers", "numbers")
#: A table this short is kept whole on one page; a longer one keeps its first and last rows.
_WHOLE_ROWS = 12
#: "Kính gửi:" hangs in front of the addressees, which line up at this indent.
_ADDRESSEE_INDENT_CM, _KINH_GUI_CM = 5.0, 2.6


def date_line(place: str, when: datetime, tz: str) -> str:
    """ "Hà Nội, ngày 05 tháng 01 năm 2027": day < 10 and months 1–2 get a leading zero."""
    local = when.astimezone(ZoneInfo(tz))
    day = f"{local.day:02d}"
    month = f"{local.month:02d}" if local.month < 3 else str(local.month)
    return f"{place}, ngày {day} tháng {month} năm {local.year}"


def letterhead(doc: object, s: ReportSettings, when: datetime, tz: str) -> None:
    """The Decree 30/2020 letterhead: governing body and unit with the number on the left, the
    national title, motto and the place and date (``when`` in ``tz``) on the right."""
    t = doc.add_table(rows=1, cols=2)  # type: ignore[attr-defined]
    no_borders(t)
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    widths(t, [LEFT_CM, RIGHT_CM])
    left, right = t.rows[0].cells
    center = WD_ALIGN_PARAGRAPH.CENTER

    first_para(left, s.value("governing_body").upper(), 12.5)
    para(left, s.value("unit_name").upper(), size=12.5, bold=True, align=center)
    rule_below(left, width_cm=2.5, total_cm=LEFT_CM)
    para(left, "", size=6)
    para(left, s.number_line, size=13, align=center)

    first_para(right, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", 12.5, bold=True)
    para(right, "Độc lập - Tự do - Hạnh phúc", size=13.5, bold=True, align=center)
    rule_below(right, width_cm=6.0, total_cm=RIGHT_CM)
    para(right, "", size=6)
    para(right, date_line(s.value("place"), when, tz), size=13.5, italic=True, align=center)


def _addressees(doc: object, s: ReportSettings) -> None:
    """One addressee on the line of "Kính gửi:"; several each on a line, aligned under the
    first, each ending ";" and the last "."."""
    names = s.addressees or [s.value("addressees")]
    if len(names) == 1:
        center = WD_ALIGN_PARAGRAPH.CENTER
        para(doc, f"Kính gửi: {names[0].rstrip('.;')}.", size=14, align=center, space_after=6)
        return
    for i, name in enumerate(names):
        end = "." if i == len(names) - 1 else ";"
        p = doc.add_paragraph()  # type: ignore[attr-defined]
        tight(p, space_after=6 if end == "." else 0)
        pf = p.paragraph_format
        pf.left_indent = Cm(_ADDRESSEE_INDENT_CM)
        item = f"- {name.rstrip('.;')}{end}"
        if i == 0:
            pf.first_line_indent = Cm(-_KINH_GUI_CM)
            pf.tab_stops.add_tab_stop(Cm(_ADDRESSEE_INDENT_CM), WD_TAB_ALIGNMENT.LEFT)
            font(p.add_run(f"Kính gửi:\t{item}"), 14)
        else:
            font(p.add_run(item), 14)


def opening(f: Figures, s: ReportSettings) -> str:
    """The first sentence: the document answered, then what is reported (ad hoc or periodic)."""
    scope = "các đơn vị" if f.merged else s.value("unit_name")
    what = f"kết quả tiếp nhận, xử lý phản ánh, kiến nghị qua {f.unit.hotline}"
    if f.period.kind is PeriodKind.ADHOC:
        return (
            f"Thực hiện {s.value('reference')}, {scope} báo cáo đột xuất {what} "
            f"{f.period.title_vi} như sau:"
        )
    return f"Thực hiện {s.value('reference')}, {scope} báo cáo {what} {f.period.title_vi} như sau:"


def _grouped(table: Table) -> Table:
    """A merged table's unit column as a spanning group row over that unit's rows, so the
    name is not repeated on every row and the other columns keep readable widths."""
    if table.key not in _GROUPED or not table.headers or table.headers[0] != "Đơn vị":
        return table
    rows: list[list[Cell]] = []
    unit = None
    for row in table.rows:
        if row[0].value != unit:
            unit = row[0].value
            rows.append([Cell(unit)])  # a group row: one cell spanning the table
        rows.append(row[1:])
    return replace(table, headers=table.headers[1:], rows=rows, widths=table.widths[1:])


def _docx_table(doc: object, table: Table) -> None:
    table = _grouped(table)
    rows = table.rows
    t = doc.add_table(rows=1 + len(rows), cols=len(table.headers))  # type: ignore[attr-defined]
    t.style = "Table Grid"
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    if table.widths:
        total = sum(table.widths)
        widths(t, [TEXT_CM * w / total for w in table.widths])
    size = 11 if len(table.headers) <= 7 else 10
    for i, header in enumerate(table.headers):
        p = t.rows[0].cells[i].paragraphs[0]
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        tight(p)
        font(p.add_run(header), size, bold=True)
    for r, row in enumerate(rows, start=1):
        if len(row) == 1 < len(table.headers):  # group row
            cell = t.rows[r].cells[0].merge(t.rows[r].cells[-1])
            p = cell.paragraphs[0]
            tight(p)
            font(p.add_run(row[0].text()), size, bold=True)
            continue
        for i, c in enumerate(row):
            p = t.rows[r].cells[i].paragraphs[0]
            p.alignment = WD_ALIGN_PARAGRAPH.RIGHT if c.kind in _NUMERIC else None
            tight(p)
            font(p.add_run(c.text()), size)
    # Rows never split; a short table stays whole, a long one never leaves a lone row (or its
    # header alone) at the foot or the top of a page.
    n = len(t.rows)
    for r, row in enumerate(t.rows):
        cant_split(row)
        if r < n - 1 and (n <= _WHOLE_ROWS or r < 2 or r >= n - 2):  # first and last two
            keep_row_with_next(row)
    # Repeat the header row on every page the table spans.
    tr_pr = t.rows[0]._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    tr_pr.append(header)


def decree_document(title: str, author: str, created: datetime) -> object:
    """An empty A4 document laid out per Decree 30/2020 (margins, Times New Roman 14, vi-VN,
    page numbers from page 2) with its properties set."""
    doc = Document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(20), Mm(20)
    section.left_margin, section.right_margin = Mm(30), Mm(15)
    section.header_distance = Mm(10)
    normal = doc.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(14)
    normal.paragraph_format.space_before = Pt(0)
    normal.paragraph_format.space_after = Pt(0)
    vietnamese(doc)
    page_number_header(section)
    doc.core_properties.title = title
    doc.core_properties.author = author
    doc.core_properties.created = created
    return doc


def save(doc: object) -> bytes:
    buf = io.BytesIO()
    doc.save(buf)  # type: ignore[attr-defined]
    return buf.getvalue()


def render_docx(f: Figures, settings: ReportSettings | None = None) -> bytes:
    s = settings or ReportSettings()
    doc = decree_document(subject(f), s.value("unit_name"), f.generated_at)
    letterhead(doc, s, f.generated_at, f.timezone)
    center, justify = WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.JUSTIFY
    para(doc, "", size=10)
    para(doc, "BÁO CÁO TỔNG HỢP" if f.merged else "BÁO CÁO", size=14, bold=True, align=center,
         keep_next=True)  # fmt: skip
    para(doc, subject(f), size=14, bold=True, align=center, keep_next=True)
    rule_below(doc, width_cm=4.0, total_cm=TEXT_CM)
    para(doc, "", size=8)
    _addressees(doc, s)

    body = {"size": 14.0, "align": justify, "space_after": 6.0, "first_line": 1.0}
    head = {"size": 14.0, "bold": True, "space_after": 6.0, "keep_next": True}
    para(doc, opening(f, s), **body)  # type: ignore[arg-type]
    tables = {t.key: t for t in report_tables(f)}
    para(doc, "I. TÌNH HÌNH CHUNG", **head)  # type: ignore[arg-type]
    para(doc, telephony_paragraph(f), **body)  # type: ignore[arg-type]
    _numbered_tables(doc, tables, UNIT_TABLES)

    para(doc, "II. KẾT QUẢ TIẾP NHẬN, XỬ LÝ PHẢN ÁNH, KIẾN NGHỊ", **head)  # type: ignore[arg-type]
    for text in case_paragraphs(f):
        para(doc, text, **body)  # type: ignore[arg-type]
    _numbered_tables(doc, tables, CASE_TABLES)

    para(doc, "III. KHÓ KHĂN, VƯỚNG MẮC VÀ ĐỀ XUẤT", **head)  # type: ignore[arg-type]
    for heading, text in difficulties(f):
        if heading:
            para(doc, heading, size=14, bold=True, italic=True, space_after=4, keep_next=True)
        for line in text.splitlines():
            if line.strip():
                para(doc, line.strip(), **body)  # type: ignore[arg-type]
    closing = (
        f"Trên đây là báo cáo kết quả tiếp nhận, xử lý phản ánh, kiến nghị của người dân qua "
        f"{f.unit.hotline} {f.period.title_vi}./."
    )
    para(doc, closing, **body, keep_next=True)  # type: ignore[arg-type]
    _foot(doc, s)
    _annex(doc, f, tables)
    return save(doc)


def difficulties(f: Figures) -> list[tuple[str | None, str]]:
    """Section III: every unit's own text (a merge keeps them all), then the issuer's, then
    the proposal of the questions that had no agreed answer."""
    out: list[tuple[str | None, str]] = []
    proposal = answer_proposal(f)
    if f.merged:
        for unit in f.units:
            out.append((f"{unit.name}:", (unit.notes or "").strip() or "Không có."))
        if (f.notes or "").strip():
            out.append((f"{f.unit.name} (đơn vị tổng hợp):", (f.notes or "").strip()))
    elif (f.notes or "").strip() or not proposal:
        out.append((None, (f.notes or "").strip() or "Không có."))
    if proposal:
        out.append((f"{PROPOSAL_HEADING}:", "\n".join(proposal)))
    return out


def _numbered_tables(doc: object, tables: dict[str, Table], keys: tuple[str, ...]) -> None:
    n = 0
    for key in keys:
        table = tables.get(key)
        if table is None or not table.rows:
            continue
        n += 1
        para(doc, f"{n}. {table.title}", size=14, bold=True, space_after=4, keep_next=True)
        _docx_table(doc, table)
        para(doc, "", size=8)


def _annex(doc: object, f: Figures, tables: dict[str, Table]) -> None:
    """Phụ lục after the signature: the call tables and the numbered charts."""
    doc.add_page_break()  # type: ignore[attr-defined]
    center = WD_ALIGN_PARAGRAPH.CENTER
    para(doc, "PHỤ LỤC", size=14, bold=True, align=center, keep_next=True)
    para(doc, f"SỐ LIỆU TIẾP NHẬN CUỘC GỌI {f.period.title_vi.upper()}", size=14, bold=True,
         align=center, space_after=2, keep_next=True)  # fmt: skip
    para(doc, f"(Kèm theo báo cáo của {f.unit.name})", size=13, italic=True, align=center,
         space_after=8)  # fmt: skip
    if f.empty:
        para(doc, "Không có cuộc gọi trong kỳ báo cáo.", size=14)
        return
    _numbered_tables(doc, tables, ANNEX_TABLES)
    para(doc, f"Ghi chú – {GLOSSARY_HEADING.lower()}:", size=13, bold=True, italic=True,
         space_after=2, keep_next=True)  # fmt: skip
    for line in glossary_lines():
        para(doc, f"– {line}", size=13, italic=True, space_after=2)
    para(doc, "", size=8)
    for n, (caption, png) in enumerate(all_charts(f), start=1):
        doc.add_picture(io.BytesIO(png), width=Cm(15.5))  # type: ignore[attr-defined]
        picture = doc.paragraphs[-1]  # type: ignore[attr-defined]
        picture.alignment = center
        tight(picture)
        picture.paragraph_format.keep_with_next = True  # the caption goes under its chart
        para(doc, f"Biểu đồ {n}. {caption}", size=13, bold=True, align=center, space_after=8)


def _foot(doc: object, s: ReportSettings) -> None:
    """ "Nơi nhận" and the signature in one borderless row that never splits across pages."""
    para(doc, "", size=8, keep_next=True)
    t = doc.add_table(rows=1, cols=2)  # type: ignore[attr-defined]
    no_borders(t)
    widths(t, [TEXT_CM / 2, TEXT_CM / 2])
    cant_split(t.rows[0])
    left, right = t.rows[0].cells
    lp = left.paragraphs[0]
    tight(lp)
    font(lp.add_run("Nơi nhận:"), 12, bold=True, italic=True)
    items = s.copies_to or ["Lưu: VT"]
    for i, item in enumerate(items):
        end = "." if i == len(items) - 1 else ";"
        para(left, f"- {item.rstrip('.;')}{end}", size=11)
    center = WD_ALIGN_PARAGRAPH.CENTER
    if s.signer_authority:
        first_para(right, s.signer_authority.upper(), 14, bold=True)
        para(right, s.value("signer_title").upper(), size=14, bold=True, align=center)
    else:
        first_para(right, s.value("signer_title").upper(), 14, bold=True)
    for _ in range(4):  # room for the signature and the seal
        para(right, "", size=14)
    para(right, s.value("signer_name"), size=14, bold=True, align=center)
