"""``SpoolSyncer``: the call log spool's group fsync, in a thread of its own.

::

    call flow ── CallLog._hand ── spool.append ── syncer.wrote()
                                                      │
    syncer thread   wait for a write, let the group window pass, fsync what was
                    appended, publish how far the spool is durable (``durable``);
                    wake the event loop only when the applier waits for records
                                                      │
    applier task ── wait_beyond(read_from) ◄──────────┘

A hop to the loop for every fsync cost the router more than the fsync itself
(bench/results/writer-one-hop.txt): a busy applier reads ``durable`` when it is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque

from callrouter.logs import get_logger
from callrouter.osthread import name_this_thread
from callrouter.store.spool import Position, Spool

log = get_logger(__name__)

SPOOL_RETRY_SECONDS = 1.0
"""A back-off, not a wait for something: after the spool failed to read or to fsync (or reads
shorter than written), the writer tries again this much later instead of spinning on the error."""


class SpoolSyncer:
    """Started and stopped by the :class:`~callrouter.store.writer.CallLog` that owns it."""

    def __init__(self, spool: Spool, *, group_window: float) -> None:
        self.spool = spool
        self.group_window = group_window
        #: how far the spool is fsync'd (set by the thread: a Position is replaced whole)
        self.durable = Position(0, 0)
        # (spool position, records appended by then), one per fsync group, in order: the
        # writer turns checkpointed positions back into a count of applied records.
        self._marks: deque[tuple[Position, int]] = deque()
        self._written = threading.Event()  # a record was appended since the last fsync
        self._stop = threading.Event()
        self._durable_event = asyncio.Event()
        #: the applier waits for durable records: the thread must wake it (else it need not)
        self._applier_waiting = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (from the event loop it will wake); the spool is open."""
        self.durable = self.spool.written
        self._stop.clear()
        thread = threading.Thread(
            target=self._run,
            args=(asyncio.get_running_loop(),),
            name="calllog-syncer",
            daemon=True,
        )
        thread.start()
        self._thread = thread

    def wrote(self) -> None:
        """A line was appended: the next round fsyncs it (on every record, so cheap)."""
        if not self._written.is_set():
            self._written.set()

    async def wait_beyond(self, position: Position) -> bool:
        """Wait until the spool is durable past ``position`` (the applier, caught up);
        False if it already was by the time the thread was told to wake the loop."""
        self._durable_event.clear()
        self._applier_waiting = True  # before looking again: see _run
        try:
            if self.durable > position:
                return False
            await self._durable_event.wait()
            return True
        finally:
            self._applier_waiting = False

    def applied_by(self, end: Position) -> int | None:
        """How many records were appended by the last fsync group that ends at or before
        ``end`` (None: no group ended since the last call)."""
        count = None
        while self._marks and self._marks[0][0] <= end:
            _, count = self._marks.popleft()
        return count

    async def stop(self, join_within: float) -> None:
        """Stop the thread; a round in progress ends within ``group_window`` plus one fsync."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        self._written.set()
        await asyncio.to_thread(thread.join, join_within)
        if thread.is_alive():
            log.warning("spool_syncer_still_running", spool=str(self.spool.directory))

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        """The thread. Every ``group_window`` seconds at most, only if something was written."""
        name_this_thread()
        # The stop flag is read at the top of every round too: stop() may set it (and the
        # event, which this round's clear() then erases) while a round is under way.
        while not self._stop.is_set():
            self._written.wait()
            if self._stop.is_set():
                return
            # waiting on an Event, not sleeping: stop() need not wait the window out (and a
            # profiler sees a thread waiting, bench/profile_summary.py)
            if self.group_window and self._stop.wait(self.group_window):
                return  # spool.close() fsyncs what this round would have
            self._written.clear()
            taken = self.spool.take_unsynced()
            try:
                self.spool.fsync_pending(taken.fds, taken.retired)
            except Exception as exc:  # whatever it is: the thread must live, nothing else fsyncs
                # The lines are in the page cache (safe from a process crash, not from a
                # power cut): say so loudly and go on rather than stop logging calls.
                log.error("spool_fsync_failed", error=str(exc))
                self._stop.wait(SPOOL_RETRY_SECONDS)
            self._marks.append((taken.position, taken.appended))
            self.durable = taken.position
            if self._applier_waiting:
                self._applier_waiting = False
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                    loop.call_soon_threadsafe(self._durable_event.set)
