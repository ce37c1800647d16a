"""The dialplan ↔ code contract, in one place.

Every name the shipped dialplan (``dialplan/extensions_callrouter.conf``) and callrouter share is
defined here: the Stasis application and its arguments, the contexts, every channel variable the
dialplan reads or sets, the prompts, the dial string of an officer's number and the fallback
include file. ``dialplan/README.md`` documents the same names and ``tests/unit/test_contract.py``
checks that the dialplan and this module agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

# ----------------------------------------------------------------------------- Stasis application
APP_NAME: Final = "callrouter"
"""``Stasis(callrouter, …)``: the ARI application callrouter registers."""

ARG_BRANCH: Final = "branch"
"""Stasis arguments are ``key=value`` strings; ``branch`` is the IVR branch (3 = health)."""

ARG_LINKEDID: Final = "linkedid"
"""``linkedid=${CHANNEL(linkedid)}``: optional; saves callrouter one REST round trip per call."""
LINKEDID_MAX: Final = 64
"""The ``calls.linkedid``/``uniqueid`` columns; Asterisk's own are ~20 characters."""
_LINKEDID: Final = re.compile(rf"[A-Za-z0-9._:@-]{{1,{LINKEDID_MAX}}}")


def is_linkedid(text: str) -> bool:
    """An Asterisk linkedid/uniqueid as callrouter takes it from FastAGI or the CDR
    (``1700000000.42``, ``pbx-1700000000.42``): a plain token of at most 64 characters."""
    return _LINKEDID.fullmatch(text) is not None


ARG_LEG: Final = "leg"
"""Officer legs callrouter originates carry ``leg=officer`` in their StasisStart ``args``, so an
answered officer leg is never taken for a new call."""

HOTLINE_EXTEN: Final = "1022"
BRANCH: Final = 3

# STASISSTATUS after Stasis() returns.
STASIS_FAILED: Final = "FAILED"  # the app is not connected: the dialplan falls back
STASIS_SUCCESS: Final = "SUCCESS"  # the app let the channel go (continue) or it hung up

# ------------------------------------------------------------------------------------- contexts
CONTEXT_INBOUND: Final = "callrouter-inbound"
CONTEXT_HOTLINE: Final = "callrouter-hotline"
CONTEXT_BRANCH3: Final = "callrouter-branch3"
CONTEXT_FALLBACK: Final = "callrouter-fallback"
CONTEXT_FALLBACK_TARGETS: Final = "callrouter-fallback-targets"
"""Defined by the include file callrouter writes (:data:`FALLBACK_INCLUDE_FILENAME`)."""
CONTEXT_CONFIRM: Final = "callrouter-confirm"
"""Press-1 subroutine: Dial ``U(callrouter-confirm^<seconds>)`` on confirm numbers
(Asterisk 22: U takes a context; the subroutine starts at s,1 with ARG1 = seconds)."""
CONTEXT_FALLBACK_ANSWERED: Final = "callrouter-fallback-answered"
"""The fallback's pre-bridge subroutine on numbers without press-1: notes when the officer
answered (``CALLROUTER_FALLBACK_ANSWERED_AT`` on the caller's channel)."""
CONTEXT_FALLBACK_CONFIRM: Final = "callrouter-fallback-confirm"
"""The fallback's press-1 subroutine: ``callrouter-confirm``, then the key is copied to the
caller's channel (``CALLROUTER_FALLBACK_DIGIT``) for the attempt's result."""
CONTEXT_FALLBACK_ATTEMPT: Final = "callrouter-fallback-attempt"
"""Appends the Dial that just ended to ``CALLROUTER_FALLBACK_ATTEMPTS`` and the CDR variable
:data:`CDR_ATTEMPTS_VAR` (see :func:`parse_cdr_attempts`)."""
CONTEXT_FALLBACK_HANGUP: Final = "callrouter-fallback-hangup"
CONTEXT_PEER_HANGUP: Final = "callrouter-peer-hangup"
CONTEXT_NOTICE_PICK: Final = "callrouter-notice-pick"
"""Subroutine (ARG1 = waiting | after_hours): sets ``CALLROUTER_NOTICE_CLASS`` to the music
class of the first notice of :data:`NOTICES_INCLUDE_FILENAME` valid now (EPOCH) for that
audience, or empty; Dial's ``m(...)`` then plays it (class ``announcement``) while ringing."""
CONTEXT_NOTICES: Final = "callrouter-notices"
"""Defined by the include file callrouter writes from the notices file."""
"""Bridge guard: hang-up handler that hangs up ``CALLROUTER_PEER`` (see :func:`peer_guard`)."""
CONTEXTS: Final = (
    CONTEXT_INBOUND,
    CONTEXT_HOTLINE,
    CONTEXT_BRANCH3,
    CONTEXT_FALLBACK,
    CONTEXT_CONFIRM,
    CONTEXT_FALLBACK_ANSWERED,
    CONTEXT_FALLBACK_CONFIRM,
    CONTEXT_FALLBACK_ATTEMPT,
    CONTEXT_FALLBACK_HANGUP,
    CONTEXT_PEER_HANGUP,
    CONTEXT_NOTICE_PICK,
)

