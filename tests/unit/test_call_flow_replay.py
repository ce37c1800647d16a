"""The ARI call flow against ARI traces recorded from real end-to-end runs (no Asterisk).

Each trace in tests/unit/ari_traces/ is what the router's ARI client sent and received
during one test of tests/e2e/test_calls.py (how to record them again:
callrouter/calls/fake_ari.py). The real :class:`StasisApp` runs against
:class:`FakeAri` replaying it, with the decision the e2e rota made, and must write the rows
the e2e test asserts. Hostile variants of the same traces (events duplicated, events of
channels nobody knows, nothing after the caller left) must still leave the call row closed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote

import pytest

from callrouter.asterisk import contract
from callrouter.asterisk.session_parts import FlowConfig
from callrouter.asterisk.stasis_app import StasisApp
from callrouter.calls.caller_times import CallerTimes
from callrouter.calls.fake_ari import FakeAri, Step, load_trace, path_shape, run_in_virtual_time
from callrouter.calls.plan import utc_now
from callrouter.calls.vocabulary import LEG_ID_PREFIX
from callrouter.routing import Action, CallInfo, Decision, Strategy, Target

pytestmark = pytest.mark.unit

TRACES = Path(__file__).parent / "ari_traces"
RING_TIMEOUT = 5  # tests/e2e/test_calls.py
CAUSE_NORMAL, CAUSE_BUSY, CAUSE_NO_ANSWER = 16, 17, 19
CONNECTING = {("GET", "/channels"), ("GET", "/bridges")}


@dataclass
class MemoryCallLog:
    """A :class:`~callrouter.calls.ports.CallLogPort` keeping the rows in dicts."""

    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    attempts: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    callbacks: list[dict[str, Any]] = field(default_factory=list)

    def call_started(self, *, linkedid: str, caller: str | None, **row: Any) -> str:
        self.calls[linkedid] = {"caller": caller, "outcome": None, "answered": None, **row}
        return f"call-{len(self.calls)}"

    def attempt_started(self, *, linkedid: str, seq: int, **row: Any) -> None:
        self.attempts[linkedid, seq] = {"result": None, "cause": None, **row}

    def attempt_ended(self, *, linkedid: str, seq: int, **row: Any) -> None:
        self.attempts[linkedid, seq].update(row)

    def call_answered(self, *, linkedid: str, officer_id: str, **row: Any) -> None:
        self.calls[linkedid]["answered"] = officer_id

    def call_ended(
        self, *, linkedid: str, outcome: str, hangup_cause: int | None, **row: Any
    ) -> None:
        self.calls[linkedid].update(outcome=outcome, hangup_cause=hangup_cause)

    def event(self, *, linkedid: str, at: datetime, type: str, data: dict[str, Any]) -> None:
        self.events.append((linkedid, type, data))

    def callback_requested(self, *, linkedid: str | None, **row: Any) -> str:
        self.callbacks.append({"linkedid": linkedid, **row})
        return f"callback-{len(self.callbacks)}"

    def results(self) -> list[tuple[int, str | None, int | None]]:
        return [(seq, a["result"], a["cause"]) for (_l, seq), a in sorted(self.attempts.items())]


def originated_numbers(steps: list[Step], call: str | None = None) -> list[str]:
    """The officers' numbers in the order the recorded router first rang them (for the call
    whose linkedid is ``call``: a trace of several calls at once holds each one's legs)."""
    numbers: list[str] = []
    for step in steps:
        if step.get("rest") == "POST" and str(step.get("path", "")).startswith("/channels/"):
            params = step.get("params") or {}
            if call is not None and f"call={call}," not in params.get("appArgs", "") + ",":
                continue
            number = unquote(params.get("endpoint", "")).split("/", 1)[-1].split("@", 1)[0]
            if number and number not in numbers:
                numbers.append(number)
    return numbers


