"""who_is_on_duty / duty_status: table-driven cases on tests/fixtures/rota/valid.yaml.

Calendar facts used (2026): Mon 2 Mar; Tue 10 Mar (override day); Tết 16–20 Feb; Hùng Kings
observed Mon 27 Apr; 30 Apr (Thu) staffed normally; 1–2 Jun closed dates; Sat 22 Aug make-up
day (like Monday); Mon 31 Aug substituted day off; Wed 2 Sep National Day staffed like Sunday.
2027: 29 Tết Thu 4 Feb, Tết Sat 6 Feb – Wed 10 Feb.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callrouter.rota import Rota, duty_status, load_rota, parse_rota, who_is_on_duty

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rota"
HCM = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture(scope="module")
def rota() -> Rota:
    return load_rota(FIXTURES / "valid.yaml")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=HCM)


# (local time, open, reason contains, [(officer, number)] in ring order)
CASES: list[tuple[str, bool, str, list[tuple[str, str]]]] = [
    # shift boundaries: start inclusive, end exclusive
    ("2026-03-02 06:59:59", True, "shift night", [("chi", "0912000001"), ("chi", "0912000103")]),
    ("2026-03-02 07:00", True, "shift day", [("an", "02433334444"), ("binh", "0912000001")]),
    ("2026-03-02 16:59:59", True, "shift day", [("an", "02433334444"), ("binh", "0912000001")]),
    ("2026-03-02 17:00", True, "shift night", [("chi", "0912000001"), ("chi", "0912000103")]),
    # overlapping shifts: file order, an@office listed once
    (
        "2026-03-03 11:30",
        True,
        "shift day + shift lunch",
        [("an", "02433334444"), ("binh", "0912000001"), ("chi", "0912000103")],
    ),
    ("2026-03-03 13:00", True, "shift day", [("an", "02433334444"), ("binh", "0912000001")]),
    # weekend: morning shift, then nothing until the night shift
    ("2026-03-07 08:00", True, "shift weekend", [("binh", "0912000102")]),
    ("2026-03-07 12:00", False, "outside shifts", []),
    ("2026-03-07 07:59", False, "outside shifts", []),
    # cross-midnight on the last day of a month
    ("2026-03-31 23:30", True, "shift night", [("chi", "0912000001"), ("chi", "0912000103")]),
    ("2026-04-01 03:00", True, "shift night", [("chi", "0912000001"), ("chi", "0912000103")]),
    # ... and of a year: 1 Jan is a closed holiday, but the night started on 31 Dec
    ("2025-12-31 23:59", True, "shift night", [("chi", "0912000001"), ("chi", "0912000103")]),
    ("2026-01-01 06:59", True, "shift night", [("chi", "0912000001"), ("chi", "0912000103")]),
    ("2026-01-01 07:00", False, "holiday: Tết Dương lịch", []),
    ("2026-01-01 18:00", False, "holiday: Tết Dương lịch", []),
    ("2026-01-02 03:00", False, "outside shifts", []),
    # overrides beat shifts; the shorter override beats the longer one
    ("2026-03-10 09:00", True, "override: An ốm", [("binh", "02433334444")]),
    ("2026-03-10 12:30", True, "override: Chi trực trưa", [("chi", "02433334444")]),
    ("2026-03-10 14:00", True, "override: An ốm", [("binh", "02433334444")]),
    ("2026-03-10 23:00", True, "override: An ốm", [("binh", "02433334444")]),
    ("2026-03-11 03:00", True, "shift night", [("chi", "0912000001"), ("chi", "0912000103")]),
    # a swap override: Dũng takes Chi's places (her own phone becomes his) from Mon 16 Mar noon
    (
        "2026-03-16 11:59",
        True,
        "shift day + shift lunch",
        [("an", "02433334444"), ("binh", "0912000001"), ("chi", "0912000103")],
    ),
    (
        "2026-03-16 12:00",
        True,
        "shift day + shift lunch (override: Chi nghỉ phép, Dũng trực thay)",
        [("an", "02433334444"), ("binh", "0912000001"), ("dung", "02435556666")],
    ),
    (
        "2026-03-16 20:00",
        True,
        "shift night (override: Chi nghỉ phép",
        [("dung", "0912000001"), ("dung", "02435556666")],
    ),
    (
        "2026-03-17 23:59",
        True,
        "shift night (override: Chi nghỉ phép",
        [("dung", "0912000001"), ("dung", "02435556666")],
    ),
    ("2026-03-18 00:00", True, "shift night", [("chi", "0912000001"), ("chi", "0912000103")]),
    # a closing override across the new year
    ("2026-12-31 21:59", True, "shift night", [("chi", "0912000001"), ("chi", "0912000103")]),
    ("2026-12-31 22:00", False, "override: Giao thừa dương lịch", []),
    ("2027-01-01 01:59", False, "override: Giao thừa dương lịch", []),
    ("2027-01-01 02:00", True, "shift night", [("chi", "0912000001"), ("chi", "0912000103")]),
    # holidays closing a day a shift covers
    ("2026-04-27 09:00", False, "holiday: Ngày Giỗ Tổ Hùng Vương (nghỉ bù)", []),
    ("2026-08-31 09:00", False, "holiday: Ngày nghỉ (thay cho ngày 22/08/2026)", []),
    # holiday staffed normally, and like Sunday
    ("2026-04-30 09:00", True, "staffed as usual", [("an", "02433334444"), ("binh", "0912000001")]),
    ("2026-09-02 09:00", True, "staffed like sun", [("binh", "0912000102")]),
    ("2026-09-02 14:00", False, "outside shifts (holiday: Quốc khánh", []),
    # extra closed dates
    ("2026-06-01 09:00", False, "closed: ngày nghỉ của đơn vị", []),
    ("2026-06-02 09:00", False, "closed: Khử khuẩn", []),
    # make-up working day: a Saturday worked like a Monday
    (
        "2026-08-22 09:00",
        True,
        "make-up day like mon",
        [("an", "02433334444"), ("binh", "0912000001")],
    ),
    ("2026-08-29 09:00", True, "shift weekend", [("binh", "0912000102")]),
    # Tết in two years: own holiday shifts; 29 Tết (2027) is not "Tết Nguyên Đán" → default closed
    ("2026-02-17 10:00", True, "holiday: Tết Nguyên Đán", [("an", "0912000101")]),
    ("2026-02-17 14:00", False, "outside shifts (holiday: Tết Nguyên Đán", []),
    ("2026-02-18 08:00", True, "Mùng hai Tết Nguyên Đán", [("an", "0912000101")]),
    ("2027-02-06 11:59", True, "holiday: Tết Nguyên Đán", [("an", "0912000101")]),
    ("2027-02-08 09:00", True, "Mùng ba Tết Nguyên Đán", [("an", "0912000101")]),
    ("2027-02-04 09:00", False, "holiday: 29 Tết", []),
    ("2027-02-11 09:00", True, "shift day", [("an", "02433334444"), ("binh", "0912000001")]),
]


@pytest.mark.parametrize(("local", "is_open", "reason", "expected"), CASES)
def test_duty_at_moment_matches_the_table(
    rota: Rota, local: str, is_open: bool, reason: str, expected: list[tuple[str, str]]
) -> None:
    status = duty_status(rota, at(local))
    assert status.open is is_open
    assert reason in status.reason
    assert [(a.officer_id, a.number) for a in status.assignments] == expected
    assert [(a.officer_id, a.number) for a in who_is_on_duty(rota, at(local))] == expected


def test_the_same_instant_in_another_zone_gives_the_same_duty(rota: Rota) -> None:
    local = at("2026-03-02 07:00")
    assert duty_status(rota, local) == duty_status(rota, local.astimezone(UTC))
    assert duty_status(rota, local.astimezone(UTC)).reason == "shift day"


def test_assignment_carries_the_window_of_its_shift_occurrence(rota: Rota) -> None:
    (first, _) = who_is_on_duty(rota, at("2026-04-01 03:00"))
    assert first.start == at("2026-03-31 17:00")
    assert first.end == at("2026-04-01 07:00")
    assert first.number_label == "duty"
    assert first.confirm is True


def test_override_assignment_carries_the_override_window(rota: Rota) -> None:
    (only,) = who_is_on_duty(rota, at("2026-03-10 12:30"))
    assert (only.start, only.end) == (at("2026-03-10 12:00"), at("2026-03-10 14:00"))
    assert only.reason == "override: Chi trực trưa"


def test_confirm_follows_the_number_and_own_phone_policy(rota: Rota) -> None:
    assignments = who_is_on_duty(rota, at("2026-03-03 11:30"))
    assert [(a.number_label, a.confirm) for a in assignments] == [
        ("office", False),
        ("duty", True),
        (None, True),
    ]


def test_naive_moment_is_refused(rota: Rota) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        who_is_on_duty(rota, datetime(2026, 3, 2, 8, 0))


def test_a_full_day_shift_and_a_shift_ending_at_midnight() -> None:
    rota = parse_rota(
        """
