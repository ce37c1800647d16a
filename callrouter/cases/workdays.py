"""Official working days: the deadline of a case (e.g. 10 working days for a phản ánh).

The calendar is the one the rota already uses, not its staffing rules: Vietnamese public
holidays from :mod:`callrouter.rota.holidays` (Tết and the other lunar days, and the
substituted days off the government announces), the unit's extra closed dates and the
government's make-up working days from the rota's ``holidays`` section. A make-up day named
by a substituted day off ("thay cho ngày 26/04/2025") is a working day even when the rota
does not list it. Whether the hotline is *staffed* on a day is irrelevant here.

A deadline of ``n`` working days counts from the day after the case was received: the
``n``-th working day after it (received on a Friday with ``n = 1``: the next Monday).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from callrouter.rota.holidays import public_holidays_by_year, substituted_working_day
from callrouter.rota.model import HolidayPolicy

#: Longest run of days off the calendar may hold (Tết plus weekends is ~9): a guard, not a rule.
_MAX_SCAN_DAYS = 3660


@dataclass(slots=True)
class WorkCalendar:
    """Which local dates are official working days (years of holidays memoised)."""

    closed: frozenset[date] = frozenset()
    make_up: frozenset[date] = frozenset()
    _holidays: dict[int, frozenset[date]] = field(default_factory=dict)
    _substituted: set[date] = field(default_factory=set)

    @classmethod
    def from_policy(cls, policy: HolidayPolicy) -> WorkCalendar:
        """The rota's closed dates and make-up days (``Rota.holidays``)."""
        return cls(
            closed=frozenset(c.date for c in policy.closed_dates),
            make_up=frozenset(m.date for m in policy.make_up_days),
        )

    def _load(self, year: int) -> frozenset[date]:
        """Public holidays of ``year``; a substitution may name a day of a neighbouring year,
        so the neighbours are loaded too (one calendar object for the three)."""
        found = self._holidays.get(year)
        if found is None or year - 1 not in self._holidays or year + 1 not in self._holidays:
            span = [y for y in range(year - 1, year + 2) if y not in self._holidays]
            for number, days in public_holidays_by_year(span).items():
                self._holidays[number] = frozenset(days)
                for name in days.values():
                    made_up = substituted_working_day(name)
                    if made_up is not None:
                        self._substituted.add(made_up)
            found = self._holidays[year]
        return found

    def is_working_day(self, day: date) -> bool:
        holidays = self._load(day.year)
        if day in self.closed:
            return False
        if day in self.make_up or day in self._substituted:
            return True
        if day in holidays:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: date, days: int) -> date:
        """The ``days``-th working day after ``start`` (``days == 0``: ``start`` itself)."""
        if days < 0:
            raise ValueError(f"số ngày làm việc phải >= 0, đang là {days}")
        day = start
        remaining = days
        for _ in range(_MAX_SCAN_DAYS + days):
            if remaining == 0:
                return day
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        raise ValueError(f"không tìm được {days} ngày làm việc sau {start.isoformat()}")

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end`` (0 when end <= start)."""
        count = 0
        day = start
        while day < end:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count
