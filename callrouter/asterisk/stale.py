"""Close the rows of ARI calls that ended while callrouter was not watching.

callrouter killed (SIGKILL) mid-call: the bridged call goes on in Asterisk and ends there (the
bridge guard hangs up the other side), so no router writes its end. When callrouter is back and
its events flow, a ``calls`` row still open (no outcome) whose call Asterisk no longer has — no
channel with its linkedid as id, no bridge of ours named after it, no session of this router —
is closed with what Asterisk reports: the end time from the call's CDR lines (the cdr_custom
JSON file, its last few MB) when they cover the talk, else the time callrouter found it gone
(an upper bound: for a call the bridge guard ended while no app was connected, Asterisk 22
wrote only the pre-bridge segment's record here). An answered call stays
``answered`` (talk time up to that end); any other is ``failed``. Open attempts are closed too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.asterisk.ari import AriClient
from callrouter.asterisk.cdr_lines import CdrLineError, parse_line
from callrouter.calls.ports import CallLogPort
from callrouter.calls.recorder import CallRecorder
from callrouter.errors import AsteriskError, CallrouterError
from callrouter.store.unfinished import (
    OpenAttempt,
    OpenCall,
    ari_calls_finished_between,
    open_ari_calls_started_before,
    open_attempts_of_calls,
)
from callrouter.store.writer import CallLog

log = structlog.get_logger(__name__)

BRIDGE_NAME_PREFIX: Final = "callrouter-call-"
CDR_TAIL_BYTES: Final = 4 * 1024 * 1024
CUT_WINDOW: Final = timedelta(seconds=3)
"""Calls that ended this long before the events socket closed on a restart were cut by it."""
GRACE: Final = timedelta(seconds=5)
"""Rows younger than this are left alone (their call may not be in Asterisk's lists yet)."""


def cdr_ends(path: Path, linkedids: Collection[str]) -> dict[str, datetime]:
    """The latest CDR ``end`` of each of ``linkedids`` found in the file's last few MB."""
    wanted = set(linkedids)
    ends: dict[str, datetime] = {}
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            f.seek(max(0, size - CDR_TAIL_BYTES))
            data = f.read()
    except OSError:
        return ends
    for n, raw in enumerate(data.splitlines()):
        if not any(lid.encode() in raw for lid in wanted):
            continue
        with contextlib.suppress(CdrLineError, UnicodeDecodeError):
            cdr = parse_line(raw.decode("utf-8"), path, n + 1)
            if cdr.linkedid in wanted and (
                cdr.linkedid not in ends or cdr.end > ends[cdr.linkedid]
            ):
                ends[cdr.linkedid] = cdr.end
    return ends


async def _alive(ari: AriClient, live: Callable[[], Collection[str]]) -> set[str]:
    """The linkedids (and channel ids) of the calls Asterisk or this router still has."""
    channels = await ari.list_channels()
    bridges = await ari.list_bridges()
    alive = {c.id for c in channels} | set(live())
    alive |= {
        b.name.removeprefix(BRIDGE_NAME_PREFIX)
        for b in bridges
        if b.name.startswith(BRIDGE_NAME_PREFIX) and b.channels
    }
    return alive


def _cdr_end(row: OpenCall, found: datetime | None) -> datetime | None:
    """The call's end from the CDR, unless only the pre-bridge segment's CDR was written
    (Asterisk writes no record for the bridged segment of a Stasis call hung up while no app
    was connected)."""
    if found is not None and row.answered_at is not None and found <= row.answered_at:
        return None
    return found


def _close_stale(
    call_log: CallLogPort,
    row: OpenCall,
    open_attempts: list[OpenAttempt],
    found: datetime | None,
    now: Callable[[], datetime],
) -> None:
    ended = found or now()
    answered = row.answered_at is not None
    # Through the ARI door's recorder: the rows are ARI rows (open_ari_calls_started_before).
    # A refused write stops this call's writes (raise_refused), the next call is still closed.
    record = CallRecorder(call_log, row.linkedid, "ari", raise_refused=True)
    with contextlib.suppress(CallrouterError):
        for attempt in open_attempts:
            took_it = answered and attempt.number == row.answered_number
            record.leg_written(
                attempt.seq,
                result="answered" if took_it else "cancelled",
                cause=None,
                at=ended,
                answered_at=row.answered_at if took_it else None,
            )
        record.written("answered" if answered else "failed", at=ended, cause=None)
        record.event(
            "closed_after_restart",
            at=now(),
            end_from="cdr" if found else "router",
            answered=answered,
        )
    log.warning(
        "calls.stale_closed",
        linkedid=row.linkedid,
        outcome="answered" if answered else "failed",
        end_from="cdr" if found else "router",
    )


async def mark_cut_calls(
    engine: AsyncEngine,
    call_log: CallLog,
    since: datetime,
    until: datetime,
    now: Callable[[], datetime],
) -> int:
    """Asterisk restarted: the calls of this router that ended in ``[since, until]`` (when
    Asterisk hung everything up before the events socket closed) were cut, not finished:
    their rows become ``failed``, keeping the cause Asterisk gave."""
    await call_log.flush()
    try:
        rows = await ari_calls_finished_between(engine, since, until)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("calls.cut_check_failed", error=f"{type(exc).__name__}: {exc}")
        return 0
    for row in rows:
        record = CallRecorder(call_log, row.linkedid, "ari", raise_refused=True)
        with contextlib.suppress(CallrouterError):
            record.written("failed", at=row.ended_at, cause=row.hangup_cause)
            record.event("cut_by_asterisk_restart", at=now(), cause=row.hangup_cause)
        log.warning("calls.cut_by_asterisk_restart", linkedid=row.linkedid, cause=row.hangup_cause)
    return len(rows)


class Reconnections:
    """Runs beside the ARI events: after every (re)connection, closes stale rows; when the
    connection came back to a *restarted* Asterisk (its startup time changed), marks the calls
    the restart cut as ``failed``."""

    def __init__(
        self,
        engine: AsyncEngine,
        call_log: CallLog,
        ari: AriClient,
        *,
        live: Callable[[], Collection[str]],
        cdr_path: Path,
        now: Callable[[], datetime],
    ) -> None:
        self.engine = engine
        self.call_log = call_log
        self.ari = ari
        self.live = live
        self.cdr_path = cdr_path
        self.now = now

    async def close_stale(self) -> int:
        """Close open ARI rows whose call Asterisk no longer has; how many were closed."""
        cutoff = self.now() - GRACE
        await self.call_log.flush()  # ends this router wrote a moment ago are rows, not stale
        try:
            rows = await open_ari_calls_started_before(self.engine, cutoff)
            if not rows:
                return 0
            alive = await _alive(self.ari, self.live)
            stale = [r for r in rows if r.linkedid not in alive]
            if not stale:
                return 0
            open_attempts = await open_attempts_of_calls(self.engine, [r.id for r in stale])
        except (SQLAlchemyError, OSError, AsteriskError) as exc:
            log.warning("calls.stale_check_failed", error=f"{type(exc).__name__}: {exc}")
            return 0
        ends = await asyncio.to_thread(cdr_ends, self.cdr_path, [r.linkedid for r in stale])
        for row in stale:
            attempts = [a for a in open_attempts if a.call_id == row.id]
            _close_stale(
                self.call_log, row, attempts, _cdr_end(row, ends.get(row.linkedid)), self.now
            )
        return len(stale)

    async def _startup_time(self) -> str | None:
        try:
            info = await self.ari.request("GET", "/asterisk/info", params={"only": "status"})
        except AsteriskError:
            return None
        status = info.get("status") if isinstance(info, dict) else None
        started = status.get("startup_time") if isinstance(status, dict) else None
        return str(started) if started else None

    async def run(self) -> None:
        seen = 0
        startup: str | None = None
        lost_at: datetime | None = None
        replaced = 0
        ari = self.ari
        while True:
            while ari.ready and ari.connects == seen:
                await ari.changed()
            if ari.connects == seen:  # the connection was lost: note when, wait for the next
                if seen and lost_at is None:
                    lost_at = self.now()
                while ari.connects == seen:
                    await ari.changed()
            first = seen == 0
            seen = ari.connects
            # Lost to another connection, not to a restart: the calls that ended just before
            # were not cut (even if Asterisk restarted while this router stood by).
            taken_over, replaced = ari.replaced != replaced, ari.replaced
            started = await self._startup_time()
            if not first and not taken_over and started is not None and started != startup:
                lost = lost_at or self.now()
                log.warning("ari.asterisk_restarted", startup_time=started)
                await mark_cut_calls(self.engine, self.call_log, lost - CUT_WINDOW, lost, self.now)
            startup = started or startup
            lost_at = None
            # The application's own reconciliation (on_connected: sessions whose channel
            # vanished end, unknown bridges are watched) runs first; what is left is stale.
            while ari.settled < seen and ari.connects == seen:
                await ari.changed()
            await self.close_stale()
