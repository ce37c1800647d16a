"""The duty rota as iCalendar (RFC 5545): one home for ``callrouter rota ics``, the web's
subscribed feeds (``/lich/<feed>.ics``) and the shift reminder's attachment.

One event per stretch of constant duty (from :func:`callrouter.rota.timeline.timeline`, the
same lookup the router uses), described in Vietnamese whichever door asked for it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

from callrouter.rota.text import reason_vi
from callrouter.rota.timeline import timeline

if TYPE_CHECKING:
    from icalendar import Calendar, Event

    from callrouter.rota import Rota
    from callrouter.rota.timeline import Segment

ALL = "all"
"""The feed name of the whole line (any other feed name is an officer id)."""


def duty_event(rota: Rota, segment: Segment, stamp: datetime) -> Event:
    """The event for ``segment``; the description opens with the duty's reason in Vietnamese."""
    status = segment.status
    names = ", ".join(dict.fromkeys(a.officer_name for a in status.assignments))
    lines = [reason_vi(status.reason), ""]
    for i, a in enumerate(status.assignments, start=1):
        lines.append(f"{i}. {a.officer_name} – {a.number} ({a.number_label or 'số riêng'})")
    digest = hashlib.sha256(
        f"{rota.branch}|{segment.start.isoformat()}|{segment.end.isoformat()}|{names}".encode()
    ).hexdigest()[:24]
    from icalendar import Event  # noqa: PLC0415 (~4 MB the router only needs for calendars)

    event = Event()
    event.add("uid", f"{digest}@callrouter")
    event.add("dtstamp", stamp)
    event.add("dtstart", segment.start.astimezone(UTC))
    event.add("dtend", segment.end.astimezone(UTC))
    event.add("summary", f"Trực 1022 nhánh {rota.branch}: {names}")
    event.add("description", "\n".join(lines))
    event.add("categories", ["1022"])
    return event


def _calendar_head() -> Calendar:
    from icalendar import Calendar  # noqa: PLC0415 (see duty_event)

    calendar = Calendar()
    calendar.add("prodid", "-//callrouter//rota 1022//VI")
    calendar.add("version", "2.0")
    return calendar


def duty_calendar(
    rota: Rota,
    *,
    name: str,
    start: datetime,
    end: datetime,
    now: datetime,
    officer_id: str | None = None,
) -> Calendar:
    """The calendar ``name`` of the open duty between ``start`` and ``end`` (only
    ``officer_id``'s duty when given), stamped ``now``."""
    calendar = _calendar_head()
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", str(rota.timezone))
    stamp = now.astimezone(UTC)
    for segment in timeline(rota, start, end):
        if not segment.status.open:
            continue
        if officer_id is not None and all(
            a.officer_id != officer_id for a in segment.status.assignments
        ):
            continue
        calendar.add_component(duty_event(rota, segment, stamp))
    return calendar


def feed_calendar(rota: Rota, *, feed: str, now: datetime, weeks: int) -> bytes:
    """The subscribed feed ``feed`` (:data:`ALL` or an officer id) from today for ``weeks``."""
    tz = rota.timezone
    start = datetime.combine(now.astimezone(tz).date(), time(), tz)
    who = "" if feed == ALL else f" – {feed}"
    calendar = duty_calendar(
        rota,
        name=f"Trực 1022 nhánh {rota.branch}{who}",
        start=start,
        end=start + timedelta(weeks=weeks),
        now=now,
        officer_id=None if feed == ALL else feed,
    )
    calendar.add("refresh-interval;value=duration", "PT6H")
    data: bytes = calendar.to_ical()
    return data


def shift_calendar(rota: Rota, segment: Segment, *, now: datetime) -> bytes:
    """One stretch of duty as a calendar of one event (the shift reminder's attachment)."""
    calendar = _calendar_head()
    calendar.add("method", "PUBLISH")
    calendar.add_component(duty_event(rota, segment, now.astimezone(UTC)))
    data: bytes = calendar.to_ical()
    return data


__all__ = ["ALL", "duty_calendar", "duty_event", "feed_calendar", "shift_calendar"]
