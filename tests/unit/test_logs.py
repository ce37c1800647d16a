"""Caller numbers never appear in full in logs."""

from __future__ import annotations

import pytest

from callrouter.logs import mask_number

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("0912345678", "091*****78"),
        ("+84912345678", "+84*******78"),
        ("02433334444", "024******44"),
        ("1022", "****"),
        ("", "<none>"),
        (None, "<none>"),
    ],
)
def test_mask_number_keeps_only_prefix_and_last_two_digits(number: str | None, masked: str) -> None:
    assert mask_number(number) == masked