def decision_for(
    numbers: list[str],
    *,
    strategy: Strategy = Strategy.SEQUENTIAL,
    action: Literal["message", "forward"] = "message",
    is_open: bool = True,
    ring: int = RING_TIMEOUT,
    forward: str | None = None,
    rounds: int = 1,
    max_wait: int = 30,
    confirm: tuple[bool, ...] = (),
) -> Decision:
    """What the e2e rota (tests/e2e/callflow_support.write_rota) decided for ``numbers``."""
    targets = tuple(
        Target(
            officer_id=f"officer-{i}",
            officer_name=f"Officer {i}",
            number=number,
            number_label=f"so-{i + 1}",
            confirm=i < len(confirm) and confirm[i],
            ring_timeout=ring,
        )
        for i, number in enumerate(numbers)
    )
    return Decision(
        open=is_open,
        reason="replay",
        targets=targets if is_open else (),
        strategy=strategy,
        rounds=rounds,
        max_wait=max_wait,
        confirm_timeout=2,
        action=Action(kind=action, number=forward),
        rota_version="replay",
    )


async def replay(
    name: str,
    decide: Callable[[list[str]], Decision],
    rewrite: Callable[[list[Step]], list[Step]] | None = None,
    *,
    cause_wait: float = 2.0,
    paced: bool = False,
) -> tuple[MemoryCallLog, FakeAri]:
    """Replay the trace ``name`` through the real StasisApp. ``paced``: events at their
    recorded times, the flow's clock the loop's (run it in virtual time)."""
    path = TRACES / f"{name}.jsonl"
    steps = load_trace(path)
    ari = FakeAri(steps, rewrite=rewrite, paced=paced)
    loop = asyncio.get_running_loop()
    call_log = MemoryCallLog()
    everyone = originated_numbers(steps)

    def decide_fn(_now: datetime, call: CallInfo) -> Decision:
        # What the e2e rota decided for this call: the numbers its legs rang (a call that
        # left before any leg: the trace's numbers).
        return decide(originated_numbers(steps, call.linkedid) or everyone)

    app = StasisApp(
        ari,
        call_log,
        decide_fn,
        FlowConfig(caller=CallerTimes(message_max_seconds=2), cause_wait=cause_wait),
        clock=(lambda: datetime.fromtimestamp(loop.time(), UTC)) if paced else utc_now,
    )
    task = asyncio.create_task(app.run())
    limit = 60 if paced else 15  # seconds on the loop's clock (virtual when paced)
    deadline = loop.time() + limit
    try:
        await asyncio.wait_for(ari.replayed.wait(), limit)
        while not call_log.calls or any(c["outcome"] is None for c in call_log.calls.values()):
            assert loop.time() < deadline, f"{name}: a call row stayed open"
            await asyncio.sleep(0.01)
        while app.active_calls:
            assert loop.time() < deadline, f"{name}: a session did not end"
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    return call_log, ari


def the_call(call_log: MemoryCallLog) -> dict[str, Any]:
    [call] = call_log.calls.values()
    return call


# ------------------------------------------------------------------------ the e2e scenarios


async def test_first_number_busy_then_the_second_answers() -> None:
    call_log, ari = await replay(
        "test_given_first_number_busy_then_second_answers_ari-sqlite", decision_for
    )
    call = the_call(call_log)
    assert (call["outcome"], call["answered"], call["hangup_cause"]) == (
        "answered",
        "officer-1",
        CAUSE_NORMAL,
    )
    assert call_log.results() == [(1, "busy", CAUSE_BUSY), (2, "answered", CAUSE_NORMAL)]
    assert ari.unexpected == []


async def test_the_officers_leg_is_the_first_thing_asked_of_asterisk_for_a_call() -> None:
    """Nothing about the call goes to Asterisk ahead of the first originate: Asterisk runs
    one socket's requests in turn, and the caller's subscription sent first held the
    officer's leg back (bench/results/stasis-to-originate.txt)."""
    _call_log, ari = await replay(
        "test_given_first_number_busy_then_second_answers_ari-sqlite", decision_for
    )
    # (what the application asks on connecting: the reconcile's snapshots)
    asked = [(m, p) for m, p, _params in ari.issued if (m, p) not in CONNECTING]
    method, path = asked[0]
    assert (method, path.rpartition("/")[0]) == ("POST", "/channels"), asked[:3]
    assert path.startswith("/channels/" + LEG_ID_PREFIX), asked[:3]
    assert ("POST", f"/applications/{contract.APP_NAME}/subscription") in asked[1:]


