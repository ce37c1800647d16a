"""DOCX rendering (python-docx): a Vietnamese administrative report per Decree 30/2020/NĐ-CP.

Layout (Appendix I of the decree): A4, margins top/bottom 20 mm, left 30 mm, right 15 mm; Times
New Roman; the letterhead as a borderless two-column table — governing body (upper case) and
issuing unit (upper case, bold, short rule below), number/symbol and the "V/v" subject line on
the left; national title (upper case, bold), motto (bold, rule below) and the italic place and
date on the right; then the document type "BÁO CÁO" and its summary line (bold, centred, short
rule below), "Kính gửi", the body, and the foot as a second borderless table with "Nơi nhận"
(bold italic 12 pt, list 11 pt) on the left and the signature block on the right.
Blocking work: call from a worker thread or a sync CLI.
"""

from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt

from callrouter.report.charts import all_charts
from callrouter.report.figures import Figures
from callrouter.report.settings import ReportSettings
from callrouter.report.tables import CASE_TABLES, Table, report_tables
from callrouter.report.words import case_paragraphs, subject, telephony_paragraph

FONT = "Times New Roman"
_NUMERIC = {"int", "pct", "sec", "duration"}
TEXT_CM = 16.5  # A4 210 mm less 30 mm left and 15 mm right margins
LEFT_CM, RIGHT_CM = 6.5, 10.0
#: The annex (Phụ lục) after the signature: the telephony figures in full.
ANNEX_TABLES = ("units", "summary", "officers", "numbers")


def date_line(place: str, when: datetime, tz: str) -> str:
    """ "Mê Linh, ngày 05 tháng 01 năm 2027": day < 10 and months 1–2 get a leading zero."""
    local = when.astimezone(ZoneInfo(tz))
    day = f"{local.day:02d}"
    month = f"{local.month:02d}" if local.month < 3 else str(local.month)
    return f"{place}, ngày {day} tháng {month} năm {local.year}"


def _font(run: object, size: float, *, bold: bool = False, italic: bool = False) -> None:
    r = run  # docx.text.run.Run (untyped library)
    r.font.name = FONT  # type: ignore[attr-defined]
    r.font.size = Pt(size)  # type: ignore[attr-defined]
    r.font.bold = bold  # type: ignore[attr-defined]
    r.font.italic = italic  # type: ignore[attr-defined]
    rpr = r._element.get_or_add_rPr()  # type: ignore[attr-defined]
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.append(fonts)
    for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(attr), FONT)


def _para(
    container: object,
    text: str = "",
    *,
    size: float = 14,
    bold: bool = False,
    italic: bool = False,
    align: WD_ALIGN_PARAGRAPH | None = None,
    space_after: float = 0,
    first_line: float | None = None,
) -> object:
    p = container.add_paragraph()  # type: ignore[attr-defined]
    if text:
        _font(p.add_run(text), size, bold=bold, italic=italic)
    if align is not None:
        p.alignment = align
    pf = p.paragraph_format
    pf.space_before = Pt(0)
    pf.space_after = Pt(space_after)
    if first_line is not None:
        pf.first_line_indent = Cm(first_line)
    return p


def _rule_below(container: object, *, width_cm: float, total_cm: float) -> None:
    """A short centred horizontal rule: an empty tiny paragraph with a bottom border whose
    left and right indents leave ``width_cm`` of line in a ``total_cm`` wide column."""
    p = _para(container, "", size=2)
    pf = p.paragraph_format  # type: ignore[attr-defined]
    side = max(0.0, (total_cm - width_cm) / 2)
    pf.left_indent = Cm(side)
    pf.right_indent = Cm(side)
    ppr = p._p.get_or_add_pPr()  # type: ignore[attr-defined]
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for k, v in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"), ("w:color", "000000")):
        bottom.set(qn(k), v)
    borders.append(bottom)
    ppr.append(borders)


def _widths(table: object, widths_cm: list[float]) -> None:
    """Column widths that both Word (cell widths) and LibreOffice (table grid) honour."""
    t = table
    t.autofit = False  # type: ignore[attr-defined]
    for i, w in enumerate(widths_cm):
        t.columns[i].width = Cm(w)  # type: ignore[attr-defined]
        for cell in t.columns[i].cells:  # type: ignore[attr-defined]
            cell.width = Cm(w)


def _no_borders(table: object) -> None:
    tbl = table._tbl  # type: ignore[attr-defined]
    tbl_pr = tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        e = OxmlElement(f"w:{edge}")
        e.set(qn("w:val"), "nil")
        borders.append(e)
    tbl_pr.append(borders)


