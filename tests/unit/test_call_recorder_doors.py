"""One call flow, three doors (#18): ARI, FastAGI and the dialplan fallback's CDR import all
record a call through :class:`~callrouter.calls.recorder.CallRecorder`, so the same call leaves
the same recorder lines (``leg.ended``, ``call.written``, with ``door`` telling which) whichever
door it came in by. Only the recorder writes those lines, so a door that wrote its rows
around it would be missing here."""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog

from callrouter.asterisk.cdr_import import import_fallback
from callrouter.asterisk.fastagi import AgiCallFlow
from callrouter.asterisk.fastagi_server import FastAgiServer
from callrouter.asterisk.stale import _close_stale
from callrouter.calls.recorder import CallRecorder
from callrouter.errors import SpoolError
from callrouter.routing import CallInfo, Decision
from callrouter.store.db import make_engine
from callrouter.store.unfinished import OpenAttempt, OpenCall
from callrouter.store.writer import CallLog
from tests.integration.test_fastagi_cdr_import import cdr
from tests.integration.test_fastagi_server import exchange, headers
from tests.unit.test_call_flow_replay import MemoryCallLog, decision_for, replay

pytestmark = [pytest.mark.unit, pytest.mark.timeout(60)]

#: the replayed ARI call: the first number busy, the second answers (tests/unit/ari_traces)
ARI_TRACE = "test_given_first_number_busy_then_second_answers_ari-sqlite"
NUMBERS = ["0901100001", "0902100002"]
RECORDER_LINES = ("leg.ended", "call.written")

Logs = list[MutableMapping[str, Any]]


def recorded(logs: Logs, door: str) -> dict[str, Any]:
    """What the recorder logged of the one call: its legs' results and its end."""
    lines = [e for e in logs if e["event"] in RECORDER_LINES]
    assert {e["door"] for e in lines} == {door}
    [end] = [e for e in lines if e["event"] == "call.written"]
    legs = sorted((e["seq"], e["result"]) for e in lines if e["event"] == "leg.ended")
    return {
        "legs": legs,
        "outcome": end["outcome"],
        "fields": sorted(set(end) - {"late"}),
        "late": end.get("late", False),
    }


async def through_ari() -> Logs:
    with structlog.testing.capture_logs() as logs:
        await replay(ARI_TRACE, decision_for)
    return logs


async def through_agi() -> Logs:
    decision = decision_for(NUMBERS)

    def decide(_now: datetime, _call: CallInfo) -> Decision:
        return decision

    flow = AgiCallFlow(MemoryCallLog(), decide)
    server = FastAgiServer(flow.routes(), header_timeout=0.5, connection_timeout=2.0)
    await server.start("127.0.0.1", 0)
    try:
        with structlog.testing.capture_logs() as logs:
            for script, args in (
                ("route", ("pbx-7.1", "3")),
                ("attempt", ("pbx-7.1", "start", "1", "1")),
                ("attempt", ("pbx-7.1", "end", "1", "1", "BUSY", "17", "")),
                ("attempt", ("pbx-7.1", "start", "2", "2")),
                ("answered", ("pbx-7.1", "2", "2", NUMBERS[1])),
                ("end", ("pbx-7.1", "abandoned", "1", "2", "2", "ANSWER", "16")),
            ):
                await exchange(server.port, headers(script, *args))
    finally:
        await server.close()
    return logs


async def through_the_fallback(tmp_path: Path) -> Logs:
    """The same call handled by the dialplan fallback, imported from its CDR line."""
    start = datetime(2026, 11, 2, 8, 1, tzinfo=UTC).timestamp()
    attempts = (
        f"|1:{NUMBERS[0]}:BUSY:17:{start + 1:.3f}:{start + 2:.3f}::"
        f"|2:{NUMBERS[1]}:BRIDGED:16:{start + 2.5:.3f}:{start + 30:.3f}:{start + 6:.3f}:"
    )
    line = cdr("pbx-8.1", 1, callrouter_attempts=attempts)
    (tmp_path / "cdr.json").write_text(line, encoding="utf-8")
    url = f"sqlite+aiosqlite:///{tmp_path / 'calls.sqlite3'}"
    engine = make_engine(url)
    try:
        async with CallLog(url, tmp_path / "spool", tz="Asia/Ho_Chi_Minh") as call_log:
            with structlog.testing.capture_logs() as logs:
                report = await import_fallback(
                    tmp_path / "cdr.json", tmp_path / "state.json", call_log, engine
                )
    finally:
        await engine.dispose()
    assert (report.imported, report.attempts) == (1, 2)
    return logs


