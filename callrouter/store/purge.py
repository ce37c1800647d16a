"""Privacy: remove personal data past the retention period, keep the anonymous counts.

Past the cut-off:

* ``calls.caller`` becomes NULL (the call row, its outcome, times, officer and the
  classification stay: the monthly reports count them);
* call-backs lose their number, and their message recordings are deleted from the
  recordings directory (:mod:`callrouter.store.recordings` resolves each name inside it);
* ``call_events.data`` is replaced by ``{"purged": true}`` (an audit entry may quote a
  number); its type and time stay. A ``message_without_number`` event's recording is deleted
  first;
* cases lose their free text (summary, answer, result, history values): see
  :func:`callrouter.store.cases.purge_case_texts`.

A recording pointer is cleared only once its file is gone (deleted now, or already absent).
A name that is not a callrouter recording (an absolute path, ``..``, a glob…) is refused: its
file is left alone, the pointer kept, and the problem reported (no number in it), as is a
file that could not be deleted; the command then exits non-zero and the next run tries again.

The tables and columns covered are :data:`callrouter.store.privacy.PERSONAL_DATA`: a new
table holding a caller's number or free text about a caller must be added there (and
cleared here), or the coverage test fails. Nothing is logged with a number in it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callrouter.logs import get_logger
from callrouter.store.cases import purge_case_texts
from callrouter.store.models import call_events, callbacks, calls
from callrouter.store.recordings import RecordingRefused, delete_recording, resolve_recording

log = get_logger(__name__)

PURGED_EVENT_DATA: dict[str, Any] = {"purged": True}
MESSAGE_EVENT = "message_without_number"
_CHUNK = 500


@dataclass(frozen=True)
class RecordingProblem:
    """A recording that was not deleted: the row naming it, the name, and why."""

    table: str  # "callbacks" or "call_events"
    row_id: str
    name: str
    problem: str


@dataclass
class RecordingsOutcome:
    deleted: int = 0
    missing: int = 0
    problems: list[RecordingProblem] = field(default_factory=list)

    def failed(self, table: str) -> set[str]:
        """Ids of the ``table`` rows whose recording is still on disk."""
        return {p.row_id for p in self.problems if p.table == table}


def remove_recordings(
    base: Path, named: list[tuple[str, str, str]], *, dry_run: bool = False
) -> RecordingsOutcome:
    """Delete each ``(table, row id, name)`` recording inside ``base`` (blocking I/O); a dry
    run only reports the names that would be refused."""
    out = RecordingsOutcome()
    for table, row_id, name in named:
        try:
            if dry_run:
                resolve_recording(base, name)
            elif delete_recording(base, name):
                out.deleted += 1
            else:
                out.missing += 1
        except RecordingRefused as exc:
            out.problems.append(RecordingProblem(table, row_id, name, str(exc)))
        except OSError as exc:
            out.problems.append(
                RecordingProblem(table, row_id, name, f"cannot delete: {exc.strerror}")
            )
    return out


@dataclass(frozen=True)
class PurgeResult:
    cutoff: datetime
    callers_removed: int
    callback_numbers_removed: int
    recordings_deleted: int
    recordings_missing: int
    events_emptied: int
    problems: tuple[RecordingProblem, ...] = ()
    case_texts_removed: int = 0


def event_recording(data: Any) -> str | None:
    """The recording a ``message_without_number`` event names, if any."""
    if isinstance(data, dict):
        name = data.get("recording")
        if isinstance(name, str) and name:
            return name
    return None


async def clear_recordings(
    conn: AsyncConnection, outcome: RecordingsOutcome, callback_ids: list[str], events: list[int]
) -> None:
    """Clear the recording pointers of these rows whose file is gone; an event whose file is
    still there keeps its name beside ``purged`` (the next run tries again)."""
    failed = outcome.failed("callbacks")
    gone = [i for i in callback_ids if i not in failed]
    for i in range(0, len(gone), _CHUNK):
        chunk = gone[i : i + _CHUNK]
        await conn.execute(
            update(callbacks).where(callbacks.c.id.in_(chunk)).values(recording=None)
        )
    for p in outcome.problems:
        if p.table == "call_events" and int(p.row_id) in events:
            await conn.execute(
                update(call_events)
                .where(call_events.c.id == int(p.row_id))
                .values(data={**PURGED_EVENT_DATA, "recording": p.name})
            )


async def purge(
    engine: AsyncEngine,
    *,
    older_than_days: int,
    now: datetime,
    recordings_dir: Path,
    dry_run: bool = False,
) -> PurgeResult:
    """Remove personal data of calls and call-backs older than ``older_than_days``."""
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1")
    cutoff = now - timedelta(days=older_than_days)
    c, cb, ev = calls.c, callbacks.c, call_events.c
    old_callers = and_(c.started_at < cutoff, c.caller.is_not(None))
    old_numbers = and_(cb.created_at < cutoff, cb.number.is_not(None))
    old_recordings = and_(cb.created_at < cutoff, cb.recording.is_not(None))
    old_events = ev.at < cutoff
    async with engine.begin() as conn:

        async def count(table: Any, where: Any) -> int:
            return int(
                (
                    await conn.execute(select(func.count()).select_from(table).where(where))
                ).scalar_one()
            )

        callers = await count(calls, old_callers)
        numbers = await count(callbacks, old_numbers)
        events = await count(call_events, old_events)
        cb_rows = (await conn.execute(select(cb.id, cb.recording).where(old_recordings))).all()
        ev_rows = (
            await conn.execute(select(ev.id, ev.data).where(old_events, ev.type == MESSAGE_EVENT))
        ).all()
        named = [("callbacks", str(i), str(r)) for i, r in cb_rows]
        named += [
            ("call_events", str(i), name) for i, data in ev_rows if (name := event_recording(data))
        ]
        outcome = await asyncio.to_thread(remove_recordings, recordings_dir, named, dry_run=dry_run)
        if not dry_run:
            await conn.execute(update(calls).where(old_callers).values(caller=None))
            await conn.execute(update(callbacks).where(old_numbers).values(number=None))
            await conn.execute(update(call_events).where(old_events).values(data=PURGED_EVENT_DATA))
            await clear_recordings(
                conn, outcome, [str(i) for i, _ in cb_rows], [int(i) for i, _ in ev_rows]
            )
        # Cases (issue 17): their own rules, in the same transaction.
        case_texts = await purge_case_texts(conn, cutoff, dry_run=dry_run)
    result = PurgeResult(
        cutoff=cutoff,
        callers_removed=callers,
        callback_numbers_removed=numbers,
        recordings_deleted=outcome.deleted,
        recordings_missing=outcome.missing,
        events_emptied=events,
        problems=tuple(outcome.problems),
        case_texts_removed=case_texts,
    )
    log.info(
        "purge",
        dry_run=dry_run,
        cutoff=cutoff.isoformat(),
        callers_removed=callers,
        callback_numbers_removed=numbers,
        recordings_deleted=outcome.deleted,
        recordings_missing=outcome.missing,
        recordings_not_deleted=len(outcome.problems),
        events_emptied=events,
    )
    for p in outcome.problems:
        log.warning(
            "purge.recording_not_deleted",
            table=p.table,
            row=p.row_id,
            name=p.name,
            problem=p.problem,
        )
    return result
