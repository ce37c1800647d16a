"""Roll-up: several units' JSON reports summed into one (district → province).

Counts and sums are added; every rate and average is recomputed from the summed counts and
sums (never an average of averages); the 90th-percentile wait is recomputed from the units'
histograms of waits rounded up to whole seconds. Each unit is listed with its own totals.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from callrouter.errors import ReportError
from callrouter.report.figures import (
    FORMAT,
    QUESTIONS_LIMIT,
    READABLE_VERSIONS,
    VERSION,
    AnswerFigures,
    AnswerUse,
    CallbackFigures,
    CaseCounts,
    CaseFigures,
    CountRow,
    DayRow,
    Figures,
    HourRow,
    NumberRow,
    OfficerRow,
    Period,
    PeriodKind,
    Totals,
    UnitInfo,
    UnitSummary,
    p90_from_histogram,
)
from callrouter.report.upgrade import upgrade_v1

#: Added up across units; not the wait percentile (rebuilt from the histograms) nor the repeat
#: callers: a sum of per-unit counts of people is not a count of people (one citizen may call
#: two units), so the roll-up shows them per unit only.
_SUMMED_TOTALS = tuple(
    name
    for name, field in Totals.model_fields.items()
    if field.annotation in (int, float) and name not in {"wait_p90_seconds", "repeat_callers"}
)


def load_figures(path: Path, *, upgrade: bool = False) -> Figures:
    """Read one unit's JSON report; a clear :class:`ReportError` naming the file otherwise.

    A version 1 file is refused with the command that upgrades it, unless ``upgrade``.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ReportError(f"{path}: not a callrouter report (not UTF-8 text)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"{path}: not a callrouter report (invalid JSON at line {exc.lineno}: {exc.msg})"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ReportError(f'{path}: not a callrouter report (no "format": "{FORMAT}")')
    if data.get("version") == 1:
        if not upgrade:
            raise ReportError(
                f"{path}: callrouter report version 1 (before cases); upgrade it first: "
                f"callrouter report upgrade {path} --output <new.json>"
            )
        data = upgrade_v1(data)
    if data.get("version") in READABLE_VERSIONS:
        data = {**data, "version": VERSION}
    if data.get("version") != VERSION:
        raise ReportError(
            f"{path}: callrouter report version {data.get('version')!r}; "
            f"this callrouter reads version {VERSION} — regenerate it with the same version"
        )
    try:
        return Figures.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise ReportError(f"{path}: malformed callrouter report: {problems}") from None


def _sum_totals(items: Iterable[Totals]) -> Totals:
    items = list(items)
    values: dict[str, Any] = {name: sum(getattr(t, name) for t in items) for name in _SUMMED_TOTALS}
    hist: dict[int, int] = defaultdict(int)
    for t in items:
        for seconds, count in t.wait_histogram:
            hist[seconds] += count
    histogram = sorted(hist.items())
    return Totals(
        **values,
        wait_histogram=histogram,
        wait_p90_seconds=p90_from_histogram(histogram),
        wait_p90_method="histogram",
    )


def _unit_name(f: Figures) -> str:
    return f.unit.name


def merge_figures(
    reports: Sequence[tuple[Path, Figures]],
    *,
    issuer: UnitInfo,
    force: bool = False,
    notes: str | None = None,
    now: datetime | None = None,
) -> Figures:
    """Sum the units' figures into one report issued by ``issuer``."""
    if not reports:
        raise ReportError("merge needs at least one report")
    first_path, first = reports[0]
    for path, f in reports[1:]:
        if not f.period.same_as(first.period) and not force:
            raise ReportError(
                f"{path}: period {f.period.start}..{f.period.end} differs from "
                f"{first_path}: {first.period.start}..{first.period.end} "
                "(use --force to merge different periods anyway)"
            )
        if f.branch != first.branch:
            raise ReportError(
                f"{path}: branch {f.branch} differs from {first_path}: {first.branch}"
            )
        if f.service_level_seconds != first.service_level_seconds and not force:
            raise ReportError(
                f"{path}: service level counted within {f.service_level_seconds} s, "
                f"{first_path} within {first.service_level_seconds} s "
                "(use --force to merge anyway)"
            )
        if f.misdial_seconds != first.misdial_seconds and not force:
            raise ReportError(
                f"{path}: misdials counted within {f.misdial_seconds} s, "
                f"{first_path} within {first.misdial_seconds} s (use --force to merge anyway)"
            )
    units: list[UnitSummary] = []
    for _, f in reports:
        units.extend(
            f.units
            or [
                UnitSummary(
                    name=f.unit.name,
                    period=f.period,
                    totals=f.totals,
                    cases=f.cases.counts,
                    notes=f.notes,
                )
            ]
        )
    names = [u.name for u in units]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes and not force:
        raise ReportError(
            f"unit {dupes[0]!r} appears in more than one input (use --force to merge anyway)"
        )

    periods = [f.period for _, f in reports]
    if all(p.same_as(first.period) for p in periods):
        period = first.period
    else:
        period = Period(
            kind=PeriodKind.MIXED,
            start=min(p.start for p in periods),
            end=max(p.end for p in periods),
        )

    days: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    hours: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for _, f in reports:
        for d in f.by_day:
            for k, v in d.model_dump(exclude={"day"}).items():
                days[d.day][k] += v
        for h in f.by_hour:
            for k, v in h.model_dump(exclude={"hour"}).items():
                hours[h.hour][k] += v
    for day in period.days():
        _ = days[day]  # defaultdict: every day of the period gets its row

    officers: list[OfficerRow] = []
    numbers: list[NumberRow] = []
    for _, f in reports:
        officers += [o.model_copy(update={"unit": o.unit or _unit_name(f)}) for o in f.officers]
        numbers += [n.model_copy(update={"unit": n.unit or _unit_name(f)}) for n in f.numbers]

    return Figures(
        generated_at=now or datetime.now(UTC),
        merged=True,
        unit=issuer,
        units=units,
        branch=first.branch,
        timezone=first.timezone,
        service_level_seconds=first.service_level_seconds,
        period=period,
        totals=_sum_totals(f.totals for _, f in reports),
        by_day=[DayRow(day=d, **days[d]) for d in sorted(days)],
        by_hour=[HourRow(hour=h, **hours[h]) for h in range(24)],
        officers=officers,
        numbers=numbers,
        misdial_seconds=first.misdial_seconds,
        cases=_sum_cases(reports),
        callbacks=_sum_callbacks(reports),
        notes=notes,
    )


def _sum_callbacks(reports: Sequence[tuple[Path, Figures]]) -> CallbackFigures | None:
    """The units' call-back counts added up; units whose file did not count them (null) are
    left out, and none counted: None (not zero)."""
    counted = [f.callbacks for _, f in reports if f.callbacks is not None]
    if not counted:
        return None
    names = [n for n in CallbackFigures.model_fields if n != "as_of"]
    ends = [c.as_of for c in counted if c.as_of is not None]
    return CallbackFigures(
        **{n: sum(getattr(c, n) for c in counted) for n in names},
        as_of=max(ends) if ends else None,
    )


def _sum_cases(reports: Sequence[tuple[Path, Figures]]) -> CaseFigures:
    """Case counts added up; each notable case keeps the name of its unit."""
    counts = {
        name: sum(getattr(f.cases.counts, name) for _, f in reports)
        for name in CaseCounts.model_fields
    }
    return CaseFigures(
        counts=CaseCounts(**counts),
        by_kind=_sum_counts(r for _, f in reports for r in f.cases.by_kind),
        by_topic=_sum_counts(r for _, f in reports for r in f.cases.by_topic),
        by_agency=_sum_counts(r for _, f in reports for r in f.cases.by_agency),
        notable=[
            n.model_copy(update={"unit": n.unit or _unit_name(f)})
            for _, f in reports
            for n in f.cases.notable
        ],
        answers=_sum_answers(reports),
    )


def _sum_answers(reports: Sequence[tuple[Path, Figures]]) -> AnswerFigures | None:
    """Uses of the same answer (same title and source) added up across units; the questions
    without an answer counted in full and listed up to :data:`QUESTIONS_LIMIT`, each with its
    unit. Units whose file did not count the book (version 2) are left out; none: None."""
    counted = [(f, f.cases.answers) for _, f in reports if f.cases.answers is not None]
    if not counted:
        return None
    uses: dict[tuple[str, str], int] = defaultdict(int)
    for _, a in counted:
        for u in a.used:
            uses[(u.title, u.source)] += u.count
    used = [AnswerUse(title=t, source=s, count=c) for (t, s), c in uses.items()]
    questions = [
        q.model_copy(update={"unit": q.unit or _unit_name(f)})
        for f, a in counted
        for q in a.questions
    ]
    return AnswerFigures(
        used=sorted(used, key=lambda u: (-u.count, u.title, u.source)),
        unanswered=sum(a.unanswered for _, a in counted),
        questions=questions[:QUESTIONS_LIMIT],
    )


def _sum_counts(rows: Iterable[CountRow]) -> list[CountRow]:
    counts: dict[str | None, int] = defaultdict(int)
    labels: dict[str | None, str] = {}
    for r in rows:
        counts[r.key] += r.count
        labels.setdefault(r.key, r.label)
    out = [CountRow(key=k, label=labels[k], count=c) for k, c in counts.items()]
    return sorted(out, key=lambda c: (c.key is None, -c.count, c.label))


def merge_files(
    paths: Sequence[Path],
    *,
    issuer: UnitInfo,
    force: bool = False,
    notes: str | None = None,
    now: datetime | None = None,
) -> Figures:
    return merge_figures(
        [(p, load_figures(p)) for p in paths], issuer=issuer, force=force, notes=notes, now=now
    )
