"""XLSX rendering (openpyxl): one sheet per table, real number formats, frozen headers.

Numbers stay numbers (rates as fractions shown as percentages, seconds as numbers, dates as
dates, total talk time as a duration), so the district office can sum and chart them.
Blocking work: call from a worker thread or a sync CLI.
"""

from __future__ import annotations

import io
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from callrouter.exports import xlsx_append
from callrouter.report.figures import Figures
from callrouter.report.tables import Cell, report_tables
from callrouter.report.words import (
    PROPOSAL_HEADING,
    answer_proposal,
    report_title,
    summary_paragraphs,
)

NUMBER_FORMATS = {
    "int": "#,##0",
    "pct": "0.0%",
    "sec": "0.0",
    "duration": "[h]:mm:ss",
    "date": "dd/mm/yyyy",
}
_HEADER_FILL = PatternFill("solid", fgColor="1F4E79")
_HEADER_FONT = Font(bold=True, color="FFFFFF")


def _value(cell: Cell) -> Any:
    if cell.value is None:
        return None
    if cell.kind == "duration":
        return float(cell.value) / 86400.0  # spreadsheet durations are fractions of a day
    return cell.value


def render_xlsx(f: Figures) -> bytes:
    wb = Workbook()
    info = wb.active
    if info is None:  # pragma: no cover (a new workbook always has its first sheet)
        info = wb.create_sheet()
    info.title = "Báo cáo"
    xlsx_append(info, [report_title(f)])
    info["A1"].font = Font(bold=True, size=13)
    xlsx_append(info, [f"{f.unit.governing_body} — {f.unit.name}".strip(" —")])
    xlsx_append(
        info, [f"{f.period.kind_label_vi}: {f.period.start:%d/%m/%Y} – {f.period.end:%d/%m/%Y}"]
    )
    local = f.generated_at.astimezone(ZoneInfo(f.timezone))
    xlsx_append(info, [f"Lập lúc {local:%H:%M} ngày {local:%d/%m/%Y}"])
    xlsx_append(info, [])
    for para in summary_paragraphs(f):
        xlsx_append(info, [para])
        info.cell(row=info.max_row, column=1).alignment = Alignment(wrap_text=True, vertical="top")
    if f.notes:
        xlsx_append(info, [])
        xlsx_append(info, ["Khó khăn, vướng mắc và đề xuất"])
        info.cell(row=info.max_row, column=1).font = Font(bold=True)
        xlsx_append(info, [f.notes])
        info.cell(row=info.max_row, column=1).alignment = Alignment(wrap_text=True, vertical="top")
    proposal = answer_proposal(f)
    if proposal:
        xlsx_append(info, [])
        xlsx_append(info, [PROPOSAL_HEADING])
        info.cell(row=info.max_row, column=1).font = Font(bold=True)
        for line in proposal:
            xlsx_append(info, [line])
    info.column_dimensions["A"].width = 120

    for table in report_tables(f):
        ws = wb.create_sheet(table.sheet[:31])
        xlsx_append(ws, table.headers)
        for col in range(1, len(table.headers) + 1):
            c = ws.cell(row=1, column=col)
            c.font, c.fill = _HEADER_FONT, _HEADER_FILL
            c.alignment = Alignment(wrap_text=True, vertical="center")
        for row in table.rows:
            r = xlsx_append(ws, [_value(c) for c in row])
            for col, cell in enumerate(row, start=1):
                fmt = NUMBER_FORMATS.get(cell.kind)
                if fmt:
                    ws.cell(row=r, column=col).number_format = fmt
        ws.freeze_panes = "A2"
        for col, width in enumerate(table.widths, start=1):
            ws.column_dimensions[get_column_letter(col)].width = width
        if table.rows:
            ws.auto_filter.ref = ws.dimensions
    wb.properties.title = report_title(f)
    wb.properties.creator = "callrouter"
    wb.properties.created = f.generated_at.replace(tzinfo=None)
    wb.properties.modified = f.generated_at.replace(tzinfo=None)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