# ------------------------------------------------------------------------------- dial strings
GLOBAL_TRUNK: Final = "CALLROUTER_TRUNK"
"""Global variable: the PJSIP endpoint of the carrier trunk (the fallback dials through it)."""
DEFAULT_TRUNK: Final = "pstn-trunk"
DIAL_TEMPLATE: Final = "PJSIP/{number}@{trunk}"

_DIALABLE = re.compile(r"^\+?[0-9]{2,20}$")
_TRUNK = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def dial_string(number: str, trunk: str = DEFAULT_TRUNK) -> str:
    """The Asterisk dial string of an officer's number, e.g. ``PJSIP/0912345678@pstn-trunk``.

    Raises ValueError for anything that is not a plain phone number or endpoint name: both end
    up inside dialplan and ARI strings, where ``,``, ``&``, ``)`` or ``/`` would change meaning.
    """
    if not _DIALABLE.match(number):
        raise ValueError(f"not a dialable number: {number!r}")
    if not _TRUNK.match(trunk):
        raise ValueError(f"not a PJSIP endpoint name: {trunk!r}")
    return DIAL_TEMPLATE.format(number=number, trunk=trunk)


def stasis_args(branch: int = BRANCH) -> list[str]:
    """The arguments as the dialplan writes them (Asterisk expands ``${…}`` before StasisStart)."""
    return [f"{ARG_BRANCH}={branch}", f"{ARG_LINKEDID}=${{CHANNEL(linkedid)}}"]


def parse_stasis_args(args: Sequence[str]) -> dict[str, str]:
    """StasisStart ``args`` (``["branch=3"]``) as a mapping; unknown keys are kept.

    Raises ValueError on an argument without ``=`` (the dialplan was edited wrongly).
    """
    out: dict[str, str] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"Stasis argument {arg!r} is not key=value")
        out[key.strip()] = value.strip()
    return out


def branch_of(args: Sequence[str]) -> int:
    """The IVR branch from StasisStart ``args``; :data:`BRANCH` when not given."""
    raw = parse_stasis_args(args).get(ARG_BRANCH)
    if raw is None:
        return BRANCH
    if not raw.isdigit():
        raise ValueError(f"Stasis argument {ARG_BRANCH}={raw!r} is not a digit")
    return int(raw)


