"""What a call, an officer leg and a call-back end as: the names the database stores and the
Vietnamese words people read, in one place.

The names are the values of ``calls.outcome``, ``call_attempts.result``, ``callbacks.reason``
and ``callback_attempts.outcome`` (:mod:`callrouter.store.models` builds its CHECK
constraints from them). Each name has one label — the admin web, the officer screen, the
report's charts and the e-mails show the same words — and, for the terminal's narrow tables
(``callrouter calls list``, ``calls callbacks``), one short form. A leaf module: it imports
nothing of callrouter, so the store can use it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Outcome(StrEnum):
    """``calls.outcome``."""

    ANSWERED = "answered"
    ABANDONED = "abandoned"
    UNANSWERED = "unanswered"
    AFTER_HOURS = "after_hours"
    FAILED = "failed"


class LegResult(StrEnum):
    """``call_attempts.result``."""

    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    DECLINED = "declined"
    FAILED = "failed"
    CANCELLED = "cancelled"


class CallbackReason(StrEnum):
    """``callbacks.reason``: why a caller is on the call-back list."""

    AFTER_HOURS_MESSAGE = "after_hours_message"
    ABANDONED = "abandoned"
    UNANSWERED = "unanswered"


class CallbackTry(StrEnum):
    """``callback_attempts.outcome``: how an officer's try at calling back went."""

    REACHED = "reached"
    NO_ANSWER = "no_answer"
    WRONG_NUMBER = "wrong_number"


OUTCOME_LABELS: Final[dict[str | None, str]] = {
    Outcome.ANSWERED: "Đã trả lời",
    Outcome.ABANDONED: "Người gọi gác máy khi đang chờ",
    Outcome.UNANSWERED: "Không cán bộ nào nghe máy",
    Outcome.AFTER_HOURS: "Ngoài giờ trực",
    Outcome.FAILED: "Lỗi kỹ thuật",
    None: "Đang diễn ra",  # no outcome yet: the call is in progress
}
RESULT_LABELS: Final[dict[str | None, str]] = {
    LegResult.ANSWERED: "Nghe máy",
    LegResult.BUSY: "Máy bận",
    LegResult.NO_ANSWER: "Không nghe máy",
    LegResult.DECLINED: "Từ chối",
    LegResult.FAILED: "Lỗi",
    LegResult.CANCELLED: "Đã hủy",
    None: "Đang đổ chuông",  # no result yet: the leg is ringing (or talking)
}
CALLBACK_REASON_LABELS: Final[dict[str, str]] = {
    CallbackReason.AFTER_HOURS_MESSAGE: "Để lại lời nhắn ngoài giờ",
    CallbackReason.ABANDONED: OUTCOME_LABELS[Outcome.ABANDONED],
    CallbackReason.UNANSWERED: OUTCOME_LABELS[Outcome.UNANSWERED],
}
CALLBACK_TRY_LABELS: Final[dict[str, str]] = {
    CallbackTry.REACHED: "Đã liên lạc được",
    CallbackTry.NO_ANSWER: "Không nghe máy",
    CallbackTry.WRONG_NUMBER: "Nhầm số",
}

# The terminal's tables: short, lower case.
OUTCOME_SHORT: Final[dict[str, str]] = {
    Outcome.ANSWERED: "đã trả lời",
    Outcome.ABANDONED: "người gọi gác máy",
    Outcome.UNANSWERED: "không ai nghe",
    Outcome.AFTER_HOURS: "ngoài giờ",
    Outcome.FAILED: "lỗi",
}
CALLBACK_REASON_SHORT: Final[dict[str, str]] = {
    CallbackReason.AFTER_HOURS_MESSAGE: "tin nhắn ngoài giờ",
    CallbackReason.ABANDONED: "gác máy khi chờ",
    CallbackReason.UNANSWERED: "không ai nghe",
}


def in_sentence(label: str) -> str:
    """``label`` inside a sentence (its first letter in lower case)."""
    return label[:1].lower() + label[1:]


__all__ = [
    "CALLBACK_REASON_LABELS",
    "CALLBACK_REASON_SHORT",
    "CALLBACK_TRY_LABELS",
    "OUTCOME_LABELS",
    "OUTCOME_SHORT",
    "RESULT_LABELS",
    "CallbackReason",
    "CallbackTry",
    "LegResult",
    "Outcome",
    "in_sentence",
]
