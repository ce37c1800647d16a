"""Vietnam's holidays loaded on their own give the registry's figures, without ~250 countries."""

from __future__ import annotations

import subprocess
import sys

import holidays

from callrouter.rota.holidays import public_holidays_by_year, vietnam_calendar_class


def test_the_vietnam_class_loaded_on_its_own_gives_the_registrys_holidays() -> None:
    years = list(range(2020, 2036))
    ours = dict(vietnam_calendar_class()(years=years, language="vi"))
    registry = dict(holidays.country_holidays("VN", years=years, language="vi"))
    assert ours == registry
    assert len(ours) > 10 * len(years)  # Tết alone is several days a year


def test_the_holidays_of_a_year_include_tet_and_national_day_in_vietnamese() -> None:
    days = public_holidays_by_year([2026])[2026]
    names = set(days.values())
    assert "Tết Dương lịch" in names
    assert any("Quốc khánh" in name for name in names)


def test_loading_vietnams_holidays_imports_no_other_country() -> None:
    code = (
        "import sys\n"
        "from callrouter.rota.holidays import public_holidays\n"
        "assert public_holidays(2026)\n"
        "print(sum(m.startswith('holidays.countries') for m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "0"
