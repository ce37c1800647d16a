"""A data subject's requests about one caller number: export everything held, or erase it.

**The rule for every table** (Decree 13/2023): a column that holds a caller's number or free
text about a caller is listed in :data:`PERSONAL_DATA`, and both ``db purge``
(:mod:`callrouter.store.purge`, past retention) and ``privacy export|erase`` (here, on
request) handle it. A table or column that only looks personal (an officer's number, an
account name) is listed in :data:`NOT_ABOUT_CALLERS` with the reason. The unit test
``tests/unit/test_store_privacy_coverage.py`` fails for a table or a personal-looking column
in neither list, so a new table cannot be forgotten.

* ``export``: every ``calls`` row whose caller is the number (in any of its written forms,
  :func:`number_forms`), with its attempts and events; the call-backs to the number; the cases
  opened on those calls and call-backs, with their history; events
  of other calls whose data quotes it; the recordings, each with its file and whether it is on
  disk; the lines of the CDR and rejected-lines files that hold it. JSON, UTF-8.
* ``erase``: the number is removed from those rows (``calls.caller`` and ``callbacks.number``
  NULL, the events' data replaced by ``{"purged": true}``, the cases' summary, answer, result
  and history values emptied), the recordings are deleted inside
  the recordings directory (a pointer is cleared only once its file is gone, as in the purge);
  the rows stay, so the monthly counts do not change. Its lines leave the CDR and
  rejected-lines files (:mod:`callrouter.store.cdr_files`: a file still in use is rotated
  now and its lines counted as pending; running ``erase`` again a few minutes later removes
  them).

Both write one ``privacy_requests`` row: the action, who asked for it and the counts, never
the number.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import ColumnElement, Table, Text, cast, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callrouter.logs import get_logger
from callrouter.rota.phones import normalise_phone
from callrouter.store.cases import blank_case_texts, cases_of
from callrouter.store.cdr_files import FilePurge, PersonalFiles, quoting
from callrouter.store.models import (
    call_attempts,
    call_events,
    callbacks,
    calls,
    case_history,
    cases,
    privacy_requests,
)
from callrouter.store.purge import (
    PURGED_EVENT_DATA,
    RecordingProblem,
    RecordingsOutcome,
    clear_recordings,
    remove_recordings,
)
from callrouter.store.recordings import RecordingRefused, resolve_recording

log = get_logger(__name__)

#: table -> the columns holding a caller's number or free text about a caller.
PERSONAL_DATA: Final[dict[str, tuple[str, ...]]] = {
    "calls": ("caller",),
    "callbacks": ("number", "recording"),
    "call_events": ("data",),
    "cases": ("summary", "answer", "result"),
    "case_history": ("changes",),
}
#: ``table`` or ``table.column`` that looks personal but is not about a caller, and why.
NOT_ABOUT_CALLERS: Final[dict[str, str]] = {
    "call_attempts": "the officers' legs: an officer's name and duty number, from the rota",
    "privacy_requests": "the audit of requests: counts and the account, never the number",
    "web_sessions": "admin web log-ins: the account and hashes, nothing about callers",
    "report_drafts": "the unit's monthly reports: a period, file folder and approving account",
    "notifications": "notices to officers and admins (shifts, gaps, alarms): no caller number",
    "answers": "the answer book agreed with the Department of Health: no caller in it",
    "answer_versions": "every version of the answer book and the clerk who saved it",
    "case_answers": "which agreed answer a case used, and the officer who attached it",
    "accounts": "officers' log-ins: officer id, rota e-mail and a hash, nothing about callers",
    "api_tokens": "API tokens: a name and a hash, nothing about callers",
    "callback_attempts": "how each call-back try went and the officer's account, no number",
    "calls.answered_officer_name": "the officer who answered",
    "calls.answered_number": "the officer's duty number that answered",
    "calls.classified_by": "the officer's account that classified the call",
    "callbacks.done_by": "the officer who called back",
    "cases.opened_by": "the officer's account that opened the case",
    "cases.told_by": "the officer who told the citizen the result",
    "cases.updated_by": "the officer's account that saved the case last",
}

EXPORT_FORMAT: Final = "callrouter-privacy-export/1"
_RAW_NUMBER: Final = re.compile(r"\+?[0-9]{3,20}")
_SEPARATORS: Final = re.compile(r"[\s.\-()/]")


def number_forms(raw: str) -> tuple[str, ...]:
    """The ways a caller number may have been written by Asterisk (``0912…``, ``+84912…``,
    ``84912…``, ``0084912…``); raises ``ValueError`` for text that is not a number."""
    text = _SEPARATORS.sub("", raw.strip())
    if not _RAW_NUMBER.fullmatch(text):
        raise ValueError(f"{raw!r} is not a phone number (digits, optionally a leading +)")
    forms = [text]
    try:
        national = normalise_phone(text)
    except ValueError:
        return tuple(forms)
    rest = national[1:]
    for form in (national, "+84" + rest, "84" + rest, "0084" + rest):
        if form not in forms:
            forms.append(form)
    return tuple(forms)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


#: the order an export lists each table's rows in (oldest first; ties by id or seq)
_EXPORT_ORDER: Final[dict[str, tuple[str, ...]]] = {
    "calls": ("started_at",),
    "call_attempts": ("call_id", "seq"),
    "call_events": ("at", "id"),
    "callbacks": ("created_at",),
    "cases": ("opened_at",),
    "case_history": ("at", "id"),
}


async def _rows(
    conn: AsyncConnection, table: Table, where: ColumnElement[bool]
) -> list[dict[str, Any]]:
    """The rows of ``table`` matching ``where``, as JSON-ready dicts, in export order."""
    order = [table.c[name] for name in _EXPORT_ORDER[table.name]]
    result = await conn.execute(select(table).where(where).order_by(*order))
    return [{k: _plain(v) for k, v in r._mapping.items()} for r in result]


@dataclass(frozen=True)
class Subject:
    """The rows about one number (ids only)."""

    call_ids: list[str]
    callback_ids: list[str]
    event_ids: list[int]


async def _subject(conn: AsyncConnection, forms: tuple[str, ...]) -> Subject:
    call_ids = [
        str(r[0]) for r in await conn.execute(select(calls.c.id).where(calls.c.caller.in_(forms)))
    ]
    cb_where: ColumnElement[bool] = callbacks.c.number.in_(forms)
    if call_ids:
        cb_where = or_(cb_where, callbacks.c.call_id.in_(call_ids))
    callback_ids = [str(r[0]) for r in await conn.execute(select(callbacks.c.id).where(cb_where))]
    # An event of another call may quote the number as a JSON string value.
    quoted = [cast(call_events.c.data, Text).contains(f'"{form}"') for form in forms]
    ev_where: ColumnElement[bool] = or_(*quoted)
    if call_ids:
        ev_where = or_(ev_where, call_events.c.call_id.in_(call_ids))
    event_ids = [int(r[0]) for r in await conn.execute(select(call_events.c.id).where(ev_where))]
    return Subject(call_ids, callback_ids, event_ids)


async def _audit(
    conn: AsyncConnection,
    action: str,
    subject: Subject,
    recordings: int,
    *,
    file_lines: int,
    by: str,
    now: datetime,
) -> None:
    await conn.execute(
        insert(privacy_requests).values(
            at=now,
            action=action,
            requested_by=by[:100],
            calls=len(subject.call_ids),
            callbacks=len(subject.callback_ids),
            events=len(subject.event_ids),
            recordings=recordings,
            file_lines=file_lines,
        )
    )


def _recording_entry(base: Path, callback_id: str, name: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"callback_id": callback_id, "name": name}
    try:
        path = resolve_recording(base, name)
    except RecordingRefused as exc:
        entry["refused"] = str(exc)
        return entry
    entry["file"] = str(path)
    entry["present"] = path.is_file()
    if entry["present"]:
        entry["bytes"] = path.stat().st_size
    return entry


@dataclass(frozen=True)
class SubjectRequest:
    """A citizen's request about the data held on one number: the number, where the
    recordings and personal files are, when it is served and who served it (the audit
    row's ``by``)."""

    number: str
    recordings_dir: Path
    files: PersonalFiles
    now: datetime
    by: str


async def export_number(engine: AsyncEngine, request: SubjectRequest) -> dict[str, Any]:
    """Everything held about the number, as a JSON-ready dict (and an audit row)."""
    number, recordings_dir, now, by = (
        request.number,
        request.recordings_dir,
        request.now,
        request.by,
    )
    forms = number_forms(number)
    file_lines = await asyncio.to_thread(request.files.lines, quoting(forms))
    async with engine.begin() as conn:
        subject = await _subject(conn, forms)
        call_rows = await _rows(conn, calls, calls.c.id.in_(subject.call_ids))
        attempts = await _rows(conn, call_attempts, call_attempts.c.call_id.in_(subject.call_ids))
        events = await _rows(conn, call_events, call_events.c.id.in_(subject.event_ids))
        cb_rows = await _rows(conn, callbacks, callbacks.c.id.in_(subject.callback_ids))
        case_rows = await _rows(conn, cases, cases_of(subject.call_ids, subject.callback_ids))
        case_ids = [c["id"] for c in case_rows]
        history = await _rows(conn, case_history, case_history.c.case_id.in_(case_ids))
        for case in case_rows:
            case["history"] = [h for h in history if h["case_id"] == case["id"]]
        recordings = [
            _recording_entry(recordings_dir, cb["id"], cb["recording"])
            for cb in cb_rows
            if cb["recording"]
        ]
        await _audit(
            conn, "export", subject, len(recordings), file_lines=len(file_lines), by=by, now=now
        )
    for call in call_rows:
        call["attempts"] = [a for a in attempts if a["call_id"] == call["id"]]
        call["events"] = [e for e in events if e["call_id"] == call["id"]]
    in_calls = set(subject.call_ids)
    # Not logged: the export goes to stdout, and the audit row says it was served.
    return {
        "format": EXPORT_FORMAT,
        "number": number,
        "forms": list(forms),
        "exported_at": now.isoformat(),
        "calls": call_rows,
        "callbacks": cb_rows,
        "cases": case_rows,
        "other_events": [e for e in events if e["call_id"] not in in_calls],
        "recordings": recordings,
        "file_lines": file_lines,
    }


@dataclass(frozen=True)
class EraseResult:
    calls: int
    callbacks: int
    events: int
    case_texts: int
    recordings_deleted: int
    recordings_missing: int
    problems: tuple[RecordingProblem, ...]
    files: tuple[FilePurge, ...]


async def erase_number(engine: AsyncEngine, request: SubjectRequest) -> EraseResult:
    """Remove the number and its recordings from every table in :data:`PERSONAL_DATA`, and
    its lines from the CDR and rejected-lines files."""
    recordings_dir, now, by = request.recordings_dir, request.now, request.by
    forms = number_forms(request.number)
    file_results = await asyncio.to_thread(request.files.apply, quoting(forms), now=now)
    lines_removed = sum(f.lines_removed for f in file_results)
    async with engine.begin() as conn:
        subject = await _subject(conn, forms)
        named = [
            ("callbacks", str(i), str(rec))
            for i, rec in await conn.execute(
                select(callbacks.c.id, callbacks.c.recording).where(
                    callbacks.c.id.in_(subject.callback_ids), callbacks.c.recording.is_not(None)
                )
            )
        ]
        outcome: RecordingsOutcome = await asyncio.to_thread(
            remove_recordings, recordings_dir, named
        )
        await conn.execute(
            update(calls).where(calls.c.id.in_(subject.call_ids)).values(caller=None)
        )
        await conn.execute(
            update(callbacks).where(callbacks.c.id.in_(subject.callback_ids)).values(number=None)
        )
        await conn.execute(
            update(call_events)
            .where(call_events.c.id.in_(subject.event_ids))
            .values(data=PURGED_EVENT_DATA)
        )
        await clear_recordings(conn, outcome, [i for _, i, _ in named], [])
        case_texts = await blank_case_texts(conn, cases_of(subject.call_ids, subject.callback_ids))
        await _audit(
            conn, "erase", subject, outcome.deleted, file_lines=lines_removed, by=by, now=now
        )
    log.info(
        "privacy.erase",
        calls=len(subject.call_ids),
        callbacks=len(subject.callback_ids),
        events=len(subject.event_ids),
        case_texts=case_texts,
        recordings_deleted=outcome.deleted,
        recordings_not_deleted=len(outcome.problems),
        file_lines_removed=lines_removed,
        file_lines_pending=sum(f.pending for f in file_results),
        by=by,
    )
    return EraseResult(
        calls=len(subject.call_ids),
        callbacks=len(subject.callback_ids),
        events=len(subject.event_ids),
        case_texts=case_texts,
        recordings_deleted=outcome.deleted,
        recordings_missing=outcome.missing,
        problems=tuple(outcome.problems),
        files=tuple(file_results),
    )
