"""Building and checking call-log records at the call site.

Each record is a flat JSON object with ``id`` (unique, stable: replaying the spool sees
the same id), ``kind`` and the fields of that kind. Malformed input raises
:class:`RecordError` naming the record kind and the field, never showing a phone number.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from callrouter.errors import RecordError
from callrouter.store.models import ATTEMPT_RESULTS, CALLBACK_REASONS, MODES, OUTCOMES

# ------------------------------------------------------------------ outcomes and results
# The published table of what a call's outcome and an attempt's result mean, which are final,
# and who may write or amend them (README of the store: docs/operator-guide.md §4 points here).
#
#   calls.outcome    written by                       final?  who may amend it later
#   -------------    ------------------------------   ------  -------------------------------
#   NULL             call_started (any door)           no      anyone: the call's own end
#   answered         ARI session / FastAGI `end` /     yes     only the restart cut
#                    CDR import (bridged to officer)           (asterisk/stale.py: `failed`)
#   abandoned        caller left before a bridge       yes     as answered; never has an
#                                                              answerer nor talk time
#   unanswered       nobody took it; action ran        yes     as answered
#   after_hours      closed; action ran                yes     as answered
#   failed           router handed it to the fallback, no      the CDR import (what the
#                    or the restart cut it                     fallback did), once
#
#   call_attempts.result   written by                           who may amend it later
#   --------------------   ----------------------------------   ---------------------------
#   NULL (ringing)         attempt_started                      the door that started it; after
#                                                               a restart the stale closer or
#                                                               the CDR import (from the leg's
#                                                               own CDR line), never left NULL
#   answered, busy, no_answer, declined, failed, cancelled      nobody: final
#
# Who enforces it: the store. A door that ends a call it routed itself (the ARI session's
# stasis.CallSession._end, FastAGI's AgiCallFlow._finish) writes that call's only end. A *late
# writer* — one that ends a call it did not see through: the CDR import (cdr_import.import_fallback)
# and FastAGI's `end` for a call this process did not route (AgiCallFlow._end_unknown) — hands
# its end with ``late=True`` (CallLog.call_ended), and the store applies it only where the
# outcome is still NULL or in LATE_WRITERS_MAY_AMEND (store/apply.py: _apply_late_ends), so a
# final outcome is never overwritten by a late or a hostile writer. The restart cut
# (asterisk/stale.py) only closes calls whose end never came. The store also enforces the
# `abandoned` line: a call ended abandoned loses a recorded answer.
OUTCOMES_WITHOUT_ANSWER: Final = ("abandoned",)
#: What a late writer may still correct besides a NULL outcome (see the table above).
LATE_WRITERS_MAY_AMEND: Final = ("failed",)

CALL_STARTED: Final = "call_started"
ATTEMPT_STARTED: Final = "attempt_started"
ATTEMPT_ENDED: Final = "attempt_ended"
CALL_ANSWERED: Final = "call_answered"
CALL_ENDED: Final = "call_ended"
EVENT: Final = "event"
CALLBACK: Final = "callback"
KINDS: Final = (
    CALL_STARTED,
    ATTEMPT_STARTED,
    ATTEMPT_ENDED,
    CALL_ANSWERED,
    CALL_ENDED,
    EVENT,
    CALLBACK,
)

# Fields that hold phone numbers: their values never appear in an error message.
_PRIVATE: Final = frozenset({"caller", "number"})
MAX_DATA_BYTES: Final = 64 * 1024


def _fail(kind: str, name: str, problem: str) -> RecordError:
    return RecordError(f"{kind}: field {name!r} {problem}")


def _shown(name: str, value: object) -> str:
    if name in _PRIVATE and isinstance(value, str):
        return f"a string of {len(value)} characters"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def text(kind: str, name: str, value: object, max_len: int, *, optional: bool = False) -> Any:
    """A non-empty string of at most ``max_len`` characters (or None when optional)."""
    if (
        type(value) is str
        and 0 < len(value) <= max_len
        and "\x00" not in value
        and not value.isspace()
    ):
        return value  # the common case, checked fast
    if value is None:
        if optional:
            return None
        raise _fail(kind, name, "is required")
    if not isinstance(value, str):
        raise _fail(kind, name, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise _fail(kind, name, "must not be empty")
    if len(value) > max_len:
        raise _fail(kind, name, f"is longer than {max_len} characters: {_shown(name, value)}")
    if "\x00" in value:
        raise _fail(kind, name, "contains a NUL character")
    return value


def integer(
    kind: str, name: str, value: object, lo: int, hi: int, *, optional: bool = False
) -> Any:
    if value is None:
        if optional:
            return None
        raise _fail(kind, name, "is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(kind, name, f"must be an integer, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise _fail(kind, name, f"must be between {lo} and {hi}, got {value}")
    return value


#: Asterisk's AST_CAUSE_NOTDEFINED: the channel ended without a known cause
CAUSE_NOT_DEFINED: Final = 0


def cause(kind: str, name: str, value: object) -> int | None:
    """A Q.850 hang-up cause as Asterisk reports it, or None when unknown.

    Asterisk's 0 ("not defined") is unknown, never a cause: it becomes NULL, like a cause
    that was never reported, so the column holds only causes Asterisk actually gave."""
    checked = integer(kind, name, value, -(2**31), 2**31 - 1, optional=True)
    return None if checked == CAUSE_NOT_DEFINED else checked


def choice(kind: str, name: str, value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise _fail(kind, name, f"must be one of {', '.join(allowed)}; got {_shown(name, value)}")
    return str(value)


def when(kind: str, name: str, value: object) -> datetime:
    """A timezone-aware datetime."""
    if value is None:
        raise _fail(kind, name, "is required")
    if not isinstance(value, datetime):
        raise _fail(kind, name, f"must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise _fail(kind, name, f"must be timezone-aware, got naive {value.isoformat()}")
    return value


def when_optional(kind: str, name: str, value: object) -> datetime | None:
    return None if value is None else when(kind, name, value)


def utc(value: datetime | None) -> datetime | None:
    """The same instant in UTC (the spool's JSON encoder writes it as ISO 8601)."""
    if value is None or value.tzinfo is UTC:
        return value
    return value.astimezone(UTC)


def from_iso(value: str | datetime | None) -> datetime | None:
    """A spool timestamp back to an aware datetime."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def json_object(kind: str, name: str, value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(kind, name, f"must be a dict, got {type(value).__name__}")
    try:
        encoded = orjson.dumps(value)
    except TypeError as exc:
        raise _fail(kind, name, f"must be JSON-serialisable: {exc}") from None
    if len(encoded) > MAX_DATA_BYTES:
        raise _fail(kind, name, f"is {len(encoded)} bytes of JSON, more than {MAX_DATA_BYTES}")
    # A copy, as the spool will hold it: later changes by the caller change nothing.
    copy: dict[str, Any] = orjson.loads(encoded)
    return copy


def not_before(kind: str, name: str, value: datetime, other_name: str, other: datetime) -> None:
    if value < other - _CLOCK_SLACK:
        raise _fail(kind, name, f"({value.isoformat()}) is before {other_name}")


_CLOCK_SLACK: Final = timedelta(0)

__all__ = [
    "ATTEMPT_ENDED",
    "ATTEMPT_RESULTS",
    "ATTEMPT_STARTED",
    "CALLBACK",
    "CALLBACK_REASONS",
    "CALL_ANSWERED",
    "CALL_ENDED",
    "CALL_STARTED",
    "EVENT",
    "KINDS",
    "MODES",
    "OUTCOMES",
]
