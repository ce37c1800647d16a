"""Officers' own web accounts (table ``accounts``, migration 0009).

An account is keyed to a rota officer id. The rota is the source of who may log in:
:func:`sync_with_rota` creates the accounts of new officers (no password yet), enables the
ones back on the rota and disables those who left it, revoking their sessions; their row
stays so the cases they worked on still name them. Passwords are scrypt hashes made by
:mod:`callrouter.web.security`; the store keeps what it is given. A one-time set-password
link holds a random token; only its SHA-256 is stored, with an expiry.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callrouter.rota import Rota
from callrouter.store.models import accounts, web_sessions

MAX_LINK_TOKEN = 100  # a presented link token longer than this is not one of ours


@dataclass(frozen=True)
class AccountRow:
    id: str
    role: str
    branch: int
    email: str | None
    password_hash: str | None
    enabled: bool


_COLUMNS = (
    accounts.c.id,
    accounts.c.role,
    accounts.c.branch,
    accounts.c.email,
    accounts.c.password_hash,
    accounts.c.enabled,
)


def _link_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def get_account(engine: AsyncEngine, officer_id: str) -> AccountRow | None:
    if not officer_id or len(officer_id) > 64:
        return None
    async with engine.connect() as conn:
        row = (
            await conn.execute(select(*_COLUMNS).where(accounts.c.id == officer_id))
        ).one_or_none()
    return None if row is None else AccountRow(*row)


async def list_accounts(engine: AsyncEngine) -> list[AccountRow]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(*_COLUMNS).order_by(accounts.c.id))).all()
    return [AccountRow(*row) for row in rows]


async def _revoke_sessions(conn: AsyncConnection, officer_id: str) -> None:
    await conn.execute(delete(web_sessions).where(web_sessions.c.user_name == officer_id))


async def sync_with_rota(engine: AsyncEngine, rota: Rota, now: datetime) -> tuple[int, int]:
    """Make the accounts match the rota's officers; returns (created, disabled)."""
    on_rota = {officer.id: officer for officer in rota.officers}
    created = disabled = 0
    async with engine.begin() as conn:
        existing = {
            row.id: row
            for row in (
                await conn.execute(select(accounts.c.id, accounts.c.enabled, accounts.c.email))
            ).all()
        }
        for officer_id, officer in on_rota.items():
            row = existing.get(officer_id)
            if row is None:
                await conn.execute(
                    accounts.insert().values(
                        id=officer_id,
                        role="officer",
                        branch=rota.branch,
                        email=officer.email,
                        password_hash=None,
                        enabled=True,
                        created_at=now,
                        updated_at=now,
                    )
                )
                created += 1
            elif not row.enabled or row.email != officer.email:
                await conn.execute(
                    update(accounts)
                    .where(accounts.c.id == officer_id)
                    .values(
                        enabled=True,
                        disabled_at=None,
                        email=officer.email,
                        branch=rota.branch,
                        updated_at=now,
                    )
                )
        for officer_id, row in existing.items():
            if officer_id not in on_rota and row.enabled:
                await disable(conn, officer_id, now)
                disabled += 1
    return created, disabled


async def disable(conn: AsyncConnection, officer_id: str, now: datetime) -> None:
    """Disable an account and revoke its sessions (its row and history stay)."""
    await conn.execute(
        update(accounts)
        .where(accounts.c.id == officer_id)
        .values(enabled=False, disabled_at=now, updated_at=now, link_key=None, link_expires=None)
    )
    await _revoke_sessions(conn, officer_id)


async def disable_account(engine: AsyncEngine, officer_id: str, now: datetime) -> None:
    async with engine.begin() as conn:
        await disable(conn, officer_id, now)


async def set_password(engine: AsyncEngine, officer_id: str, encoded: str, now: datetime) -> bool:
    """Store a new password hash for an enabled account (its old sessions are revoked);
    False when there is no such enabled account."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(accounts)
            .where(accounts.c.id == officer_id, accounts.c.enabled.is_(True))
            .values(password_hash=encoded, updated_at=now, link_key=None, link_expires=None)
        )
        if result.rowcount != 1:
            return False
        await _revoke_sessions(conn, officer_id)
    return True


async def issue_link(
    engine: AsyncEngine, officer_id: str, now: datetime, valid: timedelta
) -> str | None:
    """A one-time set-password token for an enabled account (``None``: no such account)."""
    token = secrets.token_urlsafe(32)
    async with engine.begin() as conn:
        result = await conn.execute(
            update(accounts)
            .where(accounts.c.id == officer_id, accounts.c.enabled.is_(True))
            .values(link_key=_link_key(token), link_expires=now + valid, updated_at=now)
        )
    return token if result.rowcount == 1 else None


async def link_account(engine: AsyncEngine, token: str, now: datetime) -> str | None:
    """The officer id a still-valid one-time link token belongs to."""
    if not token or len(token) > MAX_LINK_TOKEN:
        return None
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(accounts.c.id, accounts.c.link_expires).where(
                    accounts.c.link_key == _link_key(token), accounts.c.enabled.is_(True)
                )
            )
        ).one_or_none()
    if row is None or row.link_expires is None or row.link_expires <= now:
        return None
    return str(row.id)


async def redeem_link(engine: AsyncEngine, token: str, encoded: str, now: datetime) -> str | None:
    """Set the password of the link's account and spend the link; its officer id or None."""
    officer_id = await link_account(engine, token, now)
    if officer_id is None:
        return None
    async with engine.begin() as conn:
        result = await conn.execute(
            update(accounts)
            .where(accounts.c.id == officer_id, accounts.c.link_key == _link_key(token))
            .values(password_hash=encoded, updated_at=now, link_key=None, link_expires=None)
        )
        if result.rowcount != 1:
            return None  # spent by a concurrent request
        await _revoke_sessions(conn, officer_id)
    return officer_id
