"""The duty rota: model, loading and validation, holidays, who is on duty.

See ``config/rota.example.yaml`` for a commented example an admin can start from.
"""

from __future__ import annotations

from callrouter.rota.duty import duty_status, who_is_on_duty
from callrouter.rota.loader import MAX_BYTES, load_rota, parse_rota
from callrouter.rota.model import (
    Action,
    DutyAssignment,
    DutyEntry,
    DutyStatus,
    HolidayPolicy,
    Officer,
    Override,
    Policy,
    RegisteredNumber,
    Rota,
    Shift,
    Strategy,
)

__all__ = [
    "MAX_BYTES",
    "Action",
    "DutyAssignment",
    "DutyEntry",
    "DutyStatus",
    "HolidayPolicy",
    "Officer",
    "Override",
    "Policy",
    "RegisteredNumber",
    "Rota",
    "Shift",
    "Strategy",
    "duty_status",
    "load_rota",
    "parse_rota",
    "who_is_on_duty",
]
