"""timeline(): constant-duty segments; rota_warnings(): what ``rota check`` warns about."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callrouter.rota import Rota, duty_status, load_rota, parse_rota
from callrouter.rota.holidays import public_holidays, substituted_working_day
from callrouter.rota.timeline import rota_warnings, timeline

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rota"
HCM = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture(scope="module")
def rota() -> Rota:
    return load_rota(FIXTURES / "valid.yaml")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=HCM)


def test_segments_tile_the_range_and_agree_with_the_duty_lookup(rota: Rota) -> None:
    start, end = at("2026-03-01 05:17"), at("2026-03-15 00:00")
    segments = timeline(rota, start, end)
    assert segments[0].start == start
    assert segments[-1].end == end
    for before, after in pairwise(segments):
        assert before.end == after.start
        assert before.status != after.status
    for segment in segments:
        probe = segment.start
        while probe < segment.end:  # every 20 minutes inside the segment
            assert duty_status(rota, probe).reason == segment.status.reason
            probe += timedelta(minutes=20)


def test_a_night_shift_is_one_segment_across_midnight(rota: Rota) -> None:
    segments = timeline(rota, at("2026-03-03 00:00"), at("2026-03-05 00:00"))
    nights = [s for s in segments if s.status.reason == "shift night"]
    assert (nights[1].start, nights[1].end) == (at("2026-03-03 17:00"), at("2026-03-04 07:00"))


def test_override_boundaries_split_segments(rota: Rota) -> None:
    segments = timeline(rota, at("2026-03-10 00:00"), at("2026-03-11 00:00"))
    assert [(s.start.hour, s.end.hour, s.status.reason) for s in segments] == [
        (0, 12, "override: An ốm, Bình trực thay"),
        (12, 14, "override: Chi trực trưa"),
        (14, 0, "override: An ốm, Bình trực thay"),
    ]


def test_uncovered_is_only_outside_shifts_not_deliberate_closing(rota: Rota) -> None:
    segments = timeline(rota, at("2026-06-01 00:00"), at("2026-06-03 00:00"))
    closed = [s for s in segments if not s.status.open]
    assert closed
    assert not any(s.uncovered for s in closed)
    weekend = timeline(rota, at("2026-03-07 00:00"), at("2026-03-08 00:00"))
    assert [(s.start.hour, s.end.hour) for s in weekend if s.uncovered] == [(7, 8), (12, 17)]


def test_naive_bounds_are_refused(rota: Rota) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        timeline(rota, datetime(2026, 3, 1), at("2026-03-02 00:00"))


def test_warnings_for_a_sparse_rota() -> None:
    sparse = parse_rota(
        """
numbers: [{label: office, number: "0243 333 4444"}]
officers:
  - {id: an, name: An, phone: "0912000101", email: an@example.vn}
  - {id: binh, name: Bình, phone: "0912000102", email: binh@example.vn}
shifts:
  - {days: mon, start: "08:00", end: "09:00", duty: [{officer: an}]}
  - {days: [holiday], start: "08:00", end: "09:00", duty: [{officer: an}]}
overrides:
  - {from: "2026-01-01 00:00", to: "2026-01-05 00:00", reason: Tết dương, duty: [{officer: an}]}
""",
        "sparse",
    )
    warnings = rota_warnings(sparse, date(2026, 3, 2), weeks=52)
    gaps = [w for w in warnings if w.startswith("không có ai trực")]
    assert len(gaps) == 40
    assert gaps[0] == "không có ai trực (máy không đóng): 2026-03-02 (Thứ Hai) 00:00–08:00"
    # a gap running over several days is written with both ends
    assert (
        gaps[1]
        == "không có ai trực (máy không đóng): 2026-03-02 (Thứ Hai) 09:00 → 2026-03-09 08:00"
    )
    assert any(w.startswith("… và ") for w in warnings)
    assert "cán bộ binh (Bình) không có trong ca trực nào" in warnings
    assert any(
        "dành cho ngày lễ nhưng không ngày lễ nào có staffing: shifts" in w for w in warnings
    )
    assert any("'Tết dương' đã kết thúc" in w for w in warnings)


def test_holidays_come_from_the_package_with_vietnamese_names() -> None:
    tet_2026 = {d: n for d, n in public_holidays(2026).items() if "Tết Nguyên Đán" in n}
    assert date(2026, 2, 17) in tet_2026
    assert public_holidays(2027)[date(2027, 2, 6)] == "Tết Nguyên Đán"
    assert "Hùng Vương" in public_holidays(2026)[date(2026, 4, 26)]


@pytest.mark.parametrize(
    ("name", "worked"),
    [
        ("Ngày nghỉ (thay cho ngày 26/04/2025)", date(2025, 4, 26)),
        ("Ngày nghỉ (thay cho ngày 31/02/2025)", None),
        ("Quốc khánh", None),
    ],
)
def test_substituted_day_names_give_the_make_up_date(name: str, worked: date | None) -> None:
    assert substituted_working_day(name) == worked
