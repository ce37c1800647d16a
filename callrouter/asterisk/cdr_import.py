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
  writes go through :class:`~callrouter.store.writer.CallLog` (upserts keyed by linkedid), so
  importing the same lines twice changes nothing: once and only once. Each attempt has the
  channel id ``cdr:<linkedid>:<position>``; an attempt whose id the call already has is not
  written again, new ones get ``seq`` numbers after the call's existing attempts (a call
  callrouter started keeps its own attempts 1..n, the fallback's follow).
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
import contextlib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Final

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.asterisk import contract
from callrouter.asterisk.cdr_lines import MAX_LINE_BYTES, CdrLine, CdrLineError, parse_line
from callrouter.asterisk.fastagi import attempt_result
from callrouter.calls.vocabulary import (
    FORWARD_OFFICER_ID,
    FORWARD_OFFICER_NAME,
    LegResult,
    leg_seq,
)
from callrouter.logs import mask_number
from callrouter.rota import Rota
from callrouter.routing import CallInfo, decide
from callrouter.settings import Settings
from callrouter.store.models import Call, CallAttempt
from callrouter.store.writer import CallLog

log = structlog.get_logger(__name__)

CDR_FILENAME: Final = "callrouter-cdr.json"
STATE_FILENAME: Final = "cdr-import.json"
REJECTED_FILENAME: Final = "cdr-rejected.jsonl"
# CALLROUTER_FALLBACK_RESULT → calls.outcome ("forwarded": nobody on the rota answered and the
# forward number took the call — unanswered by the unit, as in ARI mode).
OUTCOMES: Final = {
    "answered": "answered",
    "forwarded": "unanswered",
    "abandoned": "abandoned",
    "unanswered": "unanswered",
    "failed": "failed",
}
UNKNOWN_OFFICER: Final = ("unknown", "Không rõ (cuộc gọi dự phòng)")
ATTEMPT_CHANNEL_PREFIX: Final = "cdr:"
# An attempt's status when the call ended during its Dial (written by the hang-up handler).
STATUS_BRIDGED: Final = "BRIDGED"
STATUS_CANCEL: Final = "CANCEL"


@dataclass(frozen=True)
class FallbackAttempt:
    """One Dial of a fallback call, as it goes into ``call_attempts``."""

    position: int  # 1-based, in the order the dialplan dialled
    number: str
    forward: bool
    result: str
    cause: int | None
    started_at: datetime
    ended_at: datetime
    answered_at: datetime | None

    def channel_id(self, linkedid: str) -> str:
        return f"{ATTEMPT_CHANNEL_PREFIX}{linkedid}:{self.position}"


