"""The store's CLI (calls, callbacks, db purge) on SQLite and PostgreSQL, through click."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from callrouter.cli import cli
from callrouter.store.db import make_engine
from callrouter.store.models import call_events, call_id_for, callbacks, calls
from callrouter.store.writer import CallLog
from tests.integration.conftest import table_counts, write_call

pytestmark = pytest.mark.integration

# 1 March 2026 10:00 and 2 March 2026 10:00 in Asia/Ho_Chi_Minh (UTC+7).
MARCH_1 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
MARCH_2 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


async def _seed(url: str, spool: Path) -> dict[str, str]:
    async with CallLog(url, spool, tz="Asia/Ho_Chi_Minh") as log:
        write_call(log, "A1", start=MARCH_1, caller="0912345678")
        write_call(log, "A2", start=MARCH_2, caller="0987654321", answered=False)
        write_call(log, "A3", start=MARCH_2 + timedelta(hours=1), caller="0912345678")
        cb1 = log.callback_requested(
            linkedid="A2",
            number="0987654321",
            reason="abandoned",
            created_at=MARCH_2,
            recording=None,
        )
        cb2 = log.callback_requested(
            linkedid=None,
            number="02433334444",
            reason="after_hours_message",
            created_at=MARCH_2,
            recording="/tmp/none.wav",
        )
        await log.flush()
    return {"cb1": cb1, "cb2": cb2}


@pytest.fixture
def seeded(store_url: str, tmp_path: Path) -> dict[str, str]:
    return asyncio.run(_seed(store_url, tmp_path / "spool"))


def test_calls_list_filters_by_local_day_outcome_and_caller(
    store_url: str, seeded: dict[str, str]
) -> None:
    everything = _invoke("calls", "list", "--database-url", store_url, "--json")
    assert everything.exit_code == 0, everything.output
    assert [c["linkedid"] for c in json.loads(everything.output)] == ["A1", "A2", "A3"]

    day2 = _invoke(
        "calls", "list", "--database-url", store_url, "--from", "2026-03-02", "--to",
        "2026-03-02", "--json",
    )  # fmt: skip
    assert [c["linkedid"] for c in json.loads(day2.output)] == ["A2", "A3"]

    abandoned = _invoke(
        "calls", "list", "--database-url", store_url, "--outcome", "abandoned", "--json"
    )
    [row] = json.loads(abandoned.output)
    assert row["linkedid"] == "A2"
    assert row["wait_seconds"] == pytest.approx(40.0)

    mine = _invoke("calls", "list", "--database-url", store_url, "--caller", "0912345678", "--csv")
    parsed = list(csv.DictReader(io.StringIO(mine.output)))
    assert [r["linkedid"] for r in parsed] == ["A1", "A3"]
    assert parsed[0]["local_day"] == "2026-03-01"
    assert parsed[0]["local_hour"] == "10"


def test_calls_list_table_is_in_vietnamese_and_local_time(
    store_url: str, seeded: dict[str, str]
) -> None:
    result = _invoke("calls", "list", "--database-url", store_url, "--limit", "1")
    assert result.exit_code == 0, result.output
    assert "số gọi đến" in result.output
    assert "2026-03-01 10:00:00+07:00" in result.output
    assert "đã trả lời" in result.output
    assert "(1 dòng)" in result.output


def test_calls_list_rejects_a_reversed_period(store_url: str) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "calls",
            "list",
            "--database-url",
            store_url,
            "--from",
            "2026-03-05",
            "--to",
            "2026-03-01",
        ],
    )
    assert result.exit_code == 2
    assert "--from" in result.output


def test_callbacks_list_and_done(store_url: str, seeded: dict[str, str]) -> None:
    listed = _invoke("callbacks", "list", "--database-url", store_url, "--json")
    assert {r["id"] for r in json.loads(listed.output)} == {seeded["cb1"], seeded["cb2"]}
    table = _invoke("callbacks", "list", "--database-url", store_url)
    assert "gác máy khi chờ" in table.output
    assert "0987654321" in table.output

    done = _invoke(
        "callbacks", "done", seeded["cb1"], "--by", "Nguyễn Văn An", "--linkedid", "OUT1",
        "--database-url", store_url,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    still_open = json.loads(
        _invoke("callbacks", "list", "--database-url", store_url, "--json").output
    )
    assert [r["id"] for r in still_open] == [seeded["cb2"]]
    everything = _invoke("callbacks", "list", "--all", "--database-url", store_url, "--csv")
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(everything.output))}
    assert rows[seeded["cb1"]]["done_by"] == "Nguyễn Văn An"
    assert rows[seeded["cb1"]]["outbound_linkedid"] == "OUT1"

    unknown = CliRunner().invoke(
        cli, ["callbacks", "done", "nope", "--by", "X", "--database-url", store_url]
    )
    assert unknown.exit_code == 1
    assert "không tìm thấy yêu cầu gọi lại" in unknown.output


async def _seed_old_and_new(url: str, spool: Path, recording: Path) -> None:
    now = datetime.now(UTC)
    async with CallLog(url, spool) as log:
        write_call(log, "OLD", start=now - timedelta(days=400), caller="0912345678")
        log.event(
            linkedid="OLD", at=now - timedelta(days=400), type="dtmf", data={"from": "0912345678"}
        )
        log.callback_requested(
            linkedid="OLD",
            number="0912345678",
            reason="after_hours_message",
            created_at=now - timedelta(days=400),
            recording=recording.name,
        )
        write_call(log, "NEW", start=now - timedelta(days=10), caller="0987654321")
        log.callback_requested(
            linkedid="NEW",
            number="0987654321",
            reason="unanswered",
            created_at=now - timedelta(days=10),
            recording=None,
        )
        await log.flush()


async def _snapshot(url: str) -> dict[str, object]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            call_rows = {r.linkedid: r for r in await conn.execute(select(calls))}
            cb_rows = {r.call_id: r for r in await conn.execute(select(callbacks))}
            events = [r.data for r in await conn.execute(select(call_events))]
    finally:
        await engine.dispose()
    return {"calls": call_rows, "callbacks": cb_rows, "events": events}


def test_purge_removes_numbers_and_recordings_past_retention_and_keeps_counts(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recording = tmp_path / "recordings" / "callrouter-message-OLD.wav"
    recording.parent.mkdir()
    recording.write_bytes(b"RIFF....WAVE")
    monkeypatch.setenv("CALLROUTER_WEB_RECORDINGS_DIR", str(recording.parent))
    monkeypatch.setenv("CALLROUTER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("CALLROUTER_CDR_PATH", str(tmp_path / "cdr" / "callrouter-cdr.json"))
    asyncio.run(_seed_old_and_new(store_url, tmp_path / "spool", recording))
    before = asyncio.run(table_counts(store_url))

    dry = _invoke("db", "purge", "--older-than", "365", "--dry-run", "--database-url", store_url)
    assert dry.exit_code == 0, dry.output
    assert "Sẽ xoá" in dry.output
    assert "số người gọi: 1" in dry.output
    assert recording.exists()

    monkeypatch.setenv("CALLROUTER_RETENTION_DAYS", "365")
    result = _invoke("db", "purge", "--database-url", store_url)
    assert result.exit_code == 0, result.output
    assert "lưu trữ 365 ngày" in result.output
    assert "file ghi âm đã xoá: 1" in result.output
    assert not recording.exists()

    after = asyncio.run(_snapshot(store_url))
    old, new = after["calls"]["OLD"], after["calls"]["NEW"]  # type: ignore[index]
    assert old.caller is None
    assert old.outcome == "answered"  # the anonymous facts stay for the reports
    assert old.wait_seconds == pytest.approx(30.0)
    assert new.caller == "0987654321"
    old_cb = after["callbacks"][call_id_for("OLD")]  # type: ignore[index]
    new_cb = after["callbacks"][call_id_for("NEW")]  # type: ignore[index]
    assert (old_cb.number, old_cb.recording) == (None, None)
    assert new_cb.number == "0987654321"
    assert after["events"] == [{"purged": True}]
    assert asyncio.run(table_counts(store_url)) == before

    again = _invoke("db", "purge", "--older-than", "365", "--database-url", store_url)
    assert "số người gọi: 0" in again.output


def test_store_commands_with_an_unreachable_database_are_one_clear_error(
    pg_schema_url: str,
) -> None:
    bad = pg_schema_url.replace(":5432/", ":1/")
    for args in (["calls", "list"], ["callbacks", "list"], ["db", "purge"], ["db", "upgrade"]):
        result = CliRunner().invoke(cli, [*args, "--database-url", bad])
        assert result.exit_code == 1, (args, result.output)
        assert "cannot be reached" in result.output
        assert "Traceback" not in result.output


def test_caller_numbers_never_reach_the_logs(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def scenario() -> None:
        async with CallLog(store_url, tmp_path / "spool") as log:
            write_call(log, "L1", caller="0912345678")
            # A record the database cannot take is logged (masked) and set aside.
            log.call_answered(
                linkedid="ghost",
                answered_at=MARCH_1,
                officer_id="o1",
                officer_name="A",
                number="0912345678",
            )
            log.callback_requested(
                linkedid="ghost",
                number="0912345678",
                reason="unanswered",
                created_at=MARCH_1,
                recording=None,
            )
            await log.flush()
            assert log.stats().rejected == 1
        async with CallLog(
            store_url.replace(":5432/", ":1/"), tmp_path / "spool2", close_timeout=0.1
        ) as down:
            write_call(down, "L2", caller="0912345678")

    asyncio.run(scenario())
    out, err = capsys.readouterr()
    logged = out + err
    assert "record_rejected" in logged
    assert "091*****78" in logged
    assert "0912345678" not in logged
