"""One entry point for every output format."""

from __future__ import annotations

import asyncio
from typing import Literal

from callrouter.report.figures import Figures
from callrouter.report.settings import ReportSettings

Format = Literal["table", "csv", "json", "xlsx", "docx"]
FORMATS: tuple[Format, ...] = ("table", "csv", "json", "xlsx", "docx")
BINARY: frozenset[str] = frozenset({"xlsx", "docx"})
SUFFIX = {"table": "txt", "csv": "csv", "json": "json", "xlsx": "xlsx", "docx": "docx"}


#: Excel on Windows reads a CSV as UTF-8 only when it starts with a byte order mark.
CSV_BOM = "\ufeff".encode()


def render(f: Figures, fmt: Format, settings: ReportSettings | None = None) -> bytes:
    """The report in ``fmt`` as bytes (text formats UTF-8). Blocking: CPU and matplotlib."""
    if fmt == "json":
        return f.to_json().encode()
    if fmt == "csv":
        from callrouter.report.render_text import render_csv  # noqa: PLC0415 (matplotlib and openpyxl load only when needed)

        return CSV_BOM + render_csv(f).encode()
    if fmt == "table":
        from callrouter.report.render_text import render_table  # noqa: PLC0415 (matplotlib and openpyxl load only when needed)

        return render_table(f).encode()
    if fmt == "xlsx":
        from callrouter.report.render_xlsx import render_xlsx  # noqa: PLC0415 (matplotlib and openpyxl load only when needed)

        return render_xlsx(f)
    if fmt == "docx":
        from callrouter.report.render_docx import render_docx  # noqa: PLC0415 (matplotlib and openpyxl load only when needed)

        return render_docx(f, settings)
    raise ValueError(f"unknown format {fmt!r}")  # pragma: no cover (click restricts choices)


async def render_async(f: Figures, fmt: Format, settings: ReportSettings | None = None) -> bytes:
    """:func:`render` in a worker thread, so the event loop keeps serving."""
    return await asyncio.to_thread(render, f, fmt, settings)