def _epoch(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def attempt_from_cdr(position: int, raw: contract.CdrAttempt) -> FallbackAttempt:
    """Map one dialplan entry to an attempt row, as FastAGI/ARI mode map a leg."""
    answered_at = _epoch(raw.answered_at) if raw.answered_at is not None else None
    cause = raw.cause
    if raw.dialstatus == STATUS_BRIDGED:
        result: str = LegResult.ANSWERED
        answered_at = answered_at or _epoch(raw.dial_at)
    elif raw.dialstatus == STATUS_CANCEL:
        result = LegResult.CANCELLED
    else:
        leg, cause = attempt_result(raw.dialstatus, raw.cause, raw.digit)
        result = str(leg)
    started, ended = _epoch(raw.dial_at), _epoch(raw.end_at)
    if answered_at is not None and not (started <= answered_at <= ended):
        answered_at = None
    return FallbackAttempt(
        position=position,
        number=raw.number,
        forward=raw.index == contract.FALLBACK_ATTEMPT_FORWARD,
        result=str(result),
        cause=cause,
        started_at=started,
        ended_at=ended,
        answered_at=answered_at,
    )


@dataclass
class FallbackCall:
    """What the CDR says about one fallback call (all its lines folded)."""

    linkedid: str
    uniqueid: str
    caller: str | None
    started_at: datetime
    ended_at: datetime
    result: str | None = None
    answered_by: str | None = None
    dial_answered_start: datetime | None = None
    dial_at: datetime | None = None
    rota_version: str | None = None
    reason: str | None = None
    attempts_raw: str = ""
    #: the caller channel's hang-up cause the hang-up handler read (None: Asterisk gave none)
    hangup_cause: int | None = None
    #: the CDR lines of callrouter's own officer legs (a router killed mid-call), by seq
    leg_lines: dict[int, CdrLine] = field(default_factory=dict)

    def add(self, cdr: CdrLine) -> None:
        seq = leg_seq(cdr.uniqueid)
        if seq is not None and (seq not in self.leg_lines or cdr.end > self.leg_lines[seq].end):
            self.leg_lines[seq] = cdr
        self.started_at = min(self.started_at, cdr.start)
        self.ended_at = max(self.ended_at, cdr.end)
        self.caller = self.caller or cdr.src
        # The Dial that was answered: its CDR starts when that phone began to ring, unless
        # it is the call's first line (then it starts with the call); `dial_at` says better.
        answered_dial = cdr.lastapp == "Dial" and cdr.dstchannel and cdr.disposition == "ANSWERED"
        if answered_dial and (
            self.dial_answered_start is None or cdr.start > self.dial_answered_start
        ):
            self.dial_answered_start = cdr.start
        # The attempts list only grows: each later line of the call carries all of it.
        if cdr.attempts.count("|") >= self.attempts_raw.count("|"):
            self.attempts_raw = cdr.attempts or self.attempts_raw
        mark = cdr.mark or {}
        if mark.get("result"):
            self.result = mark["result"]
            self.answered_by = mark.get("answered_by") or None
            dial_at = mark.get("dial_at", "")
            if dial_at.isdigit():
                self.dial_at = datetime.fromtimestamp(int(dial_at), UTC)
            cause = mark.get("cause", "")
            self.hangup_cause = int(cause) if cause.isdigit() and len(cause) <= 3 else None
        self.rota_version = mark.get("rota") or self.rota_version
        self.reason = mark.get("reason") or self.reason

    @property
    def outcome(self) -> str:
        return OUTCOMES.get(self.result or "", "abandoned" if self.result is None else "failed")

    def attempts(self) -> list[FallbackAttempt]:
        entries, bad = contract.parse_cdr_attempts(self.attempts_raw)
        for entry in bad:
            log.warning("cdr.bad_attempt", linkedid=self.linkedid, entry=entry)
        return [attempt_from_cdr(n, raw) for n, raw in enumerate(entries, start=1)]

    def bridged_at(self) -> datetime | None:
        """When the officer the caller talked to picked up (from the attempts), if known."""
        for attempt in self.attempts():
            if attempt.result == LegResult.ANSWERED and not attempt.forward:
                return attempt.answered_at
        return None


def fold(lines: Iterable[CdrLine]) -> dict[str, FallbackCall]:
    """The fallback calls among ``lines`` (calls with a marked line), by linkedid."""
    marked = {c.linkedid for c in lines if c.mark is not None}
    calls: dict[str, FallbackCall] = {}
    for cdr in lines:
        if cdr.linkedid not in marked:
            continue
        call = calls.get(cdr.linkedid)
        if call is None:
            call = calls[cdr.linkedid] = FallbackCall(
                cdr.linkedid, cdr.uniqueid, cdr.src, cdr.start, cdr.end
            )
        call.add(cdr)
    return calls


# ----------------------------------------------------------------------------- reading


@dataclass
class ReadState:
    inode: int | None = None
    offset: int = 0
    line: int | None = None  # number of the line at ``offset`` (1-based); None: count it

    @classmethod
    def load(cls, path: Path) -> ReadState:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            line = data.get("line")
            return cls(
                inode=data.get("inode"),
                offset=int(data.get("offset", 0)),
                line=int(line) if line is not None else None,
            )
        except FileNotFoundError:
            return cls()
        except (ValueError, TypeError, OSError, AttributeError) as exc:
            log.warning("cdr.state_unreadable", path=str(path), error=str(exc))
            return cls()

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(
            json.dumps({"inode": self.inode, "offset": self.offset, "line": self.line}),
            encoding="utf-8",
        )
        os.replace(tmp, path)


@dataclass(frozen=True)
class Rejected:
    """A line that could not be read: kept in the rejected file with why."""

    file: str
    line: int
    field: str
    problem: str
    text: str


@dataclass
class ReadResult:
    lines: list[CdrLine] = field(default_factory=list)
    bad: int = 0
    repaired: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    state: ReadState = field(default_factory=ReadState)


def _read_fh(
    fh: IO[bytes], path: Path, offset: int, first_line: int | None, out: ReadResult, *, final: bool
) -> tuple[int, int]:
    """Lines of the open file ``fh`` from ``offset`` (complete ones only, unless ``final``:
    a rotated file nobody writes any more). Returns the offset and line number after them."""
    if first_line is None:
        fh.seek(0)
        first_line = fh.read(offset).count(b"\n") + 1
    fh.seek(offset)
    data = fh.read()
    end = len(data) if final else data.rfind(b"\n") + 1
    n = first_line
    for raw in data[:end].split(b"\n"):
        if raw.strip():
            text = raw.decode("utf-8", errors="replace")
            try:
                if len(raw) > MAX_LINE_BYTES:
                    raise CdrLineError(path, n, "-", f"longer than {MAX_LINE_BYTES} bytes")
                cdr = parse_line(text, path, n)
            except CdrLineError as exc:
                out.bad += 1
                out.rejected.append(Rejected(str(path), n, exc.field, exc.problem, text))
                log.warning(
                    "cdr.bad_line",
                    file=str(exc.path),
                    line=exc.line,
                    field=exc.field,
                    problem=exc.problem,
                )
            else:
                if cdr.repaired:
                    out.repaired += 1
                    log.warning(
                        "cdr.repaired_line",
                        file=str(path),
                        line=n,
                        problem="unescaped quotes inside a value",
                    )
                out.lines.append(cdr)
        n += 1
    consumed = data[:end]
    return offset + end, first_line + consumed.count(b"\n")


def _read_from(path: Path, offset: int, out: ReadResult, *, final: bool = False) -> int:
    """Complete lines of ``path`` from ``offset``; returns the offset after the last one."""
    with path.open("rb") as fh:
        return _read_fh(fh, path, offset, None, out, final=final)[0]


def _rotated(path: Path, inode: int) -> Path | None:
    """The file in ``path``'s directory that is the rotated former ``path`` (same inode)."""
    with contextlib.suppress(OSError):
        for candidate in path.parent.iterdir():
            if candidate != path and candidate.name.startswith(path.name):
                with contextlib.suppress(OSError):
                    if candidate.stat().st_ino == inode:
                        return candidate
    return None


ROTATED_SETTLE_SECONDS: Final = 5.0


def _may_still_be_written(path: Path) -> bool:
    """A rotated file whose last line is unfinished and that changed a moment ago."""
    with contextlib.suppress(OSError), path.open("rb") as fh:
        st = os.fstat(fh.fileno())
        if st.st_size == 0:
            return False
        fh.seek(st.st_size - 1)
        unfinished = fh.read(1) != b"\n"
        return unfinished and time.time() - st.st_mtime < ROTATED_SETTLE_SECONDS
    return False


def read_new(path: Path, state: ReadState) -> ReadResult:
    """Lines written since ``state`` (blocking file I/O: run it in a thread)."""
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


def keep_rejected(path: Path, rejected: list[Rejected]) -> None:
    """Append the lines that could not be read to ``path`` (JSON lines: file, line, field,
    problem, the line itself), so an operator can see and replay them."""
    if not rejected:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    at = datetime.now(UTC).isoformat(timespec="seconds")
    with path.open("a", encoding="utf-8") as fh:
        for r in rejected:
            record = {
                "at": at,
                "file": r.file,
                "line": r.line,
                "field": r.field,
                "problem": r.problem,
                "text": r.text,
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


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


def officer_for(rota: Rota | None, number: str, at: datetime) -> tuple[str, str]:
    """Who answered at ``number`` then: the officer on duty at that number, else the officer
    whose own phone it is, else "unknown"."""
    officer_id, officer_name, _how = infer_officer(rota, number, at)
    return officer_id, officer_name


#: how the import named the officer who answered a fallback call (event ``answerer_inferred``)
INFERRED_ON_DUTY: Final = "on_duty_at_number"  # the rota had them on duty at that number then
INFERRED_OWN_PHONE: Final = "own_phone"  # nobody on duty there; the number is their phone
INFERRED_UNKNOWN: Final = "unknown"  # no rota, or the number is nobody's


def infer_officer(rota: Rota | None, number: str, at: datetime) -> tuple[str, str, str]:
    """:func:`officer_for` and how it knows: the fallback dialplan knows numbers, not
    officers, so the answerer of a fallback call is always inferred from the rota."""
    if rota is None:
        return (*UNKNOWN_OFFICER, INFERRED_UNKNOWN)
    with contextlib.suppress(Exception):
        decision = decide(
            rota, at, CallInfo(linkedid="cdr-import", caller=None, branch=rota.branch)
        )
        for target in decision.targets:
            if target.number == number:
                return target.officer_id, target.officer_name, INFERRED_ON_DUTY
    for officer in rota.officers:
        if officer.phone == number:
            return officer.id, officer.name, INFERRED_OWN_PHONE
    return (*UNKNOWN_OFFICER, INFERRED_UNKNOWN)


def _label_for(rota: Rota | None, number: str) -> str | None:
    if rota is not None:
        for registered in rota.numbers:
            if registered.number == number:
                return registered.label
    return None


@dataclass
class _Existing:
    mode: str
    outcome: str | None
    max_seq: int = 0
    channel_ids: set[str] = field(default_factory=set)
    #: callrouter's attempts of the call still without a result (the router was killed)
    open_seqs: set[int] = field(default_factory=set)


async def _existing(engine: AsyncEngine, linkedids: list[str]) -> dict[str, _Existing]:
    """The calls rows of ``linkedids`` that exist, with their attempts' seq and channel ids."""
    out: dict[str, _Existing] = {}
    table = Call.__table__
    attempts = CallAttempt.__table__
    async with engine.connect() as conn:
        for i in range(0, len(linkedids), 500):
            chunk = linkedids[i : i + 500]
            rows = await conn.execute(
                select(table.c.id, table.c.linkedid, table.c.mode, table.c.outcome).where(
                    table.c.linkedid.in_(chunk)
                )
            )
            by_id: dict[str, _Existing] = {}
            for call_id, linkedid, mode, outcome in rows.all():
                by_id[call_id] = out[linkedid] = _Existing(mode, outcome)
            if not by_id:
                continue
            seqs = await conn.execute(
                select(attempts.c.call_id, func.max(attempts.c.seq))
                .where(attempts.c.call_id.in_(list(by_id)))
                .group_by(attempts.c.call_id)
            )
            for call_id, max_seq in seqs.all():
                by_id[call_id].max_seq = int(max_seq or 0)
            ours = await conn.execute(
                select(attempts.c.call_id, attempts.c.channel_id).where(
                    attempts.c.call_id.in_(list(by_id)),
                    attempts.c.channel_id.startswith(ATTEMPT_CHANNEL_PREFIX),
                )
            )
            for call_id, channel_id in ours.all():
                by_id[call_id].channel_ids.add(channel_id)
            open_ = await conn.execute(
                select(attempts.c.call_id, attempts.c.seq).where(
                    attempts.c.call_id.in_(list(by_id)),
                    attempts.c.result.is_(None) | attempts.c.ended_at.is_(None),
                )
            )
            for call_id, seq in open_.all():
                by_id[call_id].open_seqs.add(int(seq))
    return out


def _write(call_log: CallLog, call: FallbackCall, rota: Rota | None, branch: int) -> None:
    call_log.call_started(
        linkedid=call.linkedid,
        uniqueid=call.uniqueid,
        branch=branch,
        caller=call.caller,
        started_at=call.started_at,
        mode=contract.MODE_FALLBACK,
        rota_version=call.rota_version,
    )
    if call.outcome == "answered" and call.answered_by:
        # The officer's pick-up time, noted by the dialplan's pre-bridge subroutine (the
        # attempt's answered time). Lines of an older dialplan have none: then the answered
        # Dial's start — when that phone began to ring — is used (Asterisk's CDR answer time
        # is the caller's, at the menu), so the wait is a lower bound and the talk time an
        # upper bound by the ring time.
        answered_at = (
            call.bridged_at() or call.dial_at or call.dial_answered_start or call.started_at
        )
        officer_id, officer_name, how = infer_officer(rota, call.answered_by, answered_at)
        call_log.call_answered(
            linkedid=call.linkedid,
            answered_at=answered_at,
            officer_id=officer_id,
            officer_name=officer_name,
            number=call.answered_by,
        )
        # The answerer is the rota's, not Asterisk's word: marked as inferred.
        call_log.event(
            linkedid=call.linkedid,
            at=answered_at,
            type="answerer_inferred",
            data={"officer_id": officer_id, "how": how, "rota": call.rota_version},
        )
    call_log.call_ended(
        linkedid=call.linkedid,
        ended_at=call.ended_at,
        outcome=call.outcome,
        hangup_cause=call.hangup_cause,
        late=True,  # fills a NULL outcome or corrects `failed`, never more (store/records.py)
    )
    call_log.event(
        linkedid=call.linkedid,
        at=call.ended_at,
        type="fallback_imported",
        data={
            "result": call.result,
            "reason": call.reason,
            "rota": call.rota_version,
            "source": "cdr",
        },
    )


#: a killed router's officer leg: its CDR disposition → the attempt's result
_LEG_DISPOSITION: Final[dict[str, str]] = {
    "ANSWERED": LegResult.ANSWERED,
    "BUSY": LegResult.BUSY,
    "NO ANSWER": LegResult.NO_ANSWER,
    "FAILED": LegResult.FAILED,
    "CONGESTION": LegResult.FAILED,
}


def _close_open_attempts(call_log: CallLog, call: FallbackCall, existing: _Existing) -> int:
    """A router killed while officers rang left their attempts without a result: close them
    from what Asterisk's CDR says of each leg (its disposition and end); a leg with no line
    of its own ended, as far as Asterisk tells, when the fallback's call did (``cancelled``)."""
    for seq in sorted(existing.open_seqs):
        line = call.leg_lines.get(seq)
        result = _LEG_DISPOSITION.get(line.disposition, LegResult.CANCELLED) if line else None
        call_log.attempt_ended(
            linkedid=call.linkedid,
            seq=seq,
            result=str(result or LegResult.CANCELLED),
            cause=None,
            ended_at=line.end if line is not None else call.ended_at,
        )
    return len(existing.open_seqs)


def _write_attempts(
    call_log: CallLog, call: FallbackCall, existing: _Existing | None, rota: Rota | None
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
        call_log.attempt_started(
            linkedid=call.linkedid,
            seq=seq,
            officer_id=officer_id,
            officer_name=officer_name,
            number=attempt.number,
            number_label=None if attempt.forward else _label_for(rota, attempt.number),
            channel_id=channel_id,
            started_at=attempt.started_at,
        )
        call_log.attempt_ended(
            linkedid=call.linkedid,
            seq=seq,
            result=attempt.result,
            cause=attempt.cause,
            ended_at=attempt.ended_at,
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
    existing = await _existing(engine, list(calls))
    for linkedid, call in calls.items():
        found = existing.get(linkedid)
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
            _write(call_log, call, rota, branch)
            report.linkedids.append(linkedid)
        attempts = _write_attempts(call_log, call, found, rota)
        if found is not None and found.mode != contract.MODE_FALLBACK:
            attempts += _close_open_attempts(call_log, call, found)
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
