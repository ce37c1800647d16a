"""Reading an older report file: version 1 → version 2 (``callrouter report upgrade``; a
version 2 file is read as version 3 as it is, see :mod:`callrouter.report.figures`).

Version 1 described the content of calls with one ``category`` and a fixed ``resolution``
per call, and one ``notes`` text. Version 2 has cases. The upgrade keeps every number:

- ``categories`` → ``cases.by_topic`` (the calls not classified are left out: they were
  not cases), and their sum → ``cases.counts.received``;
- ``resolutions`` → case statuses: ``answered_on_phone`` → answered, ``forwarded_to_agency``
  → forwarded, ``needs_callback`` and ``other`` → in progress;
- ``totals.answered`` → ``cases.counts.conversations``; ``totals.unclassified`` is dropped;
- ``notes`` stays the report's notes and also becomes its unit's notes (a merge keeps it);
- ``misdial_seconds`` is 10, the threshold version 1 used.

Kinds (hỏi đáp, phản ánh, kiến nghị), agencies, overdue and notable cases did not exist in
version 1: they are empty, and the file says so in ``cases.by_kind`` (one row "Chưa rõ loại").
"""

from __future__ import annotations

from typing import Any, Final

V1_MISDIAL_SECONDS: Final = 10
_STATUS_OF: Final = {
    "answered_on_phone": "answered",
    "forwarded_to_agency": "forwarded",
    "needs_callback": "in_progress",
    "other": "in_progress",
}


def upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A version 1 report (parsed JSON) as version 2 data (not yet validated)."""
    out = {k: v for k, v in data.items() if k not in ("categories", "resolutions")}
    out["version"] = 2
    out["misdial_seconds"] = V1_MISDIAL_SECONDS
    totals = dict(out.get("totals") or {})
    totals.pop("unclassified", None)
    out["totals"] = totals
    topics = [r for r in data.get("categories") or [] if r.get("key") is not None]
    counts: dict[str, int] = dict.fromkeys(
        ("answered", "in_progress", "forwarded", "resolved", "told", "overdue", "notable"), 0
    )
    for row in data.get("resolutions") or []:
        status = _STATUS_OF.get(row.get("key") or "")
        if status is not None:
            counts[status] += int(row.get("count") or 0)
    received = sum(int(r.get("count") or 0) for r in topics)
    counts.update(conversations=int(totals.get("answered") or 0), received=received)
    out["cases"] = {
        "counts": counts,
        "by_kind": [{"key": None, "label": "Chưa rõ loại", "count": received}] if received else [],
        "by_topic": topics,
        "by_agency": [],
        "notable": [],
    }
    units = []
    for unit in data.get("units") or []:
        unit_totals = {k: v for k, v in (unit.get("totals") or {}).items() if k != "unclassified"}
        units.append({**unit, "totals": unit_totals})
    if len(units) == 1:
        units[0]["cases"] = counts
        units[0]["notes"] = data.get("notes")
    out["units"] = units
    return out
