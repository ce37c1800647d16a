"""Import the calls the dialplan fallback handled while callrouter was down, from Asterisk's CDR.

**Backend: ``cdr_custom`` writing JSON lines** (``dialplan/cdr_custom.conf`` →
``<astlogdir>/cdr-custom/callrouter-cdr.json``). The records that matter are exactly the ones
written while callrouter — and possibly its database — is unavailable, so the backend must
not depend on either: a plain append-only file written by Asterisk itself needs no database
driver or network (``cdr_adaptive_odbc``/``cdr_pgsql`` lose records when the database is down,
``cdr_manager`` AMI events are lost when nobody listens), survives restarts, and can be read
incrementally by byte offset. JSON (Asterisk's own ``format = json``) quotes every field, so a
caller name with a comma or quote cannot shift columns the way CSV can.

Rules:

* A call is a fallback call when one of its CDR lines has a ``userfield`` starting with
  ``callrouter=fallback`` (set by ``[callrouter-fallback]``). The hang-up handler adds the
  outcome Asterisk saw (``result=``), the number that answered and the talk seconds.
* Matching is by **linkedid**: no ``calls`` row → a new row with ``mode=fallback``; a row
  callrouter started and then handed to the fallback (outcome still empty or ``failed``) is
  completed from the CDR and keeps its one row; any other existing row is left alone. All
  writes go through :class:`~callrouter.store.writer.CallLog` (upserts keyed by linkedid), so
  importing the same lines twice changes nothing: once and only once.
* Reading resumes at the byte offset saved in a small state file (with the file's inode).
  If the file was rotated (new inode, or shorter than the offset), the rest of the old file
  is read from its rotated name (``<name>.1``, ``<name>-YYYYMMDD``… in the same directory,
  found by inode) before the new file is read from its start. Only complete lines are read.
* A line that is not JSON or lacks a field is skipped with a log line naming file, line and
  field; the import goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.asterisk import contract
from callrouter.logs import mask_number
from callrouter.rota import Rota
from callrouter.routing import CallInfo, decide
from callrouter.settings import Settings
from callrouter.store.models import Call
from callrouter.store.writer import CallLog

log = structlog.get_logger(__name__)

CDR_FILENAME: Final = "callrouter-cdr.json"
STATE_FILENAME: Final = "cdr-import.json"
REQUIRED: Final = ("linkedid", "start", "end", "userfield")
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


class CdrLineError(ValueError):
    def __init__(self, path: Path, line: int, field: str, problem: str) -> None:
        super().__init__(f"{path}:{line}: field {field!r}: {problem}")
        self.path, self.line, self.field, self.problem = path, line, field, problem


@dataclass(frozen=True)
class CdrLine:
    linkedid: str
    uniqueid: str
    src: str | None
    start: datetime
    end: datetime
    disposition: str
    userfield: str
    mark: dict[str, str] | None
    dstchannel: str = ""
    lastapp: str = ""


def _when(path: Path, line: int, name: str, raw: Any) -> datetime:
    if not isinstance(raw, str) or not raw:
        raise CdrLineError(path, line, name, "missing or empty")
    try:
        value = datetime.strptime(raw, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise CdrLineError(path, line, name, f"not a timestamp: {raw[:40]!r}") from None
    if value.tzinfo is None:
        raise CdrLineError(path, line, name, "timestamp without a UTC offset")
    return value.astimezone(UTC)


def parse_line(text: str, path: Path, line: int) -> CdrLine:
    """One JSON CDR line; raises :class:`CdrLineError` naming file, line and field."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CdrLineError(path, line, "-", f"not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise CdrLineError(path, line, "-", "not a JSON object")
    for name in REQUIRED:
        if name not in data or data[name] is None:
            raise CdrLineError(path, line, name, "missing")
    linkedid = data["linkedid"]
    if not isinstance(linkedid, str) or not linkedid.strip():
        raise CdrLineError(path, line, "linkedid", "empty")
    userfield = str(data["userfield"])
    start = _when(path, line, "start", data["start"])
    end = _when(path, line, "end", data["end"]) if data["end"] else start
    src = data.get("src")
    return CdrLine(
        linkedid=linkedid.strip(),
        uniqueid=str(data.get("uniqueid") or linkedid),
        src=str(src) if src not in (None, "") else None,
        start=start,
        end=end,
        disposition=str(data.get("disposition") or ""),
        userfield=userfield,
        mark=contract.parse_cdr_userfield(userfield),
        dstchannel=str(data.get("dstchannel") or ""),
        lastapp=str(data.get("lastapp") or ""),
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

    def add(self, cdr: CdrLine) -> None:
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
        mark = cdr.mark or {}
        if mark.get("result"):
            self.result = mark["result"]
            self.answered_by = mark.get("answered_by") or None
            dial_at = mark.get("dial_at", "")
            if dial_at.isdigit():
                self.dial_at = datetime.fromtimestamp(int(dial_at), UTC)
        self.rota_version = mark.get("rota") or self.rota_version
        self.reason = mark.get("reason") or self.reason

    @property
    def outcome(self) -> str:
        return OUTCOMES.get(self.result or "", "abandoned" if self.result is None else "failed")


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

    @classmethod
    def load(cls, path: Path) -> ReadState:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(inode=data.get("inode"), offset=int(data.get("offset", 0)))
        except FileNotFoundError:
            return cls()
        except (ValueError, TypeError, OSError) as exc:
            log.warning("cdr.state_unreadable", path=str(path), error=str(exc))
            return cls()

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"inode": self.inode, "offset": self.offset}), encoding="utf-8")
        os.replace(tmp, path)


