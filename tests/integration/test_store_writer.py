"""CallLog on SQLite and PostgreSQL: rows as the call flow describes them, exactly once."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from callrouter.errors import DatabaseUnavailable
from callrouter.store.db import make_engine
from callrouter.store.models import call_attempts, call_events, call_id_for, callbacks, calls
from callrouter.store.spool import CHECKPOINT, encode_record, segment_name
from callrouter.store.writer import CallLog
from tests.integration.conftest import T0, table_counts, write_call

pytestmark = pytest.mark.integration


async def _rows(url: str, table: object) -> list[dict[str, object]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(select(table))  # type: ignore[call-overload]
            return [dict(row._mapping) for row in result]
    finally:
        await engine.dispose()


async def test_a_call_with_two_attempts_is_one_call_row_and_two_attempt_rows(
    store_url: str, tmp_path: Path
) -> None:
    async with CallLog(store_url, tmp_path / "spool", tz="Asia/Ho_Chi_Minh") as log:
        write_call(log, "1700000000.1")
        await log.flush()
        assert log.stats().pending == 0
    [call] = await _rows(store_url, calls)
    assert call["id"] == call_id_for("1700000000.1")
    assert call["caller"] == "0912345678"
    assert call["started_at"] == T0
    assert call["local_day"] == date(2026, 3, 2)  # 23:30 UTC is 06:30 the next day in Hà Nội
    assert call["local_hour"] == 6
    assert call["outcome"] == "answered"
    assert call["answered_officer_id"] == "o2"
    assert call["answered_number"] == "0922222222"
    assert call["wait_seconds"] == pytest.approx(30.0)
    assert call["talk_seconds"] == pytest.approx(70.0)
    assert call["hangup_cause"] == 16
    assert call["mode"] == "ari"
    assert call["rota_version"] == "abc123def456"
    attempts = sorted(await _rows(store_url, call_attempts), key=lambda a: int(str(a["seq"])))
    assert [(a["seq"], a["result"], a["cause"]) for a in attempts] == [
        (1, "no_answer", 19),
        (2, "answered", 16),
    ]
    assert attempts[1]["answered_at"] == T0 + timedelta(seconds=30)
    assert attempts[0]["number_label"] == "Máy bàn trực"


async def test_a_call_ended_in_a_later_batch_gets_its_wait_and_talk_from_the_database(
    store_url: str, tmp_path: Path
) -> None:
    async with CallLog(store_url, tmp_path / "spool") as log:
        log.call_started(
            linkedid="L1",
            uniqueid="U1",
            branch=3,
            caller=None,
            started_at=T0,
            mode="agi",
            rota_version=None,
        )
        await log.flush()
        log.call_answered(
            linkedid="L1",
            answered_at=T0 + timedelta(seconds=5.5),
            officer_id="o1",
            officer_name="A",
            number="0911111111",
        )
        await log.flush()
        log.call_ended(
            linkedid="L1",
            ended_at=T0 + timedelta(seconds=65.5),
            outcome="answered",
            hangup_cause=16,
        )
        await log.flush()
    [call] = await _rows(store_url, calls)
    assert call["wait_seconds"] == pytest.approx(5.5, abs=1e-3)
    assert call["talk_seconds"] == pytest.approx(60.0, abs=1e-3)
    assert call["caller"] is None


async def test_an_abandoned_call_waits_until_the_caller_hangs_up(
    store_url: str, tmp_path: Path
) -> None:
    async with CallLog(store_url, tmp_path / "spool") as log:
        write_call(log, "L1", answered=False)
        await log.flush()
    [call] = await _rows(store_url, calls)
    assert call["outcome"] == "abandoned"
    assert call["wait_seconds"] == pytest.approx(40.0)
    assert call["talk_seconds"] is None
    assert call["answered_at"] is None


async def test_replaying_the_whole_spool_again_creates_no_duplicates(
    store_url: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    async with CallLog(store_url, spool) as log:
        for i in range(50):
            write_call(log, f"L{i}")
            log.event(linkedid=f"L{i}", at=T0, type="stasis_start", data={"i": i})
        log.callback_requested(
            linkedid="L0", number="0912345678", reason="abandoned", created_at=T0, recording=None
        )
        await log.flush()
    before = await table_counts(store_url)
    assert before == {"calls": 50, "call_attempts": 100, "call_events": 50, "callbacks": 1}
    # Lose the checkpoint: the next start replays every record from the first segment.
    (spool / CHECKPOINT).unlink()
    async with CallLog(store_url, spool) as log:
        await log.flush()
        await log.flush()
    assert await table_counts(store_url) == before


async def test_a_call_handed_back_and_started_again_keeps_its_one_row(
    store_url: str, tmp_path: Path
) -> None:
    async with CallLog(store_url, tmp_path / "spool") as log:
        first = log.call_started(
            linkedid="L1",
            uniqueid="U1",
            branch=3,
            caller="0912345678",
            started_at=T0,
            mode="ari",
            rota_version="v1",
        )
        await log.flush()
        second = log.call_started(
            linkedid="L1",
            uniqueid="U1-fallback",
            branch=3,
            caller="0912345678",
            started_at=T0 + timedelta(seconds=30),
            mode="fallback",
            rota_version=None,
        )
        log.call_ended(
            linkedid="L1",
            ended_at=T0 + timedelta(seconds=50),
            outcome="unanswered",
            hangup_cause=16,
        )
        await log.flush()
    assert first == second
    [call] = await _rows(store_url, calls)
    assert call["started_at"] == T0
    assert call["mode"] == "ari"
    assert call["outcome"] == "unanswered"
    assert call["wait_seconds"] == pytest.approx(50.0)


async def test_records_about_a_call_never_started_are_set_aside_not_lost(
    store_url: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    async with CallLog(store_url, spool) as log:
        write_call(log, "L1")
        log.attempt_started(
            linkedid="ghost",
            seq=1,
            officer_id="o1",
            officer_name="A",
            number="0911111111",
            number_label=None,
            channel_id="c",
            started_at=T0,
        )
        log.event(linkedid="ghost", at=T0, type="x", data={})
        cb = log.callback_requested(
            linkedid="ghost",
            number="0912345678",
            reason="unanswered",
            created_at=T0,
            recording=None,
        )
        write_call(log, "L2")
        await log.flush()
        assert log.stats().rejected == 2
    counts = await table_counts(store_url)
    assert counts == {"calls": 2, "call_attempts": 4, "call_events": 0, "callbacks": 1}
    [callback] = await _rows(store_url, callbacks)
    assert callback["id"] == cb
    assert callback["call_id"] is None
    rejected = (spool / "rejected.log").read_text(encoding="utf-8")
    assert rejected.count("ghost") == 2
    assert "no call with this linkedid" in rejected


async def test_events_and_callbacks_are_stored_with_their_call(
    store_url: str, tmp_path: Path
) -> None:
    async with CallLog(store_url, tmp_path / "spool") as log:
        write_call(log, "L1", answered=False)
        log.event(linkedid="L1", at=T0, type="caller_hung_up", data={"wait": 40, "vi": "Gác máy"})
        cb = log.callback_requested(
            linkedid="L1",
            number="0912345678",
            reason="abandoned",
            created_at=T0 + timedelta(seconds=41),
            recording="/var/spool/asterisk/recording/L1.wav",
        )
        orphan_cb = log.callback_requested(
            linkedid=None,
            number="02433334444",
            reason="after_hours_message",
            created_at=T0,
            recording=None,
        )
        await log.flush()
    [event] = await _rows(store_url, call_events)
    assert event["call_id"] == call_id_for("L1")
    assert event["data"] == {"wait": 40, "vi": "Gác máy"}
    rows = {str(r["id"]): r for r in await _rows(store_url, callbacks)}
    assert rows[cb]["call_id"] == call_id_for("L1")
    assert rows[cb]["recording"] == "/var/spool/asterisk/recording/L1.wav"
    assert rows[orphan_cb]["call_id"] is None
    assert rows[orphan_cb]["number"] == "02433334444"


async def test_a_torn_line_left_by_a_crash_is_reported_and_the_rest_applied(
    store_url: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()

    def started(record_id: str, linkedid: str) -> bytes:
        return encode_record(
            {
                "id": record_id,
                "kind": "call_started",
                "linkedid": linkedid,
                "uniqueid": "U",
                "branch": 3,
                "caller": None,
                "started_at": T0.isoformat(),
                "local_day": "2026-03-02",
                "local_hour": 6,
                "mode": "ari",
                "rota_version": None,
            }
        )

    damaged = started("old-2", "L-damaged").replace(b"L-damaged", b"L-d4maged")
    torn = started("old-5", "L-torn")[:25]
    (spool / segment_name(1)).write_bytes(started("old-1", "L-1") + damaged)
    (spool / segment_name(2)).write_bytes(started("old-3", "L-2"))
    (spool / segment_name(3)).write_bytes(started("old-4", "L-3") + torn)
    async with CallLog(store_url, spool) as log:
        write_call(log, "L-new")
        await log.flush()
        assert log.stats().corrupt_lines == 2  # a bad checksum, a torn tail
    linkedids = {str(r["linkedid"]) for r in await _rows(store_url, calls)}
    assert linkedids == {"L-1", "L-2", "L-3", "L-new"}


async def test_database_down_at_start_keeps_records_in_the_spool_until_it_is_back(
    pg_schema_url: str, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    unreachable = make_url(pg_schema_url).set(port=1).render_as_string(hide_password=False)
    async with CallLog(unreachable, spool, close_timeout=0.2) as log:
        write_call(log, "L1")
        write_call(log, "L2")
        assert not log.stats().database_available
        assert log.stats().pending == 14
    async with CallLog(pg_schema_url, spool) as log:
        await log.flush()
        assert log.stats().database_available
    assert (await table_counts(pg_schema_url))["calls"] == 2


async def test_wrong_credentials_are_one_clear_error_at_start_up(
    pg_url: str, tmp_path: Path
) -> None:
    bad = make_url(pg_url).set(username="callrouter_no_such_role", password="wrong")  # noqa: S106 (a wrong one on purpose)
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as info:
        async with CallLog(bad.render_as_string(hide_password=False), tmp_path / "spool"):
            pytest.fail("must not start")
    message = str(info.value)
    assert "refuses the configured credentials" in message
    assert "callrouter_no_such_role" in message
    assert "wrong" not in message  # the password is never shown
    assert time.monotonic() - started < 10
    # The spool lock is released: a corrected configuration starts at once.
    assert not any(t.get_name().startswith("calllog-") for t in asyncio.all_tasks())


async def test_without_migrate_an_empty_database_is_refused_at_start_up(
    store_url: str, tmp_path: Path
) -> None:
    with pytest.raises(DatabaseUnavailable, match="callrouter db upgrade"):
        async with CallLog(store_url, tmp_path / "spool", migrate=False):
            pytest.fail("must not start")


async def test_the_embedded_sqlite_database_is_created_on_first_run(
    sqlite_url: str, tmp_path: Path
) -> None:
    path = Path(sqlite_url.split("///", 1)[1])
    assert not path.parent.exists()
    async with CallLog(sqlite_url, tmp_path / "spool") as log:
        write_call(log, "L1")
        await log.flush()
    assert await asyncio.to_thread(path.is_file)
    assert (await table_counts(sqlite_url))["calls"] == 1


async def test_call_methods_return_without_waiting_for_the_database(
    store_url: str, tmp_path: Path
) -> None:
    async with CallLog(store_url, tmp_path / "spool") as log:
        started = time.perf_counter()
        for i in range(200):
            write_call(log, f"L{i}")
        per_call = (time.perf_counter() - started) / 200
        # Seven records per call, each only validated and written to the page cache.
        assert per_call < 0.005
        await log.flush()
    assert (await table_counts(store_url))["calls"] == 200


async def test_a_spooled_record_the_database_refuses_is_set_aside_and_the_rest_applied(
    store_url: str, tmp_path: Path
) -> None:
    """E.g. a spool left by an older version: a value the schema no longer allows."""
    spool = tmp_path / "spool"
    spool.mkdir()

    def started(record_id: str, linkedid: str) -> dict[str, Any]:
        return {
            "id": record_id,
            "kind": "call_started",
            "linkedid": linkedid,
            "uniqueid": "U",
            "branch": 3,
            "caller": "0912345678",
            "started_at": T0.isoformat(),
            "local_day": "2026-03-02",
            "local_hour": 6,
            "mode": "ari",
            "rota_version": None,
        }

    bad_outcome = {
        "id": "o-2",
        "kind": "call_ended",
        "linkedid": "L-1",
        "ended_at": T0.isoformat(),
        "outcome": "lost",
        "hangup_cause": 16,
    }
    missing_field = {"id": "o-3", "kind": "call_answered", "linkedid": "L-1"}
    records: list[dict[str, Any]] = [
        started("o-1", "L-1"),
        bad_outcome,
        missing_field,
        started("o-4", "L-2"),
    ]
    (spool / segment_name(1)).write_bytes(b"".join(encode_record(r) for r in records))
    async with CallLog(store_url, spool) as log:
        await log.flush()
        assert log.stats().rejected == 2
    rows = {str(r["linkedid"]): r for r in await _rows(store_url, calls)}
    assert set(rows) == {"L-1", "L-2"}
    assert rows["L-1"]["outcome"] is None
    rejected = (spool / "rejected.log").read_text(encoding="utf-8")
    assert '"o-2"' in rejected
    assert '"o-3"' in rejected


async def test_records_beyond_the_in_memory_window_are_read_back_from_the_spool(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The applier takes fresh records from memory while it can, from the file after."""
    import callrouter.store.writer as writer_module

    monkeypatch.setattr(writer_module, "_RECENT_MAX", 10)
    async with CallLog(store_url, tmp_path / "spool", batch_size=7) as log:
        for i in range(40):  # 280 records handed without yielding: most only on disk
            write_call(log, f"L{i}")
        await log.flush()
        for i in range(40, 45):
            write_call(log, f"L{i}")
        await log.flush()
        assert log.stats().pending == 0
    counts = await table_counts(store_url)
    assert counts["calls"] == 45
    assert counts["call_attempts"] == 90
    outcomes = {str(r["outcome"]) for r in await _rows(store_url, calls)}
    assert outcomes == {"answered"}


