"""Vietnamese phone numbers and e-mail addresses, as the rota file holds them.

Numbers are kept in *national digits* form everywhere (``0912345678`` for a mobile,
``02433334444`` for a landline: area code + subscriber number); ``+84 …`` and ``84…``
input forms and common separators (spaces, dots, dashes, parentheses) are accepted.
"""

from __future__ import annotations

import re
from typing import Literal

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
