"""Import the calls the dialplan fallback handled while callrouter was down, from Asterisk's CDR.

**Backend: ``cdr_custom`` writing JSON lines** (``dialplan/cdr_custom.conf`` →
``<astlogdir>/cdr-custom/callrouter-cdr.json``). The records that matter are exactly the ones
written while callrouter — and possibly its database — is unavailable, so the backend must
not depend on either: a plain append-only file written by Asterisk itself needs no database
driver or network (``cdr_adaptive_odbc``/``cdr_pgsql`` lose records when the database is down,
``cdr_manager`` AMI events are lost when nobody listens), survives restarts, and can be read
incrementally by byte offset.

**Quotes.** Asterisk 22's JSON writer does not escape a ``"`` inside a value (a caller name
``Nguyen "Ba" Van`` in ``clid`` gives a line that is not JSON). The shipped mapping therefore
has no free-text field (no ``clid``/``lastdata``), and the dialplan writes only quote-free text.
For lines from an older mapping (or another free-text field),
:func:`~callrouter.asterisk.cdr_lines.repair_line` rebuilds the object from the known CDR
field names (``"name":`` at each field boundary) and escapes the stray quotes; a line that
still cannot be read is logged with file, line and reason and kept in
``<state dir>/cdr-rejected.jsonl`` — never dropped silently.

Rules:

* A call is a fallback call when one of its CDR lines has a ``userfield`` starting with
  ``callrouter=fallback`` (set by ``[callrouter-fallback]``). The hang-up handler adds the
  outcome Asterisk saw (``result=``), the number that answered and the talk seconds.
* **Start**: the row starts where callrouter's own rows start, when the caller chose branch 3
  (the marker's ``routed_at``, set by ``[callrouter-branch3]`` with milliseconds), so the wait
  counts neither greeting nor menu (see :mod:`callrouter.calls.recorder`). Lines of an older
  dialplan have no ``routed_at``: the CDR's ``start`` (the caller's arrival) then.
* **Attempts: recorded by the dialplan**, not taken from the per-leg CDRs of the outbound
  legs. Every Dial of the fallback appends ``<index>:<number>:<status>:<cause>:<dial>:<end>:
  <answered>:<key>`` to the CDR variable ``callrouter_attempts`` (cdr_custom field
  ``callrouter_attempts(uservar)``; a CDR variable, because the userfield is cut at 255
  characters). The per-leg CDRs were not enough: they have no hang-up cause; a confirm number
  that picked up but did not press 1 (voicemail: ``no_answer``; another key: ``declined``) and
  one that took the call are both ``ANSWERED``; a caller who hung up while a phone rang and a
  phone that was not answered are both ``NO ANSWER``; cdr.conf's ``unanswered=no`` (the
  default) drops unanswered legs altogether; and the officer's answer time is not there (the
  CDR's answer is the caller's, at the menu). The dialplan knows all of it at the moment:
  DIALSTATUS, HANGUPCAUSE, the key (copied to the caller's channel by the pre-bridge
  subroutine), the officer's pick-up time, ``BRIDGED``/``CANCEL`` when the call ended during a
  Dial. The cumulative list is on every later CDR line of the call; the longest one is used.
* Attempt results are mapped as in FastAGI/ARI mode (:func:`~callrouter.asterisk.fastagi.
  attempt_result`): BUSY ``busy``, NOANSWER ``no_answer``, picked up without pressing 1
  ``no_answer`` (no key) or ``declined`` (another key), CHANUNAVAIL/CONGESTION by cause
  (``failed`` mostly), ``BRIDGED`` ``answered``, ``CANCEL`` (the caller left while it rang —
  the call is ``abandoned``) ``cancelled``. The officer is the one on duty at that number
  then in the rota callrouter has now (the fallback's own rota version is in the call's
  ``fallback_imported`` event), else the officer whose phone it is, else "unknown"; the
  forward number's attempt has officer ``forward`` as in ARI mode.
* Matching is by **linkedid**: no ``calls`` row → a new row with ``mode=fallback``; a row
  callrouter started and then handed to the fallback (outcome still empty or ``failed``) is
  completed from the CDR and keeps its one row; any other existing row is left alone. All
  writes go through :class:`~callrouter.calls.recorder.CallRecorder` (door ``fallback``, as
  the other doors' rows do) to :class:`~callrouter.store.writer.CallLog` (upserts keyed by
  linkedid), so importing the same lines twice changes nothing: once and only once. Each
  attempt has the channel id ``cdr:<linkedid>:<position>``; an attempt whose id the call
  already has is not written again, new ones get ``seq`` numbers after the call's existing
  attempts (a call callrouter started keeps its own attempts 1..n, the fallback's follow).
* Reading resumes at the byte offset saved in a small state file (with the file's inode and
  the line number). The file is opened once per run and its inode taken from the open file,
  so a rotation during the run cannot mix two files. If the file was rotated (new inode, or
  shorter than the offset), the rest of the old file is read from its rotated name
  (``<name>.1``, ``<name>-YYYYMMDD``… in the same directory, found by inode) — its last line
  too, even without a newline, as nothing will complete it once it is a few seconds old
  (Asterisk opens the file for each record, so a record begun just before the rename may
  still land there) — before the new file is read from its start. In the live file only
  complete lines are read: a half-written last line is read on a later run, once Asterisk
  has finished it.
* A line that is not JSON even after repair, or lacks a field, is logged (``cdr.bad_line``:
  file, line, field, problem), appended to the rejected file, and the import goes on.
* **Bounds** (:mod:`callrouter.asterisk.cdr_lines`): whatever a line carries must fit where it
  goes, or the line is rejected the same way.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.asterisk import contract
from callrouter.asterisk.cdr_calls import (
    ATTEMPT_CHANNEL_PREFIX,
    INFERRED_ON_DUTY,
    INFERRED_OWN_PHONE,
    INFERRED_UNKNOWN,
    OUTCOMES,
    STATUS_BRIDGED,
    STATUS_CANCEL,
    UNKNOWN_OFFICER,
    FallbackAttempt,
    FallbackCall,
    _label_for,
    attempt_from_cdr,
    fold,
    infer_officer,
    officer_for,
)
from callrouter.asterisk.cdr_files import (
    ROTATED_SETTLE_SECONDS,
    ReadResult,
    ReadState,
    Rejected,
    _may_still_be_written,
    _read_fh,
    _rotated,
    keep_rejected,
)
from callrouter.calls.recorder import CallRecorder, Officer
from callrouter.calls.vocabulary import (
    FORWARD_OFFICER_ID,
    FORWARD_OFFICER_NAME,
    LegResult,
)
from callrouter.logs import mask_number
from callrouter.rota import Rota
from callrouter.settings import Settings
from callrouter.store.imported import LoggedCall, logged_calls
from callrouter.store.writer import CallLog

log = structlog.get_logger(__name__)

#: Re-exported: the per-call accumulation is in :mod:`callrouter.asterisk.cdr_calls`, the file
#: reading in :mod:`callrouter.asterisk.cdr_files`; callers keep importing them from here.
__all__ = [
    "ATTEMPT_CHANNEL_PREFIX",
    "CDR_FILENAME",
    "IMPORTER_SPOOL",
    "INFERRED_ON_DUTY",
    "INFERRED_OWN_PHONE",
    "INFERRED_UNKNOWN",
    "MANUAL_IMPORT_SPOOL",
    "OUTCOMES",
    "REJECTED_FILENAME",
    "ROTATED_SETTLE_SECONDS",
    "STATE_FILENAME",
    "STATUS_BRIDGED",
    "STATUS_CANCEL",
    "UNKNOWN_OFFICER",
    "FallbackAttempt",
    "FallbackCall",
    "ImportReport",
    "ReadResult",
    "ReadState",
    "Rejected",
    "_read_fh",
    "attempt_from_cdr",
    "cdr_file_from_env",
    "fold",
    "import_fallback",
    "import_once",
    "infer_officer",
    "keep_rejected",
    "load_rota_quietly",
    "officer_for",
    "read_new",
    "run_importer",
    "serve_importer",
]

CDR_FILENAME: Final = "callrouter-cdr.json"
STATE_FILENAME: Final = "cdr-import.json"
REJECTED_FILENAME: Final = "cdr-rejected.jsonl"


def read_new(path: Path, state: ReadState) -> ReadResult:
    """Lines written since ``state`` (blocking file I/O: run it in a thread). Here, not in
    :mod:`~callrouter.asterisk.cdr_files`, so ``_read_fh`` is looked up in this module."""
    out = ReadResult(state=ReadState(state.inode, state.offset, state.line))
    try:
        fh = path.open("rb")
    except FileNotFoundError:
        return out
    with fh:
        # The inode of the file actually opened: a rotation after this cannot mix files.
        st = os.fstat(fh.fileno())
        offset, line = state.offset, state.line
        if state.inode is not None and (st.st_ino != state.inode or st.st_size < offset):
            old = _rotated(path, state.inode) if st.st_ino != state.inode else None
            if old is not None:
                if _may_still_be_written(old):
                    # Asterisk opens the file for each record: one it began just before the
                    # rename may still be landing in the old file. Read it all next run.
                    log.info("cdr.rotated_settling", file=str(path), rotated=str(old))
                    return out
                log.info("cdr.rotated", file=str(path), rotated=str(old))
                with old.open("rb") as old_fh:
                    _read_fh(old_fh, old, offset, line, out, final=True)
            else:
                log.info("cdr.restarted", file=str(path), reason="truncated or replaced")
            offset, line = 0, 1
        new_offset, new_line = _read_fh(fh, path, offset, line, out, final=False)
    out.state = ReadState(st.st_ino, new_offset, new_line)
    return out


# ----------------------------------------------------------------------------- importing


#: spool directories (beside the main spool) of serve's importer and of a run by hand: two,
#: so `callrouter calls import-fallback` works while `serve` runs (the import is idempotent:
#: both may read the same CDR lines, a call already in the log is not written again)
IMPORTER_SPOOL: Final = "spool-cdr-import"
MANUAL_IMPORT_SPOOL: Final = "spool-cdr-import-manual"


@dataclass
class ImportReport:
    imported: int = 0
    completed: int = 0
    already: int = 0
    bad_lines: int = 0
    repaired_lines: int = 0
    attempts: int = 0
    rejected_file: str | None = None  # where this run kept the lines it could not read
    linkedids: list[str] = field(default_factory=list)


def _write(record: CallRecorder, call: FallbackCall, rota: Rota | None, branch: int) -> None:
    started_at, ended_at = call.row_start(), call.row_end()
    record.started(call.uniqueid, branch, call.caller, started_at, call.rota_version)
    if call.outcome == "answered" and call.answered_by:
        # The officer's pick-up time, noted by the dialplan's pre-bridge subroutine (the
        # attempt's answered time). Lines of an older dialplan have none: then the answered
        # Dial's start — when that phone began to ring — is used (Asterisk's CDR answer time
        # is the caller's, at the menu), so the wait is a lower bound and the talk time an
        # upper bound by the ring time.
        answered_at = call.bridged_at() or call.dial_at or call.dial_answered_start or started_at
        officer_id, officer_name, how = infer_officer(rota, call.answered_by, answered_at)
        record.answered(Officer(officer_id, officer_name, call.answered_by), at=answered_at)
        # The answerer is the rota's, not Asterisk's word: marked as inferred.
        record.event(
            "answerer_inferred",
            at=answered_at,
            officer_id=officer_id,
            how=how,
            rota=call.rota_version,
        )
    # late: fills a NULL outcome or corrects `failed`, never more (store/records.py)
    record.written(call.outcome, at=ended_at, cause=call.hangup_cause, late=True)
    record.event(
        "fallback_imported",
        at=ended_at,
        result=call.result,
        reason=call.reason,
        rota=call.rota_version,
        source="cdr",
    )


#: a killed router's officer leg: its CDR disposition → the attempt's result
_LEG_DISPOSITION: Final[dict[str, str]] = {
    "ANSWERED": LegResult.ANSWERED,
    "BUSY": LegResult.BUSY,
    "NO ANSWER": LegResult.NO_ANSWER,
    "FAILED": LegResult.FAILED,
    "CONGESTION": LegResult.FAILED,
}


def _close_open_attempts(record: CallRecorder, call: FallbackCall, existing: LoggedCall) -> int:
    """A router killed while officers rang left their attempts without a result: close them
    from what Asterisk's CDR says of each leg (its disposition and end); a leg with no line
    of its own ended, as far as Asterisk tells, when the fallback's call did (``cancelled``)."""
    for seq in sorted(existing.open_seqs):
        line = call.leg_lines.get(seq)
        result = _LEG_DISPOSITION.get(line.disposition, LegResult.CANCELLED) if line else None
        record.leg_written(
            seq,
            result=str(result or LegResult.CANCELLED),
            cause=None,
            at=line.end if line is not None else call.ended_at,
        )
    return len(existing.open_seqs)


