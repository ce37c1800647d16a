"""Which notices the rota calls for at a moment. Pure: the rota and the time are passed in.

Every notice carries its idempotency key: the event (the shift and which reminder, the day's
gaps, the rota version that changed a duty) and the recipient. The outbox stores a key once,
so planning the same moment twice — or after a restart — queues nothing new.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from callrouter.notify.settings import NotifySettings
from callrouter.notify.templates import Template
from callrouter.rota.ics import shift_calendar
from callrouter.rota.model import Officer, Rota, parse_clock
from callrouter.rota.timeline import Segment, timeline, when_text


@dataclass(frozen=True)
class Notice:
    key: str
    kind: str
    recipient: str
    subject: str
    body: str
    not_before: datetime
    ics: str | None = None


@dataclass(frozen=True)
class Skipped:
    """A notice an officer would get but cannot: no e-mail address in the rota.

    ``key`` names the event and the officer like a notice's key, so the scheduler counts each
    skipped notice once however many rounds plan it again.
    """

    key: str
    kind: str
    officer_id: str
    reason: str = "no_email"


@dataclass(frozen=True)
class DutyRun:
    """An officer's stretch of duty: neighbouring segments with the officer on duty."""

    officer_id: str
    segment: Segment
    number: str


def unit_name(rota: Rota) -> str:
    return rota.unit or f"Đường dây 1022 nhánh {rota.branch}"


def duty_runs(rota: Rota, start: datetime, end: datetime) -> list[DutyRun]:
    """Every officer's stretches of duty in ``[start, end)``, in order of start."""
    open_runs: dict[str, DutyRun] = {}
    done: list[DutyRun] = []
    for segment in timeline(rota, start, end):
        here = {a.officer_id: a for a in segment.status.assignments} if segment.status.open else {}
        for officer_id in list(open_runs):
            if officer_id not in here:
                done.append(open_runs.pop(officer_id))
        for officer_id, a in here.items():
            run = open_runs.get(officer_id)
            if run is None:
                open_runs[officer_id] = DutyRun(officer_id, segment, a.number)
            else:
                merged = Segment(run.segment.start, segment.end, run.segment.status)
                open_runs[officer_id] = DutyRun(officer_id, merged, run.number)
    done.extend(open_runs.values())
    return sorted(done, key=lambda r: (r.segment.start, r.officer_id))


def _after_quiet(officer: Officer, at: datetime, rota: Rota) -> datetime:
    """``at``, or the end of the officer's quiet hours when ``at`` falls inside them."""
    return officer.quiet_until(at.astimezone(rota.timezone)) or at


def _stamp(at: datetime) -> str:
    return f"{at:%H:%M %d/%m/%Y}"


def _reminders(settings: NotifySettings, start: datetime) -> list[tuple[str, datetime]]:
    out = [(f"{m}m", start - timedelta(minutes=m)) for m in settings.remind_before_minutes]
    if settings.remind_evening:
        clock = parse_clock(settings.remind_evening)
        eve = datetime.combine(start.date() - timedelta(days=1), time(), start.tzinfo)
        out.append(("eve", eve + timedelta(minutes=clock)))
    return sorted(out, key=lambda r: r[1])


def shift_reminders(
    rota: Rota,
    settings: NotifySettings,
    template: Template,
    now: datetime,
    *,
    skipped: list[Skipped] | None = None,
) -> list[Notice]:
    """For each shift not yet begun, the latest reminder already due (an earlier one missed
    while the service was down is not sent late on top of it). An officer without an e-mail
    gets none: the reminder goes into ``skipped`` instead."""
    lead = max([*settings.remind_before_minutes, 0]) * 60 + 2 * 86400
    notices: list[Notice] = []
    window_start = now.astimezone(rota.timezone)
    for run in duty_runs(rota, window_start, window_start + timedelta(seconds=lead)):
        start, end = run.segment.start, run.segment.end
        if start <= window_start:
            continue  # already on duty
        due = [(label, at) for label, at in _reminders(settings, start) if at <= now]
        if not due:
            continue
        label, at = due[-1]
        officer = rota.officer(run.officer_id)
        if officer is None:
            continue
        event = f"shift:{officer.id}:{start.isoformat()}:{label}"
        if officer.email is None:
            if skipped is not None:
                skipped.append(Skipped(f"{event}|{officer.id}", "shift_reminder", officer.id))
            continue
        when = "ngày mai" if start.date() > window_start.date() else "hôm nay"
        subject, body = template.render(
            {
                "unit": unit_name(rota),
                "officer": officer.name,
                "start": _stamp(start),
                "end": _stamp(end),
                "number": run.number,
                "when": when,
            }
        )
        ics = shift_calendar(rota, run.segment, now=now).decode()
        notices.append(
            Notice(
                key=f"{event}|{officer.email}",
                kind="shift_reminder",
                recipient=officer.email,
                subject=subject,
                body=body,
                not_before=_after_quiet(officer, at, rota),
                ics=ics,
            )
        )
    return notices


