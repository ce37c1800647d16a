"""``callrouter answers``: search the answer book, count the answers the cases used, import
and export it as Markdown files."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import click

from callrouter.cases.setup import cases_config
from callrouter.cli.calls import _emit, _format_options
from callrouter.cli.db import database_url_option, resolve_url, run_with_engine
from callrouter.errors import CallrouterError, ReportError
from callrouter.report.periods import month_period
from callrouter.report.settings import load_report_settings
from callrouter.settings import Settings
from callrouter.store.answers import list_answers, search, usage


@click.group("answers")
def answers() -> None:
    """Sổ câu trả lời thống nhất với Sở Y tế: tìm kiếm, thống kê sử dụng, nhập/xuất Markdown."""


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


_ACCOUNT = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")


@answers.command("import")
@click.argument(
    "directory", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="THƯ_MỤC"
)
@click.option("--by", "account", required=True, metavar="TÀI_KHOẢN", help="Người nhập sổ.")
@database_url_option
def import_command(directory: Path, account: str, database_url: str | None) -> None:
    """Nhập các tệp *.md của THƯ_MỤC vào sổ câu trả lời.

    Mọi tệp được kiểm tra trước (lỗi ghi rõ tệp:dòng); chỉ khi tất cả đều đúng mới ghi, trong
    một giao dịch: có lỗi giữa chừng thì không tệp nào được ghi. Tệp không có id là câu trả
    lời mới; tệp có id tạo phiên bản mới nếu nội dung khác (phiên bản cũ vẫn được giữ).
    """
    from callrouter.answers.markdown import import_book  # noqa: PLC0415 (the YAML checks load only here)

    if not _ACCOUNT.match(account):
        raise click.BadParameter("tên tài khoản từ 1 đến 100 ký tự in được", param_hint="--by")
    try:
        topics = cases_config(Settings()).topics
    except CallrouterError as exc:
        raise click.ClickException(str(exc)) from None
    now = datetime.now(UTC)
    created, edited, unchanged = run_with_engine(
        resolve_url(database_url),
        lambda e: import_book(e, directory, topics, account=account, now=now),
    )
    click.echo(
        f"Đã nhập {directory}: {created} câu trả lời mới, {edited} phiên bản mới, "
        f"{unchanged} không đổi."
    )


@answers.command("export")
@click.argument("directory", type=click.Path(path_type=Path), metavar="THƯ_MỤC")
@database_url_option
def export_command(directory: Path, database_url: str | None) -> None:
    """Xuất các câu trả lời đang dùng thành tệp Markdown (UTF-8) vào THƯ_MỤC (trống hoặc chưa
    có), mỗi câu một tệp; sửa rồi nhập lại bằng "callrouter answers import"."""
    from callrouter.answers.markdown import export_book  # noqa: PLC0415 (see import_command)

    book = run_with_engine(resolve_url(database_url), list_answers)
    try:
        written = export_book(book, directory)
    except CallrouterError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"{directory}: không ghi được: {exc.strerror}") from None
    click.echo(f"Đã ghi {len(written)} câu trả lời vào {directory}")
