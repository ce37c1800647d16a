"""Notice text → what the speech engine should say: numbers, dates, times and abbreviations
spelled out in Vietnamese words (pure functions, tested with tables in
``tests/unit/test_notice_normalise.py``).

espeak-ng's Vietnamese voice reads "15/12" digit by digit and spells "BHYT" letter by
letter; a caller must hear "ngày mười lăm tháng mười hai" and "bảo hiểm y tế". Rules:

* a date ``d/m`` or ``d/m/yyyy`` (also with ``-`` or ``.`` between) → "ngày mười lăm tháng
  mười hai năm hai nghìn không trăm hai mươi sáu" (one "ngày" when the text already has it);
* a time ``8h``, ``8h30``, ``8:30`` → "tám giờ", "tám giờ ba mươi phút";
* a percentage ``5%`` → "năm phần trăm";
* a number of up to 12 digits → words ("1.500" and "1500" alike: the dot groups thousands);
  a number written with a leading 0 (a phone number) or longer than 12 digits → digit by
  digit ("0243" → "không hai bốn ba");
* an abbreviation of the table (``BHYT``, ``TP.``, ``SYT``, ``TTYT`` …; see
  :data:`DEFAULT_ABBREVIATIONS`, extended by the notices file's ``say:`` section) → its
  words, matched whole (``BHYTX`` is not ``BHYT``), case as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

DIGITS: Final = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")
_SCALES: Final = ("", "nghìn", "triệu", "tỷ")
MAX_WORD_DIGITS: Final = 12

DEFAULT_ABBREVIATIONS: Final[Mapping[str, str]] = {
    "BHYT": "bảo hiểm y tế",
    "BHXH": "bảo hiểm xã hội",
    "SYT": "Sở Y tế",
    "BYT": "Bộ Y tế",
    "TTYT": "Trung tâm Y tế",
    "TYT": "Trạm Y tế",
    "CDC": "Trung tâm Kiểm soát bệnh tật",
    "UBND": "Ủy ban nhân dân",
    "HĐND": "Hội đồng nhân dân",
    "TP.": "thành phố",
    "TP": "thành phố",
    "Q.": "quận",
    "P.": "phường",
    "TX.": "thị xã",
    "TT.": "thị trấn",
    "BV": "bệnh viện",
    "BS": "bác sĩ",
    "CCCD": "căn cước công dân",
    "CMND": "chứng minh nhân dân",
    "KCB": "khám chữa bệnh",
    "COVID-19": "cô vít mười chín",
    "SĐT": "số điện thoại",
    "v.v.": "vân vân",
}


def number_words(n: int) -> str:
    """``n`` (0 ≤ n < 10**12) in Vietnamese words: 105 → "một trăm linh năm",
    21 → "hai mươi mốt", 2026 → "hai nghìn không trăm hai mươi sáu"."""
    if n < 0 or n >= 10**MAX_WORD_DIGITS:
        raise ValueError(f"out of range: {n}")
    if n == 0:
        return DIGITS[0]
    groups: list[int] = []
    while n:
        groups.append(n % 1000)
        n //= 1000
    words: list[str] = []
    top = len(groups) - 1
    for i in range(top, -1, -1):
        group = groups[i]
        if group == 0:
            continue
        words.append(_hundreds(group, full=i != top))
        if _SCALES[i]:
            words.append(_SCALES[i])
    return " ".join(words)


def _hundreds(n: int, *, full: bool) -> str:
    """0 < n < 1000; ``full``: a group after a higher one ("không trăm linh năm")."""
    hundreds, tens, units = n // 100, n // 10 % 10, n % 10
    out: list[str] = []
    if hundreds or full:
        out += [DIGITS[hundreds], "trăm"]
    if tens == 0:
        if units:
            if out:
                out.append("linh")
            out.append(DIGITS[units])
        return " ".join(out)
    if tens == 1:
        out.append("mười")
    else:
        out += [DIGITS[tens], "mươi"]
    if units == 1 and tens > 1:
        out.append("mốt")
    elif units == 5:
        out.append("lăm")
    elif units == 4 and tens > 1:
        out.append("tư")
    elif units:
        out.append(DIGITS[units])
    return " ".join(out)


def digit_words(digits: str) -> str:
    """Digit by digit: "0243" → "không hai bốn ba"."""
    return " ".join(DIGITS[int(d)] for d in digits)


def _day_words(day: int) -> str:
    return ("mùng " if day <= 10 else "") + number_words(day)


def _month_words(month: int) -> str:
    return "tư" if month == 4 else number_words(month)


_DATE = re.compile(
    r"(?<![\w/.-])(?P<ngay>[Nn]gày\s+)?(?P<d>\d{1,2})(?P<sep>[/.-])(?P<m>\d{1,2})"
    r"(?:(?P=sep)(?P<y>\d{4}))?(?![\w/]|[.-]\d)"
)
_TIME = re.compile(r"(?<![\w:])(?P<h>\d{1,2})(?:h|giờ|:)(?P<min>\d{2})?(?![\w:])", re.IGNORECASE)
_PERCENT = re.compile(r"(?<![\w.,])(?P<n>\d+(?:,\d+)?)\s?%")
_NUMBER = re.compile(r"(?<![\w,])(?P<n>\d{1,3}(?:\.\d{3})+|\d+)(?:,(?P<frac>\d+))?(?![\w])")


def _date(m: re.Match[str]) -> str:
    day, month = int(m["d"]), int(m["m"])
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return m[0]
    words = f"ngày {_day_words(day)} tháng {_month_words(month)}"
    if m["y"]:
        words += f" năm {number_words(int(m['y']))}"
    if m["ngay"] and m["ngay"][0] == "N":
        words = "N" + words[1:]
    return words


def _time(m: re.Match[str]) -> str:
    hour = int(m["h"])
    minute = int(m["min"]) if m["min"] else 0
    if hour > 24 or minute > 59:
        return m[0]
    words = f"{number_words(hour)} giờ"
    if minute:
        words += f" {number_words(minute)} phút"
    return words


def _integer(text: str) -> str:
    digits = text.replace(".", "")
    if (digits.startswith("0") and len(digits) > 1) or len(digits) > MAX_WORD_DIGITS:
        return digit_words(digits)
    return number_words(int(digits))


def _number(m: re.Match[str]) -> str:
    words = _integer(m["n"])
    if m["frac"]:
        words += " phẩy " + _integer(m["frac"])
    return words


def _percent(m: re.Match[str]) -> str:
    whole, _, frac = m["n"].partition(",")
    words = number_words(int(whole)) if len(whole) <= MAX_WORD_DIGITS else digit_words(whole)
    if frac:
        words += " phẩy " + _integer(frac)
    return words + " phần trăm"


def _abbreviation_pattern(table: Mapping[str, str]) -> re.Pattern[str] | None:
    if not table:
        return None
    keys = sorted(table, key=len, reverse=True)  # "TP." before "TP"
    alternatives = "|".join(re.escape(k) for k in keys)
    return re.compile(rf"(?<![\w.])(?:{alternatives})(?!\w)")


class Normaliser:
    """Spells out numbers, dates, times and the abbreviations of ``abbreviations``
    (:data:`DEFAULT_ABBREVIATIONS` plus the notices file's own, which win)."""

    def __init__(self, abbreviations: Mapping[str, str] | None = None) -> None:
        table = dict(DEFAULT_ABBREVIATIONS)
        table.update(abbreviations or {})
        self.table = table
        self._pattern = _abbreviation_pattern(table)

    def __call__(self, text: str) -> str:
        out = " ".join(text.split())  # one line: newlines and runs of spaces
        if self._pattern is not None:
            out = self._pattern.sub(lambda m: self.table[m[0]], out)
        out = _DATE.sub(_date, out)
        out = _TIME.sub(_time, out)
        out = _PERCENT.sub(_percent, out)
        out = _NUMBER.sub(_number, out)
        return out
