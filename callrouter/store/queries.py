"""Reads and small admin writes on the call log (the CLI and the web room use these)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.errors import StoreError
from callrouter.store.models import callbacks, calls


class NotFound(StoreError):
    """No row with that id."""


class InvalidValue(StoreError, ValueError):
    """A value outside its allowed set (category, resolution, outcome)."""


CALL_COLUMNS = (
    "id",
    "linkedid",
    "started_at",
    "local_day",
    "local_hour",
    "caller",
    "outcome",
    "answered_officer_id",
    "answered_officer_name",
    "answered_number",
    "wait_seconds",
    "talk_seconds",
    "mode",
    "category",
    "resolution",
)
CALLBACK_COLUMNS = (
    "id",
    "call_id",
    "number",
    "reason",
    "created_at",
    "recording",
    "done_by",
    "done_at",
    "outbound_linkedid",
)


@dataclass(frozen=True)
class CallFilter:
    since: date | None = None  # local day, inclusive
    until: date | None = None  # local day, inclusive
    outcome: str | None = None
    caller: str | None = None
    branch: int | None = None
    limit: int | None = None


async def list_calls(engine: AsyncEngine, flt: CallFilter) -> list[dict[str, Any]]:
    """Calls matching ``flt``, oldest first (by their local day and start)."""
    c = calls.c
    stmt = select(*(c[name] for name in CALL_COLUMNS)).order_by(c.started_at, c.id)
    if flt.since is not None:
        stmt = stmt.where(c.local_day >= flt.since)
    if flt.until is not None:
        stmt = stmt.where(c.local_day <= flt.until)
    if flt.outcome is not None:
        stmt = stmt.where(c.outcome == flt.outcome)
    if flt.caller is not None:
        stmt = stmt.where(c.caller == flt.caller)
    if flt.branch is not None:
        stmt = stmt.where(c.branch == flt.branch)
    if flt.limit is not None:
        stmt = stmt.limit(flt.limit)
    async with engine.connect() as conn:
        result = await conn.execute(stmt)
        return [dict(row._mapping) for row in result]


async def list_callbacks(
    engine: AsyncEngine, *, include_done: bool = False
) -> list[dict[str, Any]]:
    """Call-backs, oldest first; only those still to do unless ``include_done``."""
    cb = callbacks.c
    stmt = select(*(cb[name] for name in CALLBACK_COLUMNS)).order_by(cb.created_at, cb.id)
    if not include_done:
        stmt = stmt.where(cb.done_at.is_(None))
    async with engine.connect() as conn:
        return [dict(row._mapping) for row in await conn.execute(stmt)]


async def mark_callback_done(
    engine: AsyncEngine,
    callback_id: str,
    *,
    by: str,
    at: datetime,
    outbound_linkedid: str | None = None,
) -> None:
    """Record that an officer called the caller back."""
    cb = callbacks.c
    async with engine.begin() as conn:
        done_at = (await conn.execute(select(cb.done_at).where(cb.id == callback_id))).one_or_none()
        if done_at is None:
            raise NotFound(f"không tìm thấy yêu cầu gọi lại {callback_id!r}")
        await conn.execute(
            update(callbacks)
            .where(cb.id == callback_id)
            .values(done_by=by, done_at=at, outbound_linkedid=outbound_linkedid)
        )


@dataclass(frozen=True, slots=True)
class CallbackToDial:
    """What calling a caller back needs: the number, whether it is done, the missed call."""

    id: str
    number: str | None  # None: erased on a privacy request
    done_at: datetime | None
    call_id: str | None
    linkedid: str | None  # the missed call's (None: the call row was purged)


async def callback_to_dial(engine: AsyncEngine, callback_id: str) -> CallbackToDial:
    """The call-back ``callback_id`` with its missed call's linkedid; :class:`NotFound` if none."""
    cb = callbacks.c
    stmt = (
        select(cb.id, cb.number, cb.done_at, cb.call_id, calls.c.linkedid)
        .select_from(callbacks.outerjoin(calls, calls.c.id == cb.call_id))
        .where(cb.id == callback_id)
    )
    async with engine.connect() as conn:
        row = (await conn.execute(stmt)).one_or_none()
    if row is None:
        raise NotFound(f"không tìm thấy yêu cầu gọi lại {callback_id!r}")
    return CallbackToDial(*row)


async def note_callback_try(engine: AsyncEngine, callback_id: str, outbound_linkedid: str) -> None:
    """The open call-back ``callback_id`` was tried by the call ``outbound_linkedid`` (not
    reached: it stays open; a closed call-back keeps the call that closed it)."""
    cb = callbacks.c
    async with engine.begin() as conn:
        await conn.execute(
            update(callbacks)
            .where(cb.id == callback_id, cb.done_at.is_(None))
            .values(outbound_linkedid=outbound_linkedid)
        )


async def last_answering_officers(engine: AsyncEngine) -> dict[int, str]:
    """Who answered the last answered call of each branch (the rotation state)."""
    c = calls.c
    latest = (
        select(c.branch, func.max(c.answered_at).label("at"))
        .where(c.outcome == "answered", c.answered_officer_id.is_not(None))
        .group_by(c.branch)
        .subquery()
    )
    query = select(c.branch, c.answered_officer_id).join(
        latest, (c.branch == latest.c.branch) & (c.answered_at == latest.c.at)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return {int(branch): str(officer) for branch, officer in rows}
