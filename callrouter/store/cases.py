"""Cases in the database: open, update (optimistic lock), read, list with filters, history.

Invariants:
- every write of a case adds one ``case_history`` row in the same transaction;
- an update names the ``version`` it read; if another save came first, nothing is written and
  :class:`~callrouter.errors.CaseConflict` says so (the caller still holds the input);
- a reference (``ref_seq/ref_year``) is unique per branch and year: the next number is taken
  in the inserting transaction and a collision with a concurrent insert is retried;
- the agreed answers an officer chose while recording (``answer_ids``) are attached in the
  case's own transaction: a case is never saved without the answers the officer picked.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from callrouter.cases.edit import CaseInput, CaseRules, is_overdue, plan_open, plan_update
from callrouter.cases.lifecycle import CLOSED
from callrouter.errors import CaseConflict, CaseInputError
from callrouter.store.models import case_answers, case_history, cases

CHANGED_MEANWHILE = (
    "Hồ sơ {ref} đã bị thay đổi trong lúc bạn sửa (bởi {by} lúc {at}); "
    "thay đổi của bạn chưa được lưu — hãy xem lại và lưu lần nữa."
)
_REF_RETRIES = 5


@dataclass(frozen=True)
class CaseRow:
    id: str
    branch: int
    ref_year: int
    ref_seq: int
    call_id: str | None
    callback_id: str | None
    opened_at: datetime
    opened_by: str
    local_day: date
    kind: str
    topic: str | None
    summary: str | None
    answer: str | None
    status: str
    deadline: date
    agency: str | None
    forwarded_on: date | None
    result: str | None
    result_on: date | None
    told_by: str | None
    told_at: datetime | None
    closed_on: date | None
    notable: bool
    version: int
    updated_at: datetime
    updated_by: str

    @property
    def ref(self) -> str:
        """What an officer reads out: ``42/2026``."""
        return format_ref(self.ref_seq, self.ref_year)

    def overdue(self, as_of: date) -> bool:
        return is_overdue(self.deadline, self.closed_on, as_of)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class HistoryRow:
    at: datetime
    account: str
    from_status: str | None
    to_status: str
    changes: dict[str, Any]


@dataclass(frozen=True)
class CaseFilter:
    """Filters of the cases list (each ``None`` means any); days are local, inclusive."""

    status: str | None = None
    kind: str | None = None
    topic: str | None = None
    agency: str | None = None
    overdue: bool | None = None
    since: date | None = None
    until: date | None = None
    branch: int | None = None
    call_id: str | None = None


_COLUMNS = [cases.c[f.name] for f in fields(CaseRow)]


def format_ref(seq: int, year: int) -> str:
    return f"{seq}/{year}"


def parse_ref(text: str) -> tuple[int, int] | None:
    """``42/2026`` → (42, 2026); anything else → None."""
    seq, sep, year = text.strip().partition("/")
    if sep and seq.isdigit() and year.isdigit() and len(year) == 4 and len(seq) <= 9:
        return int(seq), int(year)
    return None


def overdue_clause(as_of: date) -> ColumnElement[bool]:
    """SQL twin of :func:`callrouter.cases.edit.is_overdue`."""
    return and_(
        cases.c.deadline < as_of,
        or_(cases.c.closed_on.is_(None), cases.c.closed_on > cases.c.deadline),
    )


def _row(raw: Any) -> CaseRow:
    return CaseRow(**{f.name: getattr(raw, f.name) for f in fields(CaseRow)})


async def _history(
    conn: AsyncConnection, case_id: str, at: datetime, account: str, plan: Any
) -> None:
    await conn.execute(
        insert(case_history).values(
            case_id=case_id,
            at=at,
            account=account,
            from_status=plan.from_status,
            to_status=plan.to_status,
            changes=plan.changes,
        )
    )


async def open_case(
    engine: AsyncEngine,
    rules: CaseRules,
    given: CaseInput,
    *,
    branch: int,
    by: str,
    at: datetime,
    call_id: str | None = None,
    callback_id: str | None = None,
    answer_ids: Sequence[int] = (),
) -> CaseRow:
    """Record a new case (its first history row with it, and the agreed answers of
    ``answer_ids`` attached by ``by``); returns it with its reference."""
    plan = plan_open(rules, given, by=by, at=at)
    case_id = str(uuid.uuid4())
    year = plan.values["local_day"].year
    for attempt in range(_REF_RETRIES):
        try:
            async with engine.begin() as conn:
                top = await conn.scalar(
                    select(func.max(cases.c.ref_seq)).where(
                        cases.c.branch == branch, cases.c.ref_year == year
                    )
                )
                await conn.execute(
                    insert(cases).values(
                        id=case_id,
                        branch=branch,
                        ref_year=year,
                        ref_seq=int(top or 0) + 1,
                        call_id=call_id,
                        callback_id=callback_id,
                        **plan.values,
                    )
                )
                await _history(conn, case_id, at, plan.values["opened_by"], plan)
                await attach_answers(conn, case_id, answer_ids, by=by, at=at)
            break
        except IntegrityError:
            if attempt == _REF_RETRIES - 1:
                raise
    found = await get_case(engine, case_id)
    assert found is not None  # noqa: S101 (just written in a committed transaction)
    return found


async def attach_answers(
    conn: AsyncConnection, case_id: str, answer_ids: Sequence[int], *, by: str, at: datetime
) -> int:
    """Attach the answers of ``answer_ids`` to the case (those not attached yet, each once);
    returns how many were added. The caller has checked the answers are in use."""
    wanted = list(dict.fromkeys(answer_ids))
    if not wanted:
        return 0
    there = set(
        (
            await conn.execute(
                select(case_answers.c.answer_id).where(
                    case_answers.c.case_id == case_id, case_answers.c.answer_id.in_(wanted)
                )
            )
        ).scalars()
    )
    added = [
        {"case_id": case_id, "answer_id": a, "attached_at": at, "attached_by": by}
        for a in wanted
        if a not in there
    ]
    if added:
        await conn.execute(insert(case_answers), added)
    return len(added)


async def update_case(
    engine: AsyncEngine,
    rules: CaseRules,
    case_id: str,
    given: CaseInput,
    *,
    expected_version: int,
    by: str,
    at: datetime,
) -> CaseRow:
    """Apply an officer's change if nobody saved the case since ``expected_version``."""
    async with engine.begin() as conn:
        raw = (await conn.execute(select(*_COLUMNS).where(cases.c.id == case_id))).first()
        if raw is None:
            raise CaseInputError(f"không có hồ sơ {case_id!r}")
        current = _row(raw)
        if current.version != expected_version:
            raise CaseConflict(_meanwhile(current))
        plan = plan_update(rules, current.as_dict(), given, by=by, at=at)
        done = await conn.execute(
            update(cases)
            .where(cases.c.id == case_id, cases.c.version == expected_version)
            .values(**plan.values)
        )
        if done.rowcount != 1:
            fresh = (await conn.execute(select(*_COLUMNS).where(cases.c.id == case_id))).first()
            raise CaseConflict(_meanwhile(_row(fresh) if fresh is not None else current))
        await _history(conn, case_id, at, plan.values["updated_by"], plan)
    found = await get_case(engine, case_id)
    assert found is not None  # noqa: S101 (just updated)
    return found


