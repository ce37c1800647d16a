"""A case's status for the read-only API: found only by its reference AND the caller's
number (the number of the call or call-back the case was opened on), so references cannot
be enumerated. One query whether or not the reference exists; status only, no content."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.store.models import callbacks, calls, cases


@dataclass(frozen=True)
class CaseStatus:
    status: str
    deadline: date
    closed_on: date | None


async def case_status(
    engine: AsyncEngine, *, branch: int, ref: tuple[int, int], numbers: tuple[str, ...]
) -> CaseStatus | None:
    query = (
        select(cases.c.status, cases.c.deadline, cases.c.closed_on)
        .select_from(
            cases.outerjoin(calls, calls.c.id == cases.c.call_id).outerjoin(
                callbacks, callbacks.c.id == cases.c.callback_id
            )
        )
        .where(
            cases.c.branch == branch,
            cases.c.ref_seq == ref[0],
            cases.c.ref_year == ref[1],
            or_(calls.c.caller.in_(numbers), callbacks.c.number.in_(numbers)),
        )
        .limit(1)
    )
    async with engine.connect() as conn:
        row = (await conn.execute(query)).one_or_none()
    return None if row is None else CaseStatus(*row)
