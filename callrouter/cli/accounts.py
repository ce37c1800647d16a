"""``callrouter accounts``: officers' own web log-ins, keyed to the rota's officer ids.

``sync`` makes the accounts match the rota (new officers get an account without password;
officers who left are disabled and their sessions revoked). ``set-password`` sets an
officer's password (asked, not shown); ``send-link`` e-mails a one-time set-password link to
the officer's rota e-mail with the report's SMTP settings. Admins stay in
``CALLROUTER_WEB_USERS``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.cli.db import database_url_option, resolve_url, run_with_engine
from callrouter.cli.rota import _load, _rota_option
from callrouter.store import accounts as store
from callrouter.web.security import MIN_PASSWORD, hash_password

LINK_VALID = timedelta(hours=24)


@click.group("accounts")
def accounts() -> None:
    """Tài khoản đăng nhập riêng của cán bộ trực (theo mã cán bộ trong lịch trực)."""


@accounts.command("sync")
@_rota_option
@database_url_option
def sync(rota_path: Path, database_url: str | None) -> None:
    """Đối chiếu tài khoản với lịch trực: tạo tài khoản mới, khoá tài khoản của người đã rời."""
    rota = _load(rota_path)

    async def work(engine: AsyncEngine) -> tuple[int, int]:
        return await store.sync_with_rota(engine, rota, datetime.now(UTC))

    created, disabled = run_with_engine(resolve_url(database_url), work)
    click.echo(f"Đã tạo {created} tài khoản, đã khoá {disabled} tài khoản.")


@accounts.command("list")
@database_url_option
def list_command(database_url: str | None) -> None:
    """Liệt kê tài khoản: mã cán bộ, vai trò, đơn vị, đã đặt mật khẩu chưa, còn hoạt động không."""
    rows = run_with_engine(resolve_url(database_url), store.list_accounts)
    for row in rows:
        state = "hoạt động" if row.enabled else "đã khoá"
        password = "có mật khẩu" if row.password_hash else "chưa đặt mật khẩu"
        click.echo(f"{row.id}\t{row.role}\tnhánh {row.branch}\t{password}\t{state}")


@accounts.command("set-password")
@click.argument("officer_id")
@_rota_option
@database_url_option
def set_password(officer_id: str, rota_path: Path, database_url: str | None) -> None:
    """Đặt mật khẩu cho cán bộ OFFICER_ID (mật khẩu được hỏi, không hiện)."""
    rota = _load(rota_path)
    if rota.officer(officer_id) is None:
        raise click.ClickException(f"{rota_path}: không có cán bộ mã «{officer_id[:64]}»")
    password = click.prompt("Mật khẩu", hide_input=True, confirmation_prompt="Nhập lại mật khẩu")
    if len(password) < MIN_PASSWORD:
        raise click.ClickException(f"mật khẩu phải dài ít nhất {MIN_PASSWORD} ký tự")
    encoded = hash_password(password)

    async def work(engine: AsyncEngine) -> bool:
        now = datetime.now(UTC)
        await store.sync_with_rota(engine, rota, now)
        return await store.set_password(engine, officer_id, encoded, now)

    if not run_with_engine(resolve_url(database_url), work):
        raise click.ClickException(f"tài khoản «{officer_id}» đã bị khoá")
    click.echo(f"Đã đặt mật khẩu cho «{officer_id}»; các phiên đăng nhập cũ đã bị thu hồi.")


@accounts.command("send-link")
@click.argument("officer_id")
@_rota_option
@database_url_option
def send_link(officer_id: str, rota_path: Path, database_url: str | None) -> None:
    """Gửi thư điện tử chứa đường dẫn đặt mật khẩu dùng một lần (24 giờ) tới e-mail của cán bộ."""
    from callrouter.errors import ReportError  # noqa: PLC0415 (mail imports only when used)
    from callrouter.report.send import send_message  # noqa: PLC0415
    from callrouter.report.settings import ReportSettings  # noqa: PLC0415
    from callrouter.web.settings import WebSettings  # noqa: PLC0415

    rota = _load(rota_path)
    officer = rota.officer(officer_id)
    if officer is None:
        raise click.ClickException(f"{rota_path}: không có cán bộ mã «{officer_id[:64]}»")
    if officer.email is None:
        raise click.ClickException(
            f"{rota_path}: cán bộ «{officer_id}» chưa có e-mail hợp lệ trong lịch trực; "
            "hãy thêm e-mail rồi gửi lại đường dẫn"
        )
    email = officer.email
    base = WebSettings().public_url.rstrip("/")
    if not base:
        raise click.ClickException("chưa đặt CALLROUTER_WEB_PUBLIC_URL: không tạo được đường dẫn")
    mail = ReportSettings()

    async def work(engine: AsyncEngine) -> None:
        now = datetime.now(UTC)
        await store.sync_with_rota(engine, rota, now)
        token = await store.issue_link(engine, officer_id, now, LINK_VALID)
        if token is None:
            raise click.ClickException(f"tài khoản «{officer_id}» đã bị khoá")
        msg = EmailMessage()
        msg["From"] = mail.mail_from
        msg["To"] = email
        msg["Subject"] = "Đặt mật khẩu đăng nhập đường dây 1022"
        msg.set_content(
            f"Chào {officer.name},\n\nMở đường dẫn sau trong 24 giờ để đặt mật khẩu đăng nhập "
            f"(mã cán bộ: {officer_id}). Đường dẫn chỉ dùng được một lần.\n\n"
            f"{base}/dat-mat-khau/{token}\n"
        )
        try:
            await send_message(msg, mail)
        except ReportError as exc:
            raise click.ClickException(str(exc)) from None

    run_with_engine(resolve_url(database_url), work)
    click.echo(f"Đã gửi đường dẫn đặt mật khẩu tới e-mail của «{officer_id}».")
