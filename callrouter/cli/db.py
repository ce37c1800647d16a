"""``callrouter db``: schema migrations and the privacy purge."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import click

from callrouter.errors import CallrouterError
from callrouter.settings import Settings
from callrouter.store.db import check_connection, make_engine, safe_url
from callrouter.store.migrate import current_revision, upgrade
from callrouter.store.purge import PurgeResult, purge

T = TypeVar("T")


def run_store_command(coro_factory: Callable[[], Awaitable[T]]) -> T:
    """Run an async store command; a :class:`CallrouterError` becomes a clean CLI error."""

    async def _main() -> T:
        return await coro_factory()

    try:
        return asyncio.run(_main())
    except CallrouterError as exc:
        raise click.ClickException(str(exc)) from None


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

    async def _run() -> str | None:
        engine = make_engine(url)
        try:
            await check_connection(engine)
            await upgrade(engine)
            return await current_revision(engine)
        finally:
            await engine.dispose()

    revision = run_store_command(_run)
    click.echo(f"Cơ sở dữ liệu {safe_url(url)} ở phiên bản lược đồ {revision}.")


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
@database_url_option
def purge_command(days: int | None, dry_run: bool, database_url: str | None) -> None:
    """Xoá số điện thoại người gọi và file ghi âm quá hạn lưu trữ; giữ số liệu thống kê."""
    settings = Settings()
    retention = days if days is not None else settings.retention_days
    url = resolve_url(database_url)

    async def _run() -> PurgeResult:
        engine = make_engine(url)
        try:
            await check_connection(engine)
            return await purge(
                engine, older_than_days=retention, now=datetime.now(UTC), dry_run=dry_run
            )
        finally:
            await engine.dispose()

    result = run_store_command(_run)
    verb = "Sẽ xoá" if dry_run else "Đã xoá"
    click.echo(
        f"{verb} dữ liệu cá nhân trước {result.cutoff:%Y-%m-%d %H:%M} UTC "
        f"(lưu trữ {retention} ngày):\n"
        f"  số người gọi: {result.callers_removed}\n"
        f"  số cần gọi lại: {result.callback_numbers_removed}\n"
        f"  file ghi âm đã xoá: {result.recordings_deleted}"
        + (f" (không tìm thấy: {result.recordings_missing})" if result.recordings_missing else "")
        + f"\n  sự kiện đã làm trống: {result.events_emptied}\n"
        f"  nội dung hồ sơ phản ánh, kiến nghị: {result.case_texts_removed}\n"
        "Số liệu thống kê cuộc gọi được giữ nguyên."
    )