# ---------------------------------------------------------------------------- channel variables
# Set by the dialplan, readable by callrouter (GET /channels/{id}/variable).
VAR_BRANCH: Final = "CALLROUTER_BRANCH"
#: epoch seconds (with milliseconds) the caller chose branch 3: where every door's row starts
VAR_ROUTED_AT: Final = "CALLROUTER_ROUTED_AT"
VAR_MODE: Final = "CALLROUTER_MODE"  # "fallback" on calls the dialplan fallback handles
VAR_FALLBACK_REASON: Final = "CALLROUTER_FALLBACK_REASON"
VAR_FALLBACK_RESULT: Final = "CALLROUTER_FALLBACK_RESULT"
VAR_FALLBACK_TARGET: Final = "CALLROUTER_FALLBACK_TARGET"
VAR_FALLBACK_ROUND: Final = "CALLROUTER_FALLBACK_ROUND"
VAR_FALLBACK_INDEX: Final = "CALLROUTER_FALLBACK_INDEX"
VAR_FALLBACK_IN_DIAL: Final = "CALLROUTER_FALLBACK_IN_DIAL"
VAR_FALLBACK_DIAL_AT: Final = "CALLROUTER_FALLBACK_DIAL_AT"  # epoch (ms) the last Dial began
VAR_FALLBACK_DEADLINE: Final = "CALLROUTER_FALLBACK_DEADLINE"  # epoch seconds: stop ringing
VAR_FALLBACK_LEFT: Final = "CALLROUTER_FALLBACK_LEFT"  # seconds left before the deadline
VAR_FALLBACK_RING: Final = "CALLROUTER_FALLBACK_RING"  # this attempt's ring seconds
VAR_FALLBACK_FORWARDING: Final = "CALLROUTER_FALLBACK_FORWARDING"  # 1 while forwarding
VAR_FALLBACK_ATTEMPTS: Final = "CALLROUTER_FALLBACK_ATTEMPTS"  # the attempts so far (CDR format)
VAR_FALLBACK_ATTEMPT: Final = "CALLROUTER_FALLBACK_ATTEMPT"  # this Dial's index, "f": forward
VAR_FALLBACK_DIGIT: Final = "CALLROUTER_FALLBACK_DIGIT"  # key the officer pressed (confirm)
VAR_FALLBACK_ANSWERED_AT: Final = "CALLROUTER_FALLBACK_ANSWERED_AT"  # epoch: officer answered
VAR_CONFIRM_DIGIT: Final = "CALLROUTER_CONFIRM_DIGIT"  # on the officer's leg
VAR_MENU_TRY: Final = "CALLROUTER_MENU_TRY"

# Set by callrouter before it lets the channel go (POST /channels/{id}/continue):
VAR_ACTION: Final = "CALLROUTER_ACTION"
ACTION_FALLBACK: Final = "fallback"
"""``CALLROUTER_ACTION=fallback`` then continue: the dialplan rings the fallback numbers."""

# Bridge guard (see peer_guard()): the hang-up handler is on each leg from its start (the
# dialplan pushes it on the caller before Stasis(), callrouter on each officer leg it
# originates, GUARD_HANDLER); it does nothing until callrouter names the peer on bridging.
VAR_PEER: Final = "CALLROUTER_PEER"
HANGUP_HANDLER_PUSH: Final = "CHANNEL(hangup_handler_push)"
GUARD_HANDLER: Final[Mapping[str, str]] = MappingProxyType(
    {HANGUP_HANDLER_PUSH: f"{CONTEXT_PEER_HANGUP},s,1"}
)
"""Channel variables an originated officer leg starts with (ARI originate ``variables``): the
bridge guard's hang-up handler, idle while :data:`VAR_PEER` is empty (a leg that fails while
ringing hangs up nobody)."""


def peer_guard(peer_channel_name: str) -> tuple[str, str]:
    """The channel variable to set (``POST /channels/{id}/variable``) on a bridged leg so that,
    if it hangs up while callrouter is down, its hang-up handler (:data:`GUARD_HANDLER`)
    hangs up ``peer_channel_name`` (the other leg's channel *name*, e.g.
    ``PJSIP/pstn-trunk-0000002a``) too. One request a leg: the handler is there already."""
    if not re.fullmatch(r"[A-Za-z]+/[A-Za-z0-9_.@:;-]+", peer_channel_name):
        raise ValueError(f"not a channel name: {peer_channel_name!r}")
    return (VAR_PEER, peer_channel_name)