def _letterhead(doc: object, f: Figures, s: ReportSettings) -> None:
    t = doc.add_table(rows=1, cols=2)  # type: ignore[attr-defined]
    _no_borders(t)
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    _widths(t, [LEFT_CM, RIGHT_CM])
    left, right = t.rows[0].cells
    center = WD_ALIGN_PARAGRAPH.CENTER

    lp = left.paragraphs[0]
    lp.alignment = center
    _font(lp.add_run(s.governing_body.upper()), 12.5)
    _para(left, s.unit_name.upper(), size=12.5, bold=True, align=center)
    _rule_below(left, width_cm=2.5, total_cm=LEFT_CM)
    _para(left, "", size=6)
    _para(left, s.number_line, size=13, align=center)
    _para(left, f"V/v {_vv(f)}", size=12, align=center)

    rp = right.paragraphs[0]
    rp.alignment = center
    _font(rp.add_run("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"), 12.5, bold=True)
    _para(right, "Độc lập - Tự do - Hạnh phúc", size=13.5, bold=True, align=center)
    _rule_below(right, width_cm=6.0, total_cm=RIGHT_CM)
    _para(right, "", size=6)
    _para(
        right, date_line(s.place, f.generated_at, f.timezone), size=13.5, italic=True, align=center
    )


def _vv(f: Figures) -> str:
    what = "báo cáo tổng hợp" if f.merged else "báo cáo"
    return (
        f"{what} kết quả tiếp nhận, xử lý phản ánh, kiến nghị qua đường dây nóng 1022 "
        f"{f.period.title_vi}"
    )


def _docx_table(doc: object, table: Table) -> None:
    rows = table.rows
    t = doc.add_table(rows=1 + len(rows), cols=len(table.headers))  # type: ignore[attr-defined]
    t.style = "Table Grid"
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    if table.widths:
        total = sum(table.widths)
        _widths(t, [TEXT_CM * w / total for w in table.widths])
    size = 11 if len(table.headers) <= 7 else 10
    for i, header in enumerate(table.headers):
        cell = t.rows[0].cells[i]
        p = cell.paragraphs[0]
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _font(p.add_run(header), size, bold=True)
    for r, row in enumerate(rows, start=1):
        for i, c in enumerate(row):
            p = t.rows[r].cells[i].paragraphs[0]
            p.alignment = WD_ALIGN_PARAGRAPH.RIGHT if c.kind in _NUMERIC else None
            _font(p.add_run(c.text()), size)
    # Repeat the header row on every page the table spans.
    tr_pr = t.rows[0]._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    tr_pr.append(header)


def render_docx(f: Figures, settings: ReportSettings | None = None) -> bytes:
    s = settings or ReportSettings()
    doc = Document()
    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(20), Mm(20)
    section.left_margin, section.right_margin = Mm(30), Mm(15)
    normal = doc.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(14)
    doc.core_properties.title = subject(f)
    doc.core_properties.author = s.unit_name
    doc.core_properties.created = f.generated_at

    _letterhead(doc, f, s)
    center, justify = WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.JUSTIFY
    _para(doc, "", size=10)
    _para(doc, "BÁO CÁO TỔNG HỢP" if f.merged else "BÁO CÁO", size=14, bold=True, align=center)
    _para(doc, subject(f), size=14, bold=True, align=center)
    _rule_below(doc, width_cm=4.0, total_cm=TEXT_CM)
    _para(doc, "", size=8)

    addressees = s.addressees or ["……………………"]
    if len(addressees) == 1:
        _para(doc, f"Kính gửi: {addressees[0]}.", size=14, align=center, space_after=6)
    else:
        _para(doc, "Kính gửi:", size=14, align=center)
        for a in addressees:
            _para(doc, f"- {a};", size=14, align=center)
        _para(doc, "", size=6)

    body = {"size": 14.0, "align": justify, "space_after": 6.0, "first_line": 1.0}
    scope = "các đơn vị" if f.merged else "đơn vị"
    _para(
        doc,
        "Thực hiện chế độ báo cáo định kỳ kết quả xử lý thông tin phản ánh, kiến nghị của cá "
        f"nhân, tổ chức qua đường dây nóng 1022, {scope} báo cáo kết quả {f.period.title_vi} "
        "như sau:",
        **body,  # type: ignore[arg-type]
    )
    tables = {t.key: t for t in report_tables(f)}
    _para(doc, "I. TÌNH HÌNH CHUNG", size=14, bold=True, space_after=6)
    _para(doc, telephony_paragraph(f), **body)  # type: ignore[arg-type]

    _para(
        doc,
        "II. KẾT QUẢ TIẾP NHẬN, XỬ LÝ PHẢN ÁNH, KIẾN NGHỊ",
        size=14,
        bold=True,
        space_after=6,
    )
    for text in case_paragraphs(f):
        _para(doc, text, **body)  # type: ignore[arg-type]
    _numbered_tables(doc, tables, CASE_TABLES)

    _para(doc, "III. KHÓ KHĂN, VƯỚNG MẮC VÀ ĐỀ XUẤT", size=14, bold=True, space_after=6)
    for heading, text in difficulties(f):
        if heading:
            _para(doc, heading, size=14, bold=True, italic=True, space_after=4)
        for line in text.splitlines():
            if line.strip():
                _para(doc, line.strip(), **body)  # type: ignore[arg-type]
    _para(
        doc,
        "Trên đây là báo cáo kết quả tiếp nhận, xử lý phản ánh, kiến nghị của người dân qua "
        f"đường dây nóng 1022 {f.period.title_vi}./.",
        **body,  # type: ignore[arg-type]
    )
    _foot(doc, s)
    _annex(doc, f, tables)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def difficulties(f: Figures) -> list[tuple[str | None, str]]:
    """Section III: every unit's own text (a merge keeps them all), then the issuer's."""
    out: list[tuple[str | None, str]] = []
    if f.merged:
        for unit in f.units:
            out.append((f"{unit.name}:", (unit.notes or "").strip() or "Không có."))
        if (f.notes or "").strip():
            out.append((f"{f.unit.name} (đơn vị tổng hợp):", (f.notes or "").strip()))
        return out
    return [(None, (f.notes or "").strip() or "Không có.")]


