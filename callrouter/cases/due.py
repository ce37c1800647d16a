"""When a call-back is due: a number of working hours after it was made.

Working hours are ``START``–``END`` local time on working days of the unit's calendar
(:class:`callrouter.cases.workdays.WorkCalendar`); an entry made outside them starts
counting at the next working hour.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from callrouter.cases.workdays import WorkCalendar

START: Final = time(7, 30)
END: Final = time(17, 0)
CALLBACK_DUE_HOURS: Final = 4
_MAX_DAYS = 60  # a calendar with no working day in two months is not a calendar


def due_at(
    created: datetime,
    calendar: WorkCalendar,
    tz: ZoneInfo,
    hours: float = CALLBACK_DUE_HOURS,
) -> datetime:
    """``hours`` working hours after ``created`` (an aware datetime), in ``tz``."""
    left = timedelta(hours=hours)
    local = created.astimezone(tz)
    day = local.date()
    for _ in range(_MAX_DAYS):
        if calendar.is_working_day(day):
            opens = datetime.combine(day, START, tz)
            closes = datetime.combine(day, END, tz)
            begin = max(local, opens)
            if begin < closes:
                if begin + left <= closes:
                    return begin + left
                left -= closes - begin
        day += timedelta(days=1)
        local = datetime.combine(day, START, tz)
    return local
