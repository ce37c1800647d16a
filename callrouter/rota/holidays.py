"""Vietnamese public holidays, from the ``holidays`` package (lunar ones included).

The package computes Tết (Giao thừa, Mùng một…), Giỗ Tổ Hùng Vương and the substituted
days off the government announces; names are in Vietnamese. Lookups are per year and
memoised by the caller (the :class:`~callrouter.rota.model.Rota` keeps one cache).
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import holidays

COUNTRY = "VN"

# "Ngày nghỉ (thay cho ngày 26/04/2025)": a day off swapped with a working day the
# government names; that named day is the make-up working day the rota should list.
_SUBSTITUTED = re.compile(r"thay cho ngày (\d{2})/(\d{2})/(\d{4})")


@functools.cache
def vietnam_calendar_class() -> Any:
    """The ``holidays`` package's Vietnam class, without the other ~250 countries.

    ``holidays.country_holidays()`` (like any import of ``holidays.countries.<x>``) first runs
    ``holidays/countries/__init__.py``, which imports every country: +8 MB of RSS for the
    router's whole life (its budget is 100 MB, issue 6). The Vietnam module itself imports
    only the package's calendar helpers, so it is loaded from its file on its own. Should the
    package's layout change, the registry is used (same figures, more memory);
    tests/unit/test_rota_holidays.py holds both to the same result.
    """
    spec = importlib.util.find_spec("holidays")
    if spec is not None and spec.origin is not None:
        path = Path(spec.origin).parent / "countries" / "vietnam.py"
        module_spec = importlib.util.spec_from_file_location("callrouter_vn_holidays", path)
        if path.is_file() and module_spec is not None and module_spec.loader is not None:
            module = importlib.util.module_from_spec(module_spec)
            try:
                module_spec.loader.exec_module(module)
                found = getattr(module, "Vietnam", None)
            except ImportError:
                found = None
            if isinstance(found, type):
                return found
    return functools.partial(holidays.country_holidays, COUNTRY)


def public_holidays(year: int) -> dict[date, str]:
    """Every Vietnamese public holiday of ``year``, with its Vietnamese name."""
    return public_holidays_by_year(range(year, year + 1))[year]


def public_holidays_by_year(years: Iterable[int]) -> dict[int, dict[date, str]]:
    """Holidays of several years at once (one calendar object: much cheaper than one per year)."""
    wanted = list(years)
    calendar = vietnam_calendar_class()(years=wanted, language="vi")
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
