"""The report's figures, computed in SQL (SQLAlchemy Core) on SQLite and PostgreSQL alike.

No call row is loaded into Python (only the period's call-back entries, whose due time in
working hours is counted in Python): every query aggregates in the database and returns at most
one row per day, hour, officer, number, case group or histogram second. Every expression used
here means the same on both databases:

* conditional counts are ``sum(CASE WHEN … THEN 1 ELSE 0 END)``;
* the 90th-percentile wait is the nearest-rank value: the wait at rank r = ⌈0.9·n⌉ of the
  n answered calls' waits in ascending order (n counted in the same snapshot, r computed in
  Python with integers), fetched with ``ORDER BY wait DESC LIMIT 1 OFFSET n − r``, which
  both databases run the same way — no percentile function, which SQLite lacks;
* waits rounded up to whole seconds (the histogram merged reports use) come from a construct
  compiled per dialect (``ceil`` on PostgreSQL; a CAST/CASE on SQLite, which may lack ``ceil``).

Days and hours are the rota's local ones (``calls.local_day``/``local_hour``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement

from callrouter.cases.config import CasesConfig
from callrouter.cases.due import due_at
from callrouter.cases.workdays import WorkCalendar
from callrouter.report.case_figures import case_figures
from callrouter.report.figures import (
    CallbackFigures,
    DayRow,
    Figures,
    HourRow,
    NumberRow,
    OfficerRow,
    Period,
    Totals,
    UnitInfo,
    UnitSummary,
)
from callrouter.store.missed import CLOSED_BY
from callrouter.store.models import (
    ATTEMPT_RESULTS,
    CALLBACK_OUTCOMES,
    CALLBACK_REASONS,
    call_attempts,
    callback_attempts,
    callbacks,
    calls,
)

AnySelect = sa.Select[*tuple[Any, ...]]
AnyRow = sa.Row[*tuple[Any, ...]]


class ceil_seconds(sa.sql.expression.FunctionElement[int]):
    """A non-negative number of seconds rounded up to a whole second, as an integer."""

    type = sa.Integer()
    inherit_cache = True


@compiles(ceil_seconds)
def _ceil_default(element: ceil_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    (arg,) = list(element.clauses)
    return f"CAST(ceil({compiler.process(arg, **kw)}) AS INTEGER)"


@compiles(ceil_seconds, "sqlite")
def _ceil_sqlite(element: ceil_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    (arg,) = list(element.clauses)
    x = compiler.process(arg, **kw)
    # CAST(real AS INTEGER) truncates toward zero in SQLite: for x >= 0 that is floor(x).
    t = f"CAST({x} AS INTEGER)"
    return f"(CASE WHEN {x} > {t} THEN {t} + 1 ELSE {t} END)"


def _count_if(cond: ColumnElement[bool]) -> ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


def _sum_if(value: ColumnElement[Any], cond: ColumnElement[bool]) -> ColumnElement[float]:
    return sa.func.coalesce(sa.func.sum(sa.case((cond, value), else_=None)), 0.0)


def _in_period(period: Period, branch: int) -> ColumnElement[bool]:
    return sa.and_(
        calls.c.branch == branch,
        calls.c.local_day >= period.start,
        calls.c.local_day <= period.end,
    )


def _utc_bounds(period: Period, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(period.start, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(period.end + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


_c = calls.c
_ANSWERED = _c.outcome == "answered"
_WAIT_KNOWN = sa.and_(_ANSWERED, _c.wait_seconds.is_not(None))
_TALK_KNOWN = sa.and_(_ANSWERED, _c.talk_seconds.is_not(None))


_GRID_COUNTS: dict[str, ColumnElement[bool]] = {
    "received": sa.true(),
    "answered": _ANSWERED,
    "abandoned": _c.outcome == "abandoned",
    "unanswered": _c.outcome == "unanswered",
    "after_hours": _c.outcome == "after_hours",
    "failed": _c.outcome == "failed",
    "in_progress": _c.outcome.is_(None),
    "fallback": _c.mode == "fallback",
    "wait_count": _WAIT_KNOWN,
    "talk_count": _TALK_KNOWN,
}


def grid_query(period: Period, branch: int, sl_seconds: int, misdial_seconds: int) -> AnySelect:
    """Counts and sums per (local day, local hour): totals, by-day and by-hour in one scan."""
    return (
        sa.select(
            _c.local_day,
            _c.local_hour,
            *(_count_if(cond).label(name) for name, cond in _GRID_COUNTS.items()),
            _count_if(sa.and_(_ANSWERED, _c.wait_seconds <= sl_seconds)).label(
                "answered_within_sl"
            ),
            _count_if(sa.and_(_c.outcome == "abandoned", _c.wait_seconds <= misdial_seconds)).label(
                "abandoned_short"
            ),
            _sum_if(_c.wait_seconds, _WAIT_KNOWN).label("wait_seconds_sum"),
            _sum_if(_c.talk_seconds, _TALK_KNOWN).label("talk_seconds_sum"),
        )
        .where(_in_period(period, branch))
        .group_by(_c.local_day, _c.local_hour)
    )


def nearest_rank(n: int, percent: int = 90) -> int:
    """1-based rank of the nearest-rank percentile among n values: ⌈percent·n/100⌉."""
    return -(-percent * n // 100)


def p90_query(period: Period, branch: int, n: int) -> AnySelect:
    """The wait at ascending rank ⌈0.9·n⌉ of the n answered calls' waits, i.e. at descending
    rank n − ⌈0.9·n⌉ + 1: a top-N sort of the longest tenth only (n from the same snapshot)."""
    return (
        sa.select(_c.wait_seconds)
        .where(_in_period(period, branch), _WAIT_KNOWN)
        .order_by(_c.wait_seconds.desc())
        .limit(1)
        .offset(n - nearest_rank(n))
    )


def histogram_query(period: Period, branch: int) -> AnySelect:
    sec = ceil_seconds(_c.wait_seconds).label("sec")
    return (
        sa.select(sec, sa.func.count().label("n"))
        .where(_in_period(period, branch), _WAIT_KNOWN)
        .group_by(sec)
        .order_by(sec)
    )


def repeat_callers_query(period: Period, branch: int) -> AnySelect:
    repeated = (
        sa.select(_c.caller)
        .where(_in_period(period, branch), _c.caller.is_not(None))
        .group_by(_c.caller)
        .having(sa.func.count() >= 2)
        .subquery("repeated")
    )
    return sa.select(sa.func.count()).select_from(repeated)


def callbacks_query(period: Period, branch: int, tz: ZoneInfo) -> AnySelect:
    start, end = _utc_bounds(period, tz)
    cb = callbacks.c
    return (
        sa.select(
            sa.func.count().label("requested"),
            _count_if(cb.done_at.is_not(None)).label("done"),
            _count_if(cb.done_at.is_(None)).label("open"),
        )
        .select_from(callbacks.outerjoin(calls, cb.call_id == _c.id))
        .where(
            cb.created_at >= start,
            cb.created_at < end,
            sa.or_(cb.call_id.is_(None), _c.branch == branch),
        )
    )


def _callbacks_in_period(period: Period, branch: int, tz: ZoneInfo) -> ColumnElement[bool]:
    start, end = _utc_bounds(period, tz)
    cb = callbacks.c
    return sa.and_(
        cb.created_at >= start,
        cb.created_at < end,
        sa.or_(cb.call_id.is_(None), _c.branch == branch),
    )


def callback_entries_query(period: Period, branch: int, tz: ZoneInfo) -> AnySelect:
    """The period's call-back entries (a month's missed callers: hundreds, not millions);
    each one's due time is counted in Python on the unit's working-day calendar."""
    cb = callbacks.c
    return (
        sa.select(cb.id, cb.reason, cb.created_at, cb.done_at, cb.done_by)
        .select_from(callbacks.outerjoin(calls, cb.call_id == _c.id))
        .where(_callbacks_in_period(period, branch, tz))
    )


def callback_tries_query(period: Period, branch: int, tz: ZoneInfo, as_of: datetime) -> AnySelect:
    """Tries at the period's entries made before ``as_of``, per (entry, outcome)."""
    a, cb = callback_attempts.c, callbacks.c
    return (
        sa.select(a.callback_id, a.outcome, sa.func.count().label("n"))
        .select_from(
            callback_attempts.join(callbacks, a.callback_id == cb.id).outerjoin(
                calls, cb.call_id == _c.id
            )
        )
        .where(_callbacks_in_period(period, branch, tz), a.at < as_of)
        .group_by(a.callback_id, a.outcome)
    )


