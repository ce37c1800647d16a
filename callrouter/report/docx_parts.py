"""Low-level python-docx helpers for the report: runs in Times New Roman, paragraphs with
explicit spacing, short rules, borderless tables, and the Decree 30/2020 pagination rules
(page number field, rows that do not split, paragraphs kept with the next one, vi-VN)."""

from __future__ import annotations

from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt

FONT = "Times New Roman"
LANG = "vi-VN"


def font(run: object, size: float, *, bold: bool = False, italic: bool = False) -> None:
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


def tight(paragraph: object, *, space_after: float = 0) -> None:
    """No space before, ``space_after`` points after (the template's default is 10 pt)."""
    pf = paragraph.paragraph_format  # type: ignore[attr-defined]
    pf.space_before = Pt(0)
    pf.space_after = Pt(space_after)


def para(
    container: object,
    text: str = "",
    *,
    size: float = 14,
    bold: bool = False,
    italic: bool = False,
    align: WD_ALIGN_PARAGRAPH | None = None,
    space_after: float = 0,
    first_line: float | None = None,
    keep_next: bool = False,
) -> object:
    p = container.add_paragraph()  # type: ignore[attr-defined]
    if text:
        font(p.add_run(text), size, bold=bold, italic=italic)
    if align is not None:
        p.alignment = align
    tight(p, space_after=space_after)
    pf = p.paragraph_format
    if first_line is not None:
        pf.first_line_indent = Cm(first_line)
    if keep_next:
        pf.keep_with_next = True
    return p


def first_para(cell: object, text: str, size: float, *, bold: bool = False) -> object:
    """The cell's own first paragraph, centred, without the template's space after."""
    p = cell.paragraphs[0]  # type: ignore[attr-defined]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    tight(p)
    font(p.add_run(text), size, bold=bold)
    return p


def rule_below(container: object, *, width_cm: float, total_cm: float) -> None:
    """A short centred horizontal rule: an empty tiny paragraph with a bottom border whose
    left and right indents leave ``width_cm`` of line in a ``total_cm`` wide column."""
    p = para(container, "", size=2)
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


def widths(table: object, widths_cm: list[float]) -> None:
    """Column widths that both Word (cell widths) and LibreOffice (table grid) honour."""
    t = table
    t.autofit = False  # type: ignore[attr-defined]
    for i, w in enumerate(widths_cm):
        t.columns[i].width = Cm(w)  # type: ignore[attr-defined]
        for cell in t.columns[i].cells:  # type: ignore[attr-defined]
            cell.width = Cm(w)


def no_borders(table: object) -> None:
    tbl = table._tbl  # type: ignore[attr-defined]
    borders = OxmlElement("w:tblBorders")
    for edge in ("top", "left", "bottom", "right", "insideH", "insideV"):
        e = OxmlElement(f"w:{edge}")
        e.set(qn("w:val"), "nil")
        borders.append(e)
    tbl.tblPr.append(borders)


def cant_split(row: object) -> None:
    """The row is never broken across two pages."""
    tr_pr = row._tr.get_or_add_trPr()  # type: ignore[attr-defined]
    e = OxmlElement("w:cantSplit")
    e.set(qn("w:val"), "true")
    tr_pr.append(e)


def keep_row_with_next(row: object) -> None:
    for cell in row.cells:  # type: ignore[attr-defined]
        for p in cell.paragraphs:
            p.paragraph_format.keep_with_next = True


def page_number_header(section: object, size: float = 13) -> None:
    """The page number, centred in the top margin, from page 2 on (Decree 30/2020, Appendix I:
    the first page carries none): a distinct, empty first-page header and a PAGE field."""
    s = section
    s.different_first_page_header_footer = True  # type: ignore[attr-defined]
    first = s.first_page_header  # type: ignore[attr-defined]
    first.is_linked_to_previous = False
    tight(first.paragraphs[0])
    header = s.header  # type: ignore[attr-defined]
    header.is_linked_to_previous = False
    p = header.paragraphs[0]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    tight(p)
    for kind, text in (("begin", None), (None, " PAGE "), ("separate", None), (None, "2"),
                       ("end", None)):  # fmt: skip
        run = p.add_run()
        font(run, size)
        if kind is not None:
            fld = OxmlElement("w:fldChar")
            fld.set(qn("w:fldCharType"), kind)
            run._r.append(fld)
        elif text == " PAGE ":
            instr = OxmlElement("w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = text
            run._r.append(instr)
        else:
            run.text = text


def vietnamese(doc: object) -> None:
    """Document language vi-VN (defaults and Normal style), so spelling checks Vietnamese."""
    styles = doc.styles.element  # type: ignore[attr-defined]
    rpr = styles.find(qn("w:docDefaults"))
    targets = []
    if rpr is not None:
        targets.extend(rpr.iter(qn("w:rPr")))
    normal = doc.styles["Normal"].element  # type: ignore[attr-defined]
    targets.append(normal.get_or_add_rPr())
    for el in targets:
        lang = el.find(qn("w:lang"))
        if lang is None:
            lang = OxmlElement("w:lang")
            el.append(lang)
        lang.set(qn("w:val"), LANG)
    doc.core_properties.language = LANG  # type: ignore[attr-defined]
