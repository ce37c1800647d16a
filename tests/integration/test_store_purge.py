"""``db purge`` deletes recordings inside the recordings directory only, and says what it could not.

On the code before issue 15 the purge opened a bare recording name relative to its working
directory (the file stayed, the pointer was cleared anyway), deleted any absolute path a row
named and ``name.*`` for a name without extension, and always exited 0.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from callrouter.cli import cli
from callrouter.store.db import make_engine
from callrouter.store.models import call_events, call_id_for, callbacks, calls
from callrouter.store.writer import CallLog
from tests.integration.conftest import write_call

pytestmark = pytest.mark.integration

OLD = datetime.now(UTC) - timedelta(days=400)
WAV = b"RIFF....WAVEfmt "


def _purge(url: str, recordings: Path, *extra: str) -> Result:
    return CliRunner().invoke(
        cli,
        [
            *("db", "purge", "--older-than", "365", "--recordings-dir", str(recordings)),
            *("--database-url", url, *extra),
        ],
        catch_exceptions=False,
    )


async def _seed(url: str, spool: Path, names: dict[str, str | None]) -> None:
    """One old call and call-back per entry of ``names`` (linkedid -> recording)."""
    async with CallLog(url, spool) as log:
        for linkedid, recording in names.items():
            write_call(log, linkedid, start=OLD, caller="0912345678")
            log.callback_requested(
                linkedid=linkedid,
                number="0912345678",
                reason="after_hours_message",
                created_at=OLD,
                recording=recording,
            )
        write_call(log, "NONUMBER", start=OLD, caller=None)
        log.event(
            linkedid="NONUMBER",
            at=OLD,
            type="message_without_number",
            data={"recording": "callrouter-message-NONUMBER-1.wav", "reason": "unanswered"},
        )
        await log.flush()


async def _rows(url: str) -> tuple[dict[str, tuple[str | None, str | None]], list[object], int]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            cbs = {
                r.call_id: (r.number, r.recording)
                for r in await conn.execute(
                    select(callbacks.c.call_id, callbacks.c.number, callbacks.c.recording)
                )
            }
            events = [r.data for r in await conn.execute(select(call_events.c.data))]
            callers = len(
                (await conn.execute(select(calls.c.id).where(calls.c.caller.is_not(None)))).all()
            )
    finally:
        await engine.dispose()
    return cbs, events, callers


def test_purge_from_elsewhere_deletes_only_recordings_inside_the_directory(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recordings = tmp_path / "spool" / "recording"
    recordings.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outside = tmp_path / "precious.wav"
    outside.write_bytes(WAV)
    sibling = tmp_path / "spool" / "sibling.wav"
    sibling.write_bytes(WAV)
    (recordings / "callrouter-message-GOOD-1.wav").write_bytes(WAV)
    (recordings / "callrouter-message-NONUMBER-1.wav").write_bytes(WAV)
    (recordings / "callrouter-message-NOEXT.gsm").write_bytes(WAV)
    (recordings / "callrouter-message-DIR.wav").mkdir()  # cannot be unlinked
    # A file of the same name in the working directory must not be what the purge deletes.
    (elsewhere / "callrouter-message-GOOD-1.wav").write_bytes(WAV)
    names: dict[str, str | None] = {
        "GOOD": "callrouter-message-GOOD-1.wav",
        "GONE": "callrouter-message-GONE-1.wav",  # already absent: pointer cleared
        "ABS": str(outside),
        "DOTDOT": "../sibling.wav",
        "GLOB": "callrouter-message-*.wav",
        "NOEXT": "callrouter-message-NOEXT",
        "DIR": "callrouter-message-DIR.wav",
        "NONE": None,
    }
    asyncio.run(_seed(store_url, tmp_path / "spool-log", names))
    monkeypatch.setenv("CALLROUTER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CALLROUTER_CDR_PATH", str(tmp_path / "cdr" / "callrouter-cdr.json"))
    monkeypatch.chdir(elsewhere)

    dry = _purge(store_url, recordings, "--dry-run")
    assert dry.exit_code == 1, dry.output  # the refused names are reported before any run
    assert str(outside) in dry.output
    assert (recordings / "callrouter-message-GOOD-1.wav").exists()

    result = _purge(store_url, recordings)

    assert result.exit_code == 1, result.output
    for planted in (str(outside), "../sibling.wav", "callrouter-message-*.wav", "DIR.wav"):
        assert planted in result.output
    assert "5 mục không xoá được" in result.output
    assert "file ghi âm đã xoá: 2 (không tìm thấy: 1)" in result.output
    assert "0912345678" not in result.output
    # Inside the directory: deleted; outside it and in the working directory: untouched.
    assert not (recordings / "callrouter-message-GOOD-1.wav").exists()
    assert not (recordings / "callrouter-message-NONUMBER-1.wav").exists()
    assert (elsewhere / "callrouter-message-GOOD-1.wav").exists()
    assert outside.exists()
    assert sibling.exists()
    assert (recordings / "callrouter-message-NOEXT.gsm").exists()
    assert (recordings / "callrouter-message-DIR.wav").is_dir()

    cbs, events, callers = asyncio.run(_rows(store_url))
    by_linkedid = {k: cbs[call_id_for(k)] for k in names}
    assert all(number is None for number, _ in by_linkedid.values())
    assert callers == 0
    # The pointer goes only with the file; the refused ones stay for the operator.
    assert by_linkedid["GOOD"][1] is None
    assert by_linkedid["GONE"][1] is None
    for kept in ("ABS", "DOTDOT", "GLOB", "NOEXT", "DIR"):
        assert by_linkedid[kept][1] == names[kept]
    assert events == [{"purged": True}]

    # Nothing changes for the refused rows on a second run: still reported, still non-zero.
    again = _purge(store_url, recordings)
    assert again.exit_code == 1
    assert "file ghi âm đã xoá: 0" in again.output
    assert outside.exists()


def test_when_everything_is_deleted_then_purge_exits_zero(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recordings = tmp_path / "recording"
    recordings.mkdir()
    (recordings / "callrouter-message-A-1.wav").write_bytes(WAV)
    asyncio.run(_seed(store_url, tmp_path / "spool-log", {"A": "callrouter-message-A-1.wav"}))
    monkeypatch.setenv("CALLROUTER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CALLROUTER_CDR_PATH", str(tmp_path / "cdr" / "callrouter-cdr.json"))
    monkeypatch.chdir(tmp_path)

    dry = _purge(store_url, recordings, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert (recordings / "callrouter-message-A-1.wav").exists()

    result = _purge(store_url, recordings)
    assert result.exit_code == 0, result.output
    assert not (recordings / "callrouter-message-A-1.wav").exists()
    cbs, _events, _callers = asyncio.run(_rows(store_url))
    assert cbs[call_id_for("A")] == (None, None)
