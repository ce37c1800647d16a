"""One bad CDR line never stops the fallback import (SQLite and PostgreSQL, real files).

Each of the four lines the audit found (a 70-character ``src``, a start before
``datetime.min`` in UTC, an attempt time of ``999999999999``, a 100-character linkedid)
used to fail every run, so the import position never advanced and no later fallback call was
ever imported. Now each goes to the rejected file with its field and reason, the good lines
around it are imported, and the next run starts after it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.asterisk import contract
from callrouter.asterisk.cdr_import import import_fallback
from callrouter.asterisk.cdr_lines import MAX_LINE_BYTES
from callrouter.store.models import Call
from callrouter.store.writer import CallLog
from tests.integration.test_fastagi_cdr_import import cdr

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

BUSY_OUT_OF_RANGE = "|1:0901100001:BUSY:17:999999999999:999999999999::"

HOSTILE: list[tuple[str, dict[str, Any], str]] = [
    ("src-70", {"src": "0" * 70}, "src"),
    ("start-year-1", {"start": "0001-01-01T00:00:00+0100"}, "start"),
    (
        "attempt-time",
        {contract.CDR_ATTEMPTS_VAR: BUSY_OUT_OF_RANGE},
        "callrouter_attempts",
    ),
    ("linkedid-100", {"linkedid": "x" * 100}, "linkedid"),
    (
        "dial-at",
        {"userfield": "callrouter=fallback;result=answered;dial_at=999999999999"},
        "userfield",
    ),
    ("uniqueid-100", {"uniqueid": "u" * 100}, "uniqueid"),
    (
        "routed-at",
        {"userfield": "callrouter=fallback;routed_at=999999999999.5;result=abandoned"},
        "userfield",
    ),
    (
        "routed-at-text",
        {"userfield": "callrouter=fallback;routed_at=1e9;result=abandoned"},
        "userfield",
    ),
]


@pytest.fixture
async def call_log(store_url: str, tmp_path: Path) -> AsyncIterator[CallLog]:
    async with CallLog(store_url, tmp_path / "spool", tz="Asia/Ho_Chi_Minh") as log:
        yield log


async def linkedids(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set((await conn.execute(select(Call.__table__.c.linkedid))).scalars())


@pytest.mark.parametrize("case", HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_a_hostile_line_is_rejected_with_its_reason_and_the_import_goes_on(
    tmp_path: Path, call_log: CallLog, engine: AsyncEngine, case: tuple[str, dict[str, Any], str]
) -> None:
    name, fields, field = case
    path, state = tmp_path / "callrouter-cdr.json", tmp_path / "state" / "cdr-import.json"
    rest = dict(fields)
    bad = cdr(rest.pop("linkedid", f"bad-{name}"), 2, **rest)
    path.write_text(cdr("good-1", 1) + bad + cdr("good-3", 3), encoding="utf-8")
    report = await import_fallback(path, state, call_log, engine)
    assert (report.imported, report.bad_lines) == (2, 1)
    assert await linkedids(engine) == {"good-1", "good-3"}
    kept = [json.loads(x) for x in (state.parent / "cdr-rejected.jsonl").read_text().splitlines()]
    assert [(k["line"], k["field"]) for k in kept] == [(2, field)]
    assert kept[0]["text"] == bad.rstrip("\n")
    assert kept[0]["problem"]
    # The position advanced past it: the next run reads only the new line, rejects nothing.
    with path.open("a", encoding="utf-8") as fh:
        fh.write(cdr("good-4", 4))
    again = await import_fallback(path, state, call_log, engine)
    assert (again.imported, again.bad_lines) == (1, 0)
    assert await linkedids(engine) == {"good-1", "good-3", "good-4"}


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_a_line_past_the_length_bound_is_rejected_not_read(
    tmp_path: Path, call_log: CallLog, engine: AsyncEngine
) -> None:
    path, state = tmp_path / "callrouter-cdr.json", tmp_path / "cdr-import.json"
    huge = cdr("huge-1", 1, dst="9" * (MAX_LINE_BYTES + 1))
    path.write_text(huge + cdr("good-2", 2), encoding="utf-8")
    report = await import_fallback(path, state, call_log, engine)
    assert (report.imported, report.bad_lines) == (1, 1)
    assert await linkedids(engine) == {"good-2"}


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
async def test_a_caller_number_from_the_cdr_is_stored_in_the_one_normalised_form(
    tmp_path: Path, call_log: CallLog, engine: AsyncEngine
) -> None:
    path, state = tmp_path / "callrouter-cdr.json", tmp_path / "cdr-import.json"
    path.write_text(
        cdr("norm-1", 1, src="+84 (90) 555-1234")
        + cdr("norm-2", 2, src="anonymous")
        + cdr("norm-3", 3, src='=HYPERLINK("x")'),
        encoding="utf-8",
    )
    assert (await import_fallback(path, state, call_log, engine)).imported == 3
    async with engine.connect() as conn:
        rows = dict(
            (await conn.execute(select(Call.__table__.c.linkedid, Call.__table__.c.caller))).all()
        )
    assert rows == {"norm-1": "+84905551234", "norm-2": None, "norm-3": None}
