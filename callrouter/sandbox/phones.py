"""The sandbox as a test or the demo talks to it: place calls from the pstn, watch every AMI
event of both Asterisks, read what the caller's and the officers' phones experienced.

* ``place_call(digits="3", hold=10)`` — the pstn calls 1022 on the pbx, sends the digits once
  the pbx answers, stays ``hold`` seconds, hangs up; returns a :class:`PlacedCall`;
  ``hang_up(call)`` ends it earlier (the caller puts the phone down).
* ``events`` — every AMI event of both instances (``source`` "pbx" or "pstn"), with
  ``wait_for(...)`` / ``wait_user_event(...)`` to wait for one with a deadline.
* ``caller(call)`` / ``officer(number, call)`` — what the caller and an officer's phone
  experienced (rang, answered, pressed, hung up, when; from the pstn's UserEvents);
  ``bridged(call)`` — when the pbx bridged the caller with someone, and until when.
* ``channels("pbx")`` / ``bridges("pbx")`` — ARI views of either instance; ``ami("pbx")`` for
  any other AMI action.

Officer numbering on the pstn: ``tests/asterisk/README.md`` (09BBRNNNNN: BB behaviour, R ring
seconds).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import random
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Self

import aiohttp

from callrouter.sandbox.ami import AmiClient, Event, EventLog
from callrouter.sandbox.control import INSTANCES, Instance, SandboxError, SandboxInfo

# Officer behaviours by number prefix (tests/asterisk/README.md).
ANSWERS = "0901"
BUSY = "0902"
RINGS_FOREVER = "0903"
VOICEMAIL = "0904"
PRESSES_1 = "0905"
PRESSES_9 = "0906"
FAILS = "0907"
HANGS_UP = "0908"  # answers, hangs up 1.5 s later (while asked to press 1)


def officer_number(behaviour: str, ring_seconds: int = 0, suffix: int | None = None) -> str:
    """A pstn phone number with that behaviour, e.g. ``officer_number(ANSWERS, 1)``."""
    if suffix is None:
        suffix = random.randrange(100_000)  # noqa: S311 - a test phone number, not a secret
    return f"{behaviour}{ring_seconds % 10}{suffix:05d}"


# ------------------------------------------------------------------------------- experiences


@dataclass(frozen=True)
class PlacedCall:
    tag: str
    caller_number: str
    originated_at: float  # epoch seconds


@dataclass
class CallerExperience:
    """What the caller's phone saw (from the pstn's Caller* UserEvents), epoch seconds."""

    answered_at: float | None = None  # the pbx answered 1022
    digits_sent_at: float | None = None
    hung_up_at: float | None = None
    hung_up_by: str | None = None  # "caller" (hold elapsed) or "network" (the pbx hung up)
    cause: int | None = None
    failed: str | None = None  # Originate failed: the reason Asterisk gave


@dataclass
class OfficerExperience:
    """What an officer's phone saw for one call (pstn Officer* UserEvents), epoch seconds."""

    number: str
    behaviour: str | None = None
    rang_at: float | None = None
    answered_at: float | None = None
    pressed: list[str] = field(default_factory=list)
    hung_up_at: float | None = None
    cause: int | None = None

    @property
    def rang(self) -> bool:
        return self.rang_at is not None

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    @property
    def talk_seconds(self) -> float | None:
        if self.answered_at is None or self.hung_up_at is None:
            return None
        return self.hung_up_at - self.answered_at


# ---------------------------------------------------------------------------------- harness

_caller_numbers: Iterator[int] = itertools.count(random.randrange(1_000_000))  # noqa: S311


