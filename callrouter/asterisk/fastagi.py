"""FastAGI mode: the dialplan dials, callrouter only says *where* (and logs what happened).

``dialplan/extensions_callrouter_agi.conf`` calls, over FastAGI (``agi://HOST:PORT/<script>``):

* ``route,<linkedid>,<branch>`` — callrouter runs the same :func:`callrouter.routing.decide`
  as ARI mode, writes the ``calls`` row (``mode=agi``) and sets the decision as channel
  variables (one ``EXEC MSet``): ``CALLROUTER_AGI_OK``, ``_OPEN``, ``_STRATEGY``, ``_COUNT``,
  ``_ROUNDS``, ``_MAX_WAIT``, ``_CONFIRM_TIMEOUT``, ``_ACTION``, ``_FORWARD``, ``_FORWARD_RING``,
  ``_MESSAGE_MAX``, ``_MESSAGE_SILENCE`` and per target n (ring order) ``_TARGET_<n>``,
  ``_CONFIRM_<n>``, ``_RING_<n>``.
* ``attempt,<linkedid>,start,<seq>,<index|all>`` / ``attempt,<linkedid>,end,<seq>,<index|all>,
  <DIALSTATUS>,<HANGUPCAUSE>,<digit>`` — one ``call_attempts`` row per leg. In simultaneous
  ringing each leg is a Local channel (``[callrouter-agi-leg]``) that reports its own end
  (index = its target); the caller's ``all`` end after the Dial only closes what is left.
* ``answered,<linkedid>,<seq>,<index>,<number>`` — from Dial's pre-bridge subroutine on
  the officer's leg once it answered (and pressed 1 where asked): the first such report
  answers the call and cancels the other legs; a later one is told ``CALLROUTER_AGI_WON=0``.
* ``end,<linkedid>,<result>,<in_dial>,<seq>,<index|all>,<DIALSTATUS>,<HANGUPCAUSE>`` — from
  the flow (unanswered, after_hours) or the caller's hang-up handler (answered call over,
  caller gone while ringing).
* ``message,<linkedid>,<reason>,<recording>`` — the message action (nobody answered or closed)
  is over, or the caller hung up during it: a call-back entry for the caller (``reason``
  ``unanswered`` / ``after_hours_message``, the recording's name in Asterisk's recordings
  directory, empty when the caller left before the beep), as ARI mode writes.

The server (:class:`~callrouter.asterisk.fastagi_server.FastAgiServer`) reads the requests,
bounded, and checks who may send them (:mod:`callrouter.asterisk.agi_access`); the scripts here
check their arguments before anything is written.

What callrouter keeps per call between the scripts (the decision's targets) lives in memory;
a router restarted mid-call still ends the call from the ``end`` report (its attempts then stay
as they were, and the dialplan carries on dialling by itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

import structlog
from panoramisk.fast_agi import Request

from callrouter.asterisk.agi_access import (
    MAX_ARG_CHARS,
    MAX_ARGS,
)
from callrouter.asterisk.agi_variables import VAR_PREFIX, decision_variables
from callrouter.asterisk.contract import FORWARD_RING_SECONDS, is_linkedid
from callrouter.calls.caller_times import DEFAULT_CALLER_TIMES, CallerTimes
from callrouter.calls.ports import CallLogPort, CallObserver, NoObserver
from callrouter.calls.recorder import CallRecorder
from callrouter.calls.vocabulary import (
    FORWARD_OFFICER_ID,
    FORWARD_OFFICER_NAME,
    LegResult,
    Outcome,
    result_for_cause,
)
from callrouter.errors import CallrouterError
from callrouter.logs import mask_number
from callrouter.rota.phones import caller_number, is_caller_number
from callrouter.routing import CallInfo, Decision, Strategy, Target
from callrouter.store.recordings import is_valid_recording_name

log = structlog.get_logger(__name__)

__all__ = ["VAR_PREFIX", "AgiCallFlow", "AgiProtocolError", "attempt_result", "decision_variables"]

FORWARD_GROUP: Final = "forward"
"""The attempt group of the rota's forward action (the dialplan rings it for
``CALLROUTER_AGI_FORWARD_RING`` = :data:`~callrouter.asterisk.contract.FORWARD_RING_SECONDS`)."""

Decide = Callable[[datetime, CallInfo], Decision]
Clock = Callable[[], datetime]
Route = Callable[[Request], Awaitable[None]]

# Dial's DIALSTATUS for a leg that did not take the call → attempt result and Q.850 cause.
# The cause is the one the status stands for: after a Dial that timed out, ${HANGUPCAUSE} is
# not that leg's (measured: empty, or the previous Dial's 17 when a busy number rang first).
_DIALSTATUS: Final[dict[str, tuple[LegResult, int | None]]] = {
    "BUSY": (LegResult.BUSY, 17),
    "NOANSWER": (LegResult.NO_ANSWER, 19),
    "CANCEL": (LegResult.CANCELLED, None),
}


def utc_now() -> datetime:
    return datetime.now(UTC)


class AgiProtocolError(CallrouterError):
    """A FastAGI request callrouter cannot act on (bad arguments, unknown call)."""


@dataclass
class _Leg:
    seq: int
    target: Target
    started_at: datetime
    answered_at: datetime | None = None
    ended: bool = False


@dataclass
class _AgiCall:
    record: CallRecorder
    branch: int
    started_at: datetime
    decision: Decision | None
    legs: dict[int, _Leg] = field(default_factory=dict)
    answered: _Leg | None = None
    finished: bool = False

    @property
    def linkedid(self) -> str:
        return self.record.linkedid


HUNG_UP_WHILE_ASKED: Final = "-"
"""The ``digit`` of a leg whose officer picked up and hung up while asked to press 1 (the
dialplan sets it before the prompt; a key or the confirm timeout replaces it)."""


def attempt_result(dialstatus: str, cause: int | None, digit: str) -> tuple[LegResult, int | None]:
    """What a leg that came back to the dialplan (did not take the call) counts as.

    ``ANSWER`` here means it picked up but did not press 1, as in ARI mode: no key within the
    confirm time (a voicemail box) is ``no_answer``, another key ``declined`` (both without a
    cause: callrouter dropped the leg), hanging up while asked ``declined`` with its cause.
    """
    if dialstatus == "ANSWER":
        if digit == HUNG_UP_WHILE_ASKED:
            return LegResult.DECLINED, cause
        return (LegResult.DECLINED if digit else LegResult.NO_ANSWER), None
    if dialstatus in _DIALSTATUS:
        result, default = _DIALSTATUS[dialstatus]
        return result, (default if default is not None else cause)
    if cause is not None and cause not in (0, 16):
        return result_for_cause(cause), cause
    return LegResult.FAILED, cause


def _int(raw: str | None) -> int | None:
    if raw is None or not raw.strip().isascii() or not raw.strip().isdigit():
        return None
    return int(raw.strip())


MAX_BRANCH: Final = 99
MAX_SEQ: Final = 999
END_RESULTS: Final = ("abandoned", "unanswered", "after_hours", FORWARD_GROUP)
"""What the dialplan reports in ``end`` (``CALLROUTER_AGI_RESULT`` of the hang-up handler,
or the flow's own ``unanswered``/``after_hours``); anything else is refused."""
_DIALSTATUS_FORM: Final = re.compile(r"[A-Z]{0,20}")
_DIGITS: Final = frozenset({"", HUNG_UP_WHILE_ASKED, *"0123456789*#ABCD"})  # Read(),1 key


def _seq(raw: str, script: str) -> int:
    seq = _int(raw)
    if seq is None or not 0 <= seq <= MAX_SEQ:
        raise AgiProtocolError(f"{script}: seq {raw[:10]!r} is not 0-{MAX_SEQ}")
    return seq


def _dialstatus(raw: str) -> str:
    if _DIALSTATUS_FORM.fullmatch(raw) is None:
        raise AgiProtocolError(f"DIALSTATUS {raw[:20]!r} is not a status")
    return raw


def _cause(raw: str) -> int | None:
    """A Q.850 cause (0-999), or None when empty; anything else is refused."""
    if not raw:
        return None
    cause = _int(raw)
    if cause is None or cause > 999:
        raise AgiProtocolError(f"cause {raw[:10]!r} is not a Q.850 cause")
    return cause


class AgiCallFlow:
    """The FastAGI scripts: decisions out, attempts and outcomes into the call log."""

    def __init__(
        self,
        call_log: CallLogPort,
        decide: Decide,
        *,
        clock: Clock = utc_now,
        observer: CallObserver | None = None,
        max_calls: int = 10_000,
        caller: CallerTimes = DEFAULT_CALLER_TIMES,
    ) -> None:
        self.log = call_log
        #: a caller's message: longest, and the silence that ends it (seconds), as in ARI mode
        self.caller = caller
        self.decide = decide
        self.clock = clock
        self.observer = observer or NoObserver()
        self.calls: OrderedDict[str, _AgiCall] = OrderedDict()
        self.max_calls = max_calls
        self.last_officer: dict[int, str] = {}
        self.accepting = True
        self._call_ended = asyncio.Event()

    def stop_accepting(self) -> None:
        """Graceful shutdown: a new call gets no decision (the dialplan falls back), the
        calls in progress are still followed to their end."""
        self.accepting = False

    async def drain(self, within: float) -> bool:
        """Wait up to ``within`` seconds for the calls in progress to end; True if they did."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                while self.active_calls:
                    self._call_ended.clear()
                    await self._call_ended.wait()
        return not self.active_calls

    @property
    def active_calls(self) -> int:
        return sum(1 for c in self.calls.values() if not c.finished)

    def routes(self) -> dict[str, Route]:
        return {
            "route": self.route,
            "attempt": self.attempt,
            "answered": self.answered,
            "end": self.end,
            "message": self.message,
        }

    # ---------------------------------------------------------------- helpers

    @staticmethod
    def args(request: Request) -> list[str]:
        """The script's arguments, bounded: at most :data:`MAX_ARGS` of at most
        :data:`MAX_ARG_CHARS` characters each, and the first a linkedid."""
        headers: dict[str, str] = request.headers
        out: list[str] = []
        n = 1
        while f"agi_arg_{n}" in headers:
            if n > MAX_ARGS:
                raise AgiProtocolError(f"more than {MAX_ARGS} arguments")
            value = headers[f"agi_arg_{n}"].strip()
            if len(value) > MAX_ARG_CHARS:
                raise AgiProtocolError(f"argument {n} longer than {MAX_ARG_CHARS} characters")
            out.append(value)
            n += 1
        if out and not is_linkedid(out[0]):
            raise AgiProtocolError(f"argument 1 is not a linkedid: {out[0][:40]!r}")
        return out

    def _call(self, linkedid: str) -> _AgiCall:
        call = self.calls.get(linkedid)
        if call is None:
            raise AgiProtocolError(f"no call {linkedid!r} routed by this process")
        return call

    def _remember(self, call: _AgiCall) -> None:
        self.calls[call.linkedid] = call
        while len(self.calls) > self.max_calls:
            self.calls.popitem(last=False)

    # ---------------------------------------------------------------- route

    async def route(self, request: Request) -> None:
        args = self.args(request)
        if not args or not args[0]:
            raise AgiProtocolError("route: missing linkedid argument")
        linkedid = args[0]
        if not self.accepting:
            log.info("agi.not_accepting", linkedid=linkedid, reason="shutting down")
            return  # no CALLROUTER_AGI_OK: the dialplan fallback takes the call
        branch = _int(args[1]) if len(args) > 1 and args[1] else 3
        if branch is None or not 0 <= branch <= MAX_BRANCH:
            raise AgiProtocolError(f"route: branch {args[1][:10]!r} is not 0-{MAX_BRANCH}")
        headers: dict[str, str] = request.headers
        caller = caller_number(headers.get("agi_callerid"))
        uniqueid = headers.get("agi_uniqueid", "").strip()
        uniqueid = uniqueid if is_linkedid(uniqueid) else linkedid
        now = self.clock()
        info = CallInfo(
            linkedid=linkedid,
            caller=caller,
            branch=branch,
            last_officer_id=self.last_officer.get(branch),
        )
        try:
            decision = self.decide(now, info)
        except Exception:
            self._started(linkedid, uniqueid, branch, caller, now, None)
            self.calls[linkedid].record.event("handed_to_fallback", at=now, error="decide")
            self._finish(self.calls[linkedid], Outcome.FAILED, None, now)
            log.exception("agi.decide_failed", linkedid=linkedid)
            return  # no CALLROUTER_AGI_OK: the dialplan goes to the fallback
        call = self._started(linkedid, uniqueid, branch, caller, now, decision)
        call.decision = decision
        call.record.decided(decision, at=now, caller=caller, caller_raw=headers.get("agi_callerid"))
        variables = decision_variables(decision)
        if decision.open and decision.targets:
            # The dialplan dials the first group right away: record its attempts now, so it
            # need not call `attempt start` (one AGI round trip) before the first ring.
            group = "all" if decision.strategy == Strategy.SIMULTANEOUS else "1"
            self._start_attempts(call, 1, group, now)
            variables.append((VAR_PREFIX + "PRESTARTED", "1"))
        variables += [
            (VAR_PREFIX + "MESSAGE_MAX", str(self.caller.message_max_seconds)),
            (VAR_PREFIX + "MESSAGE_SILENCE", str(self.caller.message_max_silence)),
        ]
        await set_variables(request, [*variables, (VAR_PREFIX + "OK", "1")])

    def _started(  # noqa: PLR0917 -- private, one call site each
        self,
        linkedid: str,
        uniqueid: str,
        branch: int,
        caller: str | None,
        at: datetime,
        decision: Decision | None,
    ) -> _AgiCall:
        existing = self.calls.get(linkedid)
        if existing is not None:
            return existing
        record = CallRecorder(self.log, linkedid, "agi", self.observer)
        rota_version = decision.rota_version if decision is not None else None
        record.started(uniqueid, branch, caller, at, rota_version)
        call = _AgiCall(record=record, branch=branch, started_at=at, decision=decision)
        self._remember(call)
        return call

    # ---------------------------------------------------------------- attempts

    def _targets(self, call: _AgiCall, seq: int, group: str) -> list[tuple[int, Target]]:
        """(seq, target) of the legs of one Dial: one index, ``all`` (simultaneous), or
        ``forward`` (the forward action's number: an attempt of officer ``forward``, as in
        ARI mode)."""
        if call.decision is None:
            return []
        if group == FORWARD_GROUP:
            number = call.decision.action.number
            if not number:
                raise AgiProtocolError("attempt: forward, but the decision has no forward number")
            forward = Target(
                officer_id=FORWARD_OFFICER_ID,
                officer_name=FORWARD_OFFICER_NAME,
                number=number,
                number_label=None,
                confirm=False,
                ring_timeout=FORWARD_RING_SECONDS,
            )
            return [(seq, forward)]
        targets = call.decision.targets
        if group == "all":
            return [(seq + i, t) for i, t in enumerate(targets)]
        index = _int(group)
        if index is None or not 1 <= index <= len(targets):
            raise AgiProtocolError(f"attempt: target index {group!r} out of range")
        return [(seq, targets[index - 1])]

    async def attempt(self, request: Request) -> None:
        args = self.args(request)
        if len(args) < 4:
            raise AgiProtocolError(f"attempt: expected linkedid,start|end,seq,index, got {args}")
        call = self._call(args[0])
        kind, seq, group = args[1], _seq(args[2], "attempt"), args[3]
        now = self.clock()
        if kind == "start":
            self._start_attempts(call, seq, group, now)
        elif kind == "end":
            dialstatus = _dialstatus(args[4] if len(args) > 4 else "")
            cause = _cause(args[5] if len(args) > 5 else "")
            digit = args[6] if len(args) > 6 else ""
            if digit not in _DIGITS:
                raise AgiProtocolError(f"attempt: key {digit[:10]!r} is not a key")
            result, result_cause = attempt_result(dialstatus, cause, digit)
            for leg_seq, _target in self._targets(call, seq, group):
                ringing = call.legs.get(leg_seq)
                # The leg that took the call ends with the call (`end`); a late report of
                # it (its Local channel going away) changes nothing.
                if ringing is not None and ringing is not call.answered:
                    self._end_leg(call, ringing, result, result_cause, now)
        else:
            raise AgiProtocolError(f"attempt: {kind!r} is neither start nor end")

    def _start_attempts(self, call: _AgiCall, seq: int, group: str, now: datetime) -> None:
        for leg_seq, target in self._targets(call, seq, group):
            if leg_seq in call.legs:
                continue  # already recorded (by `route`)
            if group == FORWARD_GROUP:  # the same event as ARI mode's forward action
                call.record.event("forward", at=now, number=target.number)
            leg = _Leg(seq=leg_seq, target=target, started_at=now)
            call.legs[leg_seq] = leg
            call.record.leg_started(
                leg_seq,
                target,
                channel_id=f"agi-{call.linkedid}-{leg_seq}",
                at=now,
                ring=target.ring_timeout,
            )

    def _end_leg(
        self, call: _AgiCall, leg: _Leg, result: LegResult, cause: int | None, at: datetime
    ) -> None:
        if leg.ended:
            return
        leg.ended = True
        call.record.leg_written(
            leg.seq, result=str(result), cause=cause, at=at, answered_at=leg.answered_at
        )
        call.record.leg_over(str(result), leg.target)

    async def answered(self, request: Request) -> None:
        """An officer's leg took the call (pre-bridge subroutine, after press 1 where asked).

        The first leg of a call to report wins: the call is answered by it and every other
        leg still ringing or being asked to press 1 is ``cancelled`` (Dial hangs them up as
        it bridges the winner). A leg of the same call reporting after that (two officers
        pressing 1 at the same moment in simultaneous ringing), or of a call already over,
        gets ``CALLROUTER_AGI_WON=0`` and the dialplan drops it.
        """
        args = self.args(request)
        if len(args) < 4:
            raise AgiProtocolError(f"answered: expected linkedid,seq,index,number, got {args}")
        call = self._call(args[0])
        seq, group, number = _seq(args[1], "answered"), args[2], args[3]
        if not is_caller_number(number):
            raise AgiProtocolError("answered: the number is not a phone number")
        now = self.clock()
        winner = self._winner(call, seq, group, number)
        if group != FORWARD_GROUP and (call.answered is not None or call.finished or winner.ended):
            log.info(
                "agi.answer_too_late",
                linkedid=call.linkedid,
                seq=winner.seq,
                answered_seq=call.answered.seq if call.answered is not None else None,
            )
            await set_variables(request, [(VAR_PREFIX + "WON", "0")])
            return
        winner.answered_at = now
        if group == FORWARD_GROUP:
            # The caller talks to the forward number; the call keeps its outcome (nobody
            # on the rota took it) and names no officer, as in ARI mode.
            call.record.event(
                "forward_answered", at=now, number=winner.target.number, seq=winner.seq
            )
            log.info("agi.forward_answered", linkedid=call.linkedid)
            return
        call.answered = winner
        for leg in call.legs.values():  # Dial hangs up the others as the winner is bridged
            if leg is not winner:
                self._end_leg(call, leg, LegResult.CANCELLED, None, now)
        target = winner.target
        call.record.answered(target, at=now)
        self.last_officer[call.branch] = target.officer_id
        call.record.talking(target, at=now)

    def _winner(self, call: _AgiCall, seq: int, group: str, number: str) -> _Leg:
        """The leg of this Dial that rang ``number`` (or its only leg), else an error."""
        legs = [call.legs[s] for s, _t in self._targets(call, seq, group) if s in call.legs]
        winner: _Leg | None = next((leg for leg in legs if leg.target.number == number), None)
        if winner is None and len(legs) == 1:
            winner = legs[0]
        if winner is None:
            raise AgiProtocolError(f"answered: no leg rang {mask_number(number)}")
        return winner

    # ---------------------------------------------------------------- end

    async def end(self, request: Request) -> None:
        args = self.args(request) + [""] * 8
        result, in_dial = args[1], args[2] == "1"
        if not args[0] or result not in END_RESULTS:
            raise AgiProtocolError(f"end: result {result[:20]!r} is not one of {END_RESULTS}")
        dialstatus, cause = _dialstatus(args[5]), _cause(args[6])
        now = self.clock()
        if args[0] and args[0] not in self.calls:
            self._end_unknown(args[0], result, in_dial, dialstatus, cause, now)
            return
        call = self._call(args[0])
        if result == FORWARD_GROUP:  # the forwarded call is over; its outcome was reported
            outcome = Outcome.UNANSWERED
        elif result in ("unanswered", "after_hours"):
            outcome = Outcome(result)
        elif call.answered is not None:
            outcome = Outcome.ANSWERED
        elif result == "abandoned" or in_dial:
            outcome = Outcome.ABANDONED
        else:
            outcome = Outcome.FAILED
        for leg in call.legs.values():
            if leg is call.answered or leg.answered_at is not None:
                self._end_leg(call, leg, LegResult.ANSWERED, cause, now)
            else:
                self._end_leg(call, leg, LegResult.CANCELLED, None, now)
        self._finish(call, outcome, cause, now)

    async def message(self, request: Request) -> None:
        """The caller's message (or none: gone before the beep) becomes a call-back entry;
        a caller without a number leaves it with the call's events, as in ARI mode."""
        args = self.args(request) + [""] * 3
        linkedid, reason, recording = args[0], args[1], args[2] or None
        if not linkedid or reason not in ("unanswered", "after_hours_message"):
            raise AgiProtocolError(f"message: expected linkedid,reason,recording, got {args}")
        if recording is not None and not is_valid_recording_name(recording):
            raise AgiProtocolError(f"message: {recording[:40]!r} is not a recording name")
        headers: dict[str, str] = request.headers
        caller = caller_number(headers.get("agi_callerid"))
        record = CallRecorder(self.log, linkedid, "agi", self.observer)
        record.message_left(reason=reason, caller=caller, recording=recording, at=self.clock())

    def _end_unknown(  # noqa: PLR0917 -- the end script's fields
        self,
        linkedid: str,
        result: str,
        in_dial: bool,
        dialstatus: str,
        cause: int | None,
        at: datetime,
    ) -> None:
        """The end of a call this process did not route (it restarted mid-call): the row
        written before the restart still gets its outcome from what the dialplan saw."""
        if result == FORWARD_GROUP:  # its outcome was reported before the forward
            log.warning("agi.end_of_unknown_forward", linkedid=linkedid)
            return
        if result in ("unanswered", "after_hours"):
            outcome = Outcome(result)
        elif in_dial and dialstatus == "ANSWER":
            outcome = Outcome.ANSWERED
        elif in_dial or result == "abandoned":
            outcome = Outcome.ABANDONED
        else:
            outcome = Outcome.FAILED
        # A late writer: never overwrites a final outcome (store/records.py); its line is a
        # warning of its own. A refused write reaches the server (agi.script_failed).
        record = CallRecorder(self.log, linkedid, "agi", self.observer, raise_refused=True)
        record.written(
            str(outcome),
            at=at,
            cause=cause,
            late=True,
            line="agi.end_of_unknown_call",
            level="warning",
        )

    def _finish(self, call: _AgiCall, outcome: Outcome, cause: int | None, at: datetime) -> None:
        if call.finished:
            return
        call.finished = True
        self._call_ended.set()
        call.record.written(str(outcome), at=at, cause=cause)
        answered_at = call.answered.answered_at if call.answered is not None else None
        call.record.ended(str(outcome), at=at, started_at=call.started_at, answered_at=answered_at)


MSET_CHUNK: Final = 1500
"""Bytes of ``name=value`` pairs per ``EXEC MSet`` (Asterisk reads an AGI command into a
2 KB buffer)."""


async def set_variables(request: Request, pairs: list[tuple[str, str]]) -> None:
    """Set every pair on the channel with as few AGI commands as possible.

    One ``EXEC MSet "A=1,B=2,…"`` per ~1.5 KB instead of one ``SET VARIABLE`` per variable:
    each AGI command is a round trip through Asterisk (measured: 12 ``SET VARIABLE`` took
    ~20 ms of the post-dial delay on the sandbox). Not pipelined: Asterisk reads a FastAGI
    socket through a buffered stream and waits for the socket to be readable before each
    command, so commands sent ahead are not seen. Values are plain tokens (numbers, words):
    a comma, quote or newline is refused. ``CALLROUTER_AGI_OK`` goes last: a connection lost
    half-way leaves the dialplan without it, and it falls back."""
    chunks: list[list[str]] = [[]]
    size = 0
    for name, value in pairs:
        if any(c in value for c in ',"\n\\') or not name.isascii() or not name.isidentifier():
            raise AgiProtocolError(f"refusing to set {name} to {value[:40]!r}")
        item = f"{name}={value}"
        if chunks[-1] and size + len(item) + 1 > MSET_CHUNK:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += len(item) + 1
    for chunk in chunks:
        request.writer.write(f'EXEC MSet "{",".join(chunk)}"\n'.encode(request.encoding))
        await request.writer.drain()
        reply = await request.reader.readline()
        if not reply.startswith(b"200 result=0"):
            raise AgiProtocolError(f"EXEC MSet failed: {reply[:80]!r}")