def _write_attempts(
    record: CallRecorder, call: FallbackCall, existing: LoggedCall | None, rota: Rota | None
) -> int:
    """The call's fallback attempts it does not have yet, numbered after its attempts."""
    seq = existing.max_seq if existing is not None else 0
    have = existing.channel_ids if existing is not None else set()
    written = 0
    for attempt in call.attempts():
        channel_id = attempt.channel_id(call.linkedid)
        if channel_id in have:
            continue
        seq += 1
        if attempt.forward:
            officer_id, officer_name = FORWARD_OFFICER_ID, FORWARD_OFFICER_NAME
        else:
            officer_id, officer_name = officer_for(rota, attempt.number, attempt.started_at)
        label = None if attempt.forward else _label_for(rota, attempt.number)
        rung = Officer(officer_id, officer_name, attempt.number, label)
        record.leg_opened(seq, rung, channel_id=channel_id, at=attempt.started_at)
        record.leg_written(
            seq,
            result=attempt.result,
            cause=attempt.cause,
            at=attempt.ended_at,
            answered_at=attempt.answered_at,
        )
        written += 1
    return written


async def import_fallback(
    cdr_path: Path,
    state_path: Path,
    call_log: CallLog,
    engine: AsyncEngine,
    *,
    rota: Rota | None = None,
    branch: int = contract.BRANCH,
) -> ImportReport:
    """Import what the CDR file gained since the last run; save the new offset once written
    (lines that could not be read go to the rejected file beside the state file first)."""
    state = ReadState.load(state_path)
    read = await asyncio.to_thread(read_new, cdr_path, state)
    report = ImportReport(bad_lines=read.bad, repaired_lines=read.repaired)
    calls = fold(read.lines)
    existing = await logged_calls(engine, list(calls), ATTEMPT_CHANNEL_PREFIX)
    for linkedid, call in calls.items():
        found = existing.get(linkedid)
        # A refused write raises: the offset is then not saved and the lines are read again.
        record = CallRecorder(call_log, linkedid, contract.MODE_FALLBACK, raise_refused=True)
        write_call = True
        if found is not None:
            if found.mode == contract.MODE_FALLBACK or found.outcome not in (None, "failed"):
                report.already += 1
                write_call = False
            else:
                report.completed += 1
        else:
            report.imported += 1
        if write_call:
            _write(record, call, rota, branch)
            report.linkedids.append(linkedid)
        attempts = _write_attempts(record, call, found, rota)
        if found is not None and found.mode != contract.MODE_FALLBACK:
            attempts += _close_open_attempts(record, call, found)
        report.attempts += attempts
        if write_call or attempts:
            log.info(
                "cdr.fallback_call",
                linkedid=linkedid,
                caller=mask_number(call.caller),
                outcome=call.outcome,
                completed=found is not None,
                attempts=attempts,
            )
    await call_log.flush()
    rejected_path = state_path.with_name(REJECTED_FILENAME)
    await asyncio.to_thread(keep_rejected, rejected_path, read.rejected)
    if read.rejected:
        report.rejected_file = str(rejected_path)
    await asyncio.to_thread(read.state.save, state_path)
    if report.imported or report.completed or report.bad_lines or report.attempts:
        log.info(
            "cdr.imported",
            file=str(cdr_path),
            imported=report.imported,
            completed=report.completed,
            already=report.already,
            attempts=report.attempts,
            bad_lines=report.bad_lines,
            repaired_lines=report.repaired_lines,
            rejected_file=report.rejected_file,
        )
    return report


