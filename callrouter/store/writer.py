"""``CallLog``: the call flow's non-blocking writer into the call log.

::

    call flow ──► CallLog.call_started(...)      validate (writer_records.py), os.write to
                      │                          the spool, return
                      │
                      ├─ syncer thread fsync the spool every few ms; wakes the applier
                      │                only when it waits for records (syncer.py)
                      └─ applier task  take the durable records (fresh ones from memory,
                                       older ones read back from the spool), fold a batch,
                                       write it in one transaction, then checkpoint
                                       (writer_db.py: SQLite's runs whole in a thread
                                       of the writer's own; PostgreSQL's on the loop)

The call flow never waits for the database: a method validates its record (raising
:class:`RecordError` at once if malformed), writes it to the spool and returns. When
the database is down, records wait in the spool and are applied in order when it is
back; writes are idempotent, so a record applied twice (after a SIGKILL between the
commit and the checkpoint) changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
import weakref
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.errors import ConfigError, DatabaseUnavailable, RecordError, SpoolError
from callrouter.logs import get_logger, mask_number
from callrouter.store.apply import Plan, plan_batch
from callrouter.store.db import is_data_error, is_sqlite, make_engine, probe, safe_url
from callrouter.store.missed import DEFAULT_MISDIAL_SECONDS
from callrouter.store.revision import at_head
from callrouter.store.spool import (
    DEFAULT_SEGMENT_BYTES,
    CorruptLine,
    Position,
    Spool,
    encode_record,
)
from callrouter.store.syncer import SPOOL_RETRY_SECONDS, SpoolSyncer
from callrouter.store.writer_db import SqliteThread, Written, write_batch
from callrouter.store.writer_records import CallLogRecords

log = get_logger(__name__)
#: in-process schema upgrades, one at a time (per event loop: a Lock is bound to one)
_UPGRADE_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _upgrade_lock() -> asyncio.Lock:
    return _UPGRADE_LOCKS.setdefault(asyncio.get_running_loop(), asyncio.Lock())


# Linkedids remembered as present in the database: the calls in progress and the last few
# minutes' (a record about an older call costs one lookup). Kept small: the memory soak
# (bench/bench_soak.py) counts every bounded cache that is still filling as growth.
_KNOWN_CALLS = 2_000
_RECENT_MAX = 10_000  # records kept in memory for the applier
DEFAULT_BATCH_WINDOW = 0.25
"""How long the applier lets a burst of records gather before it writes them: one
transaction for a quarter second of calls costs a third of what one per 20 ms does at
30 calls/s (bench/results/writer-live.txt). Nobody waits on it: a record is durable in the
spool at once, and :meth:`CallLog.flush` cuts the window short for whoever waits."""


@dataclass(frozen=True)
class _Prepared:
    """A batch read from the spool, folded, waiting for the database."""

    records: list[dict[str, Any]]
    plan: Plan | None
    corrupt: list[CorruptLine]
    end: Position


@dataclass(frozen=True)
class CallLogStats:
    """What the writer is doing, for health checks and metrics."""

    handed: int  # records handed over by this process
    applied: int  # records of this process now in the database
    pending: int  # handed - applied
    database_available: bool
    corrupt_lines: int  # torn or damaged spool lines skipped
    rejected: int  # records the database refused (kept in rejected.log)
    #: call ends and attempt ends handed without a known hang-up cause (NULL in the rows)
    unknown_causes: dict[str, int] = field(default_factory=dict)


def _tz(tz: ZoneInfo | str) -> ZoneInfo:
    if isinstance(tz, ZoneInfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {tz!r}") from None


class CallLog(CallLogRecords):
    """Async context manager: ``async with CallLog(url, spool_dir, tz=...) as log:``.

    ``migrate`` brings the schema up to date when the database is first reached (the
    embedded SQLite file is created on first run that way). A wrong password, an unknown
    role or database raises one :class:`DatabaseUnavailable` at start-up; a database that
    is merely down at start-up is waited for while records go to the spool.
    """

    def __init__(
        self,
        url: str,
        spool_dir: Path,
        *,
        tz: ZoneInfo | str = "Asia/Ho_Chi_Minh",
        migrate: bool = True,
        batch_size: int = 5000,
        group_window: float = 0.002,
        batch_window: float = DEFAULT_BATCH_WINDOW,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        close_timeout: float = 10.0,
        retry_max: float = 1.0,
        misdial_seconds: float = DEFAULT_MISDIAL_SECONDS,
    ) -> None:
        self.url = url
        self.misdial_seconds = misdial_seconds
        self.tz = _tz(tz)
        self.migrate = migrate
        self.batch_size = batch_size
        self.batch_window = batch_window
        self.close_timeout = close_timeout
        self.retry_max = retry_max
        self.spool = Spool(Path(spool_dir), segment_bytes=segment_bytes)
        self.engine: AsyncEngine | None = None
        #: the embedded database's batches, in a thread of their own (None: PostgreSQL)
        self._sqlite: SqliteThread | None = None
        self._session = uuid.uuid4().hex[:12]
        self._handed = 0
        self._applied = 0
        self._syncer = SpoolSyncer(self.spool, group_window=group_window)
        self._read_from = Position(0, 0)
        self._applied_event = asyncio.Event()
        # Set while someone waits in flush(): the applier does not let a burst gather then.
        self._hurry = asyncio.Event()
        self._flushing = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._db_available = False
        self._schema_ready = False
        self._corrupt_seen: set[tuple[int, int]] = set()
        self._rejected = 0
        #: call_ended / attempt_ended records handed without a known hang-up cause
        self._unknown_causes = {"call": 0, "attempt": 0}
        self._rejected_ids: set[object] = set()
        self._known_calls: OrderedDict[str, None] = OrderedDict()
        # Records just written, with their spool positions, so the applier need not read
        # them back (bounded; the file is always there to fall back on).
        self._recent: deque[tuple[Position, Position, dict[str, Any]]] = deque()
        self._open = False

    # -- lifecycle -------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        self._read_from = await asyncio.to_thread(self.spool.open)
        try:
            # No pre-ping: a dead pooled connection just fails the batch, which is retried.
            self.engine = make_engine(self.url, pool_pre_ping=False)
            if is_sqlite(self.url):
                self._sqlite = SqliteThread(self.url)
            await self._first_contact()
        except BaseException:
            await self._dispose(closing=True)
            self.spool.close()
            raise
        self._syncer.start()
        self._open = True
        self._tasks = [asyncio.create_task(self._applier(), name="calllog-applier")]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Make every record durable, give the database ``close_timeout`` to take them."""
        if not self._open:
            return
        self._open = False
        try:
            with contextlib.suppress(TimeoutError, SpoolError):
                await asyncio.wait_for(self.flush(), self.close_timeout)
        finally:
            self._stopping = True
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._tasks = []
            await self._syncer.stop(self.close_timeout)
            await asyncio.to_thread(self.spool.close)
            await self._dispose(closing=True)
            left = self._handed - self._applied
            if left:
                log.warning(
                    "calllog_closed_with_pending", pending=left, spool=str(self.spool.directory)
                )

    async def _dispose(self, *, closing: bool = False) -> None:
        """Drop the pooled connections (after an error: a broken one is not reused)."""
        if self.engine is not None:
            await self.engine.dispose()
        if self._sqlite is not None:
            await (self._sqlite.close() if closing else self._sqlite.dispose())

    @property
    def _engine(self) -> AsyncEngine:
        if self.engine is None:
            raise SpoolError("the call log is not open (use `async with CallLog(...)`)")
        return self.engine

    async def _first_contact(self) -> None:
        problem = await probe(self._engine)  # raises DatabaseUnavailable on bad credentials
        if problem is not None:
            log.warning(
                "database_unavailable_at_start", error=problem, spool=str(self.spool.directory)
            )
            return
        try:
            await self._ensure_schema()
        except SQLAlchemyError as exc:
            raise DatabaseUnavailable(
                f"database {safe_url(self.url)}: cannot bring the call log schema up to date: "
                f"{_short(exc)}"
            ) from None
        self._db_available = True

    async def _ensure_schema(self) -> None:
        if self._schema_ready:
            return
        if self.migrate:
            if not await at_head(self._engine):
                # Alembic only when there is something to do (see callrouter.store.revision).
                # serve has two call logs (router, CDR importer): one upgrade at a time,
                # re-checked under the lock (two at once fail with "table already exists").
                from callrouter.store.migrate import upgrade  # noqa: PLC0415

                async with _upgrade_lock():
                    if not await at_head(self._engine):
                        await upgrade(self._engine)
        else:
            async with self._engine.connect() as conn:
                tables = await conn.run_sync(lambda c: set(sa_inspect(c).get_table_names()))
            if "calls" not in tables:
                raise DatabaseUnavailable(
                    f"database {safe_url(self.url)} has no call log tables: "
                    "run `callrouter db upgrade`"
                )
        self._schema_ready = True

    # -- the call flow's API ---------------------------------------------------------
    def _hand(self, record: dict[str, Any]) -> None:
        """Write one validated record to the spool now: once this returns, it survives a
        SIGKILL of the process (it is in the kernel's page cache; fsync follows)."""
        if not self._open:
            raise SpoolError("the call log is not open (use `async with CallLog(...)`)")
        record["id"] = f"{self._session}-{self._handed + 1}"
        try:
            line = encode_record(record)
        except TypeError as exc:
            raise RecordError(f"{record.get('kind')}: cannot be encoded: {exc}") from None
        start = self.spool.written
        self.spool.append(line)  # SpoolError (disk full…) reaches the caller: not logged
        self._handed += 1
        if len(self._recent) < _RECENT_MAX:
            self._recent.append((start, self.spool.written, record))
        self._syncer.wrote()

    async def flush(self) -> None:
        """Wait until every record handed over so far is in the database.

        That includes records an earlier process left in the spool (replayed at start).
        """
        target = self.spool.written
        if self._read_from >= target:
            return
        self._flushing += 1
        self._hurry.set()
        try:
            while self._read_from < target:
                self._applied_event.clear()
                await self._applied_event.wait()
        finally:
            self._flushing -= 1
            if not self._flushing:
                self._hurry.clear()

    def stats(self) -> CallLogStats:
        return CallLogStats(
            handed=self._handed,
            applied=self._applied,
            pending=self._handed - self._applied,
            database_available=self._db_available,
            corrupt_lines=len(self._corrupt_seen),
            rejected=self._rejected,
            unknown_causes=dict(self._unknown_causes),
        )

    # -- background tasks ------------------------------------------------------------
    async def _gather(self) -> None:
        """Let a burst gather (fewer, larger transactions) unless someone waits in flush()."""
        if self.batch_window <= 0 or self._hurry.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._hurry.wait(), self.batch_window)

    def _take_recent(
        self, start: Position, limit: Position
    ) -> tuple[list[dict[str, Any]], Position]:
        """Records of this process that start exactly at ``start``, still in memory.

        The spool file stays the source of truth: this only spares reading back lines
        just written. Any gap (a restart, an overflow, a torn line) means reading the file.
        Runs in the worker thread; only it pops, the event loop only appends.
        """
        recent = self._recent
        taken: list[dict[str, Any]] = []
        position = start
        while recent and len(taken) < self.batch_size:
            begin, end, record = recent[0]
            if begin < position:
                recent.popleft()  # already read from the file
                continue
            if begin != position or end > limit:
                break
            recent.popleft()
            taken.append(record)
            position = end
        return taken, position

    def _read_and_plan(self, start: Position, limit: Position) -> _Prepared:
        """In a worker thread: take the next batch (from memory or the spool) and fold it."""
        records, end = self._take_recent(start, limit)
        corrupt: list[CorruptLine] = []
        if not records:
            result = self.spool.read(start, limit, self.batch_size)
            records, corrupt, end = result.records, result.corrupt, result.end
        try:
            plan: Plan | None = plan_batch(records)
        except (KeyError, ValueError, TypeError):
            plan = None  # a malformed record: found and set aside one by one later
        return _Prepared(records, plan, corrupt, end)

    async def _applier(self) -> None:
        """Apply the durable spool in order; the next batch is read while one is written."""
        delay = 0.05
        unavailable_since: float | None = None
        prepared: _Prepared | None = None
        prefetch: asyncio.Task[_Prepared] | None = None
        try:
            while not self._stopping:
                if prepared is None:
                    if prefetch is not None:
                        task, prefetch = prefetch, None
                        try:
                            prepared = await task
                        except OSError as exc:
                            log.error("spool_read_failed", error=str(exc))
                            continue
                    elif self._syncer.durable <= self._read_from:
                        if await self._syncer.wait_beyond(self._read_from):
                            await self._gather()
                        continue
                    else:
                        try:
                            prepared = await asyncio.to_thread(
                                self._read_and_plan, self._read_from, self._syncer.durable
                            )
                        except OSError as exc:
                            log.error("spool_read_failed", error=str(exc))
                            await asyncio.sleep(SPOOL_RETRY_SECONDS)
                            continue
                    self._report_corrupt(prepared.corrupt)
                    if not prepared.records and prepared.end == self._read_from:
                        # Nothing readable where the spool says there is (a file cut
                        # short behind our back): do not spin, look again later.
                        log.error("spool_shorter_than_written", at=str(self._read_from))
                        prepared = None
                        await asyncio.sleep(SPOOL_RETRY_SECONDS)
                        continue
                if prefetch is None and prepared.end < self._syncer.durable:
                    prefetch = asyncio.create_task(
                        asyncio.to_thread(self._read_and_plan, prepared.end, self._syncer.durable)
                    )
                try:
                    await self._apply(prepared)
                except Exception as exc:
                    # Whatever it is (connection, shutdown, permissions), the records wait.
                    self._db_available = False
                    if unavailable_since is None:
                        unavailable_since = time.monotonic()
                        log.warning(
                            "database_unavailable",
                            database=safe_url(self.url),
                            error=_short(exc),
                            waiting_in_spool=self._handed - self._applied,
                        )
                    await asyncio.sleep(delay * (0.5 + random.random()))  # noqa: S311 (jitter)
                    delay = min(delay * 2, self.retry_max)
                    await self._dispose()
                    continue
                if unavailable_since is not None:
                    log.info(
                        "database_available_again",
                        database=safe_url(self.url),
                        down_seconds=round(time.monotonic() - unavailable_since, 3),
                    )
                    unavailable_since = None
                self._db_available = True
                delay = 0.05
                try:
                    await asyncio.to_thread(self.spool.checkpoint, prepared.end)
                except OSError as exc:
                    # Applied but not remembered: a restart replays it (idempotent).
                    log.error("spool_checkpoint_failed", error=str(exc))
                self._read_from = prepared.end
                self._advance(prepared.end)
                prepared = None
        finally:
            if prefetch is not None:
                prefetch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await prefetch

    def _advance(self, end: Position) -> None:
        applied = self._syncer.applied_by(end)
        if applied is not None:
            self._applied = applied
        self._applied_event.set()

    def _report_corrupt(self, corrupt: list[CorruptLine]) -> None:
        for line in corrupt:
            key = (line.segment, line.offset)
            if key in self._corrupt_seen:
                continue
            self._corrupt_seen.add(key)
            log.error("spool_line_corrupt", detail=line.describe(self.spool.directory))

    async def _apply(self, prepared: _Prepared) -> None:
        """Apply a batch; records the database refuses as data are set aside one by one.

        Any other error (connection lost, server shutting down, permissions, a missing
        table) propagates: the batch stays in the spool and is retried later.
        """
        batch = prepared.records
        if not batch:
            return
        if not self._schema_ready:
            await self._ensure_schema()
        try:
            await self._apply_batch(batch, prepared.plan)
        except Exception as exc:
            if not is_data_error(exc):
                raise
            # One bad record must not hold back the others: apply them one by one.
            log.warning("batch_refused_applying_one_by_one", records=len(batch), error=_short(exc))
            for record in batch:
                try:
                    await self._apply_batch([record], None)
                except Exception as one_exc:
                    if not is_data_error(one_exc):
                        raise
                    await self._reject(record, _short(one_exc))

    async def _apply_batch(self, batch: list[dict[str, Any]], plan: Plan | None) -> None:
        """One transaction: the embedded file's in the call log's SQLite thread (one hop for
        the batch), PostgreSQL's on the event loop (asyncpg, no thread)."""
        if plan is None:
            plan = plan_batch(batch)
        needed = plan.referenced_calls() - self._known_calls.keys()

        def work(conn: Connection) -> Written:
            return write_batch(conn, batch, plan, needed, misdial_seconds=self.misdial_seconds)

        if self._sqlite is not None:
            written = await self._sqlite.run(work)
        else:
            async with self._engine.begin() as conn:
                written = await conn.run_sync(work)
        for record, reason in written.set_aside:
            await self._reject(record, reason)
        self._remember_calls(written.found)
        self._remember_calls(
            lid for lid, patch in written.plan.calls.items() if "started_at" in patch
        )

    def _remember_calls(self, linkedids: Iterable[str]) -> None:
        """Calls known to be in the database: later records about them need no lookup."""
        known = self._known_calls
        for linkedid in linkedids:
            known[linkedid] = None
            known.move_to_end(linkedid)
        while len(known) > _KNOWN_CALLS:
            known.popitem(last=False)

    async def _reject(self, record: dict[str, Any], reason: str) -> None:
        if record.get("id") in self._rejected_ids:
            return  # already set aside (the batch is being retried)
        self._rejected_ids.add(record.get("id"))
        self._rejected += 1
        log.error(
            "record_rejected",
            record_id=record.get("id"),
            kind=record.get("kind"),
            linkedid=record.get("linkedid"),
            caller=mask_number(record.get("caller") or record.get("number")),
            reason=reason,
        )
        await asyncio.to_thread(self.spool.reject, record, reason)


def _short(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).splitlines()[0] if str(orig) else ""
    return f"{type(orig).__name__}: {text}" if text else type(orig).__name__
