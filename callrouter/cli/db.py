"""``callrouter db``: schema migrations and the privacy purge."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from callrouter.errors import CallrouterError
from callrouter.settings import Settings
from callrouter.store.db import check_connection, make_engine, safe_url
from callrouter.store.migrate import current_revision, upgrade

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
        help="Database URL (default: CALLROUTER_DATABASE_URL, else the embedded SQLite file).",
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
