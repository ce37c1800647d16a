"""Test harness over the two sandbox Asterisks (``scripts/asterisk-sandbox``).

``Sandbox`` starts and stops a fresh pbx + pstn pair (synchronous: the session fixture uses it).
``Harness`` is the async side a test talks to:

* ``place_call(digits="3", hold=10)`` — the pstn calls 1022 on the pbx, sends the digits once
  the pbx answers, stays ``hold`` seconds, hangs up; returns a :class:`PlacedCall`.
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
import json
import os
import random
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import aiohttp

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "asterisk-sandbox"
Instance = Literal["pbx", "pstn"]
INSTANCES: tuple[Instance, ...] = ("pbx", "pstn")

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
        suffix = random.randrange(100_000)
    return f"{behaviour}{ring_seconds % 10}{suffix:05d}"


class SandboxError(RuntimeError):
    """The sandbox could not be started or driven."""


# --------------------------------------------------------------------------------- control


@dataclass(frozen=True)
class InstanceInfo:
    name: str
    sip_port: int
    ami_port: int
    ami_user: str  # what callrouter logs in as (on the pbx: the shipped rights only)
    ami_secret: str
    harness_ami_user: str  # what the harness logs in as (all rights)
    harness_ami_secret: str
    http_port: int
    ari_url: str
    ari_user: str
    ari_password: str
    etc_dir: Path
    log_dir: Path


@dataclass(frozen=True)
class SandboxInfo:
    slot: int
    pbx: InstanceInfo
    pstn: InstanceInfo

    def __getitem__(self, name: Instance) -> InstanceInfo:
        return self.pbx if name == "pbx" else self.pstn


class Sandbox:
    """Synchronous control of one slot's pbx + pstn pair through the project script."""

    def __init__(self, slot: int = 0) -> None:
        self.slot = slot
        self.env = {**os.environ, "CALLROUTER_SANDBOX_SLOT": str(slot)}

    def _run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), *args],
            env=self.env,
            text=True,
            capture_output=True,
            timeout=timeout,
            check=False,
        )

    def start(self) -> SandboxInfo:
        """Fresh instances (stopping this slot's old ones first); builds the rootfs if needed."""
        if os.geteuid() != 0:
            raise SandboxError("the Asterisk sandbox needs root (chroot, mount)")
        if not SCRIPT.exists():
            raise SandboxError(f"{SCRIPT} is missing")
        self._run("stop", timeout=60)
        res = self._run("start")
        if res.returncode != 0:
            raise SandboxError(f"scripts/asterisk-sandbox start failed:\n{res.stdout}{res.stderr}")
        return self.info()

    def info(self) -> SandboxInfo:
        res = self._run("env", timeout=30)
        if res.returncode != 0:
            raise SandboxError(res.stderr)
        raw = json.loads(res.stdout)

        def inst(d: dict[str, Any]) -> InstanceInfo:
            return InstanceInfo(
                name=d["name"],
                sip_port=d["sip_port"],
                ami_port=d["ami_port"],
                ami_user=d["ami_user"],
                ami_secret=d["ami_secret"],
                harness_ami_user=d["harness_ami_user"],
                harness_ami_secret=d["harness_ami_secret"],
                http_port=d["http_port"],
                ari_url=d["ari_url"],
                ari_user=d["ari_user"],
                ari_password=d["ari_password"],
                etc_dir=Path(d["etc_dir"]),
                log_dir=Path(d["log_dir"]),
            )

        return SandboxInfo(self.slot, inst(raw["pbx"]), inst(raw["pstn"]))

    def stop(self) -> None:
        self._run("stop", timeout=60)

    def cli(self, instance: Instance, command: str) -> str:
        res = self._run("cli", instance, command, timeout=30)
        if res.returncode != 0:
            raise SandboxError(f"{instance}: {command!r} failed: {res.stdout}{res.stderr}")
        return res.stdout

    def install_fallback_include(self, text: str) -> Path:
        """Write the pbx's callrouter_fallback.conf and reload its dialplan."""
        from callrouter.asterisk.contract import FALLBACK_INCLUDE_FILENAME

        path = self.info().pbx.etc_dir / FALLBACK_INCLUDE_FILENAME
        path.write_text(text, encoding="utf-8")
        self.cli("pbx", "dialplan reload")
        return path


