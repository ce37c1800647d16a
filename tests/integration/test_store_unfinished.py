"""The restart repair's reads (callrouter.store.unfinished), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.store.models import call_id_for
from callrouter.store.unfinished import (
    EndedCall,
    OpenAttempt,
    OpenCall,
    ari_calls_finished_between,
    open_ari_calls_started_before,
    open_attempts_of_calls,
)
from callrouter.store.writer import CallLog
from tests.integration.conftest import T0, open_call, write_call

pytestmark = pytest.mark.integration


async def test_open_ari_calls_their_open_attempts_and_the_calls_a_restart_cut(
    store_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    async with CallLog(store_url, tmp_path / "spool") as log:
        open_call(log, "open-old")
        open_call(log, "open-young", start=T0 + timedelta(minutes=10))
        open_call(log, "open-agi", mode="agi")
        write_call(log, "finished", start=T0 - timedelta(minutes=5))
        await log.flush()

    opened = await open_ari_calls_started_before(engine, T0 + timedelta(minutes=1))
    assert opened == [OpenCall(call_id_for("open-old"), "open-old", None, None)]
    assert await open_attempts_of_calls(engine, [call_id_for("open-old")]) == [
        OpenAttempt(call_id_for("open-old"), 1, "0911111111")
    ]
    assert await open_attempts_of_calls(engine, []) == []

    ended = T0 - timedelta(minutes=5) + timedelta(seconds=100)
    found = await ari_calls_finished_between(engine, ended - timedelta(seconds=1), ended)
    assert [(c.linkedid, c.hangup_cause) for c in found] == [("finished", 16)]
    assert found[0].ended_at == ended
    assert isinstance(found[0], EndedCall)
    assert (
        await ari_calls_finished_between(
            engine, ended + timedelta(seconds=1), ended + timedelta(seconds=9)
        )
        == []
    )
