"""Privacy: remove personal data past the retention period, keep the anonymous counts.

Past the cut-off:

* ``calls.caller`` becomes NULL (the call row, its outcome, times, officer and the
  classification stay: the monthly reports count them);
* call-backs lose their number, and their message recordings are deleted from disk;
* ``call_events.data`` is replaced by ``{"purged": true}`` (an audit entry may quote a
  number); its type and time stay;
* cases lose their free text (summary, answer, result, history values): see
  :func:`callrouter.store.cases.purge_case_texts`.

Nothing is logged with a number in it.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.logs import get_logger
from callrouter.store.cases import purge_case_texts
from callrouter.store.models import call_events, callbacks, calls

log = get_logger(__name__)

PURGED_EVENT_DATA = {"purged": True}


@dataclass(frozen=True)
class PurgeResult:
    cutoff: datetime
    callers_removed: int
    callback_numbers_removed: int
    recordings_deleted: int
    recordings_missing: int
    events_emptied: int
    case_texts_removed: int = 0


def _delete_recording(path_text: str) -> bool:
    """Delete a recording (and ``name.*`` if it was stored without extension)."""
    path = Path(path_text)
    candidates = [path] if path.suffix else [path, *path.parent.glob(path.name + ".*")]
    deleted = False
    for candidate in candidates:
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            if candidate.is_file():
                candidate.unlink()
                deleted = True
    return deleted


async def purge(
    engine: AsyncEngine, *, older_than_days: int, now: datetime, dry_run: bool = False
) -> PurgeResult:
    """Remove personal data of calls and call-backs older than ``older_than_days``."""
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1")
    cutoff = now - timedelta(days=older_than_days)
    c, cb, ev = calls.c, callbacks.c, call_events.c
    old_callers = and_(c.started_at < cutoff, c.caller.is_not(None))
    old_callbacks = and_(
        cb.created_at < cutoff, or_(cb.number.is_not(None), cb.recording.is_not(None))
    )
    old_events = ev.at < cutoff
    async with engine.begin() as conn:
        callers = (
            await conn.execute(select(func.count()).select_from(calls).where(old_callers))
        ).scalar_one()
        to_clear = (await conn.execute(select(cb.id, cb.recording).where(old_callbacks))).all()
        events = (
            await conn.execute(select(func.count()).select_from(call_events).where(old_events))
        ).scalar_one()
        deleted = missing = 0
        if not dry_run:
            for _, recording in to_clear:
                if recording:
                    if await asyncio.to_thread(_delete_recording, recording):
                        deleted += 1
                    else:
                        missing += 1
            await conn.execute(update(calls).where(old_callers).values(caller=None))
            await conn.execute(
                update(callbacks).where(old_callbacks).values(number=None, recording=None)
            )
            await conn.execute(update(call_events).where(old_events).values(data=PURGED_EVENT_DATA))
        # Cases (issue 17): their own rules, in the same transaction.
        case_texts = await purge_case_texts(conn, cutoff, dry_run=dry_run)
    result = PurgeResult(
        cutoff=cutoff,
        callers_removed=int(callers),
        callback_numbers_removed=len(to_clear),
        recordings_deleted=deleted,
        recordings_missing=missing,
        events_emptied=int(events),
        case_texts_removed=case_texts,
    )
    log.info("purge", dry_run=dry_run, **{k: str(v) for k, v in result.__dict__.items()})
    return result