# ------------------------------------------------------------------------------------- AMI


@dataclass(frozen=True)
class AmiEvent:
    """One AMI event; ``fields`` as Asterisk sent them (the last value wins for repeats)."""

    source: Instance
    fields: dict[str, str]
    seq: int

    @property
    def name(self) -> str:
        return self.fields.get("Event", "")

    @property
    def user_event(self) -> str | None:
        return self.fields.get("UserEvent") if self.name == "UserEvent" else None

    @property
    def timestamp(self) -> float:
        """Asterisk's own time of the event (manager.conf timestampevents=yes), epoch seconds."""
        return float(self.fields["Timestamp"])

    def get(self, key: str, default: str = "") -> str:
        return self.fields.get(key, default)

    def __getitem__(self, key: str) -> str:
        return self.fields[key]


class EventLog:
    """Every event of both instances, in arrival order, with waiting by predicate."""

    def __init__(self) -> None:
        self.events: list[AmiEvent] = []
        self._seq = itertools.count()
        self._arrived: asyncio.Future[None] | None = None

    def add(self, source: Instance, fields: dict[str, str]) -> None:
        self.events.append(AmiEvent(source, fields, next(self._seq)))
        if self._arrived is not None and not self._arrived.done():
            self._arrived.set_result(None)

    def find(self, predicate: Callable[[AmiEvent], bool]) -> list[AmiEvent]:
        return [e for e in self.events if predicate(e)]

    async def wait_for(
        self, predicate: Callable[[AmiEvent], bool], within: float, what: str = "event"
    ) -> AmiEvent:
        """The first event (already seen or future) matching ``predicate``, waiting at most
        ``within`` seconds (TimeoutError naming ``what`` after that)."""
        deadline = time.monotonic() + within
        checked = 0
        while True:
            for event in self.events[checked:]:
                if predicate(event):
                    return event
            checked = len(self.events)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {what} within {within} s")
            if self._arrived is None or self._arrived.done():
                self._arrived = asyncio.get_running_loop().create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._arrived), remaining)


class AmiClient:
    """Minimal asyncio AMI client: login, actions matched by ActionID, events to a sink."""

    def __init__(self, source: Instance, info: InstanceInfo, log: EventLog) -> None:
        self.source = source
        self.info = info
        self.log = log
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[list[dict[str, str]]]] = {}
        self._lists: dict[str, list[dict[str, str]]] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.info.ami_port), 5
        )
        self._reader = reader
        await asyncio.wait_for(reader.readline(), 5)  # banner "Asterisk Call Manager/…"
        self._task = asyncio.create_task(self._read_loop())
        res = await self.action(
            "Login", Username=self.info.harness_ami_user, Secret=self.info.harness_ami_secret
        )
        if res.get("Response") != "Success":
            raise SandboxError(f"{self.source} AMI login failed: {res}")

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                raw = await self._reader.readuntil(b"\r\n\r\n")
                self._dispatch(_parse_message(raw))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(SandboxError(f"{self.source} AMI connection closed"))

    def _dispatch(self, msg: dict[str, str]) -> None:
        action_id = msg.get("ActionID")
        if "Response" in msg and action_id in self._pending:
            if msg.get("EventList") == "start":
                self._lists[action_id] = [msg]
                return
            fut = self._pending.pop(action_id)
            if not fut.done():
                fut.set_result([msg])
            return
        if action_id in self._lists:
            items = self._lists[action_id]
            items.append(msg)
            if msg.get("EventList") == "Complete":
                del self._lists[action_id]
                fut = self._pending.pop(action_id)
                if not fut.done():
                    fut.set_result(items)
            return
        if "Event" in msg:
            self.log.add(self.source, msg)

    async def action_list(
        self, name: str, variables: dict[str, str] | None = None, wait: float = 10, **fields: str
    ) -> list[dict[str, str]]:
        """Send an action; the response, followed by the events of an event-list action."""
        assert self._writer is not None
        action_id = f"h{next(self._ids)}"
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        lines += [f"{k}: {v}" for k, v in fields.items()]
        lines += [f"Variable: {k}={v}" for k, v in (variables or {}).items()]
        fut: asyncio.Future[list[dict[str, str]]] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = fut
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self._writer.drain()
        return await asyncio.wait_for(fut, wait)

    async def action(
        self, name: str, variables: dict[str, str] | None = None, wait: float = 10, **fields: str
    ) -> dict[str, str]:
        return (await self.action_list(name, variables, wait, **fields))[0]


