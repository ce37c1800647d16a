"""A caller's history and an officer's unfinished calls, as the officer's screen reads them.

* :func:`caller_history`: the earlier calls from one number (most recent first, one page of
  at most ``limit`` with a cursor to the next) and the cases raised from that number (through
  its calls or its call-backs), with the totals. Every query is bounded: a number with
  thousands of calls costs one page, not thousands of rows.
* :func:`record_history_view`: the audit entry that someone opened a caller's history — a
  ``history_viewed`` row in the call's own audit trail (``call_events``: who, how many calls
  and cases were shown). It is written only when the call is in the log, so the entry always
  names a call; ``privacy export`` of the number lists it, ``privacy erase`` removes it with
  the call.
* :func:`calls_to_finish`: the calls an officer answered that have no case recorded yet (the
  "to finish" list), most recent first, bounded.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.store.models import call_events, callbacks, calls, cases

HISTORY_PAGE = 20
HISTORY_CASES = 20
MAX_PAGE = 100
HISTORY_EVENT = "history_viewed"


@dataclass(frozen=True)
class PastCall:
    id: str
    started_at: datetime
    outcome: str | None
    answered_officer_name: str | None
    wait_seconds: float | None
    talk_seconds: float | None


@dataclass(frozen=True)
class PastCase:
    id: str
    ref_seq: int
    ref_year: int
    opened_at: datetime
    kind: str
    topic: str | None
    status: str
    summary: str | None
    call_id: str | None

    @property
    def ref(self) -> str:
        return f"{self.ref_seq}/{self.ref_year}"


@dataclass(frozen=True)
class CallerHistory:
    calls: list[PastCall]
    cases: list[PastCase]
    total_calls: int
    total_cases: int
    #: the cursor of the next (older) page of calls, ``None`` on the last page
    next_before: datetime | None


def _number_calls(number: str, branch: int | None) -> sa.ColumnElement[bool]:
    clause = calls.c.caller == number
    return clause if branch is None else sa.and_(clause, calls.c.branch == branch)


async def caller_history(
    engine: AsyncEngine,
    number: str,
    *,
    exclude_call_id: str | None = None,
    branch: int | None = None,
    before: datetime | None = None,
    limit: int = HISTORY_PAGE,
) -> CallerHistory:
    """The history of ``number`` (``branch``: that unit's only; ``before``: calls that
    started before it, the next page; ``exclude_call_id``: the call now up)."""
    limit = max(1, min(limit, MAX_PAGE))
    where = _number_calls(number, branch)
    if exclude_call_id is not None:
        where = sa.and_(where, calls.c.id != exclude_call_id)
    page_where = where if before is None else sa.and_(where, calls.c.started_at < before)
    call_query = (
        sa.select(
            calls.c.id,
            calls.c.started_at,
            calls.c.outcome,
            calls.c.answered_officer_name,
            calls.c.wait_seconds,
            calls.c.talk_seconds,
        )
        .where(page_where)
        .order_by(calls.c.started_at.desc(), calls.c.id)
        .limit(limit + 1)
    )
    from_number = sa.or_(
        cases.c.call_id.in_(sa.select(calls.c.id).where(_number_calls(number, branch))),
        cases.c.callback_id.in_(sa.select(callbacks.c.id).where(callbacks.c.number == number)),
    )
    case_where = from_number if branch is None else sa.and_(from_number, cases.c.branch == branch)
    case_query = (
        sa.select(
            cases.c.id,
            cases.c.ref_seq,
            cases.c.ref_year,
            cases.c.opened_at,
            cases.c.kind,
            cases.c.topic,
            cases.c.status,
            cases.c.summary,
            cases.c.call_id,
        )
        .where(case_where)
        .order_by(cases.c.opened_at.desc(), cases.c.id)
        .limit(HISTORY_CASES)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(call_query)).all()
        count = sa.select(sa.func.count()).where(where)
        total_calls = int((await conn.execute(count)).scalar_one())
        case_rows = (await conn.execute(case_query)).all()
        total_cases = int(
            (await conn.execute(sa.select(sa.func.count()).where(case_where))).scalar_one()
        )
    page = [PastCall(*r) for r in rows[:limit]]
    return CallerHistory(
        calls=page,
        cases=[PastCase(*r) for r in case_rows],
        total_calls=total_calls,
        total_cases=total_cases,
        next_before=page[-1].started_at if len(rows) > limit else None,
    )


async def record_history_view(
    engine: AsyncEngine, call_id: str, *, by: str, at: datetime, shown_calls: int, shown_cases: int
) -> bool:
    """Write the audit entry that ``by`` opened the history of the caller of ``call_id``.
    False (nothing written) when that call is not in the log yet."""
    data = {"by": by[:100], "calls": shown_calls, "cases": shown_cases}
    values = sa.select(
        calls.c.id,
        sa.literal(at, call_events.c.at.type),
        sa.literal(HISTORY_EVENT, call_events.c.type.type),
        sa.literal(data, call_events.c.data.type),
        sa.literal(f"web-history:{uuid.uuid4().hex}", call_events.c.record_id.type),
    ).where(calls.c.id == call_id)
    statement = sa.insert(call_events).from_select(
        ["call_id", "at", "type", "data", "record_id"], values
    )
    async with engine.begin() as conn:
        result = await conn.execute(statement)
    return result.rowcount == 1


@dataclass(frozen=True)
class CallToFinish:
    id: str
    caller: str | None
    started_at: datetime
    talk_seconds: float | None
    answered_number: str | None


async def calls_to_finish(
    engine: AsyncEngine,
    *,
    officer_id: str | None,
    branch: int,
    since: datetime,
    limit: int = 50,
) -> list[CallToFinish]:
    """Answered calls since ``since`` without a case (``officer_id``: answered by them;
    ``None``: by anyone of the unit), most recent first."""
    where = sa.and_(
        calls.c.branch == branch,
        calls.c.outcome == "answered",
        calls.c.started_at >= since,
        ~sa.exists().where(cases.c.call_id == calls.c.id),
    )
    if officer_id is not None:
        where = sa.and_(where, calls.c.answered_officer_id == officer_id)
    query = (
        sa.select(
            calls.c.id,
            calls.c.caller,
            calls.c.started_at,
            calls.c.talk_seconds,
            calls.c.answered_number,
        )
        .where(where)
        .order_by(calls.c.started_at.desc())
        .limit(limit)
    )
    async with engine.connect() as conn:
        return [CallToFinish(*r) for r in await conn.execute(query)]