async def test_first_number_never_answers_then_the_second_rings() -> None:
    call_log, ari = await replay(
        "test_given_first_number_never_answers_then_second_rings_after_the_ring_timeout_ari",
        decision_for,
    )
    call = the_call(call_log)
    assert (call["outcome"], call["answered"]) == ("answered", "officer-1")
    [(_s1, first, _c1), (_s2, second, _c2)] = call_log.results()
    assert (first, second) == ("no_answer", "answered")
    assert ari.unexpected == []


async def test_simultaneous_rings_all_and_the_first_to_answer_wins() -> None:
    call_log, ari = await replay(
        "test_given_simultaneous_strategy_then_all_numbers_ring_and_the_first_to_answer_wins_ari",
        lambda numbers: decision_for(numbers, strategy=Strategy.SIMULTANEOUS),
    )
    call = the_call(call_log)
    assert call["outcome"] == "answered"
    results = [result for _seq, result, _cause in call_log.results()]
    assert results.count("answered") == 1
    assert set(results) == {"answered", "cancelled"}
    assert ari.unexpected == []


async def test_nobody_answers_and_the_caller_leaves_a_message() -> None:
    call_log, ari = await replay(
        "test_given_the_message_action_then_the_caller_leaves_a_message_for_a_call_back_ari-nobody-answered",
        decision_for,
    )
    call = the_call(call_log)
    assert call["outcome"] == "unanswered"
    assert [c["reason"] for c in call_log.callbacks] == ["unanswered"]
    assert call_log.callbacks[0]["recording"]
    assert ari.unexpected == []


async def test_closed_line_takes_a_message() -> None:
    call_log, ari = await replay(
        "test_given_the_message_action_then_the_caller_leaves_a_message_for_a_call_back_ari-closed",
        lambda numbers: decision_for(numbers, is_open=False),
    )
    call = the_call(call_log)
    assert call["outcome"] == "after_hours"
    assert [c["reason"] for c in call_log.callbacks] == ["after_hours_message"]
    assert call_log.attempts == {}
    assert ari.unexpected == []


async def test_caller_hangs_up_while_ringing_then_the_call_is_abandoned() -> None:
    call_log, ari = await replay(
        "test_given_caller_hangs_up_while_ringing_then_call_is_abandoned_with_its_wait_ari",
        lambda numbers: decision_for(numbers, ring=20),
    )
    call = the_call(call_log)
    assert (call["outcome"], call["answered"]) == ("abandoned", None)
    assert [r for _s, r, _c in call_log.results()] == ["cancelled"]
    assert ari.unexpected == []


async def test_nobody_answers_and_the_caller_is_forwarded() -> None:
    call_log, ari = await replay(
        "test_given_nobody_answers_and_a_forward_action_then_the_caller_is_forwarded_ari",
        lambda numbers: decision_for(numbers[:1], action="forward", forward=numbers[1]),
    )
    call = the_call(call_log)
    assert (call["outcome"], call["answered"]) == ("unanswered", None)
    rows = [(a["officer_id"], a["result"]) for _k, a in sorted(call_log.attempts.items())]
    assert rows == [("officer-0", "busy"), ("forward", "answered")]
    forwards = [(kind, data) for _l, kind, data in call_log.events if kind.startswith("forward")]
    agency = call_log.attempts[next(iter(call_log.calls)), 2]["number"]
    assert forwards == [
        ("forward", {"number": agency}),
        ("forward_answered", {"number": agency, "seq": 2}),
    ]
    assert ari.unexpected == []


def test_max_wait_stops_the_ringing_there_even_with_rounds_left() -> None:
    """Virtual time: the flow's own max-wait clock decides, as in the real run (5 s + 5 s +
    what is left of 12 s, then the message), and the replay takes milliseconds."""
    started = time.monotonic()
    call_log, ari = run_in_virtual_time(
        replay(
            "test_given_max_wait_then_ringing_stops_there_even_with_rounds_left_ari",
            lambda numbers: decision_for(numbers, rounds=5, max_wait=12),
            paced=True,
        )
    )
    assert time.monotonic() - started < 10.0  # a 30 s call, replayed in milliseconds
    call = the_call(call_log)
    assert call["outcome"] == "unanswered"
    assert [r for _s, r, _c in call_log.results()] == ["no_answer"] * 3  # not a 4th ring
    rings = [
        (a["ended_at"] - a["started_at"]).total_seconds()
        for _k, a in sorted(call_log.attempts.items())
    ]
    assert rings == [pytest.approx(5, abs=0.5), pytest.approx(5, abs=0.5), pytest.approx(1, abs=1)]
    assert ari.unexpected == []