# Global variables (shipped defaults in the dialplan's [globals]).
GLOBAL_MENU_TIMEOUT: Final = "CALLROUTER_MENU_TIMEOUT"
GLOBAL_MENU_ATTEMPTS: Final = "CALLROUTER_MENU_ATTEMPTS"
GLOBAL_ROUTER: Final = "CALLROUTER_ROUTER"
"""``ari`` (Stasis, the default) or ``agi`` (FastAGI mode: extensions_callrouter_agi.conf)."""
GLOBAL_AGI_URL: Final = "CALLROUTER_AGI_URL"
"""Where callrouter's FastAGI server listens, e.g. ``agi://127.0.0.1:4573``; with a FastAGI
secret its path is the secret (``agi://HOST:PORT/<secret>``, see ``agi_access``)."""
ROUTER_AGI: Final = "agi"
AGI_INCLUDE_FILENAME: Final = "extensions_callrouter_agi.conf"

# FastAGI mode (extensions_callrouter_agi.conf). The scripts it calls over FastAGI
# (``AGI(${CALLROUTER_AGI_URL}/<script>,…)``) are AgiCallFlow.routes() and the variables
# callrouter sets for it (CALLROUTER_AGI_*) agi_variables.decision_variables();
# tests/unit/test_contract_agi.py holds the file to both and to these contexts.
CONTEXT_AGI: Final = "callrouter-agi"
CONTEXT_AGI_LEG: Final = "callrouter-agi-leg"
"""Simultaneous ringing: ``Dial(Local/<n>@callrouter-agi-leg&…)``, one Local channel per target
(n = its index in ring order), which rings the officer and asks for press 1 itself. No ``/n``:
the Local pair optimises away once bridged (caller and officer end up bridged directly)."""
CONTEXT_AGI_ANSWER: Final = "callrouter-agi-answer"
"""Pre-bridge subroutine (Dial ``U``) on an officer's leg: press 1, then FastAGI ``answered``."""
CONTEXT_AGI_DROP: Final = "callrouter-agi-drop"
CONTEXT_AGI_HANGUP: Final = "callrouter-agi-hangup"
CONTEXT_CALLBACK: Final = "callrouter-callback"
CONTEXT_CALLBACK_ANSWERED: Final = "callrouter-callback-answered"
CONTEXT_CALLBACK_HANGUP: Final = "callrouter-callback-hangup"
AGI_CONTEXTS: Final = (
    CONTEXT_AGI,
    CONTEXT_AGI_LEG,
    CONTEXT_AGI_ANSWER,
    CONTEXT_AGI_DROP,
    CONTEXT_AGI_HANGUP,
    CONTEXT_CALLBACK,
    CONTEXT_CALLBACK_ANSWERED,
    CONTEXT_CALLBACK_HANGUP,
)

MODE_FALLBACK: Final = "fallback"
REASON_STASIS_FAILED: Final = "stasis-failed"
REASON_HANDED_BACK: Final = "handed-back"
#: ``callrouter guard`` moved a caller out of a dead router's Stasis application
REASON_GUARD: Final = "guard"
# CALLROUTER_FALLBACK_RESULT values: the fallback call's outcome (also in the CDR userfield).
# forwarded: nobody answered and the rota's forward number took the call.
FALLBACK_RESULTS: Final = ("answered", "forwarded", "abandoned", "unanswered", "failed")

FORWARD_RING_SECONDS: Final = 30
"""Seconds the rota's ``forward:<number>`` rings before the caller is told nobody answered,
whichever door the call came through: ARI mode's flow, FastAGI mode's dialplan
(``CALLROUTER_AGI_FORWARD_RING``) and the dialplan fallback (``CALLROUTER_FALLBACK_FORWARD_RING``
in the include; 30 when an older include lacks it)."""

