"""``callrouter web …``: helpers for the admin web's settings (password hashes, feed tokens).

Attached to the main CLI as ``web`` (``callrouter.cli``), and runnable on its own as
``python -m callrouter.web``.
"""

from __future__ import annotations

import json

import click

from callrouter.web.security import MIN_PASSWORD, hash_password, new_token


@click.group("web")
def web() -> None:
    """Trang quản trị: tạo mã băm mật khẩu và mã bí mật cho lịch trực."""


@web.command("hash-password")
@click.option("--user", default=None, help="Also print the CALLROUTER_WEB_USERS line for USER.")
def hash_password_command(user: str | None) -> None:
    """Băm mật khẩu (scrypt) để đặt vào CALLROUTER_WEB_USERS. Mật khẩu được hỏi, không hiện."""
    password = click.prompt("Mật khẩu", hide_input=True, confirmation_prompt="Nhập lại mật khẩu")
    if len(password) < MIN_PASSWORD:
        raise click.ClickException(f"mật khẩu phải dài ít nhất {MIN_PASSWORD} ký tự")
    encoded = hash_password(password)
    if user:
        click.echo("CALLROUTER_WEB_USERS=" + json.dumps({user: encoded}))
    else:
        click.echo(encoded)


@web.command("feed-token")
def feed_token() -> None:
    """Tạo một mã bí mật ngẫu nhiên cho đường dẫn lịch trực (CALLROUTER_WEB_FEEDS)."""
    click.echo(new_token())


@web.command("secret")
def session_secret() -> None:
    """Tạo khóa ký phiên đăng nhập (CALLROUTER_WEB_SESSION_SECRET)."""
    click.echo(new_token())