def paced_replay(
    name: str, decide: Callable[[list[str]], Decision]
) -> tuple[MemoryCallLog, FakeAri]:
    """``replay`` paced, in virtual time: a call of tens of seconds in a blink of wall time
    (bounded loosely here: a loaded CI machine is no reason to fail)."""
    started = time.monotonic()
    found = run_in_virtual_time(replay(name, decide, paced=True))
    assert time.monotonic() - started < 10.0
    return found


def test_the_officer_must_press_1_before_the_caller_is_bridged() -> None:
    call_log, ari = paced_replay(
        "test_given_a_confirm_number_then_the_officer_must_press_1_before_being_bridged_ari",
        lambda numbers: decision_for(numbers, ring=10, confirm=(True,)),
    )
    call = the_call(call_log)
    assert (call["outcome"], call["answered"]) == ("answered", "officer-0")
    [attempt] = call_log.attempts.values()
    assert attempt["result"] == "answered"
    # Answered counts from the key press, about a second after the pick-up.
    assert (attempt["answered_at"] - attempt["started_at"]).total_seconds() >= 1.0
    assert ari.unexpected == []


@pytest.mark.parametrize(
    ("behaviour", "result"), [("voicemail", "no_answer"), ("presses-9", "declined")]
)
def test_a_leg_that_picks_up_without_pressing_1_is_dropped_and_the_next_gets_the_call(
    behaviour: str, result: str
) -> None:
    call_log, ari = paced_replay(
        "test_given_a_confirm_number_picks_up_without_pressing_1_then_the_next_number_gets_it"
        f"_ari-{behaviour}",
        lambda numbers: decision_for(numbers, ring=10, confirm=(True, False)),
    )
    call = the_call(call_log)
    assert (call["outcome"], call["answered"]) == ("answered", "officer-1")
    assert [r for _s, r, _c in call_log.results()] == [result, "answered"]
    assert call_log.attempts[next(iter(call_log.calls)), 1]["answered_at"] is None
    assert ari.unexpected == []


def test_an_officer_gone_while_asked_is_not_bridged_and_the_next_takes_the_call() -> None:
    call_log, ari = paced_replay(
        "test_given_sequential_ringing_and_an_officer_hangs_up_while_asked_then_the_next_takes_it"
        "_ari",
        lambda numbers: decision_for(numbers, ring=15, confirm=(True, True), max_wait=60),
    )
    call = the_call(call_log)
    assert (call["outcome"], call["answered"]) == ("answered", "officer-1")
    assert call_log.results() == [(1, "declined", CAUSE_NORMAL), (2, "answered", CAUSE_NORMAL)]
    assert ari.unexpected == []


# ------------------------------------------------ the caller gone, the officer gone, at each step


def closed_rows(call_log: MemoryCallLog) -> None:
    """Every call row and every attempt row closed with a result."""
    assert call_log.calls
    assert all(c["outcome"] for c in call_log.calls.values()), call_log.calls
    assert all(a["result"] and a["ended_at"] for a in call_log.attempts.values())


def callers_in(name: str) -> int:
    """How many callers entered the router's Stasis application in the trace ``name``."""
    return sum(
        1
        for step in load_trace(TRACES / f"{name}.jsonl")
        if step.get("event", {}).get("type") == "StasisStart"
        and any(arg.startswith("branch=") for arg in step["event"].get("args", []))
    )


def test_caller_gone_while_bridged_the_call_is_answered_and_the_leg_ended() -> None:
    call_log, ari = paced_replay(
        "test_given_first_number_answers_then_caller_is_bridged_to_it_and_call_is_answered"
        "_ari-sqlite",
        decision_for,
    )
    call = the_call(call_log)
    assert (call["outcome"], call["answered"], call["hangup_cause"]) == (
        "answered",
        "officer-0",
        CAUSE_NORMAL,
    )
    assert call_log.results() == [(1, "answered", CAUSE_NORMAL)]
    [attempt] = call_log.attempts.values()
    talk = (attempt["ended_at"] - attempt["answered_at"]).total_seconds()
    assert talk == pytest.approx(7, abs=1.5)  # the caller's 8 s hold less the ringing
    assert ari.unexpected == []


