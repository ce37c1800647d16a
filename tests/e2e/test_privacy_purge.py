"""``db purge`` deletes a real caller's message, and only files inside the recordings directory.

Real pbx + pstn and the real ``callrouter serve``: a caller leaves a message after hours, the
recording is on the pbx's disk; the rows are aged past retention; the ``callrouter db purge``
command runs as its own process from another working directory. The file is gone and the
call-back row says so (no number, no recording); rows planted with an absolute path and with
``..`` leave those files alone, are reported, and the command exits 1.

On the code before issue 15 the purge opened the bare name relative to its working directory
(so the message stayed on disk while its row lost the pointer) and deleted the planted files.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from callrouter.store.models import call_events, callbacks, calls
from tests.e2e.caller_support import recordings_dir, rootfs
from tests.e2e.callflow_support import engine_for, running_router, wait_for_call, write_rota
from tests.e2e.harness import ANSWERS, Harness, officer_number
from tests.e2e.test_caller_experience import callback_rows, wav_seconds

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120, func_only=True)]


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"


async def test_an_aged_message_is_purged_from_elsewhere_and_planted_paths_are_untouched(
    harness: Harness, tmp_path: Path, sqlite_url: str
) -> None:
    officer = officer_number(ANSWERS, 0)
    rota = write_rota(tmp_path / "rota.yaml", [officer], closed=True, after_hours="message")
    vi = rootfs(harness.info) / "usr/share/asterisk/sounds/vi/callrouter"
    before_beep = wav_seconds(vi / "closed.wav") + wav_seconds(vi / "leave-message.wav")
    recordings = recordings_dir(harness.info)
    engine = engine_for(sqlite_url)
    planted_abs = tmp_path / "precious.wav"
    planted_abs.write_bytes(b"RIFF....WAVE")
    planted_up = recordings.parent / f"precious-{uuid.uuid4().hex[:8]}.wav"
    try:
        async with running_router(
            harness.info,
            rota,
            sqlite_url,
            tmp_path / "state",
            message_max_seconds=30,
        ):
            call = await harness.place_call(
                digits="3", hold=30, say="vm-intro", say_after=before_beep + 2, then_digits="#"
            )
            await harness.wait_caller_hangup(call, within=60)
            rows = await wait_for_call(engine, call.caller_number)
        [entry] = await callback_rows(sqlite_url, rows.call["linkedid"])
        message = recordings / entry["recording"]
        assert message.is_file(), message
        planted_up.write_bytes(b"RIFF....WAVE")

        # Age every row of the call past retention and plant two rows naming other files.
        old = datetime.now(UTC) - timedelta(days=400)
        async with engine.begin() as conn:
            await conn.execute(update(calls).values(started_at=old))
            await conn.execute(update(callbacks).values(created_at=old))
            await conn.execute(update(call_events).values(at=old))
            for name in (str(planted_abs), f"../{planted_up.name}"):
                await conn.execute(
                    insert(callbacks).values(
                        id=str(uuid.uuid4()),
                        call_id=rows.call["id"],
                        number="0900000000",
                        reason="after_hours_message",
                        created_at=old,
                        recording=name,
                    )
                )

        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        purge = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "callrouter", "db", "purge", "--recordings-dir", str(recordings),
             "--cdr-file", str(tmp_path / "cdr" / "callrouter-cdr.json"),
             "--database-url", sqlite_url],
            cwd=elsewhere,
            env={"PATH": "/usr/bin:/bin", "CALLROUTER_STATE_DIR": str(tmp_path / "state")},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )  # fmt: skip

        async with engine.connect() as conn:
            after = {r.id: (r.number, r.recording) for r in await conn.execute(select(callbacks))}
            callers = [r.caller for r in await conn.execute(select(calls.c.caller))]
    finally:
        await engine.dispose()
        planted_up.unlink(missing_ok=True)

    out = purge.stdout + purge.stderr
    assert purge.returncode == 1, out
    assert not message.exists()
    assert after[entry["id"]] == (None, None)
    assert callers == [None]
    assert planted_abs.exists()
    assert str(planted_abs) in out
    assert f"../{planted_up.name}" in out
    assert "file ghi âm đã xoá: 1" in out
    assert call.caller_number not in out
    planted_rows = [v for k, v in after.items() if k != entry["id"]]
    assert sorted(r for _n, r in planted_rows) == sorted(
        [str(planted_abs), f"../{planted_up.name}"]
    )
    assert all(n is None for n, _r in planted_rows)