@dataclass
class ReadResult:
    lines: list[CdrLine] = field(default_factory=list)
    bad: int = 0
    state: ReadState = field(default_factory=ReadState)


def _read_from(path: Path, offset: int, out: ReadResult) -> int:
    """Complete lines of ``path`` from ``offset``; returns the offset after the last one."""
    with path.open("rb") as fh:
        fh.seek(offset)
        data = fh.read()
    end = data.rfind(b"\n")
    if end < 0:
        return offset
    # Line numbers are counted from the start of the file for the log.
    with path.open("rb") as fh:
        first_line = fh.read(offset).count(b"\n") + 1
    for n, raw in enumerate(data[: end + 1].splitlines(), start=first_line):
        if not raw.strip():
            continue
        try:
            out.lines.append(parse_line(raw.decode("utf-8", errors="replace"), path, n))
        except CdrLineError as exc:
            out.bad += 1
            log.warning(
                "cdr.bad_line",
                file=str(exc.path),
                line=exc.line,
                field=exc.field,
                problem=exc.problem,
            )
    return offset + end + 1


def _rotated(path: Path, inode: int) -> Path | None:
    """The file in ``path``'s directory that is the rotated former ``path`` (same inode)."""
    with contextlib.suppress(OSError):
        for candidate in path.parent.iterdir():
            if candidate != path and candidate.name.startswith(path.name):
                with contextlib.suppress(OSError):
                    if candidate.stat().st_ino == inode:
                        return candidate
    return None


def read_new(path: Path, state: ReadState) -> ReadResult:
    """Lines written since ``state`` (blocking file I/O: run it in a thread)."""
    out = ReadResult(state=ReadState(state.inode, state.offset))
    try:
        st = path.stat()
    except FileNotFoundError:
        return out
    offset = state.offset
    if state.inode is not None and (st.st_ino != state.inode or st.st_size < offset):
        old = _rotated(path, state.inode) if st.st_ino != state.inode else None
        if old is not None:
            log.info("cdr.rotated", file=str(path), rotated=str(old))
            _read_from(old, offset, out)
        else:
            log.info("cdr.restarted", file=str(path), reason="truncated or replaced")
        offset = 0
    out.state = ReadState(st.st_ino, _read_from(path, offset, out))
    return out


# ----------------------------------------------------------------------------- importing