async def callback_figures(
    conn: AsyncConnection,
    *,
    period: Period,
    branch: int,
    tz: ZoneInfo,
    calendar: WorkCalendar,
    now: datetime,
) -> CallbackFigures:
    """The call-back list's entries made in ``period``, as they stood at its end (or at
    ``now`` for a period not yet ended)."""
    as_of = min(now, _utc_bounds(period, tz)[1])
    tries: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in await conn.execute(callback_tries_query(period, branch, tz, as_of)):
        tries[row.callback_id][row.outcome] += int(row.n)
    out = CallbackFigures(as_of=as_of.astimezone(tz))
    for row in await conn.execute(callback_entries_query(period, branch, tz)):
        out.created += 1
        if row.reason in CALLBACK_REASONS:
            setattr(out, row.reason, getattr(out, row.reason) + 1)
        mine = tries.get(row.id, {})
        if mine:
            out.made += 1
        for outcome in CALLBACK_OUTCOMES:
            n = mine.get(outcome, 0)
            out.tries += n
            setattr(out, f"tries_{outcome}", getattr(out, f"tries_{outcome}") + n)
        due = due_at(row.created_at, calendar, tz)
        closed = row.done_at is not None and row.done_at < as_of
        if not closed:
            out.open += 1
            out.overdue += due < as_of
            continue
        out.closed += 1
        out.overdue += row.done_at > due
        if row.done_by == CLOSED_BY:
            out.closed_by_call += 1
        elif mine.get("reached"):
            out.closed_reached += 1
        elif mine.get("wrong_number"):
            out.closed_wrong_number += 1
        else:
            out.closed_other += 1
    return out