async def run_importer(
    cdr_path: Path,
    state_path: Path,
    call_log: CallLog,
    engine: AsyncEngine,
    *,
    rota: Rota | None = None,
    interval: float = 30.0,
    first_delay: float = 5.0,
) -> None:
    """Import now (a few seconds after start) and then every ``interval`` seconds, forever;
    an error is logged and retried at the next tick (a database outage must not stop it)."""
    await asyncio.sleep(first_delay)
    while True:
        try:
            await import_fallback(cdr_path, state_path, call_log, engine, rota=rota)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "cdr.import_failed", file=str(cdr_path), error=f"{type(exc).__name__}: {exc}"
            )
        await asyncio.sleep(interval)


DEFAULT_CDR_FILE: Final = Path("/var/log/asterisk/cdr-custom") / CDR_FILENAME


def cdr_file_from_env() -> Path:
    """``CALLROUTER_CDR_PATH`` (or ``CALLROUTER_CDR_FILE``), else Asterisk's default place for
    the shipped cdr_custom.conf. Prefer ``_PATH``: settings read every ``CALLROUTER_*_FILE``
    as a secret file, so ``CALLROUTER_CDR_FILE`` only works once the file exists."""
    for name in ("CALLROUTER_CDR_PATH", "CALLROUTER_CDR_FILE"):
        raw = os.environ.get(name, "").strip()
        if raw:
            return Path(raw)
    return DEFAULT_CDR_FILE


