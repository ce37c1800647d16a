"""``callrouter answers``: search the answer book, count the answers the cases used."""

from __future__ import annotations

from datetime import date

import click

from callrouter.answers.store import search, usage
from callrouter.cli.calls import _emit, _format_options
from callrouter.cli.db import database_url_option, resolve_url, run_with_engine
from callrouter.errors import ReportError
from callrouter.report.periods import month_period


@click.group("answers")
def answers() -> None:
    """Sổ câu trả lời thống nhất với Sở Y tế: tìm kiếm, thống kê sử dụng."""


@answers.command("search")
@click.argument("query")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 50))
@_format_options
@database_url_option
def search_command(query: str, limit: int, fmt: str, database_url: str | None) -> None:
    """Tìm câu trả lời (không phân biệt dấu, hoa thường; "duong" tìm được "đường")."""
    hits = run_with_engine(resolve_url(database_url), lambda e: search(e, query, limit=limit))
    today = date.today()
    rows = [
        {
            "id": h.answer.id,
            "title": h.answer.draft.title,
            "topic": h.answer.draft.topic,
            "valid_until": h.answer.draft.valid_until,
            "expired": "HẾT HIỆU LỰC" if h.answer.expired(today) else "",
        }
        for h in hits
    ]
    _emit(rows, ["id", "title", "topic", "valid_until", "expired"], fmt, ["id", "title", "expired"])


@answers.command("usage")
@click.option("--month", required=True, metavar="YYYY-MM", help="Tháng, ví dụ 2026-11.")
@_format_options
@database_url_option
def usage_command(month: str, fmt: str, database_url: str | None) -> None:
    """Câu trả lời được dùng nhiều nhất trong tháng và số câu hỏi chưa có câu trả lời."""
    try:
        period = month_period(month)
    except ReportError as exc:
        raise click.BadParameter(str(exc), param_hint="--month") from None
    used, unanswered = run_with_engine(
        resolve_url(database_url), lambda e: usage(e, period.start, period.end)
    )
    rows = [{"answer_id": u.answer_id, "title": u.title, "cases": u.cases} for u in used]
    _emit(rows, ["answer_id", "title", "cases"], fmt, ["answer_id", "title", "cases"])
    if fmt == "table":
        click.echo(f"Câu hỏi (hỏi đáp) chưa có câu trả lời thống nhất: {unanswered}")
