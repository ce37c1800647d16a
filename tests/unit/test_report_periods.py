"""Reporting periods: calendar month, cut-off day, ad-hoc dates, and bad input."""

from __future__ import annotations

from datetime import date

import pytest

from callrouter.errors import ReportError
from callrouter.report.figures import PeriodKind
from callrouter.report.periods import (
    latest_month,
    month_period,
    previous_month,
    require_ended,
    resolve_period,
)
from callrouter.report.queries import nearest_rank

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("month", "start", "end"),
    [
        ("2026-11", date(2026, 11, 1), date(2026, 11, 30)),
        ("2026-12", date(2026, 12, 1), date(2026, 12, 31)),
        ("2028-02", date(2028, 2, 1), date(2028, 2, 29)),  # leap year
        ("2027-02", date(2027, 2, 1), date(2027, 2, 28)),
    ],
)
def test_given_month_then_period_is_the_whole_calendar_month(
    month: str, start: date, end: date
) -> None:
    p = month_period(month)
    assert (p.kind, p.start, p.end, p.month) == (PeriodKind.MONTH, start, end, month)


def test_given_cutoff_15_then_period_runs_15th_previous_month_to_14th() -> None:
    p = month_period("2026-11", cutoff=15)
    assert (p.kind, p.start, p.end, p.cutoff_day) == (
        PeriodKind.CUTOFF,
        date(2026, 10, 15),
        date(2026, 11, 14),
        15,
    )
    assert "kỳ báo cáo tháng 11 năm 2026" in p.title_vi


def test_given_cutoff_in_january_then_period_starts_in_december_of_previous_year() -> None:
    p = month_period("2027-01", cutoff=20)
    assert (p.start, p.end) == (date(2026, 12, 20), date(2027, 1, 19))


@pytest.mark.parametrize(
    "bad", ["2026-13", "2026-00", "26-11", "2026/11", "november", "", "1999-12"]
)
def test_given_malformed_month_then_clear_error_names_the_option(bad: str) -> None:
    with pytest.raises(ReportError, match="--month"):
        month_period(bad)


@pytest.mark.parametrize("cutoff", [-1, 1, 29, 31])
def test_given_cutoff_out_of_range_then_error(cutoff: int) -> None:
    with pytest.raises(ReportError, match="--cutoff"):
        month_period("2026-11", cutoff=cutoff)


def test_given_from_and_to_then_adhoc_period_titled_as_adhoc() -> None:
    p = resolve_period(month=None, cutoff=None, start="2026-11-03", end="2026-11-09")
    assert (p.kind, p.start, p.end) == (PeriodKind.ADHOC, date(2026, 11, 3), date(2026, 11, 9))
    assert p.kind_label_vi == "Báo cáo đột xuất"
    assert len(p.days()) == 7


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"month": "2026-11", "start": "2026-11-01", "end": "2026-11-02"}, "not both"),
        ({"start": "2026-11-01"}, "both --from and --to"),
        ({"start": "2026-11-09", "end": "2026-11-01"}, "before"),
        ({"start": "2026-11-31", "end": "2026-12-01"}, "--from"),
        ({}, "give --month"),
    ],
)
def test_given_inconsistent_period_options_then_clear_error(
    kw: dict[str, str], message: str
) -> None:
    args: dict[str, str | None] = {"month": None, "start": None, "end": None}
    args.update(kw)
    with pytest.raises(ReportError, match=message):
        resolve_period(month=args["month"], cutoff=None, start=args["start"], end=args["end"])


def test_previous_month_wraps_the_year() -> None:
    assert previous_month(date(2027, 1, 5)) == "2026-12"
    assert previous_month(date(2026, 12, 31)) == "2026-11"


@pytest.mark.parametrize(("n", "rank"), [(1, 1), (4, 4), (9, 9), (10, 9), (11, 10), (20, 18)])
def test_nearest_rank_is_the_ceiling_of_ninety_percent(n: int, rank: int) -> None:
    assert nearest_rank(n) == rank


@pytest.mark.parametrize(
    ("today", "cutoff", "month"),
    [
        (date(2026, 12, 20), 15, "2026-12"),  # 15/11–14/12 ended on the 14th
        (date(2026, 12, 15), 15, "2026-12"),
        (date(2026, 12, 14), 15, "2026-11"),  # 15/11–14/12 still running
        (date(2027, 1, 3), 15, "2026-12"),
        (date(2026, 12, 20), 0, "2026-11"),  # calendar month
        (date(2026, 12, 20), None, "2026-11"),
    ],
)
def test_latest_month_is_the_period_that_ends_at_the_latest_cutoff(
    today: date, cutoff: int | None, month: str
) -> None:
    assert latest_month(today, cutoff) == month
    assert require_ended(month_period(month, cutoff), today, partial=False).end < today


def test_given_cutoff_0_then_the_calendar_month() -> None:
    p = month_period("2026-11", cutoff=0)
    assert (p.kind, p.start, p.end) == (PeriodKind.MONTH, date(2026, 11, 1), date(2026, 11, 30))


def test_given_unfinished_period_then_refused_unless_partial_which_titles_the_date() -> None:
    period = month_period("2026-12", cutoff=15)
    with pytest.raises(ReportError, match=r"has not ended.*--partial"):
        require_ended(period, date(2026, 12, 3), partial=False)
    partial = require_ended(period, date(2026, 12, 3), partial=True)
    assert (partial.start, partial.end, partial.as_of) == (
        date(2026, 11, 15),
        date(2026, 12, 3),
        date(2026, 12, 3),
    )
    assert partial.title_vi.endswith("(số liệu tính đến ngày 03/12/2026)")


def test_given_partial_for_a_future_period_then_refused() -> None:
    with pytest.raises(ReportError, match="has not begun"):
        require_ended(month_period("2027-03"), date(2026, 12, 3), partial=True)
