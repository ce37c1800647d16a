"""Missed callers on the call-back list: one rule, applied where a call's end is written.

Every door (ARI, FastAGI, the fallback CDR import) writes a call's end through the call
log's applier (:func:`callrouter.store.apply.apply_plan`), which calls
:func:`apply_missed` in the same transaction. So whichever door a call came through:

* an ``abandoned`` call whose caller waited longer than the misdial threshold
  (``CALLROUTER_MISDIAL_SECONDS``; shorter is counted as a misdial, as the report does), or
  an ``unanswered`` call, becomes a call-back entry unless the call left a message (that
  already is one) (reason ``abandoned`` / ``unanswered``);
* one per number per unit per local day: the entry's id is derived from them, so a second
  missed call that day, a replay of the spool or a second writer adds nothing;
* an ``answered`` call from a number closes that number's open missed-call entries made
  before it (``done_by`` :data:`CLOSED_BY`);
* a message that arrives after its call's end was written (FastAGI reports the recording once
  the dialplan is done with it) withdraws the entry that call made: the message is its call-back
  (:func:`withdraw_missed`).

A call without a caller number is nobody to call back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import bindparam, delete, exists, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.store.models import callback_attempts, callbacks, calls

DEFAULT_MISDIAL_SECONDS: Final = 10
CLOSED_BY: Final = "callrouter: gọi lại tới và đã được trả lời"
MISSED_REASONS: Final = ("abandoned", "unanswered")
_NAMESPACE: Final = uuid.UUID("9a1c7e1e-5d0b-4c1a-8f0e-1022ca11bac4")
_CHUNK = 500

# Built once (a statement costs more CPU to build than to run; see store/apply.py).
_ENDED_CALLS: Final = select(
    calls.c.id,
    calls.c.branch,
    calls.c.caller,
    calls.c.outcome,
    calls.c.wait_seconds,
    calls.c.local_day,
    calls.c.started_at,
    calls.c.ended_at,
).where(calls.c.linkedid.in_(bindparam("linkedids", expanding=True)), calls.c.caller.is_not(None))
_WITH_CALLBACK: Final = select(callbacks.c.call_id).where(
    callbacks.c.call_id.in_(bindparam("call_ids", expanding=True))
)
#: an answered call closes its number's open missed-call entries made before it
_CLOSE_MISSED: Final = (
    update(callbacks)
    .where(
        callbacks.c.number == bindparam("b_number"),
        callbacks.c.done_at.is_(None),
        # (an IN list would be an expanding parameter, which an executemany cannot take)
        or_(*(callbacks.c.reason == reason for reason in MISSED_REASONS)),
        callbacks.c.recording.is_(None),
        callbacks.c.created_at < bindparam("b_started_at"),
    )
    .values(done_at=bindparam("b_done_at"), done_by=CLOSED_BY)
)


def missed_callback_id(branch: int, number: str, day: date) -> str:
    """The id of the one missed-call entry of ``number`` on ``day`` (local) in ``branch``."""
    return str(uuid.uuid5(_NAMESPACE, f"{branch}|{number}|{day.isoformat()}"))


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def apply_missed(
    conn: Connection,
    ended: list[str],
    planned_callback_calls: set[str],
    misdial_seconds: float,
    insert_new: Any,
) -> None:
    """Apply the rule to the calls (by linkedid) whose end this batch wrote.

    ``planned_callback_calls``: call ids that got a call-back (a message) in this batch;
    ``insert_new``: the dialect's ``INSERT … ON CONFLICT (id) DO NOTHING`` for ``callbacks``."""
    rows: list[Any] = []
    for chunk in _chunks(ended):
        rows.extend((conn.execute(_ENDED_CALLS, {"linkedids": chunk})).all())
    if not rows:
        return
    unanswered = [row.id for row in rows if row.outcome in MISSED_REASONS]
    with_message = set(planned_callback_calls)
    for chunk in _chunks(unanswered):
        with_message.update((conn.execute(_WITH_CALLBACK, {"call_ids": chunk})).scalars())
    new: dict[str, dict[str, Any]] = {}
    for row in rows:
        missed = row.id not in with_message and (
            row.outcome == "unanswered"
            or (row.outcome == "abandoned" and (row.wait_seconds or 0) > misdial_seconds)
        )
        if missed:
            entry_id = missed_callback_id(row.branch, row.caller, row.local_day)
            new.setdefault(
                entry_id,
                {
                    "id": entry_id,
                    "call_id": row.id,
                    "number": row.caller,
                    "reason": row.outcome,
                    "created_at": row.ended_at or row.started_at,
                    "recording": None,
                },
            )
    if new:
        conn.execute(insert_new, list(new.values()))
    # After the inserts: a later answered call in the same batch closes an entry made in it
    # (the rows in turn, as they were read).
    closing = [
        {
            "b_number": row.caller,
            "b_started_at": row.started_at,
            "b_done_at": row.ended_at or row.started_at,
        }
        for row in rows
        if row.outcome == "answered"
    ]
    if closing:
        conn.execute(_CLOSE_MISSED, closing)


def withdraw_missed(conn: Connection, messages: dict[str, str]) -> None:
    """Drop the missed-call entries that the calls in ``messages`` (call id -> the id of the
    message's call-back) made before their message was written. An entry someone has started
    on (closed, or a try recorded) stays."""
    if not messages:
        return
    for chunk in _chunks(sorted(messages)):
        conn.execute(
            delete(callbacks).where(
                callbacks.c.call_id.in_(chunk),
                callbacks.c.id.not_in([messages[c] for c in chunk]),
                callbacks.c.reason.in_(MISSED_REASONS),
                callbacks.c.recording.is_(None),
                callbacks.c.done_at.is_(None),
                ~exists().where(callback_attempts.c.callback_id == callbacks.c.id),
            )
        )


@dataclass(frozen=True)
class MissedCall:
    """An open missed-call entry with its call."""

    callback_id: str
    number: str
    reason: str
    started_at: datetime
    wait_seconds: float | None


@dataclass(frozen=True)
class OpenCallback:
    number: str
    reason: str
    created_at: datetime


async def open_missed_calls(
    engine: AsyncEngine, branch: int, since: datetime, until: datetime
) -> list[MissedCall]:
    """The unit's open missed-call entries made from ``since`` to ``until``, oldest first."""
    cb, c = callbacks.c, calls.c
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(cb.id, cb.number, cb.reason, c.started_at, c.wait_seconds)
            .join(calls, c.id == cb.call_id)
            .where(
                cb.reason.in_(MISSED_REASONS),
                cb.created_at >= since,
                cb.created_at <= until,
                cb.done_at.is_(None),
                cb.number.is_not(None),
                c.branch == branch,
            )
            .order_by(cb.created_at, cb.id)
        )
        return [MissedCall(*row) for row in rows]


async def open_callbacks_of_unit(engine: AsyncEngine, branch: int) -> list[OpenCallback]:
    """The unit's call-backs not done yet (a number to call), oldest first; entries without a
    call (made by hand) count for every unit."""
    cb, c = callbacks.c, calls.c
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(cb.number, cb.reason, cb.created_at)
            .outerjoin(calls, c.id == cb.call_id)
            .where(
                cb.done_at.is_(None),
                cb.number.is_not(None),
                or_(cb.call_id.is_(None), c.branch == branch),
            )
            .order_by(cb.created_at)
        )
        return [OpenCallback(*row) for row in rows]