def gaps(rota: Rota, day: date, days: int) -> list[Segment]:
    """The uncovered hours (``rota check``'s gap check) from ``day`` for ``days`` days."""
    start = datetime.combine(day, time(), rota.timezone)
    return [s for s in timeline(rota, start, start + timedelta(days=days)) if s.uncovered]


def gaps_digest(found: list[Segment]) -> str:
    return hashlib.sha256("|".join(when_text(s) for s in found).encode()).hexdigest()[:16]


def uncovered_alerts(
    rota: Rota,
    settings: NotifySettings,
    template: Template,
    now: datetime,
    found: list[Segment],
    *,
    introduced: bool,
) -> list[Notice]:
    """To each admin: the day's list of gaps (once a day while there are any), and at once
    again when a reload ``introduced`` a gap."""
    if not found:
        return []
    day = now.astimezone(rota.timezone).date()
    event = f"uncovered:{day.isoformat()}" + (f":{gaps_digest(found)}" if introduced else "")
    subject, body = template.render(
        {
            "unit": unit_name(rota),
            "days": str(settings.uncovered_days),
            "count": str(len(found)),
            "gaps": "\n".join(f"- {when_text(s)}" for s in found[:40]),
        }
    )
    return [
        Notice(f"{event}|{admin}", "uncovered_hours", admin, subject, body, now)
        for admin in settings.admins
    ]


def _run_lines(runs: set[tuple[datetime, datetime]]) -> str:
    if not runs:
        return "- (không có)"
    return "\n".join(f"- {_stamp(a)} đến {_stamp(b)}" for a, b in sorted(runs))


def duty_changes(
    old: Rota,
    new: Rota,
    settings: NotifySettings,
    template: Template,
    now: datetime,
    *,
    skipped: list[Skipped] | None = None,
) -> list[Notice]:
    """To each officer whose duty in the coming days differs between ``old`` and ``new``
    (one without an e-mail goes into ``skipped`` instead)."""
    start = now.astimezone(new.timezone)
    end = start + timedelta(days=settings.changes_days)

    def by_officer(rota: Rota) -> dict[str, set[tuple[datetime, datetime]]]:
        out: dict[str, set[tuple[datetime, datetime]]] = {}
        for run in duty_runs(rota, start, end):
            out.setdefault(run.officer_id, set()).add((run.segment.start, run.segment.end))
        return out

    before, after = by_officer(old), by_officer(new)
    notices: list[Notice] = []
    for officer in new.officers:
        added = after.get(officer.id, set()) - before.get(officer.id, set())
        removed = before.get(officer.id, set()) - after.get(officer.id, set())
        if not added and not removed:
            continue
        digest = hashlib.sha256(repr((sorted(added), sorted(removed))).encode()).hexdigest()[:16]
        if officer.email is None:
            if skipped is not None:
                key = f"changed:{officer.id}:{digest}|{officer.id}"
                skipped.append(Skipped(key, "duty_changed", officer.id))
            continue
        subject, body = template.render(
            {
                "unit": unit_name(new),
                "officer": officer.name,
                "days": str(settings.changes_days),
                "added": _run_lines(added),
                "removed": _run_lines(removed),
            }
        )
        notices.append(
            Notice(
                f"changed:{officer.id}:{digest}|{officer.email}",
                "duty_changed",
                officer.email,
                subject,
                body,
                _after_quiet(officer, now, new),
            )
        )
    return notices


@dataclass
class GapWatch:
    """The gaps seen at the last round, to tell a reload that introduced one."""

    seen: frozenset[str] | None = None
    day: date | None = None
    found: list[Segment] = field(default_factory=list)

    def update(self, day: date, found: list[Segment]) -> bool:
        """Whether ``found`` has a gap the last round of the same day did not have."""
        now_seen = frozenset(when_text(s) for s in found)
        introduced = self.day == day and self.seen is not None and bool(now_seen - self.seen)
        self.seen, self.day, self.found = now_seen, day, found
        return introduced
