"""Vietnamese wording of duty reasons and policy terms, for admins' screens.

Reasons are kept in one stable form in decisions and the call log (``shift Trực đêm``,
``holiday: Quốc khánh, staffed like sun``, ``override: …``, ``outside shifts``); this
module words them for people. Names inside reasons (shift names, holiday names, override
reasons) are the admin's or the holiday calendar's own Vietnamese and pass through.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from callrouter.rota.model import DAY_NAMES, DAY_NAMES_VI, Strategy

STRATEGY_VI = {
    Strategy.SEQUENTIAL: "lần lượt",
    Strategy.SIMULTANEOUS: "đổ chuông cùng lúc",
    Strategy.ROTATE: "lần lượt, xoay vòng người bắt đầu",
}

_DAY = "|".join(DAY_NAMES)
_AT = r"(?:^|(?<=\+ )|(?<=\())"  # only where the router put the word: start, after "+ " or "("
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf", staffed like ({_DAY})\)"), ", trực như {day})"),
    (re.compile(rf"{_AT}make-up day like ({_DAY})\)"), "ngày làm bù, làm như {day})"),
    (re.compile(r", staffed as usual\)"), ", trực như ngày thường)"),
    (re.compile(rf"{_AT}outside shifts\b"), "ngoài giờ trực"),
    (re.compile(rf"{_AT}shift "), "ca "),
    (re.compile(rf"{_AT}holiday: "), "ngày lễ: "),
    (re.compile(rf"{_AT}override: "), "thay đổi lịch trực: "),
    (re.compile(rf"{_AT}closed: "), "ngày nghỉ: "),
)


def reason_vi(reason: str) -> str:
    """``shift Trực đêm (holiday: Quốc khánh, staffed like sun)`` → Vietnamese."""
    text = reason
    for pattern, words in _RULES:
        if "{day}" in words:
            text = pattern.sub(_day_words(words), text)
        else:
            text = pattern.sub(words, text)
    return text


def _day_words(words: str) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        return words.format(day=DAY_NAMES_VI[DAY_NAMES.index(match.group(1))])

    return replace
