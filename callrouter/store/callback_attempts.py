"""Tries at calling a caller back (table ``callback_attempts``, migration 0009).

Each try records how it went: ``reached`` and ``wrong_number`` close the call-back (nobody
left to call), ``no_answer`` leaves it open for the next try.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.calls.outcomes import CallbackTry
from callrouter.store.models import CALLBACK_OUTCOMES, callback_attempts, callbacks

CLOSING_OUTCOMES = frozenset({CallbackTry.REACHED, CallbackTry.WRONG_NUMBER})


@dataclass(frozen=True)
class AttemptOutcome:
    at: datetime
    by: str
    outcome: str


async def record_attempt(
    engine: AsyncEngine, callback_id: str, *, outcome: str, by: str, at: datetime
) -> bool:
    """Record a try at an open call-back; False when it is unknown or already closed."""
    if outcome not in CALLBACK_OUTCOMES:
        raise ValueError(f"unknown call-back outcome {outcome!r}")
    async with engine.begin() as conn:
        still_open = (
            await conn.execute(
                select(callbacks.c.id).where(
                    callbacks.c.id == callback_id, callbacks.c.done_at.is_(None)
                )
            )
        ).one_or_none()
        if still_open is None:
            return False
        await conn.execute(
            callback_attempts.insert().values(
                callback_id=callback_id, at=at, by=by[:100], outcome=outcome
            )
        )
        if outcome in CLOSING_OUTCOMES:
            await conn.execute(
                update(callbacks)
                .where(callbacks.c.id == callback_id, callbacks.c.done_at.is_(None))
                .values(done_at=at, done_by=by[:100])
            )
    return True


async def attempts_of(
    engine: AsyncEngine, callback_ids: list[str]
) -> dict[str, list[AttemptOutcome]]:
    """The tries of these call-backs, oldest first."""
    found: dict[str, list[AttemptOutcome]] = defaultdict(list)
    if not callback_ids:
        return found
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                callback_attempts.c.callback_id,
                callback_attempts.c.at,
                callback_attempts.c.by,
                callback_attempts.c.outcome,
            )
            .where(callback_attempts.c.callback_id.in_(callback_ids))
            .order_by(callback_attempts.c.at, callback_attempts.c.id)
        )
        for row in rows:
            found[row.callback_id].append(AttemptOutcome(row.at, row.by, row.outcome))
    return found
