"""Cells for CSV and XLSX exports that a spreadsheet shows as text, never runs as a formula.

A caller ID, an officer's or a unit's name, a call-back note: free text from a citizen, a
peer unit's merged report or a rota file reaches the exports. Excel, LibreOffice and Google
Sheets run a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and some a tab or CR before
one) as a formula — ``=HYPERLINK(…)`` phones home, ``+cmd|…`` ran commands in old Excel.

* CSV has no types: such a text gets a leading ``'`` (:func:`csv_cell`), the usual
  neutralisation (OWASP "CSV injection"); the spreadsheet shows it, nothing runs.
* XLSX has: every string is written as a string cell (openpyxl would otherwise store text
  starting with ``=`` as a formula) and a risky one carries the ``quotePrefix`` style, so the
  text shows exactly as written and stays text even when a user edits the cell
  (:func:`xlsx_append`).

``+`` and ``-`` are left alone where the whole text is a phone number as callrouter keeps them
(``+84905551234``; :func:`~callrouter.rota.phones.is_caller_number`): numbers stay dialable as
written. Numbers, dates and None are not text and pass unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from callrouter.rota.phones import is_caller_number

if TYPE_CHECKING:  # openpyxl loads only where an XLSX is made, not with every CLI command
    from openpyxl.worksheet.worksheet import Worksheet

ALWAYS: Final = frozenset("=@\t\r")
UNLESS_NUMBER: Final = frozenset("+-")


def is_risky(text: str) -> bool:
    """True when a spreadsheet could take ``text`` for a formula."""
    if not text:
        return False
    first = text[0]
    return first in ALWAYS or (first in UNLESS_NUMBER and not is_caller_number(text))


def csv_cell(value: Any) -> Any:
    """``value`` as a CSV cell: text a spreadsheet would run gets a leading ``'``."""
    if isinstance(value, str) and is_risky(value):
        return "'" + value
    return value


def csv_row(values: Iterable[Any]) -> list[Any]:
    return [csv_cell(v) for v in values]


def xlsx_append(ws: Worksheet, values: Iterable[Any]) -> int:
    """Append ``values`` as a row of ``ws``; strings are string cells (never formulas), risky
    ones quote-prefixed. Returns the new row's number."""
    values = list(values)
    ws.append(values)
    row = int(ws.max_row)
    for col, value in enumerate(values, start=1):
        if isinstance(value, str):
            cell = ws.cell(row=row, column=col)
            cell.data_type = "s"  # openpyxl stores text starting with "=" as a formula
            if is_risky(value):
                cell.quotePrefix = True
    return row
