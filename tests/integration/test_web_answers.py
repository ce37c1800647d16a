"""The answer book on the admin web (httpx + ASGI, SQLite and PostgreSQL): clerks create,
edit (every version kept) and retire answers; officers search without diacritics and attach
an answer to a case; expired answers are struck through with their date."""

from __future__ import annotations

import re

import httpx
import pytest
import sqlalchemy as sa

from callrouter.cases.edit import CaseInput
from callrouter.report.sample import answered_call_row
from callrouter.store import accounts as account_store
from callrouter.store.answers import answers_of_case, usage
from callrouter.store.cases import open_case
from callrouter.store.models import answer_versions, answers, calls, case_answers, cases
from tests.integration.web_harness import (
    PASSWORD_HASH,
    START,
    WebEnv,
    csrf_of,
    form_token,
    load_example_rota,
    login,
    web,
    web_db_url,
)

pytestmark = pytest.mark.integration
__all__ = ["web", "web_db_url"]

SCHEDULE = {
    "title": "Lịch tiêm chủng mở rộng tháng 11",
    "topic": "tiem_chung",
    "body": "Trẻ dưới 1 tuổi tiêm chủng tại trạm y tế xã vào ngày 25 hằng tháng.",
    "source": "Công văn số 123/SYT-NVY ngày 01/11/2026",
    "agreed_on": "2026-11-01",
    "valid_until": "",
}


