"""Terminal table (rich) and CSV renderings of a report."""

from __future__ import annotations

import csv
import io

from rich.console import Console
from rich.table import Table as RichTable

from callrouter.exports import csv_row
from callrouter.report.figures import Figures
from callrouter.report.tables import report_tables, summary_rows
from callrouter.report.words import (
    PROPOSAL_HEADING,
    answer_proposal,
    empty_sentence,
    report_title,
)

_RIGHT = {"int", "pct", "sec", "duration"}


def render_table(f: Figures, *, width: int = 110, color: bool = False) -> str:
    """The report as terminal tables (empty days and hours left out for readability)."""
    out = io.StringIO()
    console = Console(file=out, width=width, color_system="standard" if color else None)
    console.print(f"[bold]{report_title(f)}[/bold]")
    console.print(f"{f.unit.name} — {f.period.kind_label_vi}, {f.period.title_vi}")
    if f.empty:
        console.print(empty_sentence(f))
    for table in report_tables(f):
        rows = table.rows
        if table.key in ("by_day", "by_hour"):
            rows = [r for r in rows if r[1].value]
        if not rows:
            continue
        rt = RichTable(title=table.title, title_justify="left", show_lines=False)
        kinds = [c.kind for c in rows[0]]
        for header, kind in zip(table.headers, kinds, strict=True):
            rt.add_column(header, justify="right" if kind in _RIGHT else "left")
        for row in rows:
            rt.add_row(*(c.text() for c in row))
        console.print(rt)
    if f.notes:
        console.print("[bold]Khó khăn, vướng mắc và đề xuất[/bold]")
        console.print(f.notes)
    proposal = answer_proposal(f)
    if proposal:
        console.print(f"[bold]{PROPOSAL_HEADING}[/bold]")
        for line in proposal:
            console.print(line, markup=False)
    return out.getvalue()


def render_csv(f: Figures) -> str:
    """One long CSV: ``table,row,column,value`` — raw numbers (rates 0..1, seconds), UTF-8.

    Every table of the report is there; spreadsheet users who want one sheet per table
    should take the XLSX.
    """
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["table", "row", "column", "value"])
    for key, label, cell in summary_rows(f):
        value = "" if cell.value is None else cell.value
        w.writerow(csv_row(["summary", key, label.strip(), value]))
    for table in report_tables(f):
        if table.key == "summary":
            continue
        for i, row in enumerate(table.rows, start=1):
            for header, cell in zip(table.headers, row, strict=True):
                value = cell.value
                if cell.kind == "date" and value is not None:
                    value = value.isoformat()
                w.writerow(csv_row([table.key, i, header, "" if value is None else value]))
    return out.getvalue()
