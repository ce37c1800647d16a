"""The duty calendar as an iCalendar (RFC 5545) feed officers subscribe to.

One event per stretch of constant duty (from :func:`callrouter.rota.timeline.timeline`, the
same lookup the router uses); a feed is either the whole line ("all") or one officer's duty.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

from callrouter.rota import Rota
from callrouter.rota.ics import duty_calendar_head, duty_event
from callrouter.rota.timeline import Segment, timeline

if TYPE_CHECKING:
    from icalendar import Event

ALL = "all"


def _event(rota: Rota, segment: Segment, stamp: datetime) -> Event:
    return duty_event(rota, segment, stamp, reason=segment.status.reason)


def duty_calendar(rota: Rota, *, feed: str, now: datetime, weeks: int) -> bytes:
    """The feed ``feed`` (``"all"`` or an officer id) from today for ``weeks`` weeks."""
    tz = rota.timezone
    start = datetime.combine(now.astimezone(tz).date(), time(), tz)
    end = start + timedelta(weeks=weeks)
    who = "" if feed == ALL else f" – {feed}"
    calendar = duty_calendar_head(f"Trực 1022 nhánh {rota.branch}{who}", tz)
    calendar.add("refresh-interval;value=duration", "PT6H")
    for segment in timeline(rota, start, end):
        if not segment.status.open:
            continue
        if feed != ALL and all(a.officer_id != feed for a in segment.status.assignments):
            continue
        calendar.add_component(_event(rota, segment, now.astimezone(UTC)))
    data: bytes = calendar.to_ical()
    return data


def shift_calendar(rota: Rota, segment: Segment, *, now: datetime) -> bytes:
    """One stretch of duty as a calendar of one event (the shift reminder's attachment)."""
    from icalendar import Calendar  # noqa: PLC0415 (see _event)

    calendar = Calendar()
    calendar.add("prodid", "-//callrouter//rota 1022//VI")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add_component(_event(rota, segment, now.astimezone(UTC)))
    data: bytes = calendar.to_ical()
    return data
