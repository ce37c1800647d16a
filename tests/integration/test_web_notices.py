"""The web's health notices page over HTTP: an admin adds and edits notices in the notices
file serve plays from; bad input (too long once spoken, dates, audience, a stale form, text
the voice cannot say) is refused or warned and the running set stays; officers are refused."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from callrouter.notices.board import NoticeBoard
from callrouter.notices.edit import journal_path, read_journal
from callrouter.store import accounts as store
from tests.integration.web_harness import (
    PASSWORD,
    PASSWORD_HASH,
    WebEnv,
    app_with,
    csrf_of,
    load_example_rota,
    login,
    web,
    web_db_url,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parametrize("web_db_url", ["sqlite"], indirect=True),
]
__all__ = ["web", "web_db_url"]

# The web clock is START (10 November 2026, 10:30 in Viet Nam).
FILE = """\
# Thông báo cho người gọi nhánh 3 (the operator's comment stays)
timezone: Asia/Ho_Chi_Minh
max_seconds: 15
notices:
  - id: tiem-chung
    text: Từ 15/11, TTYT tiêm chủng miễn phí cho trẻ em.
    valid_from: 2026-11-01 07:00
    valid_until: 2026-11-30 17:00
"""
_DIGEST = re.compile(r'name="digest" value="([0-9a-f]*)"')


@dataclass
class Notices:
    web: WebEnv
    board: NoticeBoard
    client: httpx.AsyncClient

    async def form(self, path: str = "/notices") -> dict[str, str]:
        page = await self.client.get(path)
        assert page.status_code == 200, page.text
        digest = _DIGEST.search(page.text)
        assert digest is not None
        return {"csrf": csrf_of(page.text), "digest": digest.group(1)}

    async def post(self, path: str = "/notices", **fields: str) -> httpx.Response:
        data = {
            **(await self.form(path if path != "/notices" else "/notices")),
            "text": "Xin mang theo thẻ BHYT khi đến trạm y tế.",
            "valid_from": "2026-11-10T07:00",
            "valid_until": "2026-11-20T17:00",
            "audience": "waiting",
            **fields,
        }
        return await self.client.post(path, data=data)


@pytest.fixture
async def notices(web: WebEnv, tmp_path: Path) -> AsyncIterator[Notices]:
    path = tmp_path / "notices" / "notices.yaml"
    path.parent.mkdir()
    path.write_text(FILE, encoding="utf-8")
    board = NoticeBoard(path, sounds_dir=tmp_path / "sounds")
    assert board.reload()
    web.app = app_with(web, notices=board)
    async with web.client() as client:
        assert (await login(client)).status_code == 303
        yield Notices(web, board, client)


async def test_an_admin_adds_a_notice_and_serve_takes_it_as_the_running_set(
    notices: Notices,
) -> None:
    page = await notices.client.get("/notices")
    assert 'href="/notices">Thông báo cho người gọi</a>' in page.text
    assert "tiem-chung" in page.text
    saved = await notices.post(text="Xin mang theo thẻ BHYT, CCCD khi đến TYT xã.", id="")
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == "/notices/xin-mang-theo-the-bhyt-cccd"
    shown = await notices.client.get(saved.headers["location"])
    assert "Đã thêm thông báo xin-mang-theo-the-bhyt-cccd (đọc dài" in shown.text
    assert "notices-pending" in shown.text  # serve has not read the new file yet
    text = notices.board.path.read_text(encoding="utf-8")
    assert text.startswith(FILE)
    [change] = read_journal(notices.board.path)
    assert (change.account, change.action, change.at) == ("admin", "add", notices.web.clock())
    # serve's watcher reads the file: the new notice is in the running set
    assert notices.board.reload()
    ready = {r.notice.id: r for r in notices.board.ready()}
    assert set(ready) == {"tiem-chung", "xin-mang-theo-the-bhyt-cccd"}
    assert "căn cước công dân" in (ready["xin-mang-theo-the-bhyt-cccd"].spoken or "")
    running = (await notices.client.get("/notices")).text
    assert "notices-pending" not in running
    assert "Trạm Y tế xã" in running  # how it is read, in the running set


async def test_an_edit_is_saved_and_journaled_with_the_text_before(notices: Notices) -> None:
    saved = await notices.post(
        "/notices/tiem-chung",
        text="Từ 16/11, TTYT tiêm chủng cho người cao tuổi.",
        audience="all",
    )
    assert saved.status_code == 303, saved.text
    page = await notices.client.get("/notices/tiem-chung")
    assert "người cao tuổi" in page.text
    assert "Từ 15/11, TTYT tiêm chủng miễn phí cho trẻ em." in page.text  # the journal's before
    removed = await notices.client.post(
        "/notices/tiem-chung/remove", data=await notices.form("/notices/tiem-chung")
    )
    assert removed.status_code == 303
    actions = [(c.action, c.notice_id) for c in read_journal(notices.board.path)]
    assert actions == [("remove", "tiem-chung"), ("edit", "tiem-chung")]
    assert notices.board.reload()
    assert notices.board.ready() == ()


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"text": "Thông báo rất dài. " * 30}, 400, "quá giới hạn 15 giây"),
        ({"valid_until": "2026-11-01T07:00"}, 400, "phải sau valid_from"),
        ({"valid_from": ""}, 400, "Bắt đầu phát: cần ngày giờ"),
        ({"valid_from": "ngày mai"}, 400, "valid_from"),
        ({"audience": "tat_ca"}, 400, "audience"),
        ({"id": "tiem-chung"}, 400, "mã &#39;tiem-chung&#39; đã có"),
        ({"id": "thông-báo"}, 400, "mã thông báo chỉ gồm"),
        ({"text": " "}, 400, "không được để trống"),
        ({"digest": "0" * 64}, 409, "vừa được người khác thay đổi"),
    ],
)
async def test_bad_input_is_refused_and_the_running_set_stays(
    notices: Notices, fields: dict[str, str], status: int, message: str
) -> None:
    before = [r.key for r in notices.board.ready()]
    refused = await notices.post(**fields)
    assert refused.status_code == status
    assert message in refused.text
    assert "Chưa lưu" in refused.text or status == 409
    assert fields.get("text", "Xin mang theo") in refused.text  # what was typed is kept
    assert notices.board.path.read_text(encoding="utf-8") == FILE
    assert not journal_path(notices.board.path).exists()
    assert not notices.board.reload()
    assert [r.key for r in notices.board.ready()] == before


async def test_a_notice_too_long_is_refused_with_its_measured_length(notices: Notices) -> None:
    refused = await notices.post(text="Thông báo rất dài. " * 30)
    measured = re.search(r"dài (\d+\.\d) giây, quá giới hạn 15 giây", refused.text)
    assert measured is not None
    assert float(measured.group(1)) > 15


async def test_text_the_voice_cannot_say_is_saved_with_a_warning_and_not_played(
    notices: Notices,
) -> None:
    saved = await notices.post(text="Cấp cứu gọi 115 🚑 医院", id="cap-cuu")
    assert saved.status_code == 303
    page = (await notices.client.get(saved.headers["location"])).text
    assert 'id="notice-warnings"' in page
    assert "«🚑» (ambulance)" in page
    assert "KHÔNG phát" in page
    assert notices.board.reload()
    assert "cap-cuu" not in [r.notice.id for r in notices.board.ready()]
    listing = (await notices.client.get("/notices")).text
    assert "Không phát: thông báo cap-cuu" in listing


async def test_officers_may_not_write_notices_and_a_form_without_its_token_is_refused(
    notices: Notices,
) -> None:
    forged = await notices.client.post(
        "/notices", data={"text": "x", "valid_from": "2026-11-10T07:00"}
    )
    assert forged.status_code == 403
    await store.sync_with_rota(notices.web.engine, load_example_rota(), notices.web.clock())
    assert await store.set_password(notices.web.engine, "lan", PASSWORD_HASH, notices.web.clock())
    async with notices.web.client() as officer:
        assert (await login(officer, user="lan", password=PASSWORD)).status_code == 303
        home = await officer.get("/")
        assert 'href="/notices"' not in home.text
        assert (await officer.get("/notices")).status_code == 403
        token = csrf_of(home.text)
        posted = await officer.post(
            "/notices",
            data={
                "csrf": token,
                "text": "Tin",
                "valid_from": "2026-11-10T07:00",
                "valid_until": "2026-11-11T07:00",
                "digest": "",
            },
        )
        assert posted.status_code == 403
    assert notices.board.path.read_text(encoding="utf-8") == FILE


async def test_without_a_notices_file_the_page_says_what_to_set(web: WebEnv) -> None:
    async with web.client() as client:
        await login(client)
        page = await client.get("/notices")
        assert page.status_code == 200
        assert "CALLROUTER_NOTICES_PATH" in page.text
        posted = await client.post("/notices", data={"csrf": csrf_of(page.text), "text": "x"})
        assert posted.status_code == 409