def _numbered_tables(doc: object, tables: dict[str, Table], keys: tuple[str, ...]) -> None:
    n = 0
    for key in keys:
        table = tables.get(key)
        if table is None or not table.rows:
            continue
        n += 1
        _para(doc, f"{n}. {table.title}", size=14, bold=True, space_after=4)
        _docx_table(doc, table)
        _para(doc, "", size=8)


def _annex(doc: object, f: Figures, tables: dict[str, Table]) -> None:
    """Phụ lục after the signature: the call tables and charts."""
    doc.add_page_break()  # type: ignore[attr-defined]
    center = WD_ALIGN_PARAGRAPH.CENTER
    _para(doc, "PHỤ LỤC", size=14, bold=True, align=center)
    _para(doc, f"SỐ LIỆU TIẾP NHẬN CUỘC GỌI {f.period.title_vi.upper()}", size=14, bold=True,
          align=center, space_after=2)  # fmt: skip
    _para(doc, f"(Kèm theo báo cáo của {f.unit.name})", size=13, italic=True, align=center,
          space_after=8)  # fmt: skip
    if f.empty:
        _para(doc, "Không có cuộc gọi trong kỳ báo cáo.", size=14)
        return
    _numbered_tables(doc, tables, ANNEX_TABLES)
    for caption, png in all_charts(f):
        doc.add_picture(io.BytesIO(png), width=Cm(15.5))  # type: ignore[attr-defined]
        doc.paragraphs[-1].alignment = center  # type: ignore[attr-defined]
        _para(doc, caption, size=12, italic=True, align=center, space_after=6)


def _foot(doc: object, s: ReportSettings) -> None:
    _para(doc, "", size=8)
    t = doc.add_table(rows=1, cols=2)  # type: ignore[attr-defined]
    _no_borders(t)
    _widths(t, [TEXT_CM / 2, TEXT_CM / 2])
    left, right = t.rows[0].cells
    lp = left.paragraphs[0]
    _font(lp.add_run("Nơi nhận:"), 12, bold=True, italic=True)
    items = s.copies_to or ["Lưu: VT"]
    for i, item in enumerate(items):
        end = "." if i == len(items) - 1 else ";"
        _para(left, f"- {item}{end}", size=11)
    center = WD_ALIGN_PARAGRAPH.CENTER
    rp = right.paragraphs[0]
    rp.alignment = center
    if s.signer_authority:
        _font(rp.add_run(s.signer_authority.upper()), 14, bold=True)
        _para(right, s.signer_title.upper(), size=14, bold=True, align=center)
    else:
        _font(rp.add_run(s.signer_title.upper()), 14, bold=True)
    _para(right, "(Ký, ghi rõ họ tên và đóng dấu)", size=12, italic=True, align=center)
    for _ in range(4):
        _para(right, "", size=14)
    _para(right, s.signer_name, size=14, bold=True, align=center)
