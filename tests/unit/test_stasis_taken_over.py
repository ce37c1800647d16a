"""When another connection takes the ARI application over, the router's calls in progress
belong to the router that took it (it adopts their bridges, hands waiting callers to the
fallback): :meth:`StasisApp.let_go` stops every session at once, without one more request to
Asterisk and without writing an end it cannot know (the row stays open for ``close_stale`` to
close from the CDR). A stop of the router, by contrast, hands a ringing caller to the
fallback itself. Replayed from a real trace (tests/unit/ari_traces/) cut while an officer's
phone rings."""

from __future__ import annotations

import asyncio
import gc
from datetime import datetime
from types import SimpleNamespace

import pytest

from callrouter.asterisk.ari_models import Event
from callrouter.asterisk.session_hold import HoldPhase
from callrouter.asterisk.session_parts import FlowConfig
from callrouter.asterisk.stasis_app import StasisApp
from callrouter.calls.caller_times import CallerTimes
from callrouter.calls.fake_ari import FakeAri, Step, load_trace
from callrouter.routing import CallInfo, Decision
from tests.unit.test_call_flow_replay import TRACES, MemoryCallLog, decision_for

pytestmark = pytest.mark.unit

TRACE = "test_given_first_number_never_answers_then_second_rings_after_the_ring_timeout_ari"


def ringing(steps: list[Step]) -> list[Step]:
    """The trace up to the first officer's phone ringing (nothing after: it rings on)."""
    cut = next(
        i
        for i, s in enumerate(steps)
        if "event" in s and s["event"].get("type") == "ChannelStateChange"
    )
    return steps[: cut + 1]


async def ringing_call() -> tuple[StasisApp, FakeAri, MemoryCallLog, asyncio.Task[None]]:
    steps = load_trace(TRACES / f"{TRACE}.jsonl")
    ari = FakeAri(steps, rewrite=ringing)
    call_log = MemoryCallLog()

    def decide(_now: datetime, _call: CallInfo) -> Decision:
        return decision_for(["0901000001", "0901000002"], ring=30)

    app = StasisApp(ari, call_log, decide, FlowConfig(caller=CallerTimes(message_max_seconds=2)))
    task = asyncio.create_task(app.run())
    async with asyncio.timeout(5):
        await ari.replayed.wait()
    await asyncio.sleep(0.2)  # the session waits for the leg's next event
    assert app.active_calls == 1
    assert call_log.results() == [(1, None, None)]  # ringing
    return app, ari, call_log, task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_let_go_stops_a_ringing_call_without_a_request_or_an_end() -> None:
    app, ari, call_log, task = await ringing_call()
    asked = len(ari.issued)
    try:
        app.let_go()
        assert await app.drain(1.0)
        await asyncio.sleep(0.2)
        assert ari.issued[asked:] == []  # no hang-up, no fallback, no next officer
        assert app.sessions == {}
        [call] = call_log.calls.values()
        assert call["outcome"] is None  # left open, for the CDR to close
        assert call_log.results() == [(1, None, None)]
    finally:
        await stop(task)


async def test_a_stop_by_contrast_hands_the_ringing_caller_to_the_fallback() -> None:
    app, ari, call_log, task = await ringing_call()
    asked = len(ari.issued)
    await stop(task)
    sent = {(method, path.rsplit("/", 1)[-1]) for method, path, _ in ari.issued[asked:]}
    assert ("POST", "continue") in sent  # the caller handed back to the dialplan
    [call] = call_log.calls.values()
    assert call["outcome"] == "failed"
    assert app.active_calls == 0


async def test_a_cancel_while_the_hold_reminder_stops_is_not_swallowed() -> None:
    """The session stops its hold reminder (bridging, or giving up ringing) at the moment it
    is let go or stopped: the cancel must reach it, not vanish with the reminder's own."""
    stopping = asyncio.Event()

    async def reminder() -> None:
        try:
            await asyncio.Event().wait()  # until cancelled
        except asyncio.CancelledError:
            stopping.set()
            await asyncio.sleep(0.05)  # a reminder that takes a moment to stop
            raise

    holder = SimpleNamespace(reminder=asyncio.create_task(reminder()))
    await asyncio.sleep(0)
    went_on: list[bool] = []

    async def session() -> None:
        await HoldPhase._stop_reminders(holder)  # type: ignore[arg-type]
        went_on.append(True)  # e.g. create the bridge, dial the next officer

    task = asyncio.create_task(session())
    await stopping.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert went_on == []


async def test_a_call_let_go_before_its_session_started_leaves_no_coroutine_behind() -> None:
    """A StasisStart read just before ApplicationReplaced: its session's task is cancelled
    before it ever runs (no 'coroutine was never awaited' warning, an error here)."""
    ari = FakeAri([])
    app = StasisApp(ari, MemoryCallLog(), lambda _n, _c: decision_for(["0901000001"]), FlowConfig())
    app.on_event(Event.from_json(STASIS_START))
    app.let_go()
    await asyncio.sleep(0.05)
    gc.collect()
    assert app.active_calls == 0
    assert ari.issued == []


STASIS_START = {
    "type": "StasisStart",
    "application": "callrouter",
    "timestamp": "2026-12-08T01:00:00.000+0000",
    "args": ["branch=3"],
    "channel": {
        "id": "pbx-1.0",
        "name": "PJSIP/pstn-trunk-00000001",
        "state": "Up",
        "caller": {"name": "", "number": "0987654321"},
        "connected": {"name": "", "number": ""},
        "dialplan": {"context": "callrouter-branch3", "exten": "s", "priority": 1},
    },
}