def answered_query(period: Period, branch: int) -> AnySelect:
    """Answered calls per (officer, number that answered): officers and numbers in one scan."""
    return (
        sa.select(
            _c.answered_officer_id.label("officer_id"),
            _c.answered_number.label("number"),
            sa.func.max(_c.answered_officer_name).label("name"),
            sa.func.count().label("answered"),
            _sum_if(_c.talk_seconds, _TALK_KNOWN).label("talk_seconds_sum"),
            _count_if(_TALK_KNOWN).label("talk_count"),
            _sum_if(_c.wait_seconds, _WAIT_KNOWN).label("wait_seconds_sum"),
            _count_if(_WAIT_KNOWN).label("wait_count"),
        )
        .where(_in_period(period, branch), _ANSWERED)
        .group_by(_c.answered_officer_id, _c.answered_number)
    )


# An attempt starts while its call rings (minutes after the call starts, bounded by the rota's
# max_wait). Bounding attempts by start time around the period, with margins far wider than
# any ring, changes no figure and lets the database range-scan ix_call_attempts_started_at
# instead of hashing every attempt ever made.
ATTEMPT_MARGIN_BEFORE = timedelta(days=1)
ATTEMPT_MARGIN_AFTER = timedelta(days=2)


def attempts_query(period: Period, branch: int, tz: ZoneInfo) -> AnySelect:
    """Attempts per (officer, number, result) of the period's calls, in one join."""
    a = call_attempts.c
    start, end = _utc_bounds(period, tz)
    return (
        sa.select(
            a.officer_id,
            a.number,
            a.result,
            sa.func.max(a.officer_name).label("officer_name"),
            sa.func.max(a.number_label).label("number_label"),
            sa.func.count().label("n"),
        )
        .select_from(call_attempts.join(calls, a.call_id == _c.id))
        .where(
            _in_period(period, branch),
            a.started_at >= start - ATTEMPT_MARGIN_BEFORE,
            a.started_at < end + ATTEMPT_MARGIN_AFTER,
        )
        .group_by(a.officer_id, a.number, a.result)
    )