# ----------------------------------------------------------------------- fallback include file
FALLBACK_INCLUDE_FILENAME: Final = "callrouter_fallback.conf"
"""Written by ``callrouter rota dialplan`` next to extensions.conf; ``#tryinclude``'d."""

# Variables the include file sets (Gosub(callrouter-fallback-targets,s,1)); ``_{n}`` = 1-based.
VAR_FALLBACK_ROTA: Final = "CALLROUTER_FALLBACK_ROTA"
VAR_FALLBACK_COUNT: Final = "CALLROUTER_FALLBACK_COUNT"
VAR_FALLBACK_ROUNDS: Final = "CALLROUTER_FALLBACK_ROUNDS"
VAR_FALLBACK_RING_TIMEOUT: Final = "CALLROUTER_FALLBACK_RING_TIMEOUT"
VAR_FALLBACK_CONFIRM_TIMEOUT: Final = "CALLROUTER_FALLBACK_CONFIRM_TIMEOUT"
VAR_FALLBACK_MAX_WAIT: Final = "CALLROUTER_FALLBACK_MAX_WAIT"
VAR_FALLBACK_FORWARD: Final = "CALLROUTER_FALLBACK_FORWARD"  # nobody-answered forward number or ""
VAR_FALLBACK_FORWARD_RING: Final = "CALLROUTER_FALLBACK_FORWARD_RING"  # FORWARD_RING_SECONDS
VAR_FALLBACK_NUMBER_N: Final = "CALLROUTER_FALLBACK_NUMBER_{n}"
VAR_FALLBACK_CONFIRM_N: Final = "CALLROUTER_FALLBACK_CONFIRM_{n}"

# ------------------------------------------------------------------------ notices include files
NOTICES_INCLUDE_FILENAME: Final = "callrouter_notices.conf"
"""Written by callrouter from the notices file next to extensions.conf; ``#tryinclude``'d."""
NOTICES_MOH_FILENAME: Final = "musiconhold_callrouter.conf"
"""One music class per notice (``announcement`` = the notice); ``#tryinclude``'d by the
operator's musiconhold.conf."""
NOTICE_CLASS_PREFIX: Final = "callrouter-notice-"
# Variables the include sets (Gosub(callrouter-notices,s,1)); FROM/UNTIL are epoch seconds.
VAR_NOTICE_COUNT: Final = "CALLROUTER_NOTICE_COUNT"
VAR_NOTICE_CLASS_N: Final = "CALLROUTER_NOTICE_CLASS_{n}"
VAR_NOTICE_FROM_N: Final = "CALLROUTER_NOTICE_FROM_{n}"
VAR_NOTICE_UNTIL_N: Final = "CALLROUTER_NOTICE_UNTIL_{n}"
VAR_NOTICE_AUDIENCE_N: Final = "CALLROUTER_NOTICE_AUDIENCE_{n}"
VAR_NOTICE_SOUND_N: Final = "CALLROUTER_NOTICE_SOUND_{n}"
VAR_NOTICE_INDEX: Final = "CALLROUTER_NOTICE_INDEX"
VAR_NOTICE_CLASS: Final = "CALLROUTER_NOTICE_CLASS"
"""Set by :data:`CONTEXT_NOTICE_PICK`: the class Dial's ``m()`` plays (empty: default music)."""
VAR_NOTICE_SOUND: Final = "CALLROUTER_NOTICE_SOUND"
"""Set by :data:`CONTEXT_NOTICE_PICK`: the notice's sound, for ``Playback`` (FastAGI mode's
after-hours notice, after the closed message; empty: none)."""

