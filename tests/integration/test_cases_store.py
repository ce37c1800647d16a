"""Cases on SQLite and PostgreSQL: deadlines, overdue, history, migration, concurrent saves."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.cases.config import CasesConfig
from callrouter.cases.edit import CaseInput, CaseRules
from callrouter.cases.workdays import WorkCalendar
from callrouter.errors import CaseConflict, CaseTransitionError
from callrouter.rota.model import HolidayPolicy, MakeUpDay
from callrouter.store.cases import (
    CaseFilter,
    get_case,
    history,
    list_cases,
    open_case,
    update_case,
)
from callrouter.store.migrate import downgrade, upgrade
from callrouter.store.models import call_id_for, calls, case_history, cases
from callrouter.store.writer import CallLog
from tests.integration.conftest import table_counts, write_call

pytestmark = pytest.mark.integration

RULES = CaseRules(
    config=CasesConfig(
        topics={"bhyt": "Bảo hiểm y tế", "kcb": "Khám, chữa bệnh"},
        agencies={"so_y_te": "Sở Y tế", "bhxh": "Bảo hiểm xã hội huyện"},
    ),
    calendar=WorkCalendar.from_policy(
        HolidayPolicy(make_up_days=(MakeUpDay(date=date(2026, 3, 14), like="mon"),))
    ),
)
BEFORE_TET = datetime(2026, 2, 13, 2, 0, tzinfo=UTC)  # Friday 13 Feb 2026, 09:00 local


async def test_deadlines_across_tet_and_a_make_up_saturday(engine: AsyncEngine) -> None:
    await upgrade(engine)
    petition = await open_case(
        engine, RULES, CaseInput(kind="kien_nghi", topic="bhyt"), branch=3, by="an", at=BEFORE_TET
    )
    # 10 working days: 16–20 Feb are Tết, so 23 Feb … 6 Mar.
    assert petition.deadline == date(2026, 3, 6)
    friday = datetime(2026, 3, 13, 2, 0, tzinfo=UTC)
    question = await open_case(
        engine, RULES, CaseInput(kind="hoi_dap"), branch=3, by="an", at=friday
    )
    # 5 working days from Friday 13 Mar: Sat 14 (make-up), 16, 17, 18, 19.
    assert question.deadline == date(2026, 3, 19)
    assert (petition.ref, question.ref) == ("1/2026", "2/2026")


async def test_overdue_flag_filters_open_and_late_cases(engine: AsyncEngine) -> None:
    await upgrade(engine)
    late = await open_case(
        engine, RULES, CaseInput(kind="phan_anh"), branch=3, by="an", at=BEFORE_TET
    )
    answered = await open_case(
        engine,
        RULES,
        CaseInput(kind="hoi_dap", status="answered", answer="Có"),
        branch=3,
        by="an",
        at=BEFORE_TET,
    )
    as_of = date(2026, 3, 9)
    overdue = await list_cases(engine, CaseFilter(overdue=True), as_of=as_of)
    assert [c.id for c in overdue] == [late.id]
    assert late.overdue(as_of)
    assert not answered.overdue(as_of)
    on_time = await list_cases(engine, CaseFilter(overdue=False), as_of=as_of)
    assert [c.id for c in on_time] == [answered.id]
    assert await list_cases(engine, CaseFilter(overdue=True), as_of=date(2026, 3, 6)) == []


async def test_every_change_is_kept_in_the_history(engine: AsyncEngine) -> None:
    await upgrade(engine)
    at = BEFORE_TET
    case = await open_case(
        engine,
        RULES,
        CaseInput(kind="kien_nghi", topic="kcb", summary="Đề nghị mở thêm quầy"),
        branch=3,
        by="an",
        at=at,
    )
    steps = [
        (CaseInput(status="forwarded", agency="so_y_te"), "an"),
        (CaseInput(status="resolved", result="Sở đã bố trí thêm quầy"), "admin"),
        (CaseInput(status="told"), "binh"),
    ]
    for n, (step, who) in enumerate(steps, start=1):
        case = await update_case(
            engine,
            RULES,
            case.id,
            step,
            expected_version=case.version,
            by=who,
            at=at + timedelta(days=n),
        )
    assert case.status == "told"
    assert case.told_by == "binh"
    assert case.closed_on == date(2026, 2, 16)
    assert case.version == 4
    rows = await history(engine, case.id)
    assert [(h.account, h.from_status, h.to_status) for h in rows] == [
        ("an", None, "in_progress"),
        ("an", "in_progress", "forwarded"),
        ("admin", "forwarded", "resolved"),
        ("binh", "resolved", "told"),
    ]
    assert rows[1].changes["agency"] == [None, "so_y_te"]
    assert rows[2].changes["result"] == [None, "Sở đã bố trí thêm quầy"]
    with pytest.raises(CaseTransitionError, match="không thể chuyển"):
        await update_case(
            engine,
            RULES,
            case.id,
            CaseInput(status="in_progress"),
            expected_version=case.version,
            by="an",
            at=at,
        )
    assert len(await history(engine, case.id)) == 4


async def test_a_second_save_of_the_same_version_is_refused_and_nothing_is_lost(
    engine: AsyncEngine,
) -> None:
    await upgrade(engine)
    case = await open_case(
        engine, RULES, CaseInput(kind="phan_anh"), branch=3, by="an", at=BEFORE_TET
    )

    async def save(who: str, summary: str) -> str:
        try:
            await update_case(
                engine,
                RULES,
                case.id,
                CaseInput(summary=summary),
                expected_version=case.version,
                by=who,
                at=BEFORE_TET,
            )
        except CaseConflict as exc:
            return str(exc)
        return "saved"

    results = await asyncio.gather(save("an", "bản của An"), save("binh", "bản của Bình"))
    assert sorted(r == "saved" for r in results) == [False, True]
    refused = next(r for r in results if r != "saved")
    assert "đã bị thay đổi trong lúc bạn sửa" in refused
    stored = await get_case(engine, case.ref)
    assert stored is not None
    assert stored.version == 2
    assert stored.summary in ("bản của An", "bản của Bình")
    assert len(await history(engine, case.id)) == 2


async def test_migration_turns_classified_calls_into_cases(engine: AsyncEngine) -> None:
    await upgrade(engine, "0002")
    base = {
        "branch": 3,
        "started_at": BEFORE_TET,
        "local_day": date(2026, 2, 13),
        "local_hour": 9,
        "mode": "ari",
        "caller": "0912345678",
    }
    classified = [
        ("L1", "kham_chua_benh", "answered_on_phone"),
        ("L2", "bao_hiem_y_te", "forwarded_to_agency"),
        ("L3", "khac", "needs_callback"),
        ("L4", None, None),
    ]
    async with engine.begin() as conn:
        for linkedid, category, resolution in classified:
            await conn.execute(
                insert(calls).values(
                    id=call_id_for(linkedid),
                    linkedid=linkedid,
                    category=category,
                    resolution=resolution,
                    classified_by="o1" if category else None,
                    **base,
                )
            )
    await upgrade(engine)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(cases.c.call_id, cases.c.kind, cases.c.topic, cases.c.status).order_by(
                    cases.c.ref_seq
                )
            )
        ).all()
        kept = (
            await conn.execute(select(calls.c.category, calls.c.resolution).order_by(calls.c.id))
        ).all()
        first = (await conn.execute(select(case_history.c.changes))).scalars().all()
    assert sorted(rows) == sorted(
        [
            (call_id_for("L1"), "hoi_dap", "kham_chua_benh", "answered"),
            (call_id_for("L2"), "khac", "bao_hiem_y_te", "forwarded"),
            (call_id_for("L3"), "khac", "khac", "in_progress"),
        ]
    )
    assert len(kept) == 4  # the calls keep their columns
    assert {c["resolution"][1] for c in first} == {
        "answered_on_phone",
        "forwarded_to_agency",
        "needs_callback",
    }
    # The resolution CHECK is gone: codes are configuration now.
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE calls SET resolution = 'anything' WHERE linkedid = 'L4'"))


async def test_purge_removes_case_free_text_past_retention_and_keeps_the_counts(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    from callrouter.store.purge import purge

    await upgrade(engine)
    old = await open_case(
        engine,
        RULES,
        CaseInput(kind="phan_anh", summary="Bà Nguyễn Thị X, số 0912345678, phản ánh"),
        branch=3,
        by="an",
        at=BEFORE_TET,
    )
    old = await update_case(
        engine,
        RULES,
        old.id,
        CaseInput(status="resolved", result="Đã gọi lại cho bà X"),
        expected_version=1,
        by="an",
        at=BEFORE_TET,
    )
    recent = await open_case(
        engine,
        RULES,
        CaseInput(kind="hoi_dap", summary="Hỏi lịch tiêm"),
        branch=3,
        by="an",
        at=BEFORE_TET + timedelta(days=300),
    )
    result = await purge(
        engine,
        older_than_days=100,
        now=BEFORE_TET + timedelta(days=301),
        recordings_dir=tmp_path / "recordings",
    )
    assert result.case_texts_removed == 1
    purged = await get_case(engine, old.id)
    kept = await get_case(engine, recent.id)
    assert purged is not None
    assert kept is not None
    assert (purged.summary, purged.result, purged.status, purged.kind) == (
        None,
        None,
        "resolved",
        "phan_anh",
    )
    assert kept.summary == "Hỏi lịch tiêm"
    assert {str(h.changes) for h in await history(engine, old.id)} == {"{'purged': True}"}
    assert (await history(engine, recent.id))[0].changes["summary"] == [None, "Hỏi lịch tiêm"]


async def test_cases_opened_at_once_get_distinct_references(engine: AsyncEngine) -> None:
    await upgrade(engine)
    opened = await asyncio.gather(
        *(
            open_case(engine, RULES, CaseInput(kind="hoi_dap"), branch=3, by=f"o{i}", at=BEFORE_TET)
            for i in range(5)
        )
    )
    assert sorted(c.ref for c in opened) == [f"{n}/2026" for n in range(1, 6)]
    other_branch = await open_case(
        engine, RULES, CaseInput(kind="hoi_dap"), branch=4, by="x", at=BEFORE_TET
    )
    next_year = await open_case(
        engine,
        RULES,
        CaseInput(kind="hoi_dap"),
        branch=3,
        by="x",
        at=datetime(2027, 1, 4, 2, tzinfo=UTC),
    )
    assert (other_branch.ref, next_year.ref) == ("1/2026", "1/2027")


async def test_downgrading_0004_with_rows_keeps_every_call_and_attempt(
    engine: AsyncEngine, store_url: str, tmp_path: Path
) -> None:
    """SQLite: the CHECK goes back by editing the stored schema, never by copying calls
    (with foreign keys on, dropping the old table would delete the attempts)."""
    await upgrade(engine)
    await open_case(engine, RULES, CaseInput(kind="khac"), branch=3, by="an", at=BEFORE_TET)
    url = store_url
    async with CallLog(url, tmp_path / "spool", tz="Asia/Ho_Chi_Minh") as log:
        write_call(log, "D1")
        await log.flush()
    before = await table_counts(url)
    await downgrade(engine, "0002")
    assert await table_counts(url) == before
    await upgrade(engine)
    assert await table_counts(url) == before
