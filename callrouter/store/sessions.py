"""The admin web's server-side sessions (table ``web_sessions``, migration 0005).

The browser's cookie holds a random token; the table holds only its SHA-256
(:func:`session_key`), so a copy of the database does not hold live sessions. The web
room decides what is expired or revoked; these are the reads and writes it needs.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.store.models import web_sessions

MAX_TOKEN = 100  # a presented token longer than this is not one of ours


@dataclass(frozen=True)
class WebSessionRow:
    key: str
    user_name: str
    credential: str
    created_at: datetime
    seen_at: datetime


def session_key(token: str) -> str:
    """The stored id of the session whose cookie holds ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


async def open_session(engine: AsyncEngine, *, user: str, credential: str, now: datetime) -> str:
    """A new session for ``user``; returns the token for the cookie (never stored)."""
    token = secrets.token_urlsafe(32)
    async with engine.begin() as conn:
        await conn.execute(
            web_sessions.insert().values(
                id=session_key(token),
                user_name=user,
                credential=credential,
                created_at=now,
                seen_at=now,
            )
        )
    return token


async def find_session(engine: AsyncEngine, token: str) -> WebSessionRow | None:
    if not token or len(token) > MAX_TOKEN:
        return None
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(
                    web_sessions.c.id,
                    web_sessions.c.user_name,
                    web_sessions.c.credential,
                    web_sessions.c.created_at,
                    web_sessions.c.seen_at,
                ).where(web_sessions.c.id == session_key(token))
            )
        ).one_or_none()
    return None if row is None else WebSessionRow(*row)


async def touch_session(engine: AsyncEngine, key: str, now: datetime) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(web_sessions).where(web_sessions.c.id == key).values(seen_at=now))


async def close_session(engine: AsyncEngine, key: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(web_sessions).where(web_sessions.c.id == key))


async def purge_sessions(
    engine: AsyncEngine, *, seen_before: datetime, created_before: datetime
) -> int:
    """Delete sessions idle since ``seen_before`` or opened before ``created_before``."""
    async with engine.begin() as conn:
        result = await conn.execute(
            delete(web_sessions).where(
                or_(
                    web_sessions.c.seen_at < seen_before,
                    web_sessions.c.created_at < created_before,
                )
            )
        )
    return int(result.rowcount)