class Harness:
    """Async access to a running sandbox: place calls, watch events, read what phones saw."""

    def __init__(self, info: SandboxInfo, events: EventLog | None = None) -> None:
        self.info = info
        self.events = events if events is not None else EventLog()
        self._ami: dict[str, AmiClient] = {}
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        for name in INSTANCES:
            client = AmiClient(name, self.info[name], self.events)
            await client.connect()
            self._ami[name] = client
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for client in self._ami.values():
            await client.close()
        if self._http is not None:
            await self._http.close()

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise SandboxError("the harness is not open (async with Harness(info))")
        return self._http

    def ami(self, instance: Instance) -> AmiClient:
        return self._ami[instance]

    # -- calls ---------------------------------------------------------------------------

    async def place_call(
        self,
        *,
        digits: str = "3",
        hold: float = 10.0,
        digit_delay: float = 0.5,
        caller_number: str | None = None,
        exten: str = "1022",
        answer_timeout: float = 15.0,
        say: str | None = None,
        say_after: float = 0.0,
        then_digits: str = "",
        caller_name: str | None = None,
        tag: str | None = None,
        pbx_uri: str | None = None,
    ) -> PlacedCall:
        """The pstn dials ``exten`` on the pbx; once answered it sends ``digits`` after
        ``digit_delay`` seconds, stays ``hold`` seconds and hangs up (unless the pbx does).
        ``say``: ``say_after`` seconds after the digits it plays that sound (e.g.
        ``vm-intro``) into the call and presses ``then_digits`` (UserEvent CallerSaid),
        before the ``hold``. ``caller_name``: the caller ID name sent (default: the number;
        quotes in it are escaped as in a SIP display name). ``tag``: the caller channel's id on
        the pstn (default: made from the number and the time). ``pbx_uri``: send the call to
        this SIP URI over the pstn's trunk instead of the sandbox's pbx (e.g. a containerised
        one)."""
        number = caller_number or f"0987{next(_caller_numbers) % 1_000_000:06d}"
        name = (caller_name if caller_name is not None else number).replace('"', '\\"')
        tag = tag or f"call-{number}-{int(time.time() * 1000) % 100000}"
        call = PlacedCall(tag=tag, caller_number=number, originated_at=time.time())
        res = await self.ami("pstn").action(
            "Originate",
            variables={
                "CALLER_TAG": tag,
                "CALLER_DIGITS": digits,
                "CALLER_DIGIT_DELAY": str(digit_delay),
                "CALLER_HOLD": str(hold),
                "CALLER_SAY": say or "",
                "CALLER_SAY_AFTER": str(say_after),
                "CALLER_THEN_DIGITS": then_digits,
            },
            Channel=f"PJSIP/pbx/{pbx_uri}" if pbx_uri else f"PJSIP/{exten}@pbx",
            Context="caller",
            Exten="s",
            Priority="1",
            CallerID=f'"{name}" <{number}>',
            Timeout=str(int(answer_timeout * 1000)),
            Async="true",
            ChannelId=tag,
        )
        if res.get("Response") != "Success":
            raise SandboxError(f"Originate refused: {res}")
        return call

    async def hang_up(self, call: PlacedCall) -> None:
        """The caller puts the phone down (their channel on the pstn ends; gone already: fine)."""
        url = f"{self.info.pstn.ari_url}/channels/{call.tag}"
        with contextlib.suppress(aiohttp.ClientError):
            async with self.http.delete(url, headers=self.ari_headers("pstn")):
                pass

    async def wait_user_event(
        self,
        name: str,
        *,
        source: Instance | None = None,
        within: float = 10.0,
        **match: str,
    ) -> Event:
        """The first UserEvent ``name`` (from ``source``) whose fields equal ``match``."""

        def pred(e: Event) -> bool:
            return (
                e.user_event == name
                and (source is None or e.source == source)
                and all(e.get(k) == v for k, v in match.items())
            )

        return await self.events.wait_for(pred, within, what=f"UserEvent {name} {match}")

    async def wait_caller_hangup(self, call: PlacedCall, within: float = 30.0) -> CallerExperience:
        """Wait until the caller's channel ended (or its Originate failed)."""

        def pred(e: Event) -> bool:
            return (e.user_event == "CallerHangup" and e.get("Tag") == call.tag) or (
                e.name == "OriginateResponse"
                and e.get("Uniqueid") == call.tag
                and e.get("Response") == "Failure"
            )

        await self.events.wait_for(pred, within, what=f"end of caller call {call.tag}")
        return self.caller(call)

    def caller(self, call: PlacedCall) -> CallerExperience:
        exp = CallerExperience()
        for e in self.events.events:
            if e.source != "pstn":
                continue
            if e.name == "OriginateResponse" and e.get("Uniqueid") == call.tag:
                if e.get("Response") == "Failure":
                    exp.failed = e.get("Reason", "unknown")
                continue
            if e.get("Tag") != call.tag:
                continue
            if e.user_event == "CallerAnswered":
                exp.answered_at = e.timestamp
            elif e.user_event == "CallerSentDigits":
                exp.digits_sent_at = e.timestamp
            elif e.user_event == "CallerHangup":
                exp.hung_up_at = e.timestamp
                exp.hung_up_by = e.get("By") or None
                exp.cause = int(e.get("Cause") or 0)
        return exp

    def officer(self, number: str, call: PlacedCall | None = None) -> OfficerExperience:
        """What phone ``number`` saw (for ``call``'s caller number when given)."""
        exp = OfficerExperience(number=number)
        for e in self.events.events:
            if e.source != "pstn" or e.get("Number") != number:
                continue
            if call is not None and e.get("Caller") != call.caller_number:
                continue
            ue = e.user_event
            if ue == "OfficerRinging":
                exp.rang_at = e.timestamp
                exp.behaviour = e.get("Behaviour")
            elif ue == "OfficerAnswered":
                exp.answered_at = e.timestamp
            elif ue == "OfficerPressed":
                exp.pressed.append(e.get("Digit"))
            elif ue == "OfficerHangup":
                exp.hung_up_at = e.timestamp
                exp.cause = int(e.get("Cause") or 0)
        return exp

    def officers_rung(self, call: PlacedCall) -> list[str]:
        """Numbers that rang for ``call``, in the order they started ringing."""
        return [
            e.get("Number")
            for e in self.events.events
            if e.user_event == "OfficerRinging" and e.get("Caller") == call.caller_number
        ]

    def pbx_caller_channel(self, call: PlacedCall) -> str | None:
        """Uniqueid of the caller's channel on the pbx (its first channel with that caller)."""
        for e in self.events.events:
            if (
                e.source == "pbx"
                and e.name == "Newchannel"
                and e.get("CallerIDNum") == call.caller_number
            ):
                return e.get("Uniqueid")
        return None

    def bridged(self, call: PlacedCall) -> tuple[float, float | None] | None:
        """When, on the pbx, the caller was first in a bridge with another channel, and when
        that ended (None while it lasts); None when the caller was never bridged to anyone.
        Epoch seconds from Asterisk's event timestamps (BridgeEnter / BridgeLeave)."""
        caller = self.pbx_caller_channel(call)
        if caller is None:
            return None
        mine: set[str] = set()
        start: float | None = None
        bridge: str | None = None
        for e in self.events.events:
            if e.source != "pbx" or e.name not in {"BridgeEnter", "BridgeLeave"}:
                continue
            bid = e.get("BridgeUniqueid")
            if start is None:
                if e.name == "BridgeEnter" and e.get("Uniqueid") == caller:
                    mine.add(bid)
                if (
                    e.name == "BridgeEnter"
                    and bid in mine
                    and int(e.get("BridgeNumChannels") or 0) >= 2
                ):
                    start, bridge = e.timestamp, bid
            elif e.name == "BridgeLeave" and bid == bridge:
                return start, e.timestamp
        return None if start is None else (start, None)

    # -- ARI views -------------------------------------------------------------------------

    def ari_headers(self, instance: Instance) -> dict[str, str]:
        """Basic auth for the instance's ARI user (in a header: never in a URL)."""
        info = self.info[instance]
        token = base64.b64encode(f"{info.ari_user}:{info.ari_password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    async def ari_get(self, instance: Instance, path: str) -> Any:
        url = f"{self.info[instance].ari_url}{path}"
        async with self.http.get(url, headers=self.ari_headers(instance)) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def ari_post(
        self,
        instance: Instance,
        path: str,
        params: dict[str, str],
        body: dict[str, Any] | None = None,
    ) -> Any:
        """POST to ARI with query parameters (and a JSON ``body``, e.g. an originate's
        ``variables``); the JSON answer, or None for 204."""
        url = f"{self.info[instance].ari_url}{path}"
        headers = self.ari_headers(instance)
        async with self.http.post(url, params=params, json=body, headers=headers) as resp:
            resp.raise_for_status()
            return None if resp.status == 204 else await resp.json()

    @contextlib.asynccontextmanager
    async def ari_events(self, instance: Instance, app: str) -> AsyncIterator[Any]:
        """The instance's ARI events WebSocket for Stasis application ``app`` (registers it)."""
        url = self.info[instance].ari_url.replace("http://", "ws://") + f"/events?app={app}"
        async with self.http.ws_connect(url, headers=self.ari_headers(instance)) as ws:
            yield ws

    async def channels(self, instance: Instance) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.ari_get(instance, "/channels")
        return result

    async def bridges(self, instance: Instance) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self.ari_get(instance, "/bridges")
        return result

    async def wait_idle(self, within: float = 15.0) -> None:
        """Wait until neither instance has a channel left."""
        deadline = time.monotonic() + within
        while True:
            left = {name: await self.channels(name) for name in INSTANCES}
            if not any(left.values()):
                return
            if time.monotonic() > deadline:
                names = {k: [c["name"] for c in v] for k, v in left.items()}
                raise TimeoutError(f"channels still up after {within} s: {names}")
            await asyncio.sleep(0.1)

    async def hangup_all(self) -> None:
        """Hang up every channel on both instances (test teardown)."""
        for name in INSTANCES:
            for chan in await self.channels(name):
                await self.ami(name).action("Hangup", Channel=chan["name"])
