"""The answer book as one DOCX for the Department of Health to review (``answers export-docx``).

Laid out like the monthly report (Decree 30/2020: A4, Times New Roman, vi-VN, page numbers from
page 2), with the unit's letterhead when the report settings name the unit; then the book's
title and, topic by topic, every answer in use (retired ones are left out): its title, topic,
source document, agreed date, valid-until (an expired answer says so) and body.
Blocking work: call from a worker thread or a sync CLI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from docx.enum.text import WD_ALIGN_PARAGRAPH

from callrouter.errors import ReportError
from callrouter.report.docx_parts import para, rule_below
from callrouter.report.render_docx import TEXT_CM, decree_document, letterhead, save
from callrouter.report.settings import ReportSettings
from callrouter.store.answers import StoredAnswer

TITLE = "SỔ CÂU TRẢ LỜI THỐNG NHẤT"
_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII",
          "XIV", "XV", "XVI", "XVII", "XVIII", "XIX", "XX")  # fmt: skip


def _roman(n: int) -> str:
    return _ROMAN[n - 1] if n <= len(_ROMAN) else str(n)


def render_book_docx(
    book: Sequence[StoredAnswer],
    *,
    topics: Mapping[str, str],
    settings: ReportSettings,
    now: datetime,
    timezone: str,
) -> bytes:
    """The answers in use (``book``, ordered by topic then title) as one DOCX; a
    :class:`ReportError` when there is none."""
    current = [a for a in book if a.retired_at is None]
    if not current:
        raise ReportError(
            "sổ câu trả lời chưa có câu trả lời nào đang dùng: không có gì để xuất "
            "(thêm câu trả lời ở trang /answers hoặc nhập từ tệp Markdown)"
        )
    today = now.astimezone(ZoneInfo(timezone)).date()
    unit = settings.unit_name
    doc = decree_document(TITLE.capitalize(), unit or "callrouter", now)
    if unit:
        letterhead(doc, settings, now, timezone)
        para(doc, "", size=10)
    center, justify = WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.JUSTIFY
    para(doc, TITLE, size=14, bold=True, align=center, keep_next=True)
    para(
        doc,
        f"Nội dung trả lời câu hỏi của người dân qua {settings.hotline_name} "
        f"({settings.field}) trình Sở Y tế xem xét",
        size=14,
        bold=True,
        align=center,
        keep_next=True,
    )
    para(doc, f"(Gồm {len(current)} câu trả lời đang sử dụng, tính đến ngày {today:%d/%m/%Y})",
         size=13, italic=True, align=center, keep_next=True)  # fmt: skip
    rule_below(doc, width_cm=4.0, total_cm=TEXT_CM)
    para(doc, "", size=8)

    body = {"size": 14.0, "align": justify, "space_after": 6.0, "first_line": 1.0}
    field = {"size": 13.0, "space_after": 0.0, "keep_next": True}
    section = 0
    topic: str | None = None
    for n, answer in enumerate(current, start=1):
        d = answer.draft
        if d.topic != topic:
            topic, section = d.topic, section + 1
            label = topics.get(d.topic, d.topic)
            para(doc, f"{_roman(section)}. {label.upper()}", size=14, bold=True, space_after=6,
                 keep_next=True)  # fmt: skip
        para(doc, f"{n}. {d.title}", size=14, bold=True, space_after=2, keep_next=True)
        if d.valid_until is None:
            until = "không thời hạn"
        elif answer.expired(today):
            until = f"{d.valid_until:%d/%m/%Y} (đã hết hiệu lực)"
        else:
            until = f"{d.valid_until:%d/%m/%Y}"
        for line in (
            f"Lĩnh vực: {topics.get(d.topic, d.topic)}",
            f"Văn bản nguồn: {d.source}",
            f"Ngày thống nhất: {d.agreed_on:%d/%m/%Y}",
            f"Hiệu lực đến: {until}",
        ):
            para(doc, line, italic=True, **field)  # type: ignore[arg-type]
        para(doc, "Nội dung trả lời:", size=13, italic=True, space_after=2, keep_next=True)
        for text in d.body.splitlines():
            if text.strip():
                para(doc, text.strip(), **body)  # type: ignore[arg-type]
        para(doc, "", size=6)
    return save(doc)
