"""Notices read from the store: each missed call to the officer on duty, and the daily digest.

**Missed calls.** The store rule (:mod:`callrouter.store.missed`) puts a missed caller on
the call-back list in the transaction that writes the call's end, from whichever door the call
came through, including the fallback CDR import, which runs in another process. So the
scheduler finds new entries by a short poll of the call-back list (every
``missed_poll_seconds``, 2 s by default: a small indexed query on the last day's entries)
rather than by an in-process event, which would miss the imported calls and those written
while the scheduler was down. Each entry is one notice per recipient (key
``missed:<call-back id>|<e-mail>``): a second missed call of the same number that day is the
same entry and sends nothing more, and a restart sends nothing twice. Recipients: the officers
on duty at the call's start by the rota (:func:`callrouter.rota.duty.who_is_on_duty`, the
router's own lookup); when the line was closed, the admins. The caller's number is masked
(:func:`callrouter.logs.mask_number`), the time is the rota's local time, and the link goes to
the entry on the admin web's call-back list (``CALLROUTER_WEB_PUBLIC_URL``).

**Digest.** Once a day from ``digest_hour`` (rota time zone): the unit's open call-backs with
when each is due (:func:`callrouter.cases.due.due_at`) and whether overdue, and its cases past
their deadline and not closed, to every officer of the rota and to the admins (key
``digest:<day>|<e-mail>``). Nothing is sent on a day with nothing to report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.calls.outcomes import CALLBACK_REASON_LABELS, in_sentence
from callrouter.cases.due import due_at
from callrouter.cases.lifecycle import KIND_LABELS, STATUS_LABELS
from callrouter.cases.workdays import WorkCalendar
from callrouter.logs import mask_number
from callrouter.notify.plan import Notice, Skipped, _after_quiet, unit_name
from callrouter.notify.settings import NotifySettings
from callrouter.notify.templates import Template
from callrouter.rota.duty import who_is_on_duty
from callrouter.rota.model import Rota
from callrouter.store.cases import late_cases
from callrouter.store.missed import MissedCall, open_callbacks_of_unit, open_missed_calls

#: how far back the poll looks for missed calls not yet told (a longer outage: the digest)
LOOKBACK: Final = timedelta(days=1)
_MAX_LINES = 60


def _reason_text(reason: str) -> str:
    """Why the caller is on the call-back list, inside a sentence."""
    return in_sentence(CALLBACK_REASON_LABELS.get(reason, reason))


def _stamp(at: datetime, rota: Rota) -> str:
    return f"{at.astimezone(rota.timezone):%H:%M:%S %d/%m/%Y}"


def callback_link(base_url: str, callback_id: str) -> str:
    """The entry on the admin web's call-back list (its row has the id ``cb-<id>``)."""
    return f"{base_url.rstrip('/')}/callbacks#cb-{callback_id}"


async def new_missed_calls(engine: AsyncEngine, rota: Rota, now: datetime) -> list[MissedCall]:
    """The unit's open missed-call entries of the last day, with their call."""
    return await open_missed_calls(engine, rota.branch, now - LOOKBACK, now)


def missed_call_notices(
    rota: Rota,
    settings: NotifySettings,
    template: Template,
    missed: list[MissedCall],
    now: datetime,
    *,
    base_url: str,
    skipped: list[Skipped] | None = None,
) -> list[Notice]:
    """Each missed call to the officers on duty at its start (the admins when the line was
    closed); an officer on duty without an e-mail goes into ``skipped``."""
    notices: list[Notice] = []
    for call in missed:
        at = call.started_at.astimezone(rota.timezone)
        on_duty = [o for a in who_is_on_duty(rota, at) if (o := rota.officer(a.officer_id))]
        people = [
            (o.name, address, _after_quiet(o, now, rota))
            for o in on_duty
            if (address := o.email) is not None
        ]
        if not on_duty:  # the line was closed: nobody on duty to tell
            people = [("Quản trị viên", admin, now) for admin in settings.admins]
        for officer in on_duty:
            if officer.email is None and skipped is not None:
                key = f"missed:{call.callback_id}|{officer.id}"
                skipped.append(Skipped(key, "missed_call", officer.id))
        seen: set[str] = set()
        for name, email, not_before in people:
            if email in seen:
                continue
            seen.add(email)
            subject, body = template.render(
                {
                    "unit": unit_name(rota),
                    "officer": name,
                    "number": mask_number(call.number),
                    "at": _stamp(at, rota),
                    "reason": _reason_text(call.reason),
                    "wait": str(round(call.wait_seconds or 0)),
                    "link": callback_link(base_url, call.callback_id),
                }
            )
            notices.append(
                Notice(
                    f"missed:{call.callback_id}|{email}",
                    "missed_call",
                    email,
                    subject,
                    body,
                    not_before,
                )
            )
    return notices


