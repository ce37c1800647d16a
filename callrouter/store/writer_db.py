"""The call log's batch transaction, on either database.

::

    CallLog._apply_batch ──► SqliteThread.run(work)        the embedded file: the whole
                             │                              transaction in one hop to a
                             │                              thread of the call log's own
                             └─► AsyncConnection.run_sync   PostgreSQL: asyncpg, no thread

    work = write_batch(conn, batch, plan, needed)   blocking, inside the transaction

:func:`write_batch` touches nothing of the event loop's: what it found (the calls looked
up, the records set aside) comes back as :class:`Written` for the writer to remember and
log after the transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from callrouter.osthread import name_this_thread
from callrouter.store import records as r
from callrouter.store.apply import Plan, apply_plan, existing_calls, plan_batch
from callrouter.store.db import make_blocking_sqlite_engine


@dataclass(frozen=True)
class Written:
    """What a batch's transaction found: the calls it looked up, the plan it wrote (less the
    records it set aside) and those records, with why."""

    found: set[str]
    plan: Plan
    set_aside: list[tuple[dict[str, Any], str]]


class SqliteThread:
    """The embedded SQLite file, written from one worker thread of the call log's own.

    A batch (its lookups, its writes, its commit) is one hop from the event loop; through
    aiosqlite every statement, cursor and commit is one (bench/results/writer-one-hop.txt).
    The engine's connections are made, used and closed in that thread only.
    """

    def __init__(self, url: str) -> None:
        self.engine = make_blocking_sqlite_engine(url)
        self._thread = ThreadPoolExecutor(
            1, thread_name_prefix="calllog-sqlite", initializer=name_this_thread
        )

    def _transaction(self, work: Callable[[Connection], Written]) -> Written:
        with self.engine.begin() as conn:
            return work(conn)

    async def run(self, work: Callable[[Connection], Written]) -> Written:
        """``work`` in one transaction, in the thread. Cancelling the caller does not stop a
        transaction under way (PostgreSQL's is rolled back): it commits, the checkpoint does
        not move, and the next start replays the batch, which changes nothing."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._transaction, work)

    async def dispose(self) -> None:
        """Close the pooled connections (a broken one is not reused)."""
        await asyncio.get_running_loop().run_in_executor(self._thread, self.engine.dispose)

    async def close(self) -> None:
        await self.dispose()
        self._thread.shutdown(wait=False)


def write_batch(
    conn: Connection,
    batch: list[dict[str, Any]],
    plan: Plan,
    needed: set[str],
    *,
    misdial_seconds: float,
) -> Written:
    """Blocking, inside the transaction: look up the calls the batch refers to (``needed``:
    those the writer does not already know are there), set aside records about a call never
    started, write the rest."""
    found = existing_calls(conn, needed) if needed else set()
    missing = needed - found
    set_aside: list[tuple[dict[str, Any], str]] = []
    if missing:
        # Records about a call that was never started: keep them aside, loudly.
        kept = []
        for record in batch:
            if record.get("linkedid") in missing and record["kind"] not in (
                r.CALL_STARTED,
                r.CALLBACK,
            ):
                set_aside.append((record, "no call with this linkedid was started"))
            else:
                kept.append(record)
        plan = plan_batch(kept)
        for callback in plan.callbacks:
            if callback["linkedid"] in missing:
                callback["call_id"] = None
    apply_plan(conn, plan, misdial_seconds=misdial_seconds)
    return Written(found, plan, set_aside)
