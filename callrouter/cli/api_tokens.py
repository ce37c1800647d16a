"""``callrouter api-tokens``: issue, list and revoke the read-only JSON API's tokens.

A token is printed once when issued (only its SHA-256 is stored); give it to the
switchboard's system, which sends it as ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.cli.db import database_url_option, resolve_url, run_with_engine
from callrouter.store import api_tokens as store


@click.group("api-tokens")
def api_tokens() -> None:
    """Mã truy cập API chỉ đọc (JSON) cho hệ thống của tổng đài: cấp, liệt kê, thu hồi."""


@api_tokens.command("issue")
@click.argument("name")
@database_url_option
def issue(name: str, database_url: str | None) -> None:
    """Cấp mã mới tên NAME; mã chỉ được in ra một lần."""

    async def work(engine: AsyncEngine) -> str:
        try:
            return await store.issue_token(engine, name, datetime.now(UTC))
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None

    click.echo(run_with_engine(resolve_url(database_url), work))


@api_tokens.command("list")
@database_url_option
def list_command(database_url: str | None) -> None:
    """Liệt kê các mã: tên, ngày cấp, thu hồi, lần dùng cuối, số lần dùng."""
    for row in run_with_engine(resolve_url(database_url), store.list_tokens):
        revoked = row.revoked_at.isoformat() if row.revoked_at else "còn hiệu lực"
        used = row.last_used_at.isoformat() if row.last_used_at else "chưa dùng"
        click.echo(f"{row.name}\t{row.created_at.isoformat()}\t{revoked}\t{used}\t{row.uses}")


@api_tokens.command("revoke")
@click.argument("name")
@database_url_option
def revoke(name: str, database_url: str | None) -> None:
    """Thu hồi mã tên NAME (mọi yêu cầu dùng mã đó bị từ chối ngay)."""

    async def work(engine: AsyncEngine) -> int:
        return await store.revoke_token(engine, name, datetime.now(UTC))

    if run_with_engine(resolve_url(database_url), work) == 0:
        raise click.ClickException(f"không có mã nào còn hiệu lực tên «{name[:100]}»")
    click.echo(f"Đã thu hồi mã «{name}».")