async def _one(conn: AsyncConnection, query: AnySelect) -> AnyRow:
    return (await conn.execute(query)).one()


# For this read-only transaction only: eight short aggregate queries pay more for JIT
# compilation than they gain (≈150 ms each on 10 M calls), and grouping a month of calls by
# caller or by day × hour wants more than the default 4 MB of sort memory.
POSTGRESQL_SETTINGS = ("SET LOCAL jit = off", "SET LOCAL work_mem = '64MB'")

_DAY_KEYS = ("received", "answered", "abandoned", "unanswered", "after_hours")
_HOUR_KEYS = ("received", "answered", "abandoned")
_RESULTS = ATTEMPT_RESULTS


async def compute_figures(
    engine: AsyncEngine,
    *,
    period: Period,
    branch: int,
    service_level_seconds: int,
    timezone: str,
    unit: UnitInfo,
    cases_config: CasesConfig,
    misdial_seconds: int = 10,
    notes: str | None = None,
    now: datetime | None = None,
    calendar: WorkCalendar | None = None,
) -> Figures:
    """Every figure of the report for ``period`` and ``branch``, from one database snapshot.

    Ten aggregate queries and one read of the period's call-back entries (to count each
    one's due time); Python only adds up their few grouped rows (at most one per
    day × hour, officer × number, kind × topic × status × agency, second of wait), and the
    period's call-back entries. Cases are overdue as of the day the report is made (``now``
    in the unit's time zone); call-backs as of the period's end, their due time counted on
    ``calendar`` (the rota's; None: public holidays only).
    """
    tz = ZoneInfo(timezone)
    now = now or datetime.now(UTC)
    # One consistent snapshot for all the queries.
    options = {"isolation_level": "REPEATABLE READ"} if engine.dialect.name == "postgresql" else {}
    async with engine.connect() as plain:
        conn = await plain.execution_options(**options)
        async with conn.begin():
            pg = engine.dialect.name == "postgresql"
            if pg:
                for setting in POSTGRESQL_SETTINGS:
                    await conn.execute(sa.text(setting))
            else:
                # Python's sqlite3 opens no transaction for SELECTs: begin one, so all the
                # queries read one snapshot (WAL) while the call log keeps writing.
                await conn.exec_driver_sql("BEGIN")
            grid = list(
                await conn.execute(
                    grid_query(period, branch, service_level_seconds, misdial_seconds)
                )
            )
            hist = [
                (int(s), int(n)) for s, n in (await conn.execute(histogram_query(period, branch)))
            ]
            repeat = (await _one(conn, repeat_callers_query(period, branch)))[0]
            cb = (await _one(conn, callbacks_query(period, branch, tz)))._mapping
            answered = list(await conn.execute(answered_query(period, branch)))
            if pg:
                # The join's row estimate is ~100× low (the start-time bound and the period
                # are correlated), so PostgreSQL would sort ~10⁵ rows to group them; hashing
                # them is twice as fast. For this one query only.
                await conn.execute(sa.text("SET LOCAL enable_sort = off"))
            attempts = list(await conn.execute(attempts_query(period, branch, tz)))
            if pg:
                await conn.execute(sa.text("SET LOCAL enable_sort = on"))
            case_figs = await case_figures(
                conn,
                period=period,
                branch=branch,
                as_of=now.astimezone(tz).date(),
                conversations=sum(int(row.answered) for row in grid),
                config=cases_config,
            )
            callback_figs = await callback_figures(
                conn,
                period=period,
                branch=branch,
                tz=tz,
                calendar=calendar or WorkCalendar(),
                now=now,
            )
            wait_count = sum(int(row.wait_count) for row in grid)
            p90 = None
            if wait_count:
                p90 = (await conn.execute(p90_query(period, branch, wait_count))).scalar()

    sums: dict[str, Any] = dict.fromkeys(
        (
            *_GRID_COUNTS,
            "answered_within_sl",
            "abandoned_short",
            "wait_seconds_sum",
            "talk_seconds_sum",
        ),
        0,
    )
    days: dict[Any, dict[str, int]] = {}
    hours: dict[int, dict[str, int]] = {}
    for row in grid:
        m = row._mapping
        for k in sums:
            sums[k] += m[k]
        day = days.setdefault(m["local_day"], dict.fromkeys(_DAY_KEYS, 0))
        hour = hours.setdefault(int(m["local_hour"]), dict.fromkeys(_HOUR_KEYS, 0))
        for k in _DAY_KEYS:
            day[k] += int(m[k])
        for k in _HOUR_KEYS:
            hour[k] += int(m[k])
    totals = Totals(
        **sums,
        wait_p90_seconds=None if p90 is None else float(p90),
        wait_histogram=hist,
        repeat_callers=int(repeat),
        callbacks_requested=int(cb["requested"]),
        callbacks_done=int(cb["done"]),
        callbacks_open=int(cb["open"]),
    )
    by_day = [DayRow(day=d, **days.get(d, {})) for d in period.days()]
    by_hour = [HourRow(hour=h, **hours.get(h, {})) for h in range(24)]

    officers: dict[str, OfficerRow] = {}
    answered_calls: dict[str, int] = defaultdict(int)
    for r in answered:
        if r.number is not None:
            answered_calls[r.number] += int(r.answered)
        if r.officer_id is None:
            continue
        o = officers.setdefault(
            r.officer_id, OfficerRow(officer_id=r.officer_id, name=r.name or r.officer_id)
        )
        o.answered += int(r.answered)
        o.talk_seconds_sum += float(r.talk_seconds_sum)
        o.talk_count += int(r.talk_count)
        o.wait_seconds_sum += float(r.wait_seconds_sum)
        o.wait_count += int(r.wait_count)
    numbers: dict[str, NumberRow] = {}
    for r in attempts:
        o = officers.setdefault(
            r.officer_id, OfficerRow(officer_id=r.officer_id, name=r.officer_name or r.officer_id)
        )
        o.attempts += int(r.n)
        n = numbers.setdefault(r.number, NumberRow(number=r.number, label=r.number_label))
        n.label = n.label or r.number_label
        n.attempts += int(r.n)
        if r.result in _RESULTS:
            setattr(n, r.result, getattr(n, r.result) + int(r.n))
    for number, count in answered_calls.items():
        # Includes calls answered at a number no attempt row names (the dialplan fallback).
        numbers.setdefault(number, NumberRow(number=number)).answered_calls = count

    return Figures(
        generated_at=now,
        unit=unit,
        units=[
            UnitSummary(
                name=unit.name,
                governing_body=unit.governing_body,
                period=period,
                totals=totals,
                cases=case_figs.counts,
                notes=notes,
            )
        ],
        branch=branch,
        timezone=timezone,
        service_level_seconds=service_level_seconds,
        misdial_seconds=misdial_seconds,
        period=period,
        totals=totals,
        by_day=by_day,
        by_hour=by_hour,
        officers=sorted(officers.values(), key=lambda o: (-o.answered, o.name, o.officer_id)),
        numbers=sorted(numbers.values(), key=lambda n: (-n.attempts, -n.answered_calls, n.number)),
        cases=case_figs,
        callbacks=callback_figs,
        notes=notes,
    )
