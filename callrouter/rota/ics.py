"""One stretch of duty as an iCalendar event (``callrouter rota ics`` and the web feeds)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from icalendar import Calendar, Event

    from callrouter.rota import Rota
    from callrouter.rota.timeline import Segment


def duty_event(rota: Rota, segment: Segment, stamp: datetime, *, reason: str) -> Event:
    """The event for ``segment``; ``reason`` is the description's first line."""
    status = segment.status
    names = ", ".join(dict.fromkeys(a.officer_name for a in status.assignments))
    lines = [reason, ""]
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


def duty_calendar_head(name: str, tz: ZoneInfo) -> Calendar:
    """An empty duty calendar called ``name`` (the header both duty calendars share)."""
    from icalendar import Calendar  # noqa: PLC0415 (see duty_event)

    calendar = Calendar()
    calendar.add("prodid", "-//callrouter//rota 1022//VI")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-wr-timezone", str(tz))
    return calendar