PRESSES_1_PREFIX = "0905"  # callrouter/sandbox/phones.py: the numbers that press 1


def test_callers_gone_at_every_step_leave_one_closed_row_each() -> None:
    """Nine callers on a press-1 number leave 0.9 s to 6 s after the pbx answered: in the
    greeting, in the hold prompt, while the officer rings, in the press-1 prompt, around
    the bridging, while bridged; a tenth call after the rota changed is answered."""
    call_log, ari = paced_replay(
        "test_given_callers_hang_up_at_every_moment_then_each_call_has_one_clean_row",
        lambda numbers: decision_for(
            numbers,
            ring=8 if numbers[0].startswith(PRESSES_1_PREFIX) else RING_TIMEOUT,
            confirm=(numbers[0].startswith(PRESSES_1_PREFIX),),
        ),
    )
    closed_rows(call_log)
    outcomes = [c["outcome"] for c in call_log.calls.values()]
    assert len(outcomes) == callers_in(
        "test_given_callers_hang_up_at_every_moment_then_each_call_has_one_clean_row"
    )  # ten or eleven: the 0.3 s caller's "3" may or may not have reached Stasis
    assert set(outcomes) == {"abandoned", "answered"}
    last = list(call_log.calls.values())[-1]
    assert last["outcome"] == "answered"
    assert ari.unexpected == []


def test_the_caller_gone_while_a_leg_is_asked_cancels_every_leg() -> None:
    call_log, ari = paced_replay(
        "test_given_the_caller_hangs_up_while_a_leg_is_asked_then_every_leg_is_cancelled_ari",
        lambda numbers: decision_for(
            numbers, strategy=Strategy.SIMULTANEOUS, ring=15, confirm=(True, True), max_wait=60
        ),
    )
    call = the_call(call_log)
    assert (call["outcome"], call["answered"]) == ("abandoned", None)
    assert [r for _s, r, _c in call_log.results()] == ["cancelled", "cancelled"]
    assert ari.unexpected == []


def test_an_officer_gone_while_asked_leaves_the_other_ringing_leg_to_take_the_call() -> None:
    call_log, ari = paced_replay(
        "test_given_an_officer_hangs_up_while_asked_then_the_other_leg_still_takes_the_call_ari",
        lambda numbers: decision_for(
            numbers, strategy=Strategy.SIMULTANEOUS, ring=15, confirm=(True, True), max_wait=60
        ),
    )
    call = the_call(call_log)
    assert (call["outcome"], call["answered"]) == ("answered", "officer-1")
    assert [r for _s, r, _c in call_log.results()] == ["declined", "answered"]
    assert ari.unexpected == []


def test_the_caller_gone_while_leaving_a_message_keeps_the_message() -> None:
    call_log, ari = paced_replay(
        "test_given_nobody_answers_and_the_caller_hangs_up_while_speaking_then_the_message_is_kept",
        decision_for,
    )
    call = the_call(call_log)
    assert call["outcome"] == "unanswered"
    [callback] = call_log.callbacks
    assert (callback["reason"], bool(callback["recording"])) == ("unanswered", True)
    assert ari.unexpected == []


def test_callers_gone_as_the_officer_answers_leave_no_failed_row() -> None:
    """Six calls, each caller hanging up the moment the officer's phone answers: whichever
    side of the race, the attempt is answered and the call abandoned or answered."""
    call_log, ari = paced_replay(
        "test_given_callers_hang_up_as_the_officer_answers_then_no_row_is_failed",
        decision_for,
    )
    closed_rows(call_log)
    assert len(call_log.calls) == 6
    assert {c["outcome"] for c in call_log.calls.values()} <= {"abandoned", "answered"}
    assert {a["result"] for a in call_log.attempts.values()} == {"answered"}
    assert ari.unexpected == []


def test_closed_line_forwards_and_the_call_is_after_hours() -> None:
    call_log, ari = paced_replay(
        "test_given_closed_and_forward_then_forward_number_rings_and_call_is_after_hours",
        lambda numbers: decision_for([], is_open=False, action="forward", forward=numbers[0]),
    )
    call = the_call(call_log)
    assert (call["outcome"], call["answered"]) == ("after_hours", None)
    assert [(a["officer_id"], a["result"]) for a in call_log.attempts.values()] == [
        ("forward", "answered")
    ]
    assert ari.unexpected == []


