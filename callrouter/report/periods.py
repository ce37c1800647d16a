"""Reporting periods from command-line words: a month, a cut-off day, or explicit dates.

Days are the rota's local days: the store keeps each call's local day, so a call at 23:59 on
the last day of the month (Vietnam time) belongs to that month whatever its UTC time.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta

from callrouter.errors import ReportError
from callrouter.report.figures import Period, PeriodKind

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
MIN_CUTOFF, MAX_CUTOFF = 2, 28


def parse_month(text: str) -> tuple[int, int]:
    """``"2026-11"`` → ``(2026, 11)``; anything else is a :class:`ReportError`."""
    m = _MONTH.match(text.strip())
    if not m:
        raise ReportError(f"--month {text!r}: expected YYYY-MM, e.g. 2026-11")
    year, month = int(m.group(1)), int(m.group(2))
    if not 1 <= month <= 12:
        raise ReportError(f"--month {text!r}: month must be 01..12")
    if year < 2000:
        raise ReportError(f"--month {text!r}: year must be 2000 or later")
    return year, month


def parse_day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ReportError(f"{option} {text!r}: expected a date YYYY-MM-DD") from None


def month_period(month: str, cutoff: int | None = None) -> Period:
    """Calendar month (``cutoff`` None or 0), or with ``cutoff`` N: the Nth of the previous
    month to the (N-1)th (Decree 09/2019/NĐ-CP: monthly figures run from the 15th to the 14th)."""
    year, mon = parse_month(month)
    label = f"{year:04d}-{mon:02d}"
    if not cutoff:
        last = calendar.monthrange(year, mon)[1]
        return Period(
            kind=PeriodKind.MONTH, start=date(year, mon, 1), end=date(year, mon, last), month=label
        )
    if not MIN_CUTOFF <= cutoff <= MAX_CUTOFF:
        raise ReportError(
            f"--cutoff {cutoff}: must be a day {MIN_CUTOFF}..{MAX_CUTOFF} "
            "(or 0 for the calendar month)"
        )
    prev_year, prev_mon = (year - 1, 12) if mon == 1 else (year, mon - 1)
    return Period(
        kind=PeriodKind.CUTOFF,
        start=date(prev_year, prev_mon, cutoff),
        end=date(year, mon, cutoff) - timedelta(days=1),
        month=label,
        cutoff_day=cutoff,
    )


def adhoc_period(start: str, end: str) -> Period:
    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    if last < first:
        raise ReportError(f"--to {end} is before --from {start}")
    if (last - first).days > 366 * 5:
        raise ReportError(f"--from {start} --to {end}: a report spans at most five years")
    return Period(kind=PeriodKind.ADHOC, start=first, end=last)


def resolve_period(
    *, month: str | None, cutoff: int | None, start: str | None, end: str | None
) -> Period:
    """The period the options ask for; exactly one of --month or --from/--to."""
    if start is not None or end is not None:
        if month is not None or cutoff is not None:
            raise ReportError("give either --month [--cutoff N] or --from/--to, not both")
        if start is None or end is None:
            raise ReportError("an ad-hoc report needs both --from and --to")
        return adhoc_period(start, end)
    if month is None:
        raise ReportError("give --month YYYY-MM (or --from/--to for an ad-hoc report)")
    return month_period(month, cutoff)


def latest_month(today: date, cutoff: int | None) -> str:
    """The month whose period ended last before ``today``: with a cut-off N, this month once
    its (N-1)th is past, else the previous one; the calendar month before ``today`` without."""
    if cutoff and today.day >= cutoff:
        return f"{today.year:04d}-{today.month:02d}"
    return previous_month(today)


def require_ended(period: Period, today: date, *, partial: bool) -> Period:
    """``period`` if it has ended before ``today``; a period still running only with
    ``partial`` (its figures then run to ``today``); one not yet begun never."""
    if period.end < today:
        return period
    if period.start > today:
        raise ReportError(
            f"the period {period.start:%d/%m/%Y}–{period.end:%d/%m/%Y} has not begun "
            f"(today is {today:%d/%m/%Y}); there is nothing to report"
        )
    if not partial:
        raise ReportError(
            f"the period {period.start:%d/%m/%Y}–{period.end:%d/%m/%Y} has not ended (today is "
            f"{today:%d/%m/%Y}); add --partial for the figures so far, titled "
            f"'số liệu tính đến ngày {today:%d/%m/%Y}'"
        )
    return period.model_copy(update={"end": today, "as_of": today})


def previous_month(today: date) -> str:
    """The month a report run on ``today`` is for: the previous calendar month."""
    first = today.replace(day=1)
    prev = first - timedelta(days=1)
    return f"{prev.year:04d}-{prev.month:02d}"
