"""The per-call accumulation of the fallback import: CDR lines of one linkedid folded into a
:class:`FallbackCall` with its :class:`FallbackAttempt` list (the rules are in
:mod:`callrouter.asterisk.cdr_import`, which re-exports these names)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

import structlog

from callrouter.asterisk import contract
from callrouter.asterisk.cdr_lines import CdrLine, epoch_of
from callrouter.asterisk.fastagi import attempt_result
from callrouter.calls.vocabulary import LegResult, leg_seq
from callrouter.rota import Rota
from callrouter.routing import CallInfo, decide

#: the importer's logger: its events keep the name they had before this split
log = structlog.get_logger("callrouter.asterisk.cdr_import")

# CALLROUTER_FALLBACK_RESULT → calls.outcome ("forwarded": nobody on the rota answered and the
# forward number took the call — unanswered by the unit, as in ARI mode).
OUTCOMES: Final = {
    "answered": "answered",
    "forwarded": "unanswered",
    "abandoned": "abandoned",
    "unanswered": "unanswered",
    "failed": "failed",
}
ATTEMPT_CHANNEL_PREFIX: Final = "cdr:"
# An attempt's status when the call ended during its Dial (written by the hang-up handler).
STATUS_BRIDGED: Final = "BRIDGED"
STATUS_CANCEL: Final = "CANCEL"


@dataclass(frozen=True)
class FallbackAttempt:
    """One Dial of a fallback call, as it goes into ``call_attempts``."""

    position: int  # 1-based, in the order the dialplan dialled
    number: str
    forward: bool
    result: str
    cause: int | None
    started_at: datetime
    ended_at: datetime
    answered_at: datetime | None

    def channel_id(self, linkedid: str) -> str:
        return f"{ATTEMPT_CHANNEL_PREFIX}{linkedid}:{self.position}"


def _epoch(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def attempt_from_cdr(position: int, raw: contract.CdrAttempt) -> FallbackAttempt:
    """Map one dialplan entry to an attempt row, as FastAGI/ARI mode map a leg."""
    answered_at = _epoch(raw.answered_at) if raw.answered_at is not None else None
    cause = raw.cause
    if raw.dialstatus == STATUS_BRIDGED:
        result: str = LegResult.ANSWERED
        answered_at = answered_at or _epoch(raw.dial_at)
    elif raw.dialstatus == STATUS_CANCEL:
        result = LegResult.CANCELLED
    else:
        leg, cause = attempt_result(raw.dialstatus, raw.cause, raw.digit)
        result = str(leg)
    started, ended = _epoch(raw.dial_at), _epoch(raw.end_at)
    if answered_at is not None and not (started <= answered_at <= ended):
        answered_at = None
    return FallbackAttempt(
        position=position,
        number=raw.number,
        forward=raw.index == contract.FALLBACK_ATTEMPT_FORWARD,
        result=str(result),
        cause=cause,
        started_at=started,
        ended_at=ended,
        answered_at=answered_at,
    )


@dataclass
class FallbackCall:
    """What the CDR says about one fallback call (all its lines folded)."""

    linkedid: str
    uniqueid: str
    caller: str | None
    started_at: datetime
    ended_at: datetime
    result: str | None = None
    answered_by: str | None = None
    dial_answered_start: datetime | None = None
    dial_at: datetime | None = None
    rota_version: str | None = None
    reason: str | None = None
    #: when the caller chose branch 3 (the dialplan's ``routed_at``; None on older lines)
    routed_at: datetime | None = None
    attempts_raw: str = ""
    #: the caller channel's hang-up cause the hang-up handler read (None: Asterisk gave none)
    hangup_cause: int | None = None
    #: the CDR lines of callrouter's own officer legs (a router killed mid-call), by seq
    leg_lines: dict[int, CdrLine] = field(default_factory=dict)

    def add(self, cdr: CdrLine) -> None:
        seq = leg_seq(cdr.uniqueid)
        if seq is not None and (seq not in self.leg_lines or cdr.end > self.leg_lines[seq].end):
            self.leg_lines[seq] = cdr
        self.started_at = min(self.started_at, cdr.start)
        self.ended_at = max(self.ended_at, cdr.end)
        self.caller = self.caller or cdr.src
        self._add_answered_dial(cdr)
        # The attempts list only grows: each later line of the call carries all of it.
        if cdr.attempts.count("|") >= self.attempts_raw.count("|"):
            self.attempts_raw = cdr.attempts or self.attempts_raw
        mark = cdr.mark or {}
        if mark.get("result"):
            self._add_result(mark)
        self.rota_version = mark.get("rota") or self.rota_version
        self.reason = mark.get("reason") or self.reason
        routed = epoch_of(mark.get("routed_at", ""))
        if routed is not None:
            self.routed_at = _epoch(routed)

    def _add_answered_dial(self, cdr: CdrLine) -> None:
        # The Dial that was answered: its CDR starts when that phone began to ring, unless
        # it is the call's first line (then it starts with the call); `dial_at` says better.
        answered_dial = cdr.lastapp == "Dial" and cdr.dstchannel and cdr.disposition == "ANSWERED"
        if answered_dial and (
            self.dial_answered_start is None or cdr.start > self.dial_answered_start
        ):
            self.dial_answered_start = cdr.start

    def _add_result(self, mark: dict[str, str]) -> None:
        """What the hang-up handler wrote: the result, who answered, the Dial, the cause."""
        self.result = mark["result"]
        self.answered_by = mark.get("answered_by") or None
        dial_at = epoch_of(mark.get("dial_at", ""))
        if dial_at is not None:
            self.dial_at = _epoch(dial_at)
        cause = mark.get("cause", "")
        self.hangup_cause = int(cause) if cause.isdigit() and len(cause) <= 3 else None

    def row_start(self) -> datetime:
        """Where the call's row starts: when the caller chose branch 3, as in ARI and FastAGI
        mode (so the wait counts neither greeting nor menu). Lines of an older dialplan have no
        ``routed_at``: the CDR's start then (the caller's arrival, the menu counted). Never
        after the first Dial, whose time the dialplan writes in whole seconds."""
        if self.routed_at is None:
            return self.started_at
        dials = [a.started_at for a in self.attempts()]
        return min([self.routed_at, *dials])

    def row_end(self) -> datetime:
        """Where the call's row ends: the CDR's end (whole seconds), or the end of its last Dial
        when that is later (the dialplan notes it with milliseconds; a call that ended during a
        Dial ended then)."""
        return max([self.ended_at, *(a.ended_at for a in self.attempts())])

    @property
    def outcome(self) -> str:
        return OUTCOMES.get(self.result or "", "abandoned" if self.result is None else "failed")

    def attempts(self) -> list[FallbackAttempt]:
        entries, bad = contract.parse_cdr_attempts(self.attempts_raw)
        for entry in bad:
            log.warning("cdr.bad_attempt", linkedid=self.linkedid, entry=entry)
        return [attempt_from_cdr(n, raw) for n, raw in enumerate(entries, start=1)]

    def bridged_at(self) -> datetime | None:
        """When the officer the caller talked to picked up (from the attempts), if known."""
        for attempt in self.attempts():
            if attempt.result == LegResult.ANSWERED and not attempt.forward:
                return attempt.answered_at
        return None


def fold(lines: Iterable[CdrLine]) -> dict[str, FallbackCall]:
    """The fallback calls among ``lines`` (calls with a marked line), by linkedid."""
    marked = {c.linkedid for c in lines if c.mark is not None}
    calls: dict[str, FallbackCall] = {}
    for cdr in lines:
        if cdr.linkedid not in marked:
            continue
        call = calls.get(cdr.linkedid)
        if call is None:
            call = calls[cdr.linkedid] = FallbackCall(
                cdr.linkedid, cdr.uniqueid, cdr.src, cdr.start, cdr.end
            )
        call.add(cdr)
    return calls


# ----------------------------------------------------------------------------- officers

UNKNOWN_OFFICER: Final = ("unknown", "Không rõ (cuộc gọi dự phòng)")


def officer_for(rota: Rota | None, number: str, at: datetime) -> tuple[str, str]:
    """Who answered at ``number`` then: the officer on duty at that number, else the officer
    whose own phone it is, else "unknown"."""
    officer_id, officer_name, _how = infer_officer(rota, number, at)
    return officer_id, officer_name


#: how the import named the officer who answered a fallback call (event ``answerer_inferred``)
INFERRED_ON_DUTY: Final = "on_duty_at_number"  # the rota had them on duty at that number then
INFERRED_OWN_PHONE: Final = "own_phone"  # nobody on duty there; the number is their phone
INFERRED_UNKNOWN: Final = "unknown"  # no rota, or the number is nobody's


def infer_officer(rota: Rota | None, number: str, at: datetime) -> tuple[str, str, str]:
    """:func:`officer_for` and how it knows: the fallback dialplan knows numbers, not
    officers, so the answerer of a fallback call is always inferred from the rota."""
    if rota is None:
        return (*UNKNOWN_OFFICER, INFERRED_UNKNOWN)
    with contextlib.suppress(Exception):
        decision = decide(
            rota, at, CallInfo(linkedid="cdr-import", caller=None, branch=rota.branch)
        )
        for target in decision.targets:
            if target.number == number:
                return target.officer_id, target.officer_name, INFERRED_ON_DUTY
    for officer in rota.officers:
        if officer.phone == number:
            return officer.id, officer.name, INFERRED_OWN_PHONE
    return (*UNKNOWN_OFFICER, INFERRED_UNKNOWN)


def _label_for(rota: Rota | None, number: str) -> str | None:
    if rota is not None:
        for registered in rota.numbers:
            if registered.number == number:
                return registered.label
    return None