async def load_rota_quietly(path: Path) -> Rota | None:
    """The rota (to name who answered), or None when it cannot be loaded (logged)."""
    from callrouter.errors import RotaError  # noqa: PLC0415
    from callrouter.rota import load_rota  # noqa: PLC0415

    try:
        return await asyncio.to_thread(load_rota, path)
    except (RotaError, OSError) as exc:
        log.warning("cdr.rota_unavailable", path=str(path), error=str(exc))
        return None


async def import_once(
    settings: Settings, *, cdr_path: Path | None = None, database_url: str | None = None
) -> ImportReport:
    """``callrouter calls import-fallback``: one import run with its own call log."""
    from callrouter.store.db import make_engine  # noqa: PLC0415

    url = database_url or settings.effective_database_url()
    rota = await load_rota_quietly(settings.rota_path)
    tz = rota.timezone if rota is not None else settings.timezone
    engine = make_engine(url)
    try:
        # Its own spool: a running `serve` holds the lock of the main one and its importer
        # (serve_importer) that of IMPORTER_SPOOL, so a run by hand works beside `serve`.
        spool = settings.effective_spool_dir().with_name(MANUAL_IMPORT_SPOOL)
        async with CallLog(url, spool, tz=tz) as call_log:
            return await import_fallback(
                cdr_path or cdr_file_from_env(),
                settings.state_dir / STATE_FILENAME,
                call_log,
                engine,
                rota=rota,
                branch=settings.branch,
            )
    finally:
        await engine.dispose()


async def serve_importer(
    settings: Settings,
    *,
    cdr_path: Path | None = None,
    interval: float = 30.0,
    first_delay: float = 5.0,
) -> None:
    """Beside ``callrouter serve``: import fallback calls a few seconds after start (so the
    calls handled while it was down are in the log within a minute) and every ``interval``
    seconds after that, until cancelled. Never raises: a failure is logged and retried."""
    from callrouter.store.db import make_engine  # noqa: PLC0415

    url = settings.effective_database_url()
    while True:
        try:
            rota = await load_rota_quietly(settings.rota_path)
            tz = rota.timezone if rota is not None else settings.timezone
            engine = make_engine(url)
            try:
                spool = settings.effective_spool_dir().with_name(IMPORTER_SPOOL)
                async with CallLog(url, spool, tz=tz) as call_log:
                    await run_importer(
                        cdr_path or cdr_file_from_env(),
                        settings.state_dir / STATE_FILENAME,
                        call_log,
                        engine,
                        rota=rota,
                        interval=interval,
                        first_delay=first_delay,
                    )
            finally:
                await engine.dispose()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("cdr.importer_failed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(interval)
