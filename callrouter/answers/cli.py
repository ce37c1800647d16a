"""``callrouter answers``: search the answer book, count the answers the cases used."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import click

from callrouter.answers.store import list_answers, search, usage
from callrouter.cases.setup import cases_config
from callrouter.cli.calls import _emit, _format_options
from callrouter.cli.db import database_url_option, resolve_url, run_with_engine
from callrouter.errors import CallrouterError, ReportError
from callrouter.report.periods import month_period
from callrouter.report.settings import load_report_settings
from callrouter.settings import Settings


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


@answers.command("export-docx")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Tệp DOCX sẽ ghi.",
)
@database_url_option
def export_docx_command(output: Path, database_url: str | None) -> None:
    """Cả sổ câu trả lời đang dùng thành một tệp DOCX để Sở Y tế xem xét."""
    from callrouter.answers.docx import render_book_docx  # noqa: PLC0415 (python-docx loads only for this command)

    try:
        settings, rs = Settings(), load_report_settings()
        book = run_with_engine(resolve_url(database_url), list_answers)
        data = render_book_docx(
            book,
            topics=cases_config(settings).topics,
            settings=rs,
            now=datetime.now(UTC),
            timezone=settings.timezone,
        )
    except CallrouterError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise click.ClickException(f"{output}: không ghi được: {exc.strerror}") from None
    click.echo(f"Đã ghi {len(book)} câu trả lời vào {output}")
