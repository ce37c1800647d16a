"""``callrouter db``: schema migrations and the privacy purge."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.errors import CallrouterError
from callrouter.settings import Settings
from callrouter.store.cdr_files import FilePurge, PersonalFiles, past
from callrouter.store.db import check_connection, make_engine, safe_url
from callrouter.store.migrate import current_revision, upgrade
from callrouter.store.purge import RecordingProblem, purge

T = TypeVar("T")


def run_store_command(coro_factory: Callable[[], Awaitable[T]]) -> T:
    """Run an async store command; a :class:`CallrouterError` becomes a clean CLI error."""

    async def _main() -> T:
        return await coro_factory()

    try:
        return asyncio.run(_main())
    except CallrouterError as exc:
        raise click.ClickException(str(exc)) from None


def run_with_engine(url: str, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run ``work`` on an engine for ``url`` (checked first, disposed after) as a CLI command."""

    async def _run() -> T:
        engine = make_engine(url)
        try:
            await check_connection(engine)
            return await work(engine)
        finally:
            await engine.dispose()

    return run_store_command(_run)


def database_url_option(func: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--database-url",
        "database_url",
        default=None,
        metavar="URL",
        help="URL cơ sở dữ liệu (mặc định: CALLROUTER_DATABASE_URL, nếu không có thì tệp SQLite "
        "nhúng).",
    )(func)


def resolve_url(database_url: str | None) -> str:
    if database_url:
        return database_url
    return Settings().effective_database_url()


@click.group("db")
def db() -> None:
    """Cơ sở dữ liệu nhật ký cuộc gọi: nâng cấp lược đồ, xoá dữ liệu cá nhân quá hạn."""


@db.command("upgrade")
@database_url_option
def upgrade_command(database_url: str | None) -> None:
    """Nâng cấp lược đồ cơ sở dữ liệu lên phiên bản mới nhất (tạo mới nếu chưa có)."""
    url = resolve_url(database_url)

    async def _upgrade(engine: AsyncEngine) -> str | None:
        await upgrade(engine)
        return await current_revision(engine)

    revision = run_with_engine(url, _upgrade)
    click.echo(f"Cơ sở dữ liệu {safe_url(url)} ở phiên bản lược đồ {revision}.")


def recordings_dir_option(func: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--recordings-dir",
        "recordings_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Thư mục ghi âm lời nhắn (mặc định: CALLROUTER_WEB_RECORDINGS_DIR, "
        "/var/spool/asterisk/recording).",
    )(func)


def resolve_recordings_dir(recordings_dir: Path | None) -> Path:
    """The recordings directory: the option, else the one the web plays messages from."""
    from callrouter.web.settings import WebSettings  # noqa: PLC0415 -- only this command

    return recordings_dir if recordings_dir is not None else WebSettings().recordings_dir


def personal_files(settings: Settings, cdr_file: Path | None) -> PersonalFiles:
    """The CDR file (``--cdr-file``, else ``CALLROUTER_CDR_PATH``) and the files of rejected
    lines under the state directory."""
    from callrouter.asterisk.cdr_import import (  # noqa: PLC0415 -- only these commands
        IMPORTER_SPOOL,
        MANUAL_IMPORT_SPOOL,
        REJECTED_FILENAME,
        STATE_FILENAME,
        cdr_file_from_env,
    )
    from callrouter.store.spool import REJECTED  # noqa: PLC0415

    spool = settings.effective_spool_dir()
    return PersonalFiles(
        cdr=cdr_file or cdr_file_from_env(),
        import_state=settings.state_dir / STATE_FILENAME,
        rejected=(
            settings.state_dir / REJECTED_FILENAME,
            spool / REJECTED,
            spool.with_name(IMPORTER_SPOOL) / REJECTED,
            spool.with_name(MANUAL_IMPORT_SPOOL) / REJECTED,
        ),
    )


def cdr_file_option(func: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--cdr-file",
        "cdr_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Tệp CDR mà lệnh nhập cuộc gọi dự phòng đọc (mặc định: CALLROUTER_CDR_PATH, "
        "/var/log/asterisk/cdr-custom/callrouter-cdr.json).",
    )(func)


def echo_file_results(files: Sequence[FilePurge]) -> list[str]:
    """One line per file; returns the problems."""
    for f in files:
        rotated = f" (đã tách sang {f.rotated_to})" if f.rotated_to else ""
        pending = f", còn chờ lần chạy sau: {f.pending}" if f.pending else ""
        click.echo(
            f"  {f.path}: dòng đã xoá {f.lines_removed}, tệp đã xoá {len(f.files_deleted)}"
            f"{pending}{rotated}"
        )
    return [p for f in files for p in f.problems]


