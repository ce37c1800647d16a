"""Vietnamese public holidays, from the ``holidays`` package (lunar ones included).

The package computes Tết (Giao thừa, Mùng một…), Giỗ Tổ Hùng Vương and the substituted
days off the government announces; names are in Vietnamese. Lookups are per year and
memoised by the caller (the :class:`~callrouter.rota.model.Rota` keeps one cache).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

import holidays

COUNTRY = "VN"

# "Ngày nghỉ (thay cho ngày 26/04/2025)": a day off swapped with a working day the
# government names; that named day is the make-up working day the rota should list.
_SUBSTITUTED = re.compile(r"thay cho ngày (\d{2})/(\d{2})/(\d{4})")


def public_holidays(year: int) -> dict[date, str]:
    """Every Vietnamese public holiday of ``year``, with its Vietnamese name."""
    return public_holidays_by_year(range(year, year + 1))[year]


def public_holidays_by_year(years: Iterable[int]) -> dict[int, dict[date, str]]:
    """Holidays of several years at once (one calendar object: much cheaper than one per year)."""
    wanted = list(years)
    calendar = holidays.country_holidays(COUNTRY, years=wanted, language="vi")
    out: dict[int, dict[date, str]] = {year: {} for year in wanted}
    for day, name in calendar.items():
        if day.year in out:
            out[day.year][day] = str(name)
    return out


def substituted_working_day(name: str) -> date | None:
    """For a substituted day off, the date that is worked instead (a make-up day)."""
    match = _SUBSTITUTED.search(name)
    if not match:
        return None
    day, month, year = (int(g) for g in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None
