"""Bearer tokens of the read-only JSON API (table ``api_tokens``, migration 0009).

A token is shown once when issued; only its SHA-256 is stored. Each use updates
``last_used_at`` and ``uses`` (and the web logs it); a revoked token is refused.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.store.models import api_tokens

MAX_TOKEN = 100
MAX_NAME = 100


@dataclass(frozen=True)
class ApiTokenRow:
    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    uses: int


def _key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def issue_token(engine: AsyncEngine, name: str, now: datetime) -> str:
    """A new token named ``name`` (names are unique among tokens not revoked)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise ValueError(f"a token's name must be 1 to {MAX_NAME} characters")
    if any(row.name == name and row.revoked_at is None for row in await list_tokens(engine)):
        raise ValueError(f"a token named {name!r} is already in use (revoke it first)")
    token = "cr_" + secrets.token_urlsafe(32)
    async with engine.begin() as conn:
        await conn.execute(
            api_tokens.insert().values(id=_key(token), name=name, created_at=now, uses=0)
        )
    return token


async def list_tokens(engine: AsyncEngine) -> list[ApiTokenRow]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                api_tokens.c.name,
                api_tokens.c.created_at,
                api_tokens.c.revoked_at,
                api_tokens.c.last_used_at,
                api_tokens.c.uses,
            ).order_by(api_tokens.c.created_at)
        )
        return [ApiTokenRow(*row) for row in rows]


async def revoke_token(engine: AsyncEngine, name: str, now: datetime) -> int:
    """Revoke the live token(s) named ``name``; how many were revoked."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(api_tokens)
            .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    return int(result.rowcount)


async def use_token(engine: AsyncEngine, token: str, now: datetime) -> str | None:
    """The name of the live token ``token`` (its use counted), or ``None``."""
    if not token or len(token) > MAX_TOKEN:
        return None
    key = _key(token)
    async with engine.begin() as conn:
        row = (
            await conn.execute(
                select(api_tokens.c.name).where(
                    api_tokens.c.id == key, api_tokens.c.revoked_at.is_(None)
                )
            )
        ).one_or_none()
        if row is None:
            return None
        await conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == key)
            .values(last_used_at=now, uses=api_tokens.c.uses + 1)
        )
    return str(row.name)
