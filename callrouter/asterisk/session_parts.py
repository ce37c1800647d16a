"""What an ARI call session is made of and needs around it: its legs, its settings, the
host application (constructor injection), the Stasis arguments of officer legs."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Protocol

from callrouter.asterisk import contract
from callrouter.asterisk.ari import Event
from callrouter.asterisk.prompts import PromptCatalog
from callrouter.calls.ari_port import AriPort
from callrouter.calls.caller_times import DEFAULT_CALLER_TIMES, CallerTimes
from callrouter.calls.plan import Clock, utc_now
from callrouter.calls.ports import CallLogPort, CallObserver, NoObserver
from callrouter.routing import CallInfo, Decision, Target

DecideFn = Callable[[datetime, CallInfo], Decision]

#: Names of the bridges this router creates: after a restart it recognises its own
#: resources in Asterisk by this prefix (and its legs by ``LEG_ID_PREFIX``).
BRIDGE_NAME_PREFIX = "callrouter-call-"
GONE_EVENTS = frozenset({"StasisEnd", "ChannelDestroyed", "ChannelHangupRequest"})


class EventSink(Protocol):
    def deliver(self, event: Event) -> None: ...


class CallerGone(Exception):
    """The caller hung up (or left Stasis) while the session was waiting."""

    def __init__(self, cause: int | None) -> None:
        super().__init__(f"caller gone (cause {cause})")
        self.cause = cause


#: StasisStart ``args`` of the officer legs this router originates (``key=value`` like the
#: dialplan's own arguments, see :func:`contract.parse_stasis_args`): a StasisStart that
#: carries ``leg=officer`` is an answered officer leg, never a new call.
ARG_LEG: Final = contract.ARG_LEG
#: Optional Stasis argument ``linkedid=${CHANNEL(linkedid)}``: saves one REST round trip.
ARG_LINKEDID: Final = contract.ARG_LINKEDID
LEG_OFFICER: Final = "officer"


def officer_leg_args(caller_id: str, seq: int) -> list[str]:
    return [f"{ARG_LEG}={LEG_OFFICER}", f"call={caller_id}", f"seq={seq}"]


def is_officer_leg(args: Sequence[str]) -> bool:
    return f"{ARG_LEG}={LEG_OFFICER}" in args


@dataclass
class Leg:
    seq: int
    target: Target
    channel_id: str
    started_at: datetime
    answered_at: datetime | None = None
    ended: bool = False
    rang: bool = False
    picked_up_at: datetime | None = None  # entered Stasis (answered the phone)
    confirm_playback: str | None = None  # the press-1 prompt playing to this leg
    confirm_deadline: float | None = None  # loop time; set while waiting for "1"
    channel_name: str | None = None  # e.g. PJSIP/pstn-trunk-0000002a (for the bridge guard)


@dataclass
class FlowConfig:
    """Call-flow settings that do not come from the rota."""

    app: str = contract.APP_NAME
    trunk: str = contract.DEFAULT_TRUNK
    moh_class: str | None = None
    #: extra seconds past ARI's own originate timeout before the session gives up on a leg
    ring_grace: float = 3.0
    #: longest a call's end waits for Asterisk's ChannelDestroyed (the hang-up cause)
    cause_wait: float = 2.0
    #: longest a prompt may play before the session stops waiting for it
    prompt_limit: float = 30.0
    #: caller id shown to officers; None keeps the caller's own number
    officer_caller_id: str | None = None
    #: which sound files are played, and the English fallback (callrouter.asterisk.prompts)
    prompts: PromptCatalog = field(default_factory=PromptCatalog)
    #: hold reminder and message limits (callrouter.calls.caller_times)
    caller: CallerTimes = DEFAULT_CALLER_TIMES
    #: key that ends the message early
    message_terminate_on: str = "#"
    #: seconds the ``forward:<number>`` number rings before the caller is told nobody answered
    forward_ring_seconds: int = contract.FORWARD_RING_SECONDS
    #: the health notices a caller hears at a time, by audience (``waiting``: after the
    #: greeting while the officers ring; ``after_hours``: after the closed message): sound
    #: names (callrouter.notices.board.NoticeBoard.sounds)
    notices: Callable[[datetime, str], Sequence[str]] = field(default=lambda _at, _who: ())


@dataclass
class SessionHost:
    """What a session needs from the application around it (constructor injection)."""

    ari: AriPort
    call_log: CallLogPort
    decide: DecideFn
    config: FlowConfig
    clock: Clock = utc_now
    register: Callable[[str, EventSink], None] = field(default=lambda _id, _s: None)
    unregister: Callable[[str], None] = field(default=lambda _id: None)
    last_officer: Callable[[int], str | None] = field(default=lambda _branch: None)
    answered_by: Callable[[int, str], None] = field(default=lambda _branch, _officer: None)
    new_id: Callable[[], str] = field(default=lambda: str(uuid.uuid4()))
    observer: CallObserver = field(default_factory=NoObserver)
    #: True once another connection took the ARI application over: the sessions stop
    #: without a request to Asterisk and without writing an end (StasisApp.let_go)
    taken_over: Callable[[], bool] = field(default=lambda: False)


def wake_time(legs: Sequence[Leg], deadline: float, now: float) -> float:
    """When the wait for the legs' events must stop: the max wait or ring deadline, or the
    first press-1 deadline (only those once the ring deadline has passed)."""
    pending = [
        leg.confirm_deadline for leg in legs if not leg.ended and leg.confirm_deadline is not None
    ]
    return min([*pending, deadline]) if now < deadline else min(pending, default=now)
