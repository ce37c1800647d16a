"""``callrouter privacy``: serve a citizen's request about their number (export, erase)."""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.cli.db import (
    cdr_file_option,
    database_url_option,
    echo_file_results,
    echo_recording_problems,
    personal_files,
    recordings_dir_option,
    resolve_recordings_dir,
    resolve_url,
    run_with_engine,
)
from callrouter.settings import Settings
from callrouter.store.privacy import SubjectRequest, erase_number, export_number, number_forms

T = TypeVar("T")


def _checked_number(number: str) -> str:
    try:
        number_forms(number)
    except ValueError:
        raise click.BadParameter(
            f"{number!r} không phải số điện thoại (chỉ gồm chữ số, có thể bắt đầu bằng +)",
            param_hint="NUMBER",
        ) from None
    return number


def _requester(by: str | None) -> str:
    """Who served the request: ``--by``, else the system account running the command."""
    if by and by.strip():
        return by.strip()
    try:
        return getpass.getuser()
    except OSError:  # a uid without a name (some containers)
        return f"uid {os.getuid()}"


def _serve(  # noqa: PLR0917 -- the command's options, passed on
    request: Callable[[AsyncEngine, SubjectRequest], Awaitable[T]],
    number: str,
    recordings_dir: Path | None,
    cdr_file: Path | None,
    by: str | None,
    database_url: str | None,
) -> T:
    """Run ``export_number`` or ``erase_number`` for ``number`` with the command's options."""
    base = resolve_recordings_dir(recordings_dir)
    files = personal_files(Settings(), cdr_file)
    subject = SubjectRequest(number, base, files, datetime.now(UTC), _requester(by))
    return run_with_engine(resolve_url(database_url), lambda engine: request(engine, subject))


def by_option(func: Any) -> Any:
    return click.option(
        "--by",
        "by",
        default=None,
        metavar="TÊN",
        help="Người thực hiện yêu cầu (ghi vào nhật ký; mặc định: tài khoản hệ thống).",
    )(func)


@click.group("privacy")
def privacy() -> None:
    """Yêu cầu của người dân về dữ liệu cá nhân: xuất hoặc xoá mọi dữ liệu về một số điện
    thoại (Nghị định 13/2023/NĐ-CP)."""


@privacy.command("export")
@click.argument("number")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Ghi JSON vào tệp này (quyền 0600) thay vì in ra màn hình.",
)
@recordings_dir_option
@cdr_file_option
@by_option
@database_url_option
def export_command(  # noqa: PLR0917 -- click passes every option
    number: str,
    output: Path | None,
    recordings_dir: Path | None,
    cdr_file: Path | None,
    by: str | None,
    database_url: str | None,
) -> None:
    """Xuất (JSON) mọi dữ liệu lưu về số NUMBER: cuộc gọi, lượt đổ chuông, sự kiện, yêu cầu gọi
    lại và danh sách file ghi âm."""
    _checked_number(number)
    data = _serve(export_number, number, recordings_dir, cdr_file, by, database_url)
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    click.echo(
        f"Đã ghi {len(data['calls'])} cuộc gọi, {len(data['callbacks'])} yêu cầu gọi lại, "
        f"{len(data['recordings'])} file ghi âm vào {output}.",
        err=True,
    )


@privacy.command("erase")
@click.argument("number")
@click.option("--yes", is_flag=True, help="Không hỏi lại.")
@recordings_dir_option
@cdr_file_option
@by_option
@database_url_option
def erase_command(  # noqa: PLR0917 -- click passes every option
    number: str,
    yes: bool,
    recordings_dir: Path | None,
    cdr_file: Path | None,
    by: str | None,
    database_url: str | None,
) -> None:
    """Xoá số NUMBER khỏi mọi bảng và xoá file ghi âm lời nhắn của số đó; giữ số liệu thống kê
    (cuộc gọi vẫn được đếm trong báo cáo). Thoát với mã 1 nếu có file không xoá được."""
    _checked_number(number)
    if not yes:
        click.confirm(
            "Xoá vĩnh viễn mọi dữ liệu về số này (không khôi phục được)?", abort=True, err=True
        )
    result = _serve(erase_number, number, recordings_dir, cdr_file, by, database_url)
    click.echo(
        "Đã xoá số điện thoại khỏi:\n"
        f"  cuộc gọi: {result.calls}\n"
        f"  yêu cầu gọi lại: {result.callbacks}\n"
        f"  sự kiện: {result.events}\n"
        f"  nội dung hồ sơ phản ánh, kiến nghị: {result.case_texts}\n"
        f"  file ghi âm đã xoá: {result.recordings_deleted}"
        + (f" (không tìm thấy: {result.recordings_missing})" if result.recordings_missing else "")
        + "\nSố liệu thống kê cuộc gọi được giữ nguyên; yêu cầu đã được ghi nhật ký (không kèm số)."
    )
    file_problems = echo_file_results(result.files)
    pending = sum(f.pending for f in result.files)
    if result.problems or file_problems or pending:
        echo_recording_problems(result.problems)
        for problem in file_problems:
            click.echo(f"  KHÔNG xử lý được tệp {problem}", err=True)
        raise click.ClickException(
            f"chưa xoá hết: {len(result.problems)} file ghi âm, {len(file_problems)} tệp lỗi, "
            f"{pending} dòng trong tệp đang dùng (đã tách ra); chạy lại lệnh sau vài phút."
        )