@dataclass
class ImportReport:
    imported: int = 0
    completed: int = 0
    already: int = 0
    bad_lines: int = 0
    linkedids: list[str] = field(default_factory=list)


def officer_for(rota: Rota | None, number: str, at: datetime) -> tuple[str, str]:
    """Who answered at ``number`` then: the officer on duty at that number, else the officer
    whose own phone it is, else "unknown"."""
    if rota is None:
        return UNKNOWN_OFFICER
    with contextlib.suppress(Exception):
        decision = decide(
            rota, at, CallInfo(linkedid="cdr-import", caller=None, branch=rota.branch)
        )
        for target in decision.targets:
            if target.number == number:
                return target.officer_id, target.officer_name
    for officer in rota.officers:
        if officer.phone == number:
            return officer.id, officer.name
    return UNKNOWN_OFFICER


async def _existing(engine: AsyncEngine, linkedids: list[str]) -> dict[str, tuple[str, str | None]]:
    out: dict[str, tuple[str, str | None]] = {}
    table = Call.__table__
    async with engine.connect() as conn:
        for i in range(0, len(linkedids), 500):
            chunk = linkedids[i : i + 500]
            rows = await conn.execute(
                select(table.c.linkedid, table.c.mode, table.c.outcome).where(
                    table.c.linkedid.in_(chunk)
                )
            )
            for linkedid, mode, outcome in rows.all():
                out[linkedid] = (mode, outcome)
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
        # Asterisk's CDR has no time for the officer's pick-up (its answer time is the
        # caller's, at the menu): the answered Dial's start — when that phone began to ring —
        # is used, so the imported wait is a lower bound and the talk time an upper bound
        # (by the ring time, at most the rota's ring timeout), to the second.
        answered_at = call.dial_at or call.dial_answered_start or call.started_at
        officer_id, officer_name = officer_for(rota, call.answered_by, answered_at)
        call_log.call_answered(
            linkedid=call.linkedid,
            answered_at=answered_at,
            officer_id=officer_id,
            officer_name=officer_name,
            number=call.answered_by,
        )
    call_log.call_ended(
        linkedid=call.linkedid, ended_at=call.ended_at, outcome=call.outcome, hangup_cause=None
    )
    call_log.event(
        linkedid=call.linkedid,
        at=call.ended_at,
        type="fallback_imported",
        data={"result": call.result, "reason": call.reason, "source": "cdr"},
    )


async def import_fallback(
    cdr_path: Path,
    state_path: Path,
    call_log: CallLog,
    engine: AsyncEngine,
    *,
    rota: Rota | None = None,
    branch: int = contract.BRANCH,
) -> ImportReport:
    """Import what the CDR file gained since the last run; save the new offset once written."""
    state = ReadState.load(state_path)
    read = await asyncio.to_thread(read_new, cdr_path, state)
    report = ImportReport(bad_lines=read.bad)
    calls = fold(read.lines)
    existing = await _existing(engine, list(calls))
    for linkedid, call in calls.items():
        found = existing.get(linkedid)
        if found is not None:
            mode, outcome = found
            if mode == contract.MODE_FALLBACK or outcome not in (None, "failed"):
                report.already += 1
                continue
            report.completed += 1
        else:
            report.imported += 1
        _write(call_log, call, rota, branch)
        report.linkedids.append(linkedid)
        log.info(
            "cdr.fallback_call",
            linkedid=linkedid,
            caller=mask_number(call.caller),
            outcome=call.outcome,
            completed=found is not None,
        )
    await call_log.flush()
    await asyncio.to_thread(read.state.save, state_path)
    if report.imported or report.completed or report.bad_lines:
        log.info(
            "cdr.imported",
            file=str(cdr_path),
            imported=report.imported,
            completed=report.completed,
            already=report.already,
            bad_lines=report.bad_lines,
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
        # Its own spool: a running `serve` holds the lock of the main one.
        spool = settings.effective_spool_dir().with_name("spool-cdr-import")
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
                spool = settings.effective_spool_dir().with_name("spool-cdr-import")
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