@pytest.mark.parametrize(("where", "outcome"), [("rota", "answered"), ("forward", "unanswered")])
def test_an_officer_gone_while_bridged_hangs_up_the_caller_and_closes_the_row(
    where: str, outcome: str
) -> None:
    call_log, ari = paced_replay(
        f"test_given_the_officer_hangs_up_while_bridged_then_the_caller_is_hung_up_too_ari-{where}",
        decision_for
        if where == "rota"
        else (lambda numbers: decision_for(numbers[:1], action="forward", forward=numbers[1])),
    )
    call = the_call(call_log)
    assert call["outcome"] == outcome
    last = call_log.attempts[max(call_log.attempts)]
    assert last["result"] == "answered"
    assert (last["ended_at"] - last["answered_at"]).total_seconds() == pytest.approx(1.5, abs=1)
    hangups = [
        path for method, path, _p in ari.issued if method == "DELETE" and "/channels/pbx-" in path
    ]
    assert hangups, "the caller was not hung up after the officer left"
    assert ari.unexpected == []


# ------------------------------------------------------------------------ hostile sequences


def duplicated(steps: list[Step]) -> list[Step]:
    """Every event twice (a reconnecting socket, a confused peer)."""
    out: list[Step] = []
    for step in steps:
        out.append(step)
        if "event" in step:
            out.append(json.loads(json.dumps(step)))
    return out


def with_strangers(steps: list[Step]) -> list[Step]:
    """Events of channels nobody knows between every recorded step."""
    stranger = {
        "type": "ChannelDestroyed",
        "cause": 17,
        "channel": {"id": "stranger-1", "name": "PJSIP/x", "state": "Down"},
    }
    out: list[Step] = []
    for step in steps:
        out += [step, {"event": {**stranger, "timestamp": "2026-01-01T00:00:00.000+0000"}}]
    return out


@pytest.mark.parametrize("rewrite", [duplicated, with_strangers], ids=["duplicated", "strangers"])
async def test_hostile_events_still_write_the_same_rows(
    rewrite: Callable[[list[Step]], list[Step]],
) -> None:
    call_log, _ari = await replay(
        "test_given_first_number_busy_then_second_answers_ari-sqlite", decision_for, rewrite
    )
    call = the_call(call_log)
    assert (call["outcome"], call["answered"]) == ("answered", "officer-1")
    assert [r for _s, r, _c in call_log.results()] == ["busy", "answered"]


def out_of_order(steps: list[Step]) -> list[Step]:
    """Each event swapped with the next one (Asterisk's events of different topics cross)."""
    out = list(steps)
    events = [i for i, step in enumerate(out) if "event" in step]
    for a, b in zip(events[::2], events[1::2], strict=False):
        out[a], out[b] = out[b], out[a]
    return out


@pytest.mark.parametrize(
    ("name", "decide", "outcome", "results"),
    [
        (
            "test_given_first_number_busy_then_second_answers_ari-sqlite",
            decision_for,
            "answered",
            ["busy", "answered"],
        ),
        (
            "test_given_caller_hangs_up_while_ringing_then_call_is_abandoned_with_its_wait_ari",
            lambda numbers: decision_for(numbers, ring=20),
            "abandoned",
            ["cancelled"],
        ),
        (
            "test_given_the_officer_hangs_up_while_bridged_then_the_caller_is_hung_up_too_ari-rota",
            decision_for,
            "answered",
            ["answered"],
        ),
        (
            "test_given_a_confirm_number_then_the_officer_must_press_1_before_being_bridged_ari",
            lambda numbers: decision_for(numbers, ring=10, confirm=(True,)),
            "answered",
            ["answered"],
        ),
    ],
    ids=["busy", "caller-gone-ringing", "officer-gone-bridged", "press-1"],
)
async def test_events_out_of_order_still_write_the_same_rows(
    name: str, decide: Callable[[list[str]], Decision], outcome: str, results: list[str]
) -> None:
    call_log, _ari = await replay(name, decide, out_of_order, cause_wait=0.2)
    closed_rows(call_log)
    assert the_call(call_log)["outcome"] == outcome
    assert [r for _s, r, _c in call_log.results()] == results


