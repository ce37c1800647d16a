"""Who is on duty at a moment: pure, no I/O, no clock reads.

Precedence, for a local moment *t* on date *D*:

1. An **override** covering *t* decides alone (the shortest covering one; ties: file order).
   ``closed: true`` closes the line for its range.
2. Otherwise the **shifts** decide. A shift occurrence belongs to the date it *starts* on
   (a Friday 22:00–06:00 night shift covers Saturday 00:00–06:00 even if Saturday is a
   holiday). How a date is staffed (:func:`day_plan`): an extra closed date starts no
   shift; a make-up working day starts the shifts of its named weekday; a public holiday
   follows its rule (``closed``, ``normal``, ``like:<day>``, ``shifts`` = the shifts whose
   days include ``holiday``); any other date starts its weekday's shifts.
3. Several shifts covering *t*: their duty lists are joined in file order; an officer at
   the same number listed twice appears once.

Shift times: start inclusive, end exclusive, whole minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from callrouter.rota.holidays import public_holidays
from callrouter.rota.model import (
    DAY_NAMES,
    HOLIDAY,
    MINUTES_PER_DAY,
    DayPlan,
    ResolvedDuty,
    ResolvedShift,
    Rota,
    fold,
)

_DAY_CACHE_LIMIT = 4096
OUTSIDE_SHIFTS = "outside shifts"


@dataclass(frozen=True, slots=True)
class DutyAssignment:
    """An officer on duty, the number to ring them at, and why they are on duty."""

    officer_id: str
    officer_name: str
    number: str
    number_label: str | None  # None: the officer's own phone
    confirm: bool
    reason: str  # "shift …" or "override: …"
    start: datetime  # the covering shift occurrence / override, tz-aware in the rota's zone
    end: datetime


@dataclass(frozen=True, slots=True)
class DutyStatus:
    """Open or closed at a moment, why, and who is on duty (in ring order)."""

    open: bool
    reason: str
    assignments: tuple[DutyAssignment, ...]


def require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"time must be timezone-aware, got naive {at.isoformat()}")


def holiday_name(rota: Rota, day: date) -> str | None:
    """The Vietnamese public holiday on ``day``, if any."""
    cache = rota._holiday_cache
    year = cache.get(day.year)
    if year is None:
        year = cache[day.year] = public_holidays(day.year)
    return year.get(day)


def holiday_staffing(rota: Rota, day: date, name: str) -> str:
    by_date = rota._rule_by_date.get(day)
    if by_date is not None:
        return by_date
    folded = fold(name)
    for match, staffing in rota._rules_by_name:
        if match in folded:
            return staffing
    return rota.holidays.default


def day_plan(rota: Rota, day: date) -> DayPlan:
    """Which weekday's shifts start on ``day`` (``token``), or ``None`` when none do."""
    cache = rota._day_cache
    plan = cache.get(day)
    if plan is not None:
        return plan
    closed = rota._closed.get(day)
    make_up = rota._make_up.get(day)
    if closed is not None:
        plan = DayPlan(None, f"closed: {closed}")
    elif make_up is not None:
        plan = DayPlan(make_up.like, f"make-up day like {DAY_NAMES[make_up.like]}")
    else:
        name = holiday_name(rota, day)
        if name is None:
            plan = DayPlan(day.weekday(), None)
        else:
            staffing = holiday_staffing(rota, day, name)
            if staffing == "closed":
                plan = DayPlan(None, f"holiday: {name}")
            elif staffing == "normal":
                plan = DayPlan(day.weekday(), f"holiday: {name}, staffed as usual")
            elif staffing == "shifts":
                plan = DayPlan(HOLIDAY, f"holiday: {name}")
            else:
                token = DAY_NAMES.index(staffing.partition(":")[2])
                plan = DayPlan(token, f"holiday: {name}, staffed like {DAY_NAMES[token]}")
    if len(cache) >= _DAY_CACHE_LIMIT:
        cache.clear()
    cache[day] = plan
    return plan


def _aware(naive: datetime, tz: tzinfo) -> datetime:
    return naive.replace(tzinfo=tz)


def _assignments(
    duty: tuple[ResolvedDuty, ...],
    reason: str,
    *,
    start: datetime,
    end: datetime,
    seen: set[tuple[str, str]],
    out: list[DutyAssignment],
) -> None:
    for d in duty:
        key = (d.officer_id, d.number)
        if key in seen:
            continue
        seen.add(key)
        out.append(
            DutyAssignment(
                d.officer_id,
                d.officer_name,
                d.number,
                d.number_label,
                d.confirm,
                reason,
                start,
                end,
            )
        )


def duty_status(rota: Rota, at: datetime) -> DutyStatus:
    """Open or closed at ``at`` (tz-aware), why, and the on-duty assignments in ring order."""
    require_aware(at)
    tz = rota.timezone
    local = at.astimezone(tz).replace(tzinfo=None)
    today = local.date()

    overrides = rota._overrides_by_date.get(today)
    if overrides:
        for override in overrides:
            if override.start <= local < override.end:
                reason = f"override: {override.reason}"
                if not override.duty:
                    return DutyStatus(False, reason, ())
                out: list[DutyAssignment] = []
                _assignments(
                    override.duty,
                    reason,
                    start=_aware(override.start, tz),
                    end=_aware(override.end, tz),
                    seen=set(),
                    out=out,
                )
                return DutyStatus(True, reason, tuple(out))

    minute = local.hour * 60 + local.minute
    plan = day_plan(rota, today)
    matches: list[tuple[ResolvedShift, date]] = []
    if plan.token is not None:
        for shift in rota._shifts_by_token[plan.token]:
            if shift.start <= minute and (shift.crosses or minute < shift.end):
                matches.append((shift, today))
    yesterday = today - timedelta(days=1)
    previous = day_plan(rota, yesterday)
    if previous.token is not None:
        for shift in rota._shifts_by_token[previous.token]:
            if shift.crosses and minute < shift.end:
                matches.append((shift, yesterday))
    if not matches:
        if plan.token is None and plan.note:
            return DutyStatus(False, plan.note, ())
        reason = f"{OUTSIDE_SHIFTS} ({plan.note})" if plan.note else OUTSIDE_SHIFTS
        return DutyStatus(False, reason, ())
    if len(matches) > 1:
        matches.sort(key=lambda m: m[0].index)

    out = []
    seen: set[tuple[str, str]] = set()
    labels: list[str] = []
    for shift, starts_on in matches:
        occurrence_plan = plan if starts_on == today else previous
        label = f"shift {shift.label}"
        if occurrence_plan.note:
            label += f" ({occurrence_plan.note})"
        labels.append(label)
        start = datetime.combine(starts_on, time()) + timedelta(minutes=shift.start)
        length = (shift.end - shift.start) % MINUTES_PER_DAY or MINUTES_PER_DAY
        _assignments(
            shift.duty,
            label,
            start=_aware(start, tz),
            end=_aware(start + timedelta(minutes=length), tz),
            seen=seen,
            out=out,
        )
    return DutyStatus(True, " + ".join(labels), tuple(out))


def who_is_on_duty(rota: Rota, at: datetime) -> list[DutyAssignment]:
    """The on-duty assignments at ``at`` (tz-aware) in ring order; empty when closed."""
    return list(duty_status(rota, at).assignments)