def _parse_message(raw: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            out[key] = value
        elif line.endswith(":"):
            out[line[:-1]] = ""
    return out


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

_caller_numbers: Iterator[int] = itertools.count(random.randrange(1_000_000))


class Harness:
    """Async access to a running sandbox: place calls, watch events, read what phones saw."""

    def __init__(self, info: SandboxInfo) -> None:
        self.info = info
        self.events = EventLog()
        self._ami: dict[str, AmiClient] = {}
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        for name in INSTANCES:
            client = AmiClient(name, self.info[name], self.events)
            await client.connect()
            self._ami[name] = client
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for client in self._ami.values():
            await client.close()
        if self._http is not None:
            await self._http.close()

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
        pbx_uri: str | None = None,
    ) -> PlacedCall:
        """The pstn dials ``exten`` on the pbx; once answered it sends ``digits`` after
        ``digit_delay`` seconds, stays ``hold`` seconds and hangs up (unless the pbx does).
        ``say``: ``say_after`` seconds after the digits it plays that sound (e.g.
        ``vm-intro``) into the call and presses ``then_digits`` (UserEvent CallerSaid),
        before the ``hold``. ``caller_name``: the caller ID name sent (default: the number;
        quotes in it are escaped as in a SIP display name). ``pbx_uri``: send the call to this
        SIP URI over the pstn's trunk instead of the sandbox's pbx (e.g. a containerised one)."""
        number = caller_number or f"0987{next(_caller_numbers) % 1_000_000:06d}"
        name = (caller_name if caller_name is not None else number).replace('"', '\\"')
        tag = f"call-{number}-{int(time.time() * 1000) % 100000}"
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

    async def wait_user_event(
        self,
        name: str,
        *,
        source: Instance | None = None,
        within: float = 10.0,
        **match: str,
    ) -> AmiEvent:
        """The first UserEvent ``name`` (from ``source``) whose fields equal ``match``."""

        def pred(e: AmiEvent) -> bool:
            return (
                e.user_event == name
                and (source is None or e.source == source)
                and all(e.get(k) == v for k, v in match.items())
            )

        return await self.events.wait_for(pred, within, what=f"UserEvent {name} {match}")

    async def wait_caller_hangup(self, call: PlacedCall, within: float = 30.0) -> CallerExperience:
        """Wait until the caller's channel ended (or its Originate failed)."""

        def pred(e: AmiEvent) -> bool:
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
        assert self._http is not None
        url = f"{self.info[instance].ari_url}{path}"
        async with self._http.get(url, headers=self.ari_headers(instance)) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def ari_post(self, instance: Instance, path: str, params: dict[str, str]) -> Any:
        """POST to ARI with query parameters; the JSON answer, or None for 204."""
        assert self._http is not None
        url = f"{self.info[instance].ari_url}{path}"
        async with self._http.post(url, params=params, headers=self.ari_headers(instance)) as resp:
            resp.raise_for_status()
            return None if resp.status == 204 else await resp.json()

    @contextlib.asynccontextmanager
    async def ari_events(self, instance: Instance, app: str) -> AsyncIterator[Any]:
        """The instance's ARI events WebSocket for Stasis application ``app`` (registers it)."""
        assert self._http is not None
        url = self.info[instance].ari_url.replace("http://", "ws://") + f"/events?app={app}"
        async with self._http.ws_connect(url, headers=self.ari_headers(instance)) as ws:
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