async def test_a_call_ended_abandoned_in_a_later_batch_loses_the_answer_written_before(
    store_url: str, tmp_path: Path
) -> None:
    """The caller hung up as the officer answered, before the bridge: abandoned, with its
    wait, no answerer and no talk time, though the answer was already in the database."""
    async with CallLog(store_url, tmp_path / "spool") as log:
        log.call_started(
            linkedid="L-race",
            uniqueid="U1",
            branch=3,
            caller=None,
            started_at=T0,
            mode="ari",
            rota_version=None,
        )
        log.call_answered(
            linkedid="L-race",
            answered_at=T0 + timedelta(seconds=6),
            officer_id="o1",
            officer_name="A",
            number="0911111111",
        )
        await log.flush()
        log.call_ended(
            linkedid="L-race",
            ended_at=T0 + timedelta(seconds=6.5),
            outcome="abandoned",
            hangup_cause=0,  # Asterisk's "not defined": unknown
        )
        await log.flush()
        assert log.stats().unknown_causes == {"call": 1, "attempt": 0}
    [call] = [c for c in await _rows(store_url, calls) if c["linkedid"] == "L-race"]
    assert call["outcome"] == "abandoned"
    assert (call["answered_at"], call["answered_officer_id"], call["answered_number"]) == (
        None,
        None,
        None,
    )
    assert call["talk_seconds"] is None
    assert call["wait_seconds"] == pytest.approx(6.5, abs=1e-3)
    assert call["hangup_cause"] is None