CHANNEL_VARIABLES: Final = (
    VAR_BRANCH,
    VAR_ROUTED_AT,
    VAR_MODE,
    VAR_ACTION,
    VAR_PEER,
    VAR_FALLBACK_REASON,
    VAR_FALLBACK_RESULT,
    VAR_FALLBACK_TARGET,
    VAR_FALLBACK_ROUND,
    VAR_FALLBACK_INDEX,
    VAR_FALLBACK_IN_DIAL,
    VAR_FALLBACK_DIAL_AT,
    VAR_FALLBACK_DEADLINE,
    VAR_FALLBACK_LEFT,
    VAR_FALLBACK_RING,
    VAR_FALLBACK_FORWARDING,
    VAR_FALLBACK_ATTEMPTS,
    VAR_FALLBACK_ATTEMPT,
    VAR_FALLBACK_DIGIT,
    VAR_FALLBACK_ANSWERED_AT,
    VAR_CONFIRM_DIGIT,
    VAR_MENU_TRY,
    VAR_FALLBACK_ROTA,
    VAR_FALLBACK_COUNT,
    VAR_FALLBACK_ROUNDS,
    VAR_FALLBACK_RING_TIMEOUT,
    VAR_FALLBACK_CONFIRM_TIMEOUT,
    VAR_FALLBACK_MAX_WAIT,
    VAR_FALLBACK_FORWARD,
    VAR_FALLBACK_FORWARD_RING,
    VAR_FALLBACK_NUMBER_N,
    VAR_FALLBACK_CONFIRM_N,
    VAR_NOTICE_COUNT,
    VAR_NOTICE_CLASS_N,
    VAR_NOTICE_FROM_N,
    VAR_NOTICE_UNTIL_N,
    VAR_NOTICE_AUDIENCE_N,
    VAR_NOTICE_SOUND_N,
    VAR_NOTICE_INDEX,
    VAR_NOTICE_CLASS,
    VAR_NOTICE_SOUND,
)
GLOBAL_VARIABLES: Final = (
    GLOBAL_TRUNK,
    GLOBAL_MENU_TIMEOUT,
    GLOBAL_MENU_ATTEMPTS,
    GLOBAL_ROUTER,
    GLOBAL_AGI_URL,
)

# -------------------------------------------------------------------------------------------- CDR
CDR_USERFIELD_MARK: Final = "callrouter=fallback"
"""A fallback call's CDR ``userfield`` starts with this; the rest is ``;key=value`` pairs:
``linkedid``, ``reason``, ``routed_at`` (epoch seconds with milliseconds the caller chose
branch 3: the row's start, as in ARI and FastAGI mode; absent on lines of an older dialplan),
``rota`` (rota version), ``result``, ``answered_by`` (number),
``dial_at`` (epoch seconds the answered number began to ring; the CDR's own answer time is the
caller's, at the menu) and ``cause`` (the caller channel's ``HANGUPCAUSE``; empty: unknown)."""


def parse_cdr_userfield(userfield: str) -> dict[str, str] | None:
    """The ``key=value`` pairs of a fallback call's CDR userfield, or None for other calls."""
    if not userfield.startswith(CDR_USERFIELD_MARK):
        return None
    out: dict[str, str] = {}
    for part in userfield.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


# ----------------------------------------------------------------------------------------- prompts
# Sound names (Asterisk looks them up in the channel language "vi": sounds/vi/callrouter/*).
# Texts: dialplan/prompts/vi.txt. ARI plays them as "sound:" + name.
PROMPTS: Final[Mapping[str, str]] = {
    "welcome": "callrouter/welcome",
    "menu": "callrouter/menu",
    "invalid": "callrouter/invalid",
    "no_input": "callrouter/no-input",
    "other_branch": "callrouter/other-branch",
    "goodbye": "callrouter/goodbye",
    "please_hold": "callrouter/please-hold",
    "confirm": "callrouter/confirm",
    "nobody_answered": "callrouter/nobody-answered",
    "unavailable": "callrouter/unavailable",
    # played by callrouter itself (ARI), not by the dialplan
    "greeting": "callrouter/greeting",
    "hold_reminder": "callrouter/hold-reminder",
    "closed": "callrouter/closed",
    "leave_message": "callrouter/leave-message",
    "message_saved": "callrouter/message-saved",
    "forwarding": "callrouter/forwarding",
}
LANGUAGE: Final = "vi"
FALLBACK_LANGUAGE: Final = "en"
"""Asterisk plays sounds/en/<name> when sounds/vi/<name> is missing (texts: prompts/en.txt)."""