async def test_the_three_doors_record_the_same_call_through_the_same_recorder(
    tmp_path: Path,
) -> None:
    ari = recorded(await through_ari(), "ari")
    agi = recorded(await through_agi(), "agi")
    fallback = recorded(await through_the_fallback(tmp_path), "fallback")
    same = {"legs": [(1, "busy"), (2, "answered")], "outcome": "answered"}
    for door in (ari, agi, fallback):
        assert {k: door[k] for k in same} == same
    assert ari["fields"] == agi["fields"] == fallback["fields"]
    # The CDR import did not see the call through: its end must not overwrite a final one.
    assert (ari["late"], agi["late"], fallback["late"]) == (False, False, True)


async def test_a_late_end_from_fastagi_goes_through_the_recorder_too() -> None:
    # FastAGI's `end` for a call this process did not route (it restarted mid-call).
    call_log = MemoryCallLog()
    call_log.call_started(linkedid="pbx-9.1", caller=None, uniqueid="pbx-9.1", mode="agi")
    flow = AgiCallFlow(call_log, lambda _n, _c: decision_for(NUMBERS))
    server = FastAgiServer(flow.routes(), header_timeout=0.5, connection_timeout=2.0)
    await server.start("127.0.0.1", 0)
    try:
        with structlog.testing.capture_logs() as logs:
            await exchange(
                server.port, headers("end", "pbx-9.1", "abandoned", "1", "1", "1", "", "16")
            )
    finally:
        await server.close()
    # One line, a warning of its own (agi.end_of_unknown_call), written by the recorder.
    [end] = [e for e in logs if e.get("linkedid") == "pbx-9.1"]
    assert (end["event"], end["log_level"]) == ("agi.end_of_unknown_call", "warning")
    assert (end["door"], end["outcome"], end["cause"], end["late"]) == (
        "agi",
        "abandoned",
        16,
        True,
    )
    assert call_log.calls["pbx-9.1"]["outcome"] == "abandoned"


def test_the_stale_closer_ends_an_ari_row_through_the_ari_doors_recorder() -> None:
    # callrouter was killed mid-call; back, it closes the row Asterisk no longer has.
    call_log = MemoryCallLog()
    call_log.call_started(linkedid="pbx-6.1", caller=None, uniqueid="pbx-6.1", mode="ari")
    call_log.attempt_started(linkedid="pbx-6.1", seq=1, number=NUMBERS[0])
    answered = datetime(2026, 11, 2, 8, 0, 10, tzinfo=UTC)
    row = OpenCall("c1", "pbx-6.1", answered, NUMBERS[0])
    with structlog.testing.capture_logs() as logs:
        _close_stale(
            call_log,
            row,
            [OpenAttempt("c1", 1, NUMBERS[0])],
            answered + timedelta(seconds=50),
            lambda: answered + timedelta(minutes=5),
        )
    assert recorded(logs, "ari") == {
        "legs": [(1, "answered")],
        "outcome": "answered",
        "fields": ["cause", "door", "event", "linkedid", "log_level", "outcome"],
        "late": False,
    }
    assert call_log.results() == [(1, "answered", None)]


def test_a_writer_that_must_not_move_on_gets_the_refusal(tmp_path: Path) -> None:
    # A call log that is not open refuses every write (SpoolError). The doors of a live call
    # drop a refused end; the CDR import and the stale closer must see it (the import then
    # keeps its offset and reads the lines again).
    closed = CallLog("sqlite+aiosqlite:///unused.sqlite3", tmp_path / "spool")
    at = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    CallRecorder(closed, "pbx-1.1", "ari").written("answered", at=at, cause=16)
    dropping = CallRecorder(closed, "pbx-1.1", "agi")
    dropping.leg_written(1, result="busy", cause=17, at=at + timedelta(seconds=1))
    strict = CallRecorder(closed, "pbx-1.1", "fallback", raise_refused=True)
    with pytest.raises(SpoolError):
        strict.written("answered", at=at, cause=None, late=True)
    with pytest.raises(SpoolError):
        strict.leg_written(1, result="busy", cause=17, at=at)