@pytest.mark.parametrize("same_batch", [False, True], ids=["later-batch", "same-batch"])
async def test_a_late_writer_never_overwrites_a_final_outcome_and_corrects_only_failed(
    store_url: str, tmp_path: Path, same_batch: bool
) -> None:
    """records.py's table: a late writer (the CDR import, FastAGI's end of a call it did not
    route) fills an open outcome or corrects ``failed``; a final outcome stays as it is."""
    async with CallLog(store_url, tmp_path / "spool") as log:
        for linkedid in ("L-final", "L-failed", "L-open"):
            log.call_started(
                linkedid=linkedid, uniqueid=linkedid, branch=3, caller=None, started_at=T0,
                mode="agi", rota_version=None,
            )  # fmt: skip
        log.call_answered(
            linkedid="L-final",
            answered_at=T0 + timedelta(seconds=5),
            officer_id="o1",
            officer_name="A",
            number="0911111111",
        )
        log.call_ended(
            linkedid="L-final", ended_at=T0 + timedelta(seconds=65), outcome="answered",
            hangup_cause=16,
        )  # fmt: skip
        log.call_ended(
            linkedid="L-failed", ended_at=T0 + timedelta(seconds=9), outcome="failed",
            hangup_cause=None,
        )  # fmt: skip
        if not same_batch:
            await log.flush()
        late = T0 + timedelta(seconds=99)
        for linkedid, outcome in (
            ("L-final", "abandoned"),  # e.g. a hostile or confused `end`: refused
            ("L-failed", "answered"),  # what the fallback did: corrects the cut
            ("L-open", "unanswered"),  # never ended: filled
        ):
            log.call_ended(
                linkedid=linkedid, ended_at=late, outcome=outcome, hangup_cause=19, late=True
            )
        await log.flush()
    rows = {c["linkedid"]: c for c in await _rows(store_url, calls)}
    final = rows["L-final"]
    assert (final["outcome"], final["hangup_cause"]) == ("answered", 16)
    assert final["answered_officer_id"] == "o1"
    assert final["talk_seconds"] == pytest.approx(60, abs=1e-3)
    assert (rows["L-failed"]["outcome"], rows["L-failed"]["hangup_cause"]) == ("answered", 19)
    assert rows["L-open"]["outcome"] == "unanswered"
    assert rows["L-open"]["wait_seconds"] == pytest.approx(99, abs=1e-3)


