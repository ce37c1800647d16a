"""One call read back whole by its caller's number: the ``calls`` row, its ``call_attempts`` in
order and the reasons of its call-backs (``callrouter demo`` checks each scene's call with it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.store.models import call_attempts, callbacks, calls


@dataclass(frozen=True)
class CallReadback:
    call: dict[str, Any] | None  # None: no row for that caller (yet)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    callbacks: list[str] = field(default_factory=list)  # their reasons

    @property
    def finished(self) -> bool:
        """The outcome and every attempt's end are written."""
        return (
            self.call is not None
            and self.call["outcome"] is not None
            and all(a["ended_at"] is not None for a in self.attempts)
        )


async def call_of_caller(engine: AsyncEngine, caller: str) -> CallReadback:
    """The first call of ``caller`` with its attempts and call-back reasons."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(calls).where(calls.c.caller == caller))).first()
        if row is None:
            return CallReadback(None)
        attempts = await conn.execute(
            select(call_attempts)
            .where(call_attempts.c.call_id == row.id)
            .order_by(call_attempts.c.seq)
        )
        reasons = await conn.execute(
            select(callbacks.c.reason).where(callbacks.c.call_id == row.id)
        )
        return CallReadback(
            dict(row._mapping),
            [dict(a._mapping) for a in attempts.all()],
            [str(r) for r in reasons.scalars()],
        )
