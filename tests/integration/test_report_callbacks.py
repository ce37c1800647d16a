"""The call-backs of the period on SQLite and PostgreSQL: made, tries, closed, open, overdue,
read back from the DOCX (section II) and the JSON."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from docx import Document
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.report.render import render
from callrouter.report.sample import edge_month_rows, insert_rows
from callrouter.store.callback_attempts import record_attempt
from callrouter.store.migrate import upgrade
from callrouter.store.missed import CLOSED_BY
from callrouter.store.models import call_id_for, callbacks
from tests.integration.test_report_cases import _figures as november_figures

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)


def _at(day: int, hh: int, mm: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hh, mm, tzinfo=TZ)


def _entry(key: str, reason: str, created: datetime, call_id: str | None) -> dict[str, Any]:
    return {
        "id": call_id_for(f"cb-{key}"),
        "call_id": call_id,
        "number": "0911000111",
        "reason": reason,
        "created_at": created.astimezone(UTC),
        "recording": None,
        "done_by": None,
        "done_at": None,
        "outbound_linkedid": None,
    }


async def _seed(engine: AsyncEngine) -> None:
    await upgrade(engine)
    rows = edge_month_rows()
    rows.callbacks.clear()
    rows.cases.clear()
    ours = next(c for c in rows.calls if c["branch"] == 3)
    theirs = dict(ours, id=call_id_for("other-branch"), linkedid="other", uniqueid="other")
    theirs["branch"] = 4
    rows.calls.append(theirs)
    await insert_rows(engine, rows)
    mine = ours["id"]
    entries = {
        # message left before opening on Monday 9 November: due 11:30, reached at 09:00
        "a": _entry("a", "after_hours_message", _at(9, 6), None),
        # abandoned at 08:00 on Tuesday: due 12:00; two no-answers, then wrong number at 14:00
        "b": _entry("b", "abandoned", _at(10, 8), mine),
        # unanswered, then the caller rang again and was answered (no try needed)
        "c": dict(
            _entry("c", "unanswered", _at(11, 9), mine),
            done_at=_at(11, 10).astimezone(UTC),
            done_by=CLOSED_BY,
        ),
        # abandoned at 16:00 on the period's last day: due 10:30 on 1 December, still open then
        "d": _entry("d", "abandoned", _at(30, 16), mine),
        # unanswered on Friday 20 November, nobody tried: overdue at the period's end
        "e": _entry("e", "unanswered", _at(20, 8), mine),
        # a message marked done on the web within its time, without a try
        "h": dict(
            _entry("h", "after_hours_message", _at(12, 10), None),
            done_at=_at(12, 11).astimezone(UTC),
            done_by="admin",
        ),
        # not this report's: another branch's call, and October
        "f": _entry("f", "unanswered", _at(13, 9), theirs["id"]),
        "g": _entry("g", "after_hours_message", _at(31, 20, month=10), None),
    }
    async with engine.begin() as conn:
        await conn.execute(insert(callbacks), list(entries.values()))
    for key, outcome, at in (
        ("a", "reached", _at(9, 9)),
        ("b", "no_answer", _at(10, 9)),
        ("b", "no_answer", _at(10, 10)),
        ("b", "wrong_number", _at(10, 14)),
        ("d", "no_answer", _at(30, 16, 30)),
        ("d", "reached", _at(2, 9, month=12)),  # after the period: not counted
    ):
        assert await record_attempt(
            engine, entries[key]["id"], outcome=outcome, by="o1", at=at.astimezone(UTC)
        )


EXPECTED = {
    "created": 6,
    "after_hours_message": 2,
    "abandoned": 2,
    "unanswered": 2,
    "made": 3,
    "tries": 5,
    "tries_reached": 1,
    "tries_no_answer": 3,
    "tries_wrong_number": 1,
    "closed": 4,
    "closed_reached": 1,
    "closed_wrong_number": 1,
    "closed_by_call": 1,
    "closed_other": 1,
    "open": 2,
    "overdue": 2,
}


async def test_the_report_counts_call_backs_made_open_and_overdue_at_the_periods_end(
    engine: AsyncEngine,
) -> None:
    await _seed(engine)
    f = await november_figures(engine, "TTYT A", "")
    data = json.loads(render(f, "json"))
    counted = data["callbacks"]
    assert datetime.fromisoformat(counted.pop("as_of")) == _at(1, 0, month=12)
    assert counted == EXPECTED
    doc = Document(io.BytesIO(render(f, "docx")))
    body = "\n".join(p.text for p in doc.paragraphs)
    assert (
        "Gọi lại cho người dân: 6 lượt cần gọi lại (2 để lại lời nhắn ngoài giờ, 2 gác máy khi "
        "đang chờ, 2 không có cán bộ nghe máy), đã gọi 3 (5 lần gọi, 1 lần liên lạc được, 3 lần "
        "không nghe máy, 1 lần sai số); đã xong 4 (trong đó 1 lượt người dân gọi lại và được "
        "trả lời), còn 2 chưa xong; 2 lượt quá hạn gọi lại"
    ) in body
    section_ii = body.split("II.", 1)[1].split("III.", 1)[0]
    assert "Gọi lại cho người dân" in section_ii
    table = next(
        [[c.text for c in row.cells] for row in t.rows]
        for t in doc.tables
        if [c.text for c in t.rows[0].cells] == ["Nội dung", "Số lượng"]
    )
    rows = dict(table[1:])
    assert rows["Lượt cần gọi lại"] == "6"
    assert rows["Lượt đã gọi lại (ít nhất một lần)"] == "3"
    assert rows["Lượt chưa xong cuối kỳ"] == "2"
    assert rows["Lượt quá hạn gọi lại"] == "2"
    csv_text = render(f, "csv").decode("utf-8-sig")
    assert "Lượt quá hạn gọi lại" in csv_text