numbers: [{label: office, number: "0243 333 4444"}]
officers: [{id: an, name: An, phone: "0912000101", email: an@example.vn}]
shifts:
  - {days: sat, start: "00:00", end: "24:00", duty: [{officer: an, at: office}]}
  - {days: sun, start: "17:00", end: "00:00", duty: [{officer: an}]}
""",
        "inline",
    )
    saturday = at("2026-03-07 00:00")
    assert duty_status(rota, saturday).reason == "shift sat 00:00-24:00"
    assert duty_status(rota, saturday + timedelta(hours=23, minutes=59)).open
    (sunday_night,) = who_is_on_duty(rota, at("2026-03-08 23:59"))
    assert sunday_night.end == at("2026-03-09 00:00")
    assert sunday_night.number == "0912000101"
    assert not duty_status(rota, at("2026-03-09 00:00")).open


def test_day_caches_are_bounded_and_stay_correct() -> None:
    rota = load_rota(FIXTURES / "valid.yaml")  # fresh caches
    start = at("2020-01-01 20:00")
    for day in range(4200):  # more dates than the caches hold
        assert duty_status(rota, start + timedelta(days=day)).reason.startswith(
            ("shift night", "holiday", "override", "closed", "outside shifts (holiday")
        ), day
    assert len(rota.index.table_cache) <= 4096
    assert len(rota.index.day_cache) <= 4096
    assert duty_status(rota, at("2026-03-02 07:00")).reason == "shift day"
