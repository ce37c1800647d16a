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

Speed: duty can only change at a minute where a shift or an override starts or ends, so
each local date is cut once into slots at those minutes (:func:`day_table`, memoised on the
rota's index) and a lookup is a bisection in that table; the slots already hold the
routing targets. ``_compute`` is the direct rule above, used to build the tables (and by
the property test that checks the two agree).
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import date, datetime, time, timedelta, tzinfo

from callrouter.rota.holidays import public_holidays_by_year
from callrouter.rota.model import (
    DAY_NAMES,
    HOLIDAY,
    MINUTES_PER_DAY,
    DayPlan,
    DayTable,
    DutyAssignment,
    DutyStatus,
    ResolvedDuty,
    ResolvedOverride,
    Rota,
    RotaIndex,
    Slot,
    Source,
    Target,
    fold,
)

__all__ = ["DutyAssignment", "DutyStatus", "duty_status", "lookup", "who_is_on_duty"]

_DAY_CACHE_LIMIT = 4096
_ONE_DAY = timedelta(days=1)
OUTSIDE_SHIFTS = "outside shifts"


def require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"time must be timezone-aware, got naive {at.isoformat()}")


def holiday_name(ix: RotaIndex, day: date) -> str | None:
    """The Vietnamese public holiday on ``day``, if any."""
    year = ix.holiday_cache.get(day.year)
    if year is None:  # fetch the neighbouring years too: one calendar object is the cost
        span = range(day.year - 2, day.year + 3)
        for number, found in public_holidays_by_year(span).items():
            ix.holiday_cache.setdefault(number, found)
        year = ix.holiday_cache[day.year]
    return year.get(day)


def holiday_staffing(ix: RotaIndex, day: date, name: str) -> str:
    by_date = ix.rule_by_date.get(day)
    if by_date is not None:
        return by_date
    folded = fold(name)
    for match, staffing in ix.rules_by_name:
        if match in folded:
            return staffing
    return ix.default_staffing


def day_plan(ix: RotaIndex, day: date) -> DayPlan:
    """Which weekday's shifts start on ``day`` (``token``), or ``None`` when none do."""
    cache = ix.day_cache
    plan = cache.get(day)
    if plan is not None:
        return plan
    closed = ix.closed.get(day)
    make_up = ix.make_up.get(day)
    if closed is not None:
        plan = DayPlan(None, f"closed: {closed}")
    elif make_up is not None:
        plan = DayPlan(make_up.like, f"make-up day like {DAY_NAMES[make_up.like]}")
    else:
        name = holiday_name(ix, day)
        if name is None:
            plan = DayPlan(day.weekday(), None)
        else:
            staffing = holiday_staffing(ix, day, name)
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


def _compute(ix: RotaIndex, today: date, minute: int) -> Slot:
    """The slow, obviously-correct lookup for one local minute (used to build day tables)."""
    swapping: ResolvedOverride | None = None
    overrides = ix.overrides_by_date.get(today)
    if overrides:
        naive = datetime.combine(today, time()) + timedelta(minutes=minute)
        for override in overrides:
            if override.start <= naive < override.end:
                reason = f"override: {override.reason}"
                if override.swaps:
                    swapping = override
                    break
                if not override.duty:
                    return _closed(reason)
                return _slot(ix, reason, [(override.duty, reason, override, today)])

    plan = day_plan(ix, today)
    sources: list[Source] = []
    if plan.token is not None:
        for shift in ix.shifts_by_token[plan.token]:
            if shift.start <= minute and (shift.crosses or minute < shift.end):
                label = (
                    f"shift {shift.label} ({plan.note})" if plan.note else f"shift {shift.label}"
                )
                sources.append((shift.duty, label, shift, today))
    yesterday = today - _ONE_DAY
    previous = day_plan(ix, yesterday)
    if previous.token is not None:
        for shift in ix.crossing_by_token[previous.token]:
            if minute < shift.end:
                note = previous.note
                label = f"shift {shift.label} ({note})" if note else f"shift {shift.label}"
                sources.append((shift.duty, label, shift, yesterday))
    if not sources:
        if plan.token is None and plan.note:
            return _closed(plan.note)
        return _closed(f"{OUTSIDE_SHIFTS} ({plan.note})" if plan.note else OUTSIDE_SHIFTS)
    sources.sort(key=lambda src: src[2].index)
    if swapping is not None:  # only the shifts the swap changes name the override
        note = f"override: {swapping.reason}"
        swapped: list[Source] = []
        for duty, label, what, day in sources:
            changed = _swapped(duty, swapping, ix.own_confirm)
            swapped.append((changed, label if changed == duty else f"{label} ({note})", what, day))
        sources = swapped
    return _slot(ix, " + ".join(src[1] for src in sources), sources)


