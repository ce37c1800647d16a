"""The rotation state ``serve`` reads from the call log at start (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callrouter.app import last_answered_officers
from callrouter.store.db import make_engine
from callrouter.store.writer import CallLog

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    url: str = request.getfixturevalue("pg_url")
    return url


async def test_rotation_state_is_who_answered_each_branchs_latest_answered_call(
    database_url: str, tmp_path: Path
) -> None:
    # Far-future times so rows other tests left in the shared PostgreSQL cannot be "later".
    base = datetime(2099, 1, 1, 8, 0, tzinfo=UTC) + timedelta(minutes=len(str(tmp_path)))
    tag = tmp_path.name[-12:]
    calls = [
        # (linkedid, branch, minutes after base, answered by, outcome)
        (f"rot-{tag}-1", 3, 0, "an", "answered"),
        (f"rot-{tag}-2", 3, 5, "binh", "answered"),
        (f"rot-{tag}-3", 3, 9, None, "unanswered"),  # later, but nobody answered it
        (f"rot-{tag}-4", 4, 1, "chi", "answered"),
    ]
    async with CallLog(database_url, tmp_path / "spool") as log:
        for linkedid, branch, minutes, officer, outcome in calls:
            start = base + timedelta(minutes=minutes)
            log.call_started(
                linkedid=linkedid,
                uniqueid=linkedid,
                branch=branch,
                caller="0912345678",
                started_at=start,
                mode="ari",
                rota_version="v",
            )
            if officer is not None:
                log.call_answered(
                    linkedid=linkedid,
                    answered_at=start + timedelta(seconds=5),
                    officer_id=officer,
                    officer_name=officer.title(),
                    number="0901100001",
                )
            log.call_ended(
                linkedid=linkedid,
                ended_at=start + timedelta(seconds=60),
                outcome=outcome,
                hangup_cause=16,
            )
        await log.flush()
    engine = make_engine(database_url)
    try:
        state = await last_answered_officers(engine)
    finally:
        await engine.dispose()
    assert state[3] == "binh"
    assert state[4] == "chi"


async def test_rotation_state_is_empty_when_the_log_cannot_be_read(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'no-tables.sqlite3'}")
    try:
        assert await last_answered_officers(engine) == {}
    finally:
        await engine.dispose()
