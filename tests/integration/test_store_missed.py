"""The missed-caller rule, where a call's end is written (every door goes through it)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from callrouter.store.missed import CLOSED_BY
from callrouter.store.models import call_id_for, callbacks
from callrouter.store.writer import CallLog
from tests.integration.conftest import T0

pytestmark = pytest.mark.integration

NUMBER = "0912345678"


def _call(
    log: CallLog,
    linkedid: str,
    *,
    waited: float,
    outcome: str,
    start: datetime = T0,
    caller: str | None = NUMBER,
    mode: str = "ari",
) -> None:
    log.call_started(
        linkedid=linkedid,
        uniqueid=linkedid,
        branch=3,
        caller=caller,
        started_at=start,
        mode=mode,
        rota_version=None,
    )
    if outcome == "answered":
        log.call_answered(
            linkedid=linkedid,
            answered_at=start + timedelta(seconds=waited),
            officer_id="o1",
            officer_name="Nguyễn Văn An",
            number="0911111111",
        )
        waited += 30
    log.call_ended(
        linkedid=linkedid,
        ended_at=start + timedelta(seconds=waited),
        outcome=outcome,
        hangup_cause=16,
    )


async def _callbacks(log: CallLog) -> list[dict[str, object]]:
    async with log._engine.connect() as conn:
        rows = await conn.execute(select(callbacks).order_by(callbacks.c.created_at))
        return [dict(row._mapping) for row in rows]


async def test_a_caller_who_waited_past_the_misdial_threshold_is_on_the_list_once_a_day(
    store_url: str, tmp_path: Path
) -> None:
    async with CallLog(store_url, tmp_path / "spool", misdial_seconds=10) as log:
        _call(log, "short", waited=3, outcome="abandoned")  # a misdial: nobody to call back
        _call(log, "other", waited=15, outcome="abandoned", caller=None)  # no number
        await log.flush()
        assert await _callbacks(log) == []
        _call(log, "long", waited=15, outcome="abandoned", start=T0 + timedelta(minutes=5))
        await log.flush()
        [entry] = await _callbacks(log)
        assert entry["number"] == NUMBER
        assert entry["reason"] == "abandoned"
        assert entry["call_id"] == call_id_for("long")
        assert entry["done_at"] is None
        # The same number again that day (another door): still one entry.
        _call(log, "again", waited=40, outcome="unanswered", start=T0 + timedelta(minutes=9))
        _call(log, "agi", waited=20, outcome="abandoned", start=T0 + timedelta(hours=1), mode="agi")
        await log.flush()
        assert len(await _callbacks(log)) == 1
        # The next local day is a new entry.
        _call(log, "tomorrow", waited=40, outcome="unanswered", start=T0 + timedelta(days=1))
        await log.flush()
        assert [c["reason"] for c in await _callbacks(log)] == ["abandoned", "unanswered"]


async def test_a_later_answered_call_closes_the_entry_and_a_message_is_not_doubled(
    store_url: str, tmp_path: Path
) -> None:
    async with CallLog(store_url, tmp_path / "spool") as log:
        # Missed then answered within one batch: the entry is made, then closed.
        _call(log, "missed", waited=25, outcome="abandoned")
        _call(log, "answered", waited=5, outcome="answered", start=T0 + timedelta(minutes=20))
        # An unanswered caller who left a message has that message as their call-back.
        _call(log, "msg", waited=60, outcome="unanswered", caller="0987000111")
        message = log.callback_requested(
            linkedid="msg",
            number="0987000111",
            reason="unanswered",
            created_at=T0 + timedelta(seconds=59),
            recording="callrouter-message-0002.wav",
        )
        await log.flush()
        rows = {str(c["number"]): c for c in await _callbacks(log)}
        assert len(rows) == 2
        assert rows[NUMBER]["done_by"] == CLOSED_BY
        assert rows[NUMBER]["done_at"] == T0 + timedelta(minutes=20, seconds=35)
        assert rows["0987000111"]["id"] == message
        assert rows["0987000111"]["done_at"] is None
        # An answered call never closes a message (someone must listen to it).
        _call(log, "back", waited=2, outcome="answered", caller="0987000111",
              start=T0 + timedelta(hours=2))  # fmt: skip
        await log.flush()
        rows = {str(c["number"]): c for c in await _callbacks(log)}
        assert rows["0987000111"]["done_at"] is None


async def test_answered_calls_of_several_numbers_in_one_batch_each_close_their_own_entry(
    store_url: str, tmp_path: Path
) -> None:
    other, third = "0987000222", "0987000333"
    async with CallLog(store_url, tmp_path / "spool") as log:
        _call(log, "a", waited=25, outcome="abandoned")
        _call(
            log, "b", waited=40, outcome="unanswered", caller=other, start=T0 + timedelta(minutes=1)
        )
        _call(
            log, "c", waited=40, outcome="unanswered", caller=third, start=T0 + timedelta(minutes=2)
        )
        await log.flush()
        # Two of them call again and are answered, in one batch (one statement for both).
        _call(log, "a2", waited=5, outcome="answered", start=T0 + timedelta(minutes=10))
        _call(
            log, "b2", waited=7, outcome="answered", caller=other, start=T0 + timedelta(minutes=20)
        )
        await log.flush()
        rows = {str(c["number"]): c for c in await _callbacks(log)}
        assert rows[NUMBER]["done_at"] == T0 + timedelta(minutes=10, seconds=35)
        assert rows[other]["done_at"] == T0 + timedelta(minutes=20, seconds=37)
        assert (rows[NUMBER]["done_by"], rows[other]["done_by"]) == (CLOSED_BY, CLOSED_BY)
        assert rows[third]["done_at"] is None


async def test_a_message_written_after_its_calls_end_withdraws_the_missed_entry(
    store_url: str, tmp_path: Path
) -> None:
    """FastAGI reports a nobody-answered message after the call's end: one call-back, the
    message, not a second 'unanswered' entry beside it (the e2e suite saw both)."""
    async with CallLog(store_url, tmp_path / "spool") as log:
        _call(log, "msg-late", waited=60, outcome="unanswered")
        await log.flush()
        [missed] = await _callbacks(log)
        assert missed["recording"] is None
        message = log.callback_requested(
            linkedid="msg-late",
            number=NUMBER,
            reason="unanswered",
            created_at=T0 + timedelta(seconds=61),
            recording="callrouter-message-0003.wav",
        )
        await log.flush()
        [entry] = await _callbacks(log)
        assert entry["id"] == message
        assert entry["recording"] == "callrouter-message-0003.wav"
