"""The rota over a stretch of time: constant-duty segments, coverage warnings.

Duty can only change at a shift's start or end, an override's start or end, or local
midnight (holidays and make-up days start at midnight). :func:`timeline` evaluates
:func:`~callrouter.rota.duty.duty_status` at each such instant and merges neighbours with
the same outcome, so the iCalendar export, ``rota check``'s coverage warnings and ``rota
who``'s "until" all come from the one duty lookup the router uses. Pure: times are passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from callrouter.rota.duty import OUTSIDE_SHIFTS, duty_status, require_aware
from callrouter.rota.holidays import public_holidays_by_year, substituted_working_day
from callrouter.rota.model import DAY_NAMES_VI, HOLIDAY, DutyStatus, Rota, format_clock


@dataclass(frozen=True, slots=True)
class Segment:
    """``[start, end)`` (tz-aware, rota zone) during which ``status`` holds."""

    start: datetime
    end: datetime
    status: DutyStatus

    @property
    def uncovered(self) -> bool:
        """Nobody on duty although the line is not deliberately closed."""
        return not self.status.open and self.status.reason.startswith(OUTSIDE_SHIFTS)


def _key(status: DutyStatus) -> tuple[object, ...]:
    return (
        status.open,
        status.reason,
        tuple((a.officer_id, a.number, a.number_label, a.confirm) for a in status.assignments),
    )


def _boundaries(rota: Rota, start: datetime, end: datetime) -> list[datetime]:
    tz = rota.timezone
    local_start = start.astimezone(tz).replace(tzinfo=None)
    local_end = end.astimezone(tz).replace(tzinfo=None)
    minutes = sorted({0} | {s.start for s in rota.shifts} | {s.end % 1440 for s in rota.shifts})
    points: set[datetime] = {local_start}
    day = local_start.date()
    while datetime.combine(day, time()) < local_end:
        midnight = datetime.combine(day, time())
        points.update(midnight + timedelta(minutes=m) for m in minutes)
        day += timedelta(days=1)
    for override in rota.overrides:
        points.update((override.start, override.end))
    ordered = sorted(p for p in points if local_start <= p < local_end)
    return [p.replace(tzinfo=tz) for p in ordered]


def timeline(rota: Rota, start: datetime, end: datetime) -> list[Segment]:
    """Constant-duty segments covering ``[start, end)`` (both tz-aware), in order."""
    require_aware(start)
    require_aware(end)
    points = _boundaries(rota, start, end)
    stop = end.astimezone(rota.timezone)
    segments: list[Segment] = []
    for i, point in enumerate(points):
        status = duty_status(rota, point)
        seg_end = points[i + 1] if i + 1 < len(points) else stop
        if segments and _key(segments[-1].status) == _key(status):
            segments[-1] = Segment(segments[-1].start, seg_end, segments[-1].status)
        else:
            segments.append(Segment(point, seg_end, status))
    return segments


def when_text(segment: Segment) -> str:
    """``2026-12-05 (Thứ Bảy) 17:00–24:00``: a segment as people read it."""
    start, end = segment.start, segment.end
    first = f"{start:%Y-%m-%d} ({DAY_NAMES_VI[start.weekday()]}) {start:%H:%M}"
    if end.date() == start.date() or end == datetime.combine(
        start.date() + timedelta(days=1), time(), start.tzinfo
    ):
        last = "24:00" if end.date() != start.date() else format_clock(end.hour * 60 + end.minute)
        return f"{first}–{last}"
    return f"{first} → {end:%Y-%m-%d} {format_clock(end.hour * 60 + end.minute)}"


def rota_warnings(rota: Rota, first_day: date, weeks: int = 4) -> list[str]:
    """What an admin should look at (not errors): uncovered hours, idle officers, …"""
    tz = rota.timezone
    start = datetime.combine(first_day, time(), tz)
    end = start + timedelta(weeks=weeks)
    warnings: list[str] = []

    gaps = [s for s in timeline(rota, start, end) if s.uncovered]
    limit = 40
    for segment in gaps[:limit]:
        warnings.append(f"không có ai trực (máy không đóng): {when_text(segment)}")
    if len(gaps) > limit:
        warnings.append(f"… và {len(gaps) - limit} khoảng không có ai trực khác")

    on_shift = {e.officer for s in rota.shifts for e in s.duty}
    for officer in rota.officers:
        if officer.id not in on_shift:
            warnings.append(f"cán bộ {officer.id} ({officer.name}) không có trong ca trực nào")

    uses_shifts = rota.holidays.default == "shifts" or any(
        r.staffing == "shifts" for r in rota.holidays.rules
    )
    for shift in rota.shifts:
        if HOLIDAY in shift.days and not uses_shifts:
            warnings.append(
                f"ca {shift.label()} dành cho ngày lễ nhưng không ngày lễ nào có staffing: shifts"
            )

    for override in rota.overrides:
        if override.end <= datetime.combine(first_day, time()):
            warnings.append(f"thay đổi '{override.reason}' đã kết thúc, có thể xóa khỏi tệp")

    make_up = {m.date for m in rota.holidays.make_up_days}
    for found in public_holidays_by_year((first_day.year, first_day.year + 1)).values():
        for day, name in sorted(found.items()):
            worked = substituted_working_day(name)
            if worked is not None and worked >= first_day and worked not in make_up:
                warnings.append(
                    f"{day:%Y-%m-%d} là ngày nghỉ bù ({name}): nếu đơn vị làm việc ngày "
                    f"{worked:%Y-%m-%d}, hãy thêm ngày đó vào holidays.make_up_days"
                )
    return warnings