def _swapped(
    duty: tuple[ResolvedDuty, ...], override: ResolvedOverride, own_confirm: bool
) -> tuple[ResolvedDuty, ...]:
    out: list[ResolvedDuty] = []
    for d in duty:
        by = override.swaps.get(d.officer_id)
        if by is None:
            out.append(d)
        elif d.number_label is None:  # the officer's own phone → the replacement's own phone
            out.append(ResolvedDuty(by.id, by.name, by.phone, None, own_confirm))
        else:
            out.append(ResolvedDuty(by.id, by.name, d.number, d.number_label, d.confirm))
    return tuple(out)


def _closed(reason: str) -> Slot:
    return Slot(False, reason, (), (), DutyStatus(False, reason, ()))


def _assignments(ix: RotaIndex, sources: list[Source]) -> tuple[DutyAssignment, ...]:
    out: list[DutyAssignment] = []
    seen: set[tuple[str, str]] = set()
    for source in sources:
        start, end = _window(source, ix.tz)
        for d in source[0]:
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
                    source[1],
                    start,
                    end,
                )
            )
    return tuple(out)


def _slot(ix: RotaIndex, reason: str, sources: list[Source]) -> Slot:
    targets: list[Target] = []
    numbers: set[str] = set()
    for source in sources:
        for d in source[0]:
            if d.number in numbers:  # one number is never rung twice in a round
                continue
            numbers.add(d.number)
            targets.append(
                Target(
                    d.officer_id,
                    d.officer_name,
                    d.number,
                    d.number_label,
                    d.confirm,
                    ix.ring_timeout,
                )
            )
    status = DutyStatus(True, reason, _assignments(ix, sources))
    return Slot(True, reason, tuple(sources), tuple(targets), status)


def _minute_of(moment: datetime, day: date) -> int | None:
    if moment.date() != day:
        return None
    return moment.hour * 60 + moment.minute


def day_table(ix: RotaIndex, today: date) -> DayTable:
    """``today`` cut at every minute where duty can change, each slot computed once."""
    table = ix.table_cache.get(today)
    if table is not None:
        return table
    cuts = {0}
    plan = day_plan(ix, today)
    if plan.token is not None:
        for shift in ix.shifts_by_token[plan.token]:
            cuts.add(shift.start)
            if not shift.crosses:
                cuts.add(shift.end % MINUTES_PER_DAY)
    previous = day_plan(ix, today - _ONE_DAY)
    if previous.token is not None:
        cuts.update(shift.end for shift in ix.crossing_by_token[previous.token])
    for override in ix.overrides_by_date.get(today, ()):
        for edge in (_minute_of(override.start, today), _minute_of(override.end, today)):
            if edge is not None:
                cuts.add(edge)
    starts: list[int] = []
    slots: list[Slot] = []
    for minute in sorted(cuts):
        slot = _compute(ix, today, minute)
        if slots and slots[-1] == slot:
            continue
        starts.append(minute)
        slots.append(slot)
    table = DayTable(tuple(starts), tuple(slots))
    if len(ix.table_cache) >= _DAY_CACHE_LIMIT:
        ix.table_cache.clear()
    ix.table_cache[today] = table
    return table


def lookup(ix: RotaIndex, at: datetime) -> Slot:
    """What holds at ``at`` (tz-aware): a bisection in the date's precomputed table."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"time must be timezone-aware, got naive {at.isoformat()}")
    local = at.astimezone(ix.tz)
    today = local.date()
    table = ix.table_cache.get(today) or day_table(ix, today)
    return table.slots[bisect_right(table.starts, local.hour * 60 + local.minute) - 1]


def _window(source: Source, tz: tzinfo) -> tuple[datetime, datetime]:
    _, _, what, starts_on = source
    if isinstance(what, ResolvedOverride):
        return what.start.replace(tzinfo=tz), what.end.replace(tzinfo=tz)
    start = datetime.combine(starts_on, time()) + timedelta(minutes=what.start)
    length = (what.end - what.start) % MINUTES_PER_DAY or MINUTES_PER_DAY
    return start.replace(tzinfo=tz), (start + timedelta(minutes=length)).replace(tzinfo=tz)


def duty_status(rota: Rota, at: datetime) -> DutyStatus:
    """Open or closed at ``at`` (tz-aware), why, and the on-duty assignments in ring order."""
    return lookup(rota.index, at).status


def who_is_on_duty(rota: Rota, at: datetime) -> list[DutyAssignment]:
    """The on-duty assignments at ``at`` (tz-aware) in ring order; empty when closed."""
    return list(duty_status(rota, at).assignments)