async def _create(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    token = await form_token(client, "/answers/new")
    return await client.post("/answers", data={"csrf": token, **SCHEDULE, **fields})


def _answer_id(response: httpx.Response) -> int:
    match = re.fullmatch(r"/answers/(\d+)", response.headers["location"])
    assert match is not None, response.headers["location"]
    return int(match.group(1))


async def test_clerk_creates_edits_and_retires_and_every_version_is_kept(web: WebEnv) -> None:
    async with web.client() as client:
        await login(client)
        created = await _create(client)
        assert created.status_code == 303, created.text
        answer_id = _answer_id(created)
        page = await client.get(f"/answers/{answer_id}")
        edited = await client.post(
            f"/answers/{answer_id}",
            data={**SCHEDULE, "csrf": csrf_of(page.text), "version": "1", "body": "Ngày 20."},
        )
        assert edited.status_code == 303, edited.text
        # The same form again (built from version 1) is refused: someone saved meanwhile.
        stale = await client.post(
            f"/answers/{answer_id}",
            data={**SCHEDULE, "csrf": csrf_of(page.text), "version": "1", "body": "Ngày 30."},
        )
        assert stale.status_code == 409
        page = await client.get(f"/answers/{answer_id}")
        assert "Ngày 20." in page.text
        assert "Trẻ dưới 1 tuổi" in page.text  # version 1, kept and shown
        retired = await client.post(
            f"/answers/{answer_id}/retire", data={"csrf": csrf_of(page.text), "version": "2"}
        )
        assert retired.status_code == 303
        found = await client.get("/answers", params={"q": "tiem chung"})
    assert "Không có câu trả lời nào khớp" in found.text
    async with web.engine.connect() as conn:
        kept = (
            await conn.execute(
                sa.select(answer_versions.c.version, answer_versions.c.body)
                .where(answer_versions.c.answer_id == answer_id)
                .order_by(answer_versions.c.version)
            )
        ).all()
    assert [v for v, _ in kept] == [1, 2, 3]
    assert kept[0][1] == SCHEDULE["body"]


async def test_bad_answers_are_refused_naming_the_field_and_nothing_is_saved(
    web: WebEnv,
) -> None:
    async with web.client() as client:
        await login(client)
        topic = await _create(client, topic="xo_so")
        backwards = await _create(client, valid_until="2026-10-01")
        no_date = await _create(client, agreed_on="01/11/2026")
    assert topic.status_code == 400
    assert "lĩnh vực &#39;xo_so&#39; không có trong danh sách" in topic.text
    assert backwards.status_code == 400
    assert "hiệu lực đến 01/10/2026 trước ngày thống nhất 01/11/2026" in backwards.text
    assert no_date.status_code == 400
    assert "không đúng dạng YYYY-MM-DD" in no_date.text
    assert SCHEDULE["body"] in topic.text  # the clerk's text comes back, not lost
    assert await web.scalar(sa.select(sa.func.count()).select_from(answers)) == 0


async def test_officer_searches_without_diacritics_and_attaches_the_answer_to_a_case(
    web: WebEnv,
) -> None:
    case_id, ref = await _a_question(web)
    async with web.client() as client:
        await login(client)
        answer_id = _answer_id(await _create(client))
        old = _answer_id(
            await _create(
                client,
                title="Đợt tiêm chủng bổ sung",
                valid_until="2026-11-05",
                agreed_on="2026-10-01",
            )
        )
        found = await client.get("/answers", params={"q": "TIEM CHUNG", "case": case_id})
        assert found.status_code == 200
        assert "<mark>tiêm</mark> <mark>chủng</mark>" in found.text
        # The expired one is listed, struck through, with its date; never hidden.
        assert f'class="card answer expired-answer" data-answer="{old}"' in found.text
        assert "hết hiệu lực từ 05/11/2026" in found.text
        attached = await client.post(
            f"/cases/{case_id}/answers",
            data={"csrf": csrf_of(found.text), "answer_id": str(answer_id)},
        )
        assert attached.status_code == 303
        page = await client.get(f"/cases/{case_id}")
        bogus = await client.post(
            f"/cases/{case_id}/answers", data={"csrf": csrf_of(page.text), "answer_id": "x"}
        )
    assert f"Đã gắn câu trả lời «{SCHEDULE['title']}» vào hồ sơ số {ref}" in page.text
    assert f'<a href="/answers/{answer_id}">{SCHEDULE["title"]}</a>' in page.text
    assert bogus.status_code == 404
    local = START.date()
    used, _ = await usage(web.engine, local.replace(day=1), local.replace(day=28))
    assert [(u.answer_id, u.cases) for u in used] == [(answer_id, 1)]


async def _a_question(web: WebEnv) -> tuple[str, str]:
    async with web.client() as client:
        await login(client)
        token = await form_token(client, "/cases/new")
        opened = await client.post(
            "/cases", data={"csrf": token, "kind": "hoi_dap", "topic": "tiem_chung"}
        )
        assert opened.status_code == 303, opened.text
    case_id = opened.headers["location"].rsplit("/", 1)[1]
    async with web.engine.connect() as conn:
        seq, year = (
            await conn.execute(
                sa.select(cases.c.ref_seq, cases.c.ref_year).where(cases.c.id == case_id)
            )
        ).one()
    return case_id, f"{seq}/{year}"


OFFICER = "lan"  # an officer of unit 3 in the example rota


async def _officer(web: WebEnv) -> None:
    await account_store.sync_with_rota(web.engine, load_example_rota(), web.clock())
    assert await account_store.set_password(web.engine, OFFICER, PASSWORD_HASH, web.clock())


async def test_an_officer_may_not_create_edit_or_retire_answers(web: WebEnv) -> None:
    await _officer(web)
    async with web.client() as clerk:
        await login(clerk)
        answer_id = _answer_id(await _create(clerk))
    async with web.client() as officer:
        assert (await login(officer, user=OFFICER)).status_code == 303
        listing = await officer.get("/answers")
        assert listing.status_code == 200
        assert 'id="answer-new"' not in listing.text
        assert (await officer.get("/answers/new")).status_code == 403
        page = await officer.get(f"/answers/{answer_id}")
        assert page.status_code == 200  # officers read the answer ...
        assert SCHEDULE["body"] in page.text
        assert 'id="answer-form"' not in page.text  # ... without the forms to change it
        assert 'id="answer-retire"' not in page.text
        token = csrf_of(page.text)
        created = await officer.post("/answers", data={"csrf": token, **SCHEDULE})
        edited = await officer.post(
            f"/answers/{answer_id}",
            data={**SCHEDULE, "csrf": token, "version": "1", "body": "Sửa bởi cán bộ."},
        )
        retired = await officer.post(
            f"/answers/{answer_id}/retire", data={"csrf": token, "version": "1"}
        )
    assert (created.status_code, edited.status_code, retired.status_code) == (403, 403, 403)
    assert "Chỉ văn thư và quản trị viên" in edited.text
    assert await web.scalar(sa.select(sa.func.count()).select_from(answers)) == 1
    assert await web.scalar(sa.select(sa.func.count()).select_from(answer_versions)) == 1
    assert await web.scalar(sa.select(answers.c.retired_at)) is None


async def test_an_officer_attaches_an_answer_only_to_a_case_of_their_unit(web: WebEnv) -> None:
    await _officer(web)
    rules = web.app.state.web.cases.rules
    own = await open_case(
        web.engine,
        rules,
        CaseInput(kind="hoi_dap", topic="tiem_chung"),
        branch=3,
        by="an",
        at=START,
    )
    other = await open_case(
        web.engine, rules, CaseInput(kind="hoi_dap", topic="tiem_chung"), branch=5, by="x", at=START
    )
    async with web.client() as clerk:
        await login(clerk)
        answer_id = _answer_id(await _create(clerk))
    async with web.client() as officer:
        assert (await login(officer, user=OFFICER)).status_code == 303
        found = await officer.get("/answers", params={"q": "tiem chung", "case": own.id})
        assert 'class="attach"' in found.text
        attached = await officer.post(
            f"/cases/{own.id}/answers",
            data={"csrf": csrf_of(found.text), "answer_id": str(answer_id)},
        )
        # Another unit's case: no "attach" button offered, and the post is refused as unknown.
        offered = await officer.get("/answers", params={"q": "tiem chung", "case": other.id})
        assert 'class="attach"' not in offered.text
        assert 'id="answers-for-case"' not in offered.text
        assert other.id not in offered.text
        refused = await officer.post(
            f"/cases/{other.id}/answers",
            data={"csrf": csrf_of(offered.text), "answer_id": str(answer_id)},
        )
    assert attached.status_code == 303
    assert refused.status_code == 404
    assert [a.id for a in await answers_of_case(web.engine, own.id)] == [answer_id]
    assert await answers_of_case(web.engine, other.id) == []


@pytest.mark.parametrize("web_db_url", ["sqlite", "postgresql"], indirect=True)
async def test_an_officer_picks_an_answer_beside_the_call_and_it_goes_with_the_case(
    web: WebEnv,
) -> None:
    await _officer(web)
    row = answered_call_row("pick-1", "0912000888", START)
    async with web.engine.begin() as conn:
        await conn.execute(sa.insert(calls), [row])
    async with web.client() as clerk:
        await login(clerk)
        answer_id = _answer_id(await _create(clerk))
        gone = _answer_id(await _create(clerk, title="Tiêm chủng đợt cũ"))
        page = await clerk.get(f"/answers/{gone}")
        retired = await clerk.post(
            f"/answers/{gone}/retire", data={"csrf": csrf_of(page.text), "version": "1"}
        )
        assert retired.status_code == 303
    async with web.client() as stranger:
        assert (await stranger.get("/tiep-nhan/cau-tra-loi?q=tiem")).status_code == 401
    async with web.client() as officer:
        assert (await login(officer, user=OFFICER)).status_code == 303
        screen = await officer.get("/tiep-nhan")
        assert 'class="answer-q"' in screen.text  # the card's picker, in the card template
        found = await officer.get("/tiep-nhan/cau-tra-loi", params={"q": "TIEM CHUNG"})
        assert found.status_code == 200
        assert "<mark>tiêm</mark> <mark>chủng</mark>" in found.text
        assert f'class="use-answer" data-answer="{answer_id}"' in found.text
        assert f'data-answer="{gone}"' not in found.text  # retired: out of search
        nothing = await officer.get("/tiep-nhan/cau-tra-loi", params={"q": "xo so"})
        assert "Không có câu trả lời nào khớp «xo so»" in nothing.text
        token = csrf_of(screen.text)
        case = {"csrf": token, "kind": "hoi_dap", "topic": "tiem_chung", "summary": "Lịch tiêm"}
        path = f"/tiep-nhan/ho-so/{row['id']}"
        refused = [
            await officer.post(path, data={**case, "answer_id": bad})
            for bad in ("x", "-1", "１２", [str(answer_id)] * 11)
        ]
        assert not await web.scalar(sa.select(sa.func.count()).where(cases.c.call_id == row["id"]))
        local = START.date()
        month = (local.replace(day=1), local.replace(day=28))
        _, unanswered_before = await usage(web.engine, *month)
        # Picked twice, and one retired while the officer typed: the case is kept with the
        # answer in use, and the flash names the one left out.
        recorded = await officer.post(
            path, data={**case, "answer_id": [str(answer_id), str(answer_id), str(gone)]}
        )
        assert recorded.status_code == 303
        assert recorded.headers["location"] == "/tiep-nhan"
        back = await officer.get("/tiep-nhan")
    assert [r.status_code for r in refused] == [400] * 4
    assert "tối đa 10 câu trả lời" in refused[3].text
    assert all("Hồ sơ chưa được lưu" in r.text for r in refused)
    assert "Đã gắn 1 câu trả lời thống nhất." in back.text
    assert f"Chưa gắn câu trả lời số {gone}: không còn trong sổ" in back.text
    async with web.engine.connect() as conn:
        (case_id,) = (
            await conn.execute(sa.select(cases.c.id).where(cases.c.call_id == row["id"]))
        ).one()
        attached = (
            await conn.execute(
                sa.select(case_answers.c.answer_id, case_answers.c.attached_by).where(
                    case_answers.c.case_id == case_id
                )
            )
        ).all()
    assert [tuple(a) for a in attached] == [(answer_id, OFFICER)]
    assert [a.id for a in await answers_of_case(web.engine, case_id)] == [answer_id]
    used, unanswered = await usage(web.engine, *month)
    assert [(u.answer_id, u.cases) for u in used] == [(answer_id, 1)]
    assert unanswered == unanswered_before  # the question carries its agreed answer
