"""The questions the restart repair asks of the call log (:mod:`callrouter.asterisk.stale`).

Which ARI calls are still open (no outcome), which of their attempts are still ringing or
talking, and which calls ended in the moment Asterisk restarted. The repair itself — asking
Asterisk what it still has and writing the ends — lives with the ARI door; only the reads
live here.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.calls.outcomes import Outcome
from callrouter.store.models import call_attempts, calls

_FINISHED_OUTCOMES = (Outcome.ANSWERED, Outcome.ABANDONED, Outcome.UNANSWERED)
"""Outcomes of calls that ended normally (``after_hours`` and ``failed`` are not touched)."""


@dataclass(frozen=True, slots=True)
class OpenCall:
    id: str
    linkedid: str
    answered_at: datetime | None
    answered_number: str | None


@dataclass(frozen=True, slots=True)
class OpenAttempt:
    call_id: str
    seq: int
    number: str


@dataclass(frozen=True, slots=True)
class EndedCall:
    linkedid: str
    ended_at: datetime
    hangup_cause: int | None


async def open_ari_calls_started_before(engine: AsyncEngine, cutoff: datetime) -> list[OpenCall]:
    """ARI calls without an outcome that started before ``cutoff``."""
    c = calls.c
    stmt = select(c.id, c.linkedid, c.answered_at, c.answered_number).where(
        c.outcome.is_(None), c.mode == "ari", c.started_at < cutoff
    )
    async with engine.connect() as conn:
        return [OpenCall(*row) for row in await conn.execute(stmt)]


async def open_attempts_of_calls(
    engine: AsyncEngine, call_ids: Collection[str]
) -> list[OpenAttempt]:
    """The attempts of these calls that have no end yet."""
    if not call_ids:
        return []
    a = call_attempts.c
    stmt = select(a.call_id, a.seq, a.number).where(
        a.call_id.in_(list(call_ids)), a.ended_at.is_(None)
    )
    async with engine.connect() as conn:
        return [OpenAttempt(*row) for row in await conn.execute(stmt)]


async def ari_calls_finished_between(
    engine: AsyncEngine, since: datetime, until: datetime
) -> list[EndedCall]:
    """ARI calls that ended normally (answered, abandoned, unanswered) in ``[since, until]``."""
    c = calls.c
    stmt = select(c.linkedid, c.ended_at, c.hangup_cause).where(
        c.mode == "ari",
        c.outcome.in_(_FINISHED_OUTCOMES),
        c.ended_at >= since,
        c.ended_at <= until,
    )
    async with engine.connect() as conn:
        return [EndedCall(*row) for row in await conn.execute(stmt)]
