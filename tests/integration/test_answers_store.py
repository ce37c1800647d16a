"""The answer book on SQLite and PostgreSQL: folded search (đ too), ranking, versions, usage."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.answers.book import AnswerDraft
from callrouter.cases.config import CasesConfig
from callrouter.cases.edit import CaseInput, CaseRules
from callrouter.cases.workdays import WorkCalendar
from callrouter.rota.model import HolidayPolicy
from callrouter.store.answers import (
    AnswerConflict,
    answers_of_case,
    attach,
    create_answer,
    edit_answer,
    get_answer,
    retire_answer,
    search,
    usage,
    versions,
)
from callrouter.store.cases import open_case
from callrouter.store.migrate import downgrade, schema_drift, upgrade

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
RULES = CaseRules(
    config=CasesConfig(topics={"tiem_chung": "Tiêm chủng", "bhyt": "Bảo hiểm y tế"}),
    calendar=WorkCalendar.from_policy(HolidayPolicy()),
)


def draft(title: str, body: str, *, topic: str = "tiem_chung", **more: object) -> AnswerDraft:
    return AnswerDraft(
        title=title,
        topic=topic,
        body=body,
        source="Công văn số 12/SYT ngày 01/02/2026",
        agreed_on=date(2026, 2, 1),
        **more,  # type: ignore[arg-type]
    )


def q() -> CaseInput:
    return CaseInput(kind="hoi_dap", topic="tiem_chung")


async def _book(engine: AsyncEngine) -> dict[str, int]:
    await upgrade(engine)
    ids = {}
    for key, d in {
        "schedule": draft("Lịch tiêm chủng mở rộng tháng 3", "Trẻ dưới 1 tuổi tiêm tại trạm y tế."),
        "aside": draft(
            "Giờ làm việc của trạm y tế",
            "Trạm mở cửa buổi sáng; ngày tiêm chủng mở rộng mở cả buổi chiều.",
        ),
        "road": draft("Đường đến Trung tâm Y tế", "Đi theo đường tỉnh 1, rẽ phải.", topic="bhyt"),
        "card": draft("Thẻ BHYT hết hạn", "Gia hạn tại bưu điện xã.", topic="bhyt"),
    }.items():
        ids[key] = await create_answer(engine, d, account="van.thu", now=NOW)
    return ids


async def test_search_folds_case_diacritics_and_d_stroke_and_ranks_title_first(
    engine: AsyncEngine,
) -> None:
    ids = await _book(engine)
    found = await search(engine, "tiem chung")
    # Both mention it; the one with it in the title comes first.
    assert [h.answer.id for h in found] == [ids["schedule"], ids["aside"]]
    assert [p for p, hit in found[0].title if hit] == ["tiêm", "chủng"]
    assert [h.answer.id for h in await search(engine, "duong")] == [ids["road"]]
    road = (await search(engine, "duong"))[0]
    assert [p for p, hit in road.title if hit] == ["Đường"]
    assert [p for p, hit in road.body if hit] == ["đường"]
    assert {h.answer.id for h in await search(engine, "TIÊM")} == {ids["schedule"], ids["aside"]}
    assert [h.answer.id for h in await search(engine, "ĐƯỜNG tỉnh")] == [ids["road"]]
    # A prefix while typing; punctuation a query language would choke on is only a separator.
    assert [h.answer.id for h in await search(engine, "bhy")] == [ids["card"]]
    assert await search(engine, "\"'*:&|!()") == []
    assert await search(engine, "không có gì") == []
    assert await schema_drift(engine) == []


async def test_every_version_is_kept_and_retired_answers_leave_search(engine: AsyncEngine) -> None:
    ids = await _book(engine)
    later = NOW + timedelta(hours=1)
    new = draft("Thẻ bảo hiểm hết hạn", "Gia hạn tại UBND xã.", topic="bhyt")
    assert (
        await edit_answer(
            engine, ids["card"], new, expected_version=1, account="truong.tram", now=later
        )
        == 2
    )
    with pytest.raises(AnswerConflict):
        await edit_answer(engine, ids["card"], new, expected_version=1, account="x", now=later)
    assert await search(engine, "buu dien") == []
    assert [h.answer.id for h in await search(engine, "ubnd")] == [ids["card"]]
    kept = await versions(engine, ids["card"])
    assert [(v, d.body, by) for v, d, _, _, by in kept] == [
        (2, "Gia hạn tại UBND xã.", "truong.tram"),
        (1, "Gia hạn tại bưu điện xã.", "van.thu"),
    ]
    assert (
        await retire_answer(
            engine, ids["card"], expected_version=2, account="truong.tram", now=later
        )
        == 3
    )
    assert await search(engine, "ubnd") == []
    stored = await get_answer(engine, ids["card"])
    assert stored is not None
    assert stored.retired_at == later
    assert [r for _, _, r, _, _ in await versions(engine, ids["card"])] == [True, False, False]


async def test_expiry_is_known_and_usage_counts_cases_and_unanswered_questions(
    engine: AsyncEngine,
) -> None:
    ids = await _book(engine)
    expiring = draft("Chiến dịch cũ", "Đã kết thúc.", valid_until=date(2026, 2, 20))
    old = await create_answer(engine, expiring, account="van.thu", now=NOW)
    hit = (await search(engine, "chien dich"))[0].answer
    assert hit.id == old
    assert hit.expired(date(2026, 3, 2))
    assert not hit.expired(date(2026, 2, 20))

    one = await open_case(engine, RULES, q(), branch=3, by="an", at=NOW)
    two = await open_case(engine, RULES, q(), branch=3, by="an", at=NOW)
    await open_case(engine, RULES, q(), branch=3, by="an", at=NOW)  # no answer attached
    april = await open_case(engine, RULES, q(), branch=3, by="an", at=NOW + timedelta(days=31))
    assert await attach(engine, one.id, ids["schedule"], account="an", now=NOW)
    assert not await attach(engine, one.id, ids["schedule"], account="an", now=NOW)
    await attach(engine, one.id, ids["road"], account="an", now=NOW)
    await attach(engine, two.id, ids["schedule"], account="an", now=NOW)
    await attach(engine, april.id, ids["road"], account="an", now=NOW)
    assert [a.id for a in await answers_of_case(engine, one.id)] == [ids["schedule"], ids["road"]]
    used, unanswered = await usage(engine, date(2026, 3, 1), date(2026, 3, 31))
    assert [(u.answer_id, u.cases) for u in used] == [(ids["schedule"], 2), (ids["road"], 1)]
    assert unanswered == 1


async def test_downgrade_removes_the_book_and_its_index(engine: AsyncEngine) -> None:
    await _book(engine)
    await downgrade(engine, "0007")
    async with engine.connect() as conn:
        # This test's own schema only: other tests of the worker share its PostgreSQL database.
        query = (
            "SELECT name FROM sqlite_master WHERE name LIKE 'answer%'"
            if conn.dialect.name == "sqlite"
            else "SELECT tablename FROM pg_tables"
            " WHERE tablename LIKE 'answer%' AND schemaname = current_schema()"
        )
        left = (await conn.execute(text(query))).all()
    assert left == []
    await upgrade(engine)