def bridge_refused(steps: list[Step]) -> list[Step]:
    """Asterisk answers 500 to the bridge the router makes for the answered officer."""
    return [
        {**step, "status": 500, "text": '{"message": "Allocation failed"}'}
        if step.get("rest") == "POST" and path_shape(str(step["path"])) == ("bridges", "*")
        else step
        for step in steps
    ]


async def test_an_ari_failure_mid_flow_hands_the_caller_back_to_the_dialplan() -> None:
    """The hand-back: a request of the flow fails; the caller is sent on in the dialplan
    (its fallback rings the rota there) and the call's one row is closed as failed."""
    call_log, ari = await replay(
        "test_given_first_number_busy_then_second_answers_ari-sqlite",
        decision_for,
        bridge_refused,
        cause_wait=0.2,
    )
    call = the_call(call_log)
    assert call["outcome"] == "failed"
    closed_rows(call_log)
    caller = next(iter(call_log.calls))
    issued = [(method, path) for method, path, _params in ari.issued]
    assert ("POST", f"/channels/{caller}/continue") in issued
    [action] = [
        params["value"]
        for method, path, params in ari.issued
        if path == f"/channels/{caller}/variable" and params.get("variable") == contract.VAR_ACTION
    ]
    assert action == contract.ACTION_FALLBACK


def silent_after_the_caller_left(steps: list[Step]) -> list[Step]:
    """No event at all once the caller hung up (Asterisk lost the rest)."""
    caller = next(
        step["event"]["channel"]["id"]
        for step in steps
        if step.get("event", {}).get("type") == "StasisStart"
    )
    out: list[Step] = []
    for step in steps:
        out.append(step)
        event = step.get("event", {})
        if event.get("type") == "ChannelHangupRequest" and event["channel"]["id"] == caller:
            break
    return [step for step in out if "event" in step] + [s for s in steps if "rest" in s]


async def test_nothing_after_the_caller_left_still_closes_the_row() -> None:
    call_log, _ari = await replay(
        "test_given_caller_hangs_up_while_ringing_then_call_is_abandoned_with_its_wait_ari",
        lambda numbers: decision_for(numbers, ring=20),
        silent_after_the_caller_left,
        cause_wait=0.2,
    )
    call = the_call(call_log)
    assert call["outcome"] == "abandoned"
    assert [r for _s, r, _c in call_log.results()] == ["cancelled"]


def officer_answers_as_the_caller_leaves(steps: list[Step]) -> list[Step]:
    """The officer's answer reaches the pbx just after the caller's hang-up (ci8: the caller
    hung up the moment the officer's phone answered): the leg the router cancels for the
    caller's hang-up goes Up before it is hung up."""
    out: list[Step] = []
    leg: str | None = None
    for step in steps:
        event = step.get("event", {})
        channel = event.get("channel") or {}
        if event.get("type") == "ChannelStateChange" and channel.get("state") == "Ringing":
            leg = channel["id"]
        if (
            leg is not None
            and channel.get("id") == leg
            and event.get("type")
            in (
                "ChannelHangupRequest",
                "ChannelDestroyed",
            )
        ):
            if event["type"] == "ChannelHangupRequest":
                up = {**event, "type": "ChannelStateChange", "channel": {**channel}}
                up.pop("cause", None)
                up["channel"]["state"] = "Up"
                out.append({"event": up})
            out.append({"event": {**event, "channel": {**channel, "state": "Up"}}})
            continue
        out.append(step)
    return out


async def test_an_answer_crossing_the_callers_hang_up_is_still_an_answered_attempt() -> None:
    call_log, ari = await replay(
        "test_given_caller_hangs_up_while_ringing_then_call_is_abandoned_with_its_wait_ari",
        lambda numbers: decision_for(numbers, ring=20),
        officer_answers_as_the_caller_leaves,
    )
    call = the_call(call_log)
    assert (call["outcome"], call["answered"]) == ("abandoned", None)
    [attempt] = call_log.attempts.values()
    assert attempt["result"] == "answered"
    assert attempt["answered_at"] is not None
    assert attempt["answered_at"] <= attempt["ended_at"]
    assert ari.unexpected == []
