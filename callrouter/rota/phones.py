"""Phone numbers and e-mail addresses: the rota's, and the callers' as Asterisk reports them.

Rota numbers are kept in *national digits* form everywhere (``0912345678`` for a mobile,
``02433334444`` for a landline: area code + subscriber number); ``+84 …`` and ``84…``
input forms and common separators (spaces, dots, dashes, parentheses) are accepted.

A caller's number comes from the trunk (ARI's ``caller.number``, FastAGI's ``agi_callerid``,
the CDR's ``src``) and is whatever the far end sent: :func:`caller_number` is the one door
all three go through before a row, a log line or a call-back entry sees it.
"""

from __future__ import annotations

import re
from typing import Final, Literal

PhoneKind = Literal["mobile", "landline"]

_SEPARATORS = re.compile(r"[\s.\-()/]")
# Mobile networks since the 2018 renumbering: 03x, 05x, 07x, 08x, 09x, 10 digits in all.
_MOBILE = re.compile(r"^0[35789]\d{8}$")
# Landlines since the 2017 area-code change: 02 + 1-2 more area digits + subscriber, 11 digits.
_LANDLINE = re.compile(r"^02\d{9}$")
# A deliberately plain address check: local@domain.tld, no spaces, one @, a dot in the domain.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)

PHONE_HELP = (
    "di động 10 chữ số bắt đầu bằng 03, 05, 07, 08, 09 hoặc cố định 11 chữ số bắt đầu bằng 02 "
    "(có mã vùng); được viết dạng +84…"
)


def normalise_phone(raw: str) -> str:
    """Return the national-digits form of a Vietnamese number or raise ``ValueError``."""
    text = _SEPARATORS.sub("", raw.strip())
    if text.startswith("+84"):
        text = "0" + text[3:]
    elif text.startswith("0084"):
        text = "0" + text[4:]
    elif text.startswith("84") and len(text) in (11, 12):
        text = "0" + text[2:]
    if not text.isascii() or not text.isdigit():
        raise ValueError(f"số điện thoại {raw!r} chứa ký tự không phải chữ số ({PHONE_HELP})")
    if _MOBILE.match(text) or _LANDLINE.match(text):
        return text
    raise ValueError(f"{raw!r} không phải số điện thoại Việt Nam hợp lệ ({PHONE_HELP})")


def phone_kind(number: str) -> PhoneKind:
    """``mobile`` or ``landline`` for a number already in national-digits form."""
    return "landline" if number.startswith("02") else "mobile"


def normalise_email(raw: str) -> str:
    """Return the trimmed address (domain lower-cased) or raise ``ValueError``."""
    text = raw.strip()
    if len(text) > 254 or not _EMAIL.match(text):
        raise ValueError(f"{raw!r} không phải địa chỉ e-mail hợp lệ (dạng ten@donvi.gov.vn)")
    local, _, domain = text.rpartition("@")
    if len(local) > 64 or ".." in local or local.startswith(".") or local.endswith("."):
        raise ValueError(f"{raw!r} không phải địa chỉ e-mail hợp lệ (dạng ten@donvi.gov.vn)")
    return f"{local}@{domain.lower()}"


CALLER_MAX_DIGITS: Final = 20
"""E.164 allows 15 digits; 20 leaves room for a trunk prefix. Longer is not a number."""
CALLER_MAX_CHARS: Final = 64
"""Raw caller IDs longer than this are refused before they are even scanned."""
_CALLER_FORM = re.compile(rf"\+?[0-9]{{1,{CALLER_MAX_DIGITS}}}")


def caller_number(raw: str | None) -> str | None:
    """The caller's number as the rows keep it: ASCII digits, with a leading ``+`` if it had one.

    A withheld or garbled caller ID (``anonymous``, ``unknown``, empty, no digit at all) is
    None; separators and odd characters (``+84 (90) 555-12``, ``*#``, letters) are dropped.
    More than :data:`CALLER_MAX_DIGITS` digits (or a raw value longer than
    :data:`CALLER_MAX_CHARS`) is None too: cut short it would be somebody else's number, and a
    call-back would ring them.
    """
    if not raw or len(raw) > CALLER_MAX_CHARS:
        return None
    digits = "".join(c for c in raw if c.isascii() and c.isdigit())
    if not digits or len(digits) > CALLER_MAX_DIGITS:
        return None
    return ("+" if raw.strip().startswith("+") else "") + digits


def is_caller_number(text: str) -> bool:
    """True when ``text`` is already in :func:`caller_number`'s form (or a rota number's)."""
    return _CALLER_FORM.fullmatch(text) is not None
