"""Section II's figures: the cases received in the period (two small aggregate queries).

One grouped scan over the period's cases (``ix_cases_branch_local_day``) gives every count by
kind, topic, status and agency; a second reads the few cases an admin marked notable. The
overdue flag is the store's (:func:`callrouter.store.cases.overdue_clause`) on the day the
report is made. The answer book's figures (answers used, questions without an agreed answer)
come from the book's own query, :func:`callrouter.store.answers.usage_on`, on the same snapshot.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from callrouter.cases.config import CasesConfig
from callrouter.cases.lifecycle import KIND_LABELS, Kind, Status
from callrouter.report.figures import (
    QUESTIONS_LIMIT,
    AnswerFigures,
    AnswerUse,
    CaseCounts,
    CaseFigures,
    CountRow,
    NotableCase,
    OpenQuestion,
    Period,
)
from callrouter.store.answers import usage_on
from callrouter.store.cases import format_ref, overdue_clause
from callrouter.store.models import cases

NOTABLE_LIMIT = 50
NO_TOPIC_LABEL = "Chưa rõ lĩnh vực"
_k = cases.c
_STATUSES = frozenset(s.value for s in Status)
_KINDS = frozenset(k.value for k in Kind)


def _in_period(period: Period, branch: int) -> sa.ColumnElement[bool]:
    return sa.and_(_k.branch == branch, _k.local_day >= period.start, _k.local_day <= period.end)


def cases_query(period: Period, branch: int, as_of: date) -> Any:
    """Cases per (kind, topic, status, agency), with how many are overdue and notable."""
    return (
        sa.select(
            _k.kind,
            _k.topic,
            _k.status,
            _k.agency,
            sa.func.count().label("n"),
            sa.func.count().filter(overdue_clause(as_of)).label("overdue"),
            sa.func.count().filter(_k.notable.is_(True)).label("notable"),
        )
        .where(_in_period(period, branch))
        .group_by(_k.kind, _k.topic, _k.status, _k.agency)
    )


def notable_query(period: Period, branch: int) -> Any:
    return (
        sa.select(
            _k.ref_seq, _k.ref_year, _k.kind, _k.topic, _k.summary, _k.status, _k.agency, _k.result
        )
        .where(_in_period(period, branch), _k.notable.is_(True))
        .order_by(_k.local_day, _k.ref_seq)
        .limit(NOTABLE_LIMIT)
    )


async def case_figures(
    conn: AsyncConnection,
    *,
    period: Period,
    branch: int,
    as_of: date,
    conversations: int,
    config: CasesConfig,
) -> CaseFigures:
    """Every case figure of section II, read on ``conn`` (the report's snapshot)."""
    grouped = list(await conn.execute(cases_query(period, branch, as_of)))
    notable = list(await conn.execute(notable_query(period, branch)))
    book = await usage_on(
        conn, period.start, period.end, branch=branch, list_unanswered=QUESTIONS_LIMIT
    )
    counts: dict[str, int] = defaultdict(int)
    kinds: dict[str | None, int] = defaultdict(int)
    topics: dict[str | None, int] = defaultdict(int)
    agencies: dict[str | None, int] = defaultdict(int)
    for row in grouped:
        n = int(row.n)
        counts["received"] += n
        counts[_status_key(row.status)] += n
        counts["overdue"] += int(row.overdue)
        counts["notable"] += int(row.notable)
        kinds[row.kind] += n
        topics[row.topic] += n
        if row.agency is not None:
            agencies[row.agency] += n
    return CaseFigures(
        counts=CaseCounts(conversations=conversations, **counts),
        by_kind=_rows(kinds, {k.value: label for k, label in KIND_LABELS.items()}, kind=True),
        by_topic=_rows(topics, config.topics),
        by_agency=_rows(agencies, config.agencies),
        notable=[
            NotableCase(
                ref=format_ref(r.ref_seq, r.ref_year),
                kind=_kind_label(r.kind),
                topic=config.topic_label(r.topic),
                summary=r.summary,
                status=_status_label(r.status),
                agency=config.agency_label(r.agency) or None,
                result=r.result,
            )
            for r in notable
        ],
        answers=AnswerFigures(
            used=[AnswerUse(title=u.title, source=u.source, count=u.cases) for u in book.used],
            unanswered=book.unanswered,
            questions=[
                OpenQuestion(ref=q.ref, topic=config.topic_label(q.topic), summary=q.summary)
                for q in book.questions
            ],
        ),
    )


def _status_key(status: str) -> str:
    """A status code unknown to this version counts as in progress (never lost)."""
    return status if status in _STATUSES else Status.IN_PROGRESS.value


def _status_label(status: str) -> str:
    return Status(_status_key(status)).label


def _kind_label(kind: str) -> str:
    return Kind(kind).label if kind in _KINDS else kind


def _rows(
    counts: Mapping[str | None, int], labels: Mapping[str, str], *, kind: bool = False
) -> list[CountRow]:
    out = [
        CountRow(
            key=key,
            label=NO_TOPIC_LABEL if key is None else labels.get(key, key),
            count=n,
        )
        for key, n in counts.items()
    ]
    if kind:  # the letter's order: hỏi đáp, phản ánh, kiến nghị, khác
        order = {k.value: i for i, k in enumerate(Kind)}
        return sorted(out, key=lambda c: order.get(c.key or "", len(order)))
    return sorted(out, key=lambda c: (c.key is None, -c.count, c.label))