def echo_recording_problems(problems: Sequence[RecordingProblem]) -> None:
    for p in problems:
        click.echo(f"  KHÔNG xoá ghi âm {p.name!r} ({p.table} {p.row_id}): {p.problem}", err=True)


@db.command("purge")
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=1),
    default=None,
    metavar="NGÀY",
    help="Xoá dữ liệu cá nhân cũ hơn số ngày này (mặc định: CALLROUTER_RETENTION_DAYS, 365).",
)
@click.option("--dry-run", is_flag=True, help="Chỉ đếm, không xoá gì.")
@recordings_dir_option
@cdr_file_option
@database_url_option
def purge_command(
    days: int | None,
    dry_run: bool,
    recordings_dir: Path | None,
    cdr_file: Path | None,
    database_url: str | None,
) -> None:
    """Xoá số điện thoại người gọi, file ghi âm và dòng CDR quá hạn lưu trữ; giữ số liệu
    thống kê. Thoát với mã 1 nếu có file không xoá được."""
    settings = Settings()
    retention = days if days is not None else settings.retention_days
    url = resolve_url(database_url)
    base = resolve_recordings_dir(recordings_dir)
    now = datetime.now(UTC)

    result = run_with_engine(
        url,
        lambda engine: purge(
            engine, older_than_days=retention, now=now, recordings_dir=base, dry_run=dry_run
        ),
    )
    files = personal_files(settings, cdr_file).apply(past(result.cutoff), now=now, dry_run=dry_run)
    verb = "Sẽ xoá" if dry_run else "Đã xoá"
    click.echo(
        f"{verb} dữ liệu cá nhân trước {result.cutoff:%Y-%m-%d %H:%M} UTC "
        f"(lưu trữ {retention} ngày):\n"
        f"  số người gọi: {result.callers_removed}\n"
        f"  số cần gọi lại: {result.callback_numbers_removed}\n"
        f"  file ghi âm đã xoá: {result.recordings_deleted}"
        + (f" (không tìm thấy: {result.recordings_missing})" if result.recordings_missing else "")
        + f"\n  sự kiện đã làm trống: {result.events_emptied}\n"
        f"  nội dung hồ sơ phản ánh, kiến nghị: {result.case_texts_removed}"
    )
    problems = echo_file_results(files)
    click.echo("Số liệu thống kê cuộc gọi được giữ nguyên.")
    if result.problems or problems:
        echo_recording_problems(result.problems)
        for problem in problems:
            click.echo(f"  KHÔNG xử lý được tệp {problem}", err=True)
        raise click.ClickException(
            f"{len(result.problems) + len(problems)} mục không xoá được (xem trên); "
            "dữ liệu của chúng được giữ lại để lần chạy sau thử lại."
        )


@db.command("backup")
@click.argument("dest", type=click.Path(path_type=Path), default=".")
@recordings_dir_option
@database_url_option
def backup_command(dest: Path, recordings_dir: Path | None, database_url: str | None) -> None:
    """Sao lưu cơ sở dữ liệu và các file ghi âm lời nhắn vào một tệp .tar.gz (quyền 0600).

    DEST là thư mục (tạo tệp callrouter-backup-<thời gian>.tar.gz trong đó) hoặc tên tệp."""
    from callrouter.store.backup import backup  # noqa: PLC0415

    url = resolve_url(database_url)
    base = resolve_recordings_dir(recordings_dir)

    result = run_with_engine(
        url, lambda engine: backup(engine, url, dest, recordings_dir=base, now=datetime.now(UTC))
    )
    click.echo(
        f"Đã sao lưu {safe_url(url)} (phiên bản lược đồ {result.revision}) và "
        f"{result.recordings} file ghi âm vào {result.path}."
    )


@db.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@recordings_dir_option
@database_url_option
def restore_command(archive: Path, recordings_dir: Path | None, database_url: str | None) -> None:
    """Khôi phục bản sao lưu ARCHIVE vào một cơ sở dữ liệu MỚI (chưa có bảng của callrouter) và
    thư mục ghi âm; sau đó chạy `callrouter db upgrade`."""
    from callrouter.store.backup import restore  # noqa: PLC0415

    url = resolve_url(database_url)
    base = resolve_recordings_dir(recordings_dir)

    result = run_with_engine(url, lambda engine: restore(engine, url, archive, recordings_dir=base))
    click.echo(
        f"Đã khôi phục vào {safe_url(url)} (phiên bản lược đồ {result.revision}); file ghi âm: "
        f"{result.recordings_restored} khôi phục, {result.recordings_kept} đã có sẵn. "
        "Chạy `callrouter db upgrade` để nâng lược đồ nếu cần."
    )