async def test_flush_cuts_the_batch_window_short_for_whoever_waits(
    store_url: str, tmp_path: Path
) -> None:
    async with CallLog(store_url, tmp_path / "spool", batch_window=30.0) as log:
        await asyncio.sleep(0.1)  # the applier is idle, waiting for records
        write_call(log, "L-hurry")
        started = time.perf_counter()
        await asyncio.wait_for(log.flush(), 10)
        assert time.perf_counter() - started < 5.0  # not the 30 s window
        write_call(log, "L-hurry-2")  # and the next window is a window again
        await asyncio.sleep(0.3)
        assert log.stats().pending > 0
        await asyncio.wait_for(log.flush(), 10)
        assert log.stats().pending == 0
    assert (await table_counts(store_url))["calls"] == 2


async def _burst_left_alone(log: CallLog, prefix: str) -> None:
    """20 calls over ~0.2 s (inside a 0.5 s batch window) while the applier is idle; then the
    window passes without anyone flushing: the writer applies them on its own."""
    await asyncio.sleep(0.1)  # the applier is idle, waiting for records
    for i in range(20):
        write_call(log, f"{prefix}-{i}")
        await asyncio.sleep(0.01)
    deadline = time.monotonic() + 5.0
    while log.stats().pending:
        assert time.monotonic() < deadline, log.stats()
        await asyncio.sleep(0.02)  # poll the writer's count (deadline above)
    assert log.stats().pending == 0


