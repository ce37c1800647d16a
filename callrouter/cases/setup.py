"""The case rules of this installation: the cases file (or defaults), the rota's calendar."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from callrouter.cases.config import CasesConfig, default_cases_config, load_cases_config
from callrouter.cases.edit import CaseRules
from callrouter.cases.workdays import WorkCalendar
from callrouter.rota.loader import load_rota
from callrouter.settings import Settings


def cases_config(settings: Settings) -> CasesConfig:
    """``CALLROUTER_CASES_PATH`` validated, or the settings' categories as the topics."""
    if settings.cases_path is None:
        return default_cases_config(settings.categories)
    return load_cases_config(settings.cases_path)


def case_rules(settings: Settings) -> CaseRules:
    """Raises :class:`~callrouter.errors.CaseConfigError` or ``RotaValidationError`` (a
    deadline counted without the unit's closed dates and make-up days would be wrong)."""
    rota = load_rota(settings.rota_path)
    return CaseRules(
        config=cases_config(settings),
        calendar=WorkCalendar.from_policy(rota.holidays),
        tz=ZoneInfo(settings.timezone),
    )