@dataclass(frozen=True)
class Digest:
    callbacks: list[str]
    overdue_callbacks: int
    cases: list[str]


def _label(labels: Mapping[Any, str], code: str) -> str:
    """The Vietnamese label of a kind or status code (the code itself if unknown)."""
    return labels.get(code, code)  # StrEnum members hash and compare as their code


def _lines(lines: list[str]) -> str:
    if not lines:
        return "- (không có)"
    more = len(lines) - _MAX_LINES
    shown = lines[:_MAX_LINES] + ([f"- … và {more} mục khác"] if more > 0 else [])
    return "\n".join(shown)


async def digest_of(engine: AsyncEngine, rota: Rota, now: datetime) -> Digest:
    """The unit's open call-backs (due, overdue) and its open cases past their deadline."""
    tz = rota.timezone
    today = now.astimezone(tz).date()
    calendar = WorkCalendar.from_policy(rota.holidays)
    lines: list[str] = []
    overdue = 0
    for entry in await open_callbacks_of_unit(engine, rota.branch):
        number, reason, created = entry.number, entry.reason, entry.created_at
        due = due_at(created, calendar, tz)
        late = due < now
        overdue += late
        lines.append(
            f"- {mask_number(number)}: {_reason_text(reason)}, "
            f"lúc {created.astimezone(tz):%H:%M %d/%m}; hạn gọi lại {due:%H:%M %d/%m}"
            + (" — QUÁ HẠN" if late else "")
        )
    case_lines = [
        f"- Hồ sơ {k.ref} ({_label(KIND_LABELS, k.kind)}, "
        f"{_label(STATUS_LABELS, k.status)}): hạn {k.deadline:%d/%m/%Y}, "
        f"quá {(today - k.deadline).days} ngày"
        for k in await late_cases(engine, rota.branch, today)
    ]
    return Digest(lines, overdue, case_lines)


def digest_due(settings: NotifySettings, rota: Rota, now: datetime) -> bool:
    local = now.astimezone(rota.timezone)
    return local.timetz().replace(tzinfo=None) >= time(settings.digest_hour)


def digest_notices(
    rota: Rota,
    settings: NotifySettings,
    template: Template,
    digest: Digest,
    now: datetime,
    *,
    skipped: list[Skipped] | None = None,
) -> list[Notice]:
    """The day's digest to every officer of the rota and every admin; none when empty. An
    officer without an e-mail goes into ``skipped``."""
    if not digest.callbacks and not digest.cases:
        return []
    local = now.astimezone(rota.timezone)
    day = local.date()
    subject, body = template.render(
        {
            "unit": unit_name(rota),
            "day": f"{day:%d/%m/%Y}",
            "callbacks": _lines(digest.callbacks),
            "callback_count": str(len(digest.callbacks)),
            "overdue_count": str(digest.overdue_callbacks),
            "cases": _lines(digest.cases),
            "case_count": str(len(digest.cases)),
        }
    )
    people = [
        (address, _after_quiet(o, now, rota))
        for o in rota.officers
        if (address := o.email) is not None
    ]
    people += [(admin, now) for admin in settings.admins]
    if skipped is not None:
        skipped += [
            Skipped(f"digest:{day.isoformat()}|{o.id}", "digest", o.id)
            for o in rota.without_email()
        ]
    notices: list[Notice] = []
    seen: set[str] = set()
    for email, not_before in people:
        if email in seen:
            continue
        seen.add(email)
        notices.append(
            Notice(f"digest:{day.isoformat()}|{email}", "digest", email, subject, body, not_before)
        )
    return notices