async def test_a_burst_of_calls_gathers_into_few_transactions(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[int] = []
    async with CallLog(store_url, tmp_path / "spool", batch_window=0.5) as log:
        apply = log._apply

        async def counted(prepared: Any) -> None:
            batches.append(len(prepared.records))
            await apply(prepared)

        monkeypatch.setattr(log, "_apply", counted)
        await _burst_left_alone(log, "L-burst")
    assert sum(batches) == 20 * 7
    assert len(batches) <= 2, batches


async def test_the_syncer_wakes_the_event_loop_only_when_the_applier_waits(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records fsync'd while the applier gathers a batch need no hop to the loop: the applier
    reads how far the spool is durable when it is done (a hop for every fsync cost the router
    more than the fsync)."""
    wakes: list[float] = []
    async with CallLog(store_url, tmp_path / "spool", batch_window=0.5) as log:
        event = log._syncer._durable_event
        set_ = event.set

        def counted() -> None:
            wakes.append(time.monotonic())
            set_()

        monkeypatch.setattr(event, "set", counted)
        await _burst_left_alone(log, "L-sync")  # 20 fsync groups
    assert (await table_counts(store_url))["calls"] == 20
    assert 1 <= len(wakes) <= 3, wakes


async def test_closing_while_the_syncer_is_in_a_round_does_not_hang(
    store_url: str, tmp_path: Path
) -> None:
    """close() asks the syncer to stop while it waits out its group window: the round's
    clear() erases the wake-up, so the thread must look at the stop flag again after it."""
    log = CallLog(store_url, tmp_path / "spool", group_window=0.5)
    await log.__aenter__()
    write_call(log, "L-close")
    await log.flush()
    log._syncer.wrote()  # as if a record landed just after the round's clear()
    await asyncio.sleep(0.1)  # the syncer is in its 0.5 s group window
    await asyncio.wait_for(log.close(), 5)
    assert (await table_counts(store_url))["calls"] == 1


def _kernel_name(native_id: int | None) -> str:
    return Path(f"/proc/self/task/{native_id}/comm").read_text().strip()


async def test_the_call_logs_threads_are_named_in_the_kernel(
    store_url: str, tmp_path: Path
) -> None:
    """``top -H`` and bench_load's CPU split tell the fsync thread (and SQLite's batches)
    from the event loop."""
    async with CallLog(store_url, tmp_path / "spool") as log:
        write_call(log, "L-names")
        await log.flush()
        syncer = log._syncer._thread
        assert syncer is not None
        assert await asyncio.to_thread(_kernel_name, syncer.native_id) == "calllog-syncer"
        if log._sqlite is not None:  # (PostgreSQL's batches run on the loop)
            own = await asyncio.get_running_loop().run_in_executor(
                log._sqlite._thread, lambda: _kernel_name(threading.get_native_id())
            )
            assert own == "calllog-sqlite_"
