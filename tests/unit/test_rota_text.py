"""Vietnamese wording of duty reasons for admins."""

from __future__ import annotations

import pytest

from callrouter.rota.text import STRATEGY_VI, reason_vi
from callrouter.routing import Strategy

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("shift Trực đêm", "ca Trực đêm"),
        ("shift day + shift lunch", "ca day + ca lunch"),
        ("outside shifts", "ngoài giờ trực"),
        ("outside shifts (holiday: Tết Nguyên Đán)", "ngoài giờ trực (ngày lễ: Tết Nguyên Đán)"),
        (
            "shift Cuối tuần (holiday: Quốc khánh, staffed like sun)",
            "ca Cuối tuần (ngày lễ: Quốc khánh, trực như Chủ Nhật)",
        ),
        (
            "shift day (holiday: Ngày Chiến thắng, staffed as usual)",
            "ca day (ngày lễ: Ngày Chiến thắng, trực như ngày thường)",
        ),
        ("shift day (make-up day like mon)", "ca day (ngày làm bù, làm như Thứ Hai)"),
        ("holiday: Tết Dương lịch", "ngày lễ: Tết Dương lịch"),
        ("closed: Khử khuẩn", "ngày nghỉ: Khử khuẩn"),
        # an admin's own words inside a reason are left alone
        (
            "override: night shift swap, closed: no",
            "thay đổi lịch trực: night shift swap, closed: no",
        ),
    ],
)
def test_reasons_are_worded_in_vietnamese(reason: str, words: str) -> None:
    assert reason_vi(reason) == words


def test_every_strategy_has_vietnamese_words() -> None:
    assert set(STRATEGY_VI) == set(Strategy)