def _meanwhile(row: CaseRow) -> str:
    return CHANGED_MEANWHILE.format(
        ref=row.ref, by=row.updated_by, at=row.updated_at.strftime("%H:%M:%S %d/%m/%Y UTC")
    )


async def get_case(engine: AsyncEngine, key: str) -> CaseRow | None:
    """A case by id or by its reference (``42/2026``; the first branch's when ambiguous)."""
    ref = parse_ref(key)
    query = select(*_COLUMNS)
    if ref is not None:
        query = query.where(cases.c.ref_seq == ref[0], cases.c.ref_year == ref[1])
    else:
        query = query.where(cases.c.id == key.strip())
    async with engine.connect() as conn:
        raw = (await conn.execute(query.order_by(cases.c.branch).limit(1))).first()
    return _row(raw) if raw is not None else None


async def late_cases(engine: AsyncEngine, branch: int, today: date) -> list[CaseRow]:
    """The unit's cases past their deadline on ``today`` and not closed, most late first."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(cases)
            .where(
                cases.c.branch == branch,
                and_(overdue_clause(today), cases.c.closed_on.is_(None)),
                cases.c.status.not_in([s.value for s in CLOSED]),
            )
            .order_by(cases.c.deadline, cases.c.ref_year, cases.c.ref_seq)
        )
        return [_row(r) for r in rows]


async def list_cases(
    engine: AsyncEngine, flt: CaseFilter, *, as_of: date, limit: int = 500, offset: int = 0
) -> list[CaseRow]:
    """Cases matching ``flt``, newest first (``as_of``: the day the overdue flag is for)."""
    query = select(*_COLUMNS)
    for clause in _where(flt, as_of):
        query = query.where(clause)
    query = query.order_by(cases.c.opened_at.desc(), cases.c.id).limit(limit).offset(offset)
    async with engine.connect() as conn:
        return [_row(r) for r in await conn.execute(query)]


def _where(flt: CaseFilter, as_of: date) -> Sequence[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    for name in ("status", "kind", "topic", "agency", "branch", "call_id"):
        value = getattr(flt, name)
        if value is not None:
            out.append(cases.c[name] == value)
    if flt.since is not None:
        out.append(cases.c.local_day >= flt.since)
    if flt.until is not None:
        out.append(cases.c.local_day <= flt.until)
    if flt.overdue is True:
        out.append(overdue_clause(as_of))
    elif flt.overdue is False:
        out.append(~overdue_clause(as_of))
    return out


async def cases_per_call(engine: AsyncEngine, call_ids: Sequence[str]) -> dict[str, int]:
    """How many cases each of ``call_ids`` has (calls without one are left out)."""
    if not call_ids:
        return {}
    query = (
        select(cases.c.call_id, func.count())
        .where(cases.c.call_id.in_(list(call_ids)))
        .group_by(cases.c.call_id)
    )
    async with engine.connect() as conn:
        return {str(call_id): int(n) for call_id, n in await conn.execute(query)}


async def history(engine: AsyncEngine, case_id: str) -> list[HistoryRow]:
    """Every change of a case, oldest first."""
    query = (
        select(
            case_history.c.at,
            case_history.c.account,
            case_history.c.from_status,
            case_history.c.to_status,
            case_history.c.changes,
        )
        .where(case_history.c.case_id == case_id)
        .order_by(case_history.c.at, case_history.c.id)
    )
    async with engine.connect() as conn:
        return [HistoryRow(*r) for r in await conn.execute(query)]


PURGED_CHANGES = {"purged": True}


async def blank_case_texts(
    conn: AsyncConnection,
    which: ColumnElement[bool],
    *,
    history_before: datetime | None = None,
    dry_run: bool = False,
) -> int:
    """Free text about a caller in the cases ``which`` selects: the summary, the answer and
    the result become NULL and the history's before/after values ``{"purged": true}`` (only
    entries before ``history_before`` when given); kind, topic, status, agency, dates and who
    did what stay (the reports count them). Returns how many cases had text to remove. Used by
    ``db purge`` (past retention) and ``privacy erase`` (one caller's cases)."""
    k, h = cases.c, case_history.c
    has_text = or_(k.summary.is_not(None), k.answer.is_not(None), k.result.is_not(None))
    count = int(
        (
            await conn.execute(select(func.count()).select_from(cases).where(and_(which, has_text)))
        ).scalar_one()
    )
    if not dry_run:
        ids = select(k.id).where(which).scalar_subquery()
        in_history: ColumnElement[bool] = h.case_id.in_(ids)
        if history_before is not None:
            in_history = and_(in_history, h.at < history_before)
        await conn.execute(update(case_history).where(in_history).values(changes=PURGED_CHANGES))
        await conn.execute(
            update(cases)
            .where(and_(which, has_text))
            .values(summary=None, answer=None, result=None)
        )
    return count


async def purge_case_texts(conn: AsyncConnection, cutoff: datetime, *, dry_run: bool) -> int:
    """Past retention: the texts of cases opened before ``cutoff`` (:func:`blank_case_texts`).
    Called by ``db purge`` inside its transaction."""
    return await blank_case_texts(
        conn, cases.c.opened_at < cutoff, history_before=cutoff, dry_run=dry_run
    )


def cases_of(call_ids: list[str], callback_ids: list[str]) -> ColumnElement[bool]:
    """The cases opened on any of these calls or call-backs (a caller's, for ``privacy``)."""
    return or_(cases.c.call_id.in_(call_ids), cases.c.callback_id.in_(callback_ids))
