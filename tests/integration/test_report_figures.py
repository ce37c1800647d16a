"""The report's SQL figures on SQLite and PostgreSQL, against a hand-computed month.

The data set (callrouter.report.sample.edge_month_rows) covers every outcome, the fallback
mode, an in-progress call, call-backs, cases, another branch and both month edges.
The expectations below were worked out by hand from that list (see the comments).
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.cases.config import CasesConfig
from callrouter.report.figures import Figures, UnitInfo
from callrouter.report.periods import adhoc_period, month_period
from callrouter.report.queries import compute_figures
from callrouter.report.sample import SampleRows, edge_month_rows, generated_rows, insert_rows
from callrouter.store.db import make_engine
from callrouter.store.models import Base

pytestmark = pytest.mark.integration

CATEGORIES = {"kham_chua_benh": "Khám, chữa bệnh", "bao_hiem_y_te": "Bảo hiểm y tế"}
CASES = CasesConfig(topics=CATEGORIES, agencies={"so_y_te": "Sở Y tế"})
NOW = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
UNIT = UnitInfo(name="TRUNG TÂM Y TẾ HUYỆN MÊ LINH", governing_body="UBND HUYỆN MÊ LINH")


async def _sqlite(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'report.sqlite3'}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield engine
    await engine.dispose()


async def _postgres(pg_url: str) -> AsyncIterator[AsyncEngine]:
    """A private schema in the test database, dropped afterwards (other rooms share the DB)."""
    schema = f"report_{uuid.uuid4().hex[:10]}"
    admin = make_engine(pg_url)
    async with admin.begin() as conn:
        await conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(pg_url, search_path=schema)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        yield engine
    finally:
        await engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        async for e in _sqlite(tmp_path):
            yield e
    else:
        pg_url = request.getfixturevalue("pg_url")
        async for e in _postgres(pg_url):
            yield e


async def _figures(engine: AsyncEngine, **kw: Any) -> Figures:
    args: dict[str, Any] = {
        "period": month_period("2026-11"),
        "branch": 3,
        "service_level_seconds": 20,
        "timezone": "Asia/Ho_Chi_Minh",
        "unit": UNIT,
        "cases_config": CASES,
        "now": NOW,
    }
    args.update(kw)
    return await compute_figures(engine, **args)


async def test_given_edge_month_when_reporting_november_then_every_figure_matches_hand_count(
    engine: AsyncEngine,
) -> None:
    await insert_rows(engine, edge_month_rows())
    f = await _figures(engine)
    t = f.totals
    # c2..c10 and c13: c1 (Oct 31 23:59) and c11 (Dec 1 00:00) are outside, c12 is branch 4.
    assert t.received == 10
    assert (t.answered, t.abandoned, t.unanswered, t.after_hours, t.failed) == (4, 2, 1, 1, 1)
    assert t.in_progress == 1  # c13
    assert t.fallback == 1  # c9
    assert t.abandoned_short == 1  # c5 waited 4 s; c6 waited 30 s
    assert t.answered_within_sl == 3  # waits 5, 12, 20 (20 counts); 24.3 does not
    assert t.offered == 9
    assert t.answer_rate == pytest.approx(4 / 9)
    assert t.service_level == pytest.approx(3 / 9)
    assert t.wait_count == 4
    assert t.wait_seconds_sum == pytest.approx(5 + 24.3 + 12 + 20)
    assert t.wait_avg_seconds == pytest.approx(61.3 / 4)
    assert t.wait_p90_seconds == pytest.approx(24.3)  # rank ceil(0.9*4)=4 of [5, 12, 20, 24.3]
    assert t.wait_histogram == [(5, 1), (12, 1), (20, 1), (25, 1)]
    assert t.talk_seconds_sum == pytest.approx(120 + 60.5 + 30 + 200)
    assert t.talk_count == 4
    assert t.repeat_callers == 2  # A: c2, c3, c7; B: c4, c5
    assert (t.callbacks_requested, t.callbacks_done, t.callbacks_open) == (3, 1, 2)

    days = {d.day: d for d in f.by_day}
    assert len(f.by_day) == 30
    assert f.by_day[0].day == date(2026, 11, 1)
    assert f.by_day[-1].day == date(2026, 11, 30)
    assert days[date(2026, 11, 1)].model_dump(exclude={"day"}) == {
        "received": 2,
        "answered": 1,
        "abandoned": 0,
        "unanswered": 0,
        "after_hours": 1,
    }
    assert (days[date(2026, 11, 2)].received, days[date(2026, 11, 2)].abandoned) == (2, 1)
    assert (days[date(2026, 11, 30)].received, days[date(2026, 11, 30)].answered) == (1, 1)
    assert days[date(2026, 11, 3)].received == 0
    assert sum(d.received for d in f.by_day) == 10

    hours = {h.hour: h.received for h in f.by_hour}
    assert len(f.by_hour) == 24
    assert {h: n for h, n in hours.items() if n} == {
        0: 1,
        8: 2,
        9: 1,
        10: 2,
        12: 1,
        14: 1,
        16: 1,
        23: 1,
    }
    assert [h.hour for h in f.busiest_hours(2)] == [8, 10]

    officers = {o.officer_id: o for o in f.officers}
    o1, o2 = officers["o1"], officers["o2"]
    assert (o1.name, o1.answered, o1.attempts) == ("Nguyễn Văn An", 3, 7)
    assert o1.talk_seconds_sum == pytest.approx(350.0)
    assert o1.wait_avg_seconds == pytest.approx(37 / 3)
    assert (o2.answered, o2.attempts) == (1, 4)  # c10's first attempt counts for November
    assert o2.talk_avg_seconds == pytest.approx(60.5)

    numbers = {n.number: n for n in f.numbers}
    m1, m2 = numbers["0912345678"], numbers["02433334444"]
    assert (m1.attempts, m1.answered, m1.no_answer, m1.cancelled, m1.failed) == (7, 2, 2, 2, 1)
    assert (m1.busy, m1.declined, m1.answered_calls, m1.label) == (0, 0, 3, "Di động trực")
    assert (m2.attempts, m2.answered, m2.busy, m2.declined, m2.answered_calls) == (4, 1, 1, 1, 1)
    assert m2.no_answer == 1

    cases = f.cases
    c = cases.counts
    # c3: a question answered on the call; c4: a petition forwarded on 2 Nov (deadline 10
    # working days: 16 Nov), still open on 5 Dec, so overdue; and marked notable.
    assert (c.conversations, c.received, c.answered, c.forwarded, c.overdue) == (4, 2, 1, 1, 1)
    assert (c.in_progress, c.resolved, c.told, c.notable) == (0, 0, 0, 1)
    assert c.share(c.received) == pytest.approx(0.5)  # over conversations, not all 10 calls
    assert [(r.key, r.label, r.count) for r in cases.by_kind] == [
        ("hoi_dap", "Hỏi đáp", 1),
        ("kien_nghi", "Kiến nghị", 1),
    ]
    assert [(r.label, r.count) for r in cases.by_topic] == [
        ("Bảo hiểm y tế", 1),
        ("Khám, chữa bệnh", 1),
    ]
    assert [(r.label, r.count) for r in cases.by_agency] == [("Sở Y tế", 1)]
    assert [(n.ref, n.kind, n.status, n.agency) for n in cases.notable] == [
        ("2/2026", "Kiến nghị", "Đã chuyển", "Sở Y tế")
    ]
    as_of_before_deadline = await _figures(engine, now=datetime(2026, 11, 16, 3, tzinfo=UTC))
    assert as_of_before_deadline.cases.counts.overdue == 0


async def test_given_cutoff_15_then_period_runs_from_15th_of_previous_month_to_14th(
    engine: AsyncEngine,
) -> None:
    await insert_rows(engine, edge_month_rows())
    f = await _figures(engine, period=month_period("2026-11", cutoff=15))
    # 15 Oct .. 14 Nov: c1 (Oct 31), c2, c3, c4, c5 (Nov 1-2) and none of c6 (Nov 15) onwards.
    assert f.totals.received == 5
    assert f.by_day[0].day == date(2026, 10, 15)
    assert f.by_day[-1].day == date(2026, 11, 14)


async def test_given_month_without_calls_then_report_is_empty_not_an_error(
    engine: AsyncEngine,
) -> None:
    await insert_rows(engine, edge_month_rows())
    f = await _figures(engine, period=month_period("2025-02"))
    assert f.empty
    assert f.totals.received == 0
    assert f.totals.answer_rate is None
    assert f.totals.wait_p90_seconds is None
    assert len(f.by_day) == 28
    assert f.officers == []
    assert f.cases.counts.received == 0
    assert f.cases.by_kind == []


async def test_given_adhoc_single_day_then_only_that_local_day_counts(
    engine: AsyncEngine,
) -> None:
    await insert_rows(engine, edge_month_rows())
    f = await _figures(engine, period=adhoc_period("2026-11-30", "2026-11-30"))
    assert f.totals.received == 1  # c10 at 23:59:59 local, though 16:59 UTC
    assert f.totals.callbacks_requested == 1  # cb4 at 23:59:59 local


async def test_given_generated_month_when_computed_on_sqlite_and_postgresql_then_figures_equal(
    tmp_path: Path, pg_url: str
) -> None:
    rows = generated_rows(date(2026, 11, 1), 30)
    dumps = []
    for gen in (_sqlite(tmp_path), _postgres(pg_url)):
        async for engine in gen:
            await insert_rows(engine, rows)
            f = await _figures(engine)
            dumps.append(f.model_dump(mode="json", exclude={"generated_at"}))
    lite, pg = dumps
    assert lite["totals"]["received"] > 500
    # Nearest-rank p90 and the whole-second histogram, recomputed here from the rows.
    waits = sorted(
        c["wait_seconds"]
        for c in rows.calls
        if c["outcome"] == "answered" and c["wait_seconds"] is not None
    )
    assert lite["totals"]["wait_count"] == len(waits)
    assert lite["totals"]["wait_p90_seconds"] == waits[math.ceil(0.9 * len(waits)) - 1]
    assert sum(n for _, n in lite["totals"]["wait_histogram"]) == len(waits)
    assert dict(lite["totals"]["wait_histogram"])[math.ceil(waits[-1])] >= 1
    assert _flat_equal(lite, pg), (lite["totals"], pg["totals"])


def _flat_equal(a: Any, b: Any) -> bool:
    """Deep equality with floats compared to 1e-9 relative (sums may add in another order)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_flat_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_flat_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-9)
    return bool(a == b)


async def test_given_calls_written_meanwhile_then_every_figure_comes_from_one_snapshot(
    engine: AsyncEngine,
) -> None:
    """Totals, cases and the histogram are separate queries; with calls being written
    between them they still agree, because they read one snapshot."""
    rows = generated_rows(date(2026, 11, 1), 30, per_day=10)
    await insert_rows(engine, SampleRows(calls=rows.calls[:50]))
    stop = asyncio.Event()

    async def writer() -> None:
        for call in rows.calls[50:]:
            if stop.is_set():
                return
            await insert_rows(engine, SampleRows(calls=[call]))

    task = asyncio.create_task(writer())
    try:
        seen = set()
        for _ in range(8):
            f = await _figures(engine)
            seen.add(f.totals.received)
            assert sum(c.count for c in f.cases.by_topic) == f.cases.counts.received
            assert f.cases.counts.conversations == f.totals.answered
            assert sum(n for _, n in f.totals.wait_histogram) == f.totals.wait_count
            assert sum(d.received for d in f.by_day) == f.totals.received
    finally:
        stop.set()
        await task
    assert len(seen) > 1  # the writer really wrote while the report was read