# --------------------------------------------------------------------------- AMI user events
# UserEvents the dialplan emits (AMI "Event: UserEvent", "UserEvent: <name>").
EVENT_FALLBACK: Final = "CallrouterFallback"
EVENT_FALLBACK_DIAL: Final = "CallrouterFallbackDial"
EVENT_FALLBACK_DIAL_END: Final = "CallrouterFallbackDialEnd"
EVENT_FALLBACK_END: Final = "CallrouterFallbackEnd"


CDR_ATTEMPTS_VAR: Final = "callrouter_attempts"
"""CDR variable (``Set(CDR(callrouter_attempts)=…)``, cdr_custom field
``callrouter_attempts(uservar)``): every Dial of the fallback, in order, each entry
``|<index>:<number>:<status>:<HANGUPCAUSE>:<dial epoch>:<end epoch>:<answered epoch>:<key>``
(index 1..n in the include file's order, ``f`` for the nobody-answered forward number; status:
Dial's DIALSTATUS when Dial came back, ``BRIDGED`` / ``CANCEL`` when the call ended during the
Dial, bridged to that number or not; answered epoch: when that phone picked up, if it did;
key: what a confirm number pressed, ``-`` when it hung up while asked)."""
FALLBACK_ATTEMPT_FORWARD: Final = "f"


@dataclass(frozen=True)
class CdrAttempt:
    """One entry of :data:`CDR_ATTEMPTS_VAR`, as the dialplan wrote it (times: epoch seconds,
    with milliseconds from the dialplan that notes them, whole seconds before)."""

    index: str
    number: str
    dialstatus: str
    cause: int | None
    dial_at: float
    end_at: float
    answered_at: float | None
    digit: str


#: an epoch time as the dialplan writes it: ``${EPOCH}`` or ``${STRFTIME(,,%s.%3q)}``
EPOCH_TEXT: Final = r"[0-9]{1,12}(?:\.[0-9]{1,6})?"
_ATTEMPT_ENTRY = re.compile(
    r"(?P<index>[0-9]{1,4}|f):(?P<number>\+?[0-9]{1,32}):(?P<status>[A-Z]{0,20}):"
    rf"(?P<cause>[0-9]{{0,4}}):(?P<dial>{EPOCH_TEXT}):(?P<end>{EPOCH_TEXT}):"
    rf"(?P<answered>(?:{EPOCH_TEXT})?):(?P<digit>[0-9*#-]?)"
)


def parse_cdr_attempts(raw: str) -> tuple[list[CdrAttempt], list[str]]:
    """The entries of :data:`CDR_ATTEMPTS_VAR` in order, and the entries that did not parse."""
    good: list[CdrAttempt] = []
    bad: list[str] = []
    for entry in raw.split("|"):
        if not entry.strip():
            continue
        m = _ATTEMPT_ENTRY.fullmatch(entry.strip())
        if m is None:
            bad.append(entry[:80])
            continue
        good.append(
            CdrAttempt(
                index=m["index"],
                number=m["number"],
                dialstatus=m["status"],
                cause=int(m["cause"]) if m["cause"] else None,
                dial_at=float(m["dial"]),
                end_at=max(float(m["end"]), float(m["dial"])),
                answered_at=float(m["answered"]) if m["answered"] else None,
                digit=m["digit"],
            )
        )
    return good, bad
