"""``callrouter guard``: no caller is left in a dead Stasis application.

Why a separate process: when the router dies (SIGKILL, OOM, a hung host process), Asterisk
keeps its callers in ``Stasis(callrouter)`` — music on hold, officers' phones ringing — until
the router comes back; indefinitely if it does not. Asterisk's own facilities do not cover
this (measured on Asterisk 22.10 in the sandbox): ``Stasis()`` only fails over when the
application is *not registered when the call arrives*; an application whose WebSocket has
closed stays registered while it has channels (``GET /ari/applications/callrouter`` keeps
answering 200 with the stranded channels), and neither ``ari.conf`` nor the dialplan has a
timeout for a channel in an application nobody serves.

What it does, every ``interval`` seconds:

1. asks the router's ``/healthz`` (the admin web); no answer at all (connection refused,
   timeout) ``dead_after`` times in a row means the router is dead. A 503 (starting,
   draining, ARI reconnecting) is a live router: it hands its own callers to the fallback.
   The guard acts only once it has seen the router answer (``guard.armed``): a wrong URL or
   a disabled admin web leaves calls alone (logged ``guard.router_never_seen``).
2. while it is dead, lists the pbx's channels over AMI (``CoreShowChannels``) and
   * redirects each caller still in ``Stasis(callrouter…)`` and in no bridge to the dialplan
     fallback (``Setvar CALLROUTER_FALLBACK_REASON=guard``, ``Redirect`` to
     ``callrouter-fallback,s,1``), which rings the registered numbers itself;
   * hangs up each officer leg of the router (``callrouter-leg-*``) in no bridge: ringing,
     or answered into the dead application (Asterisk would drop it anyway), so the phone does
     not ring on beside the fallback's call.
   * hangs up each channel of the dead application left alone in a bridge: its other side
     hung up and nothing ended this one. The router guards a bridge (a hang-up handler on
     each leg ends the other) just after bridging it, so a router killed in those
     milliseconds leaves an unguarded pair; once one side hangs up, the other is here.
   Bridged pairs are left alone: media flows without the router, and the bridge guard's
   hang-up handler ends the other side when one hangs up.

AMI rights it needs: ``read = call,reporting`` and ``write = call,reporting`` (CoreShowChannels
is a *reporting* action; Setvar, Redirect and Hangup are *call* actions). No ``command`` or
``system`` rights.

Alarms (with ``alarms``, :class:`callrouter.notify.alarm.GuardAlarms`): the first time a
dead router's callers are moved, the admins get the fallback alarm e-mail (within a probe
round, well inside 60 s); a router whose health stays bad — no answer, or ``/healthz`` 503
(ARI or the database down) — for ``health_alarm_after`` seconds gets the health alarm. Each
is sent once per outage, remembered in the guard's own file (the database may be what is
down); the router copies it into its notifications once back.

When the guard itself dies: nothing changes for calls while the router lives (the guard only
acts on a dead router); systemd / compose restart it (``Restart=always``); while both are down
callers wait in Stasis as before the guard existed. The router never depends on the guard.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

import aiohttp
from panoramisk import Manager

from callrouter.asterisk import contract
from callrouter.calls.vocabulary import LEG_ID_PREFIX
from callrouter.errors import AsteriskError
from callrouter.logs import get_logger

if TYPE_CHECKING:
    from callrouter.notify.alarm import GuardAlarms

log = get_logger(__name__)

#: what the fallback's CDR userfield says for a caller the guard moved
REASON_GUARD: Final = contract.REASON_GUARD


@dataclass(frozen=True)
class GuardConfig:
    health_url: str = "http://127.0.0.1:8080/healthz"
    app: str = contract.APP_NAME
    #: seconds between two probes of the router
    interval: float = 0.5
    #: probes without any answer before the router counts as dead
    dead_after: int = 3
    #: seconds one probe may take
    probe_timeout: float = 0.5
    #: seconds of bad health (no answer, or 503) before the admins are alarmed
    health_alarm_after: float = 300.0
    #: the zone of the times in the alarms
    timezone: str = "Asia/Ho_Chi_Minh"


@dataclass(frozen=True)
class Stranded:
    """What the guard moves: caller channels to redirect, officer legs to hang up (names)."""

    callers: list[str]
    legs: list[str]
    #: channels of the application alone in a bridge (the other side hung up)
    alone: list[str] = field(default_factory=list)


def _field(msg: Mapping[str, Any], key: str) -> str:
    value = msg.get(key, "")
    if isinstance(value, list):  # panoramisk gives a list when a key repeats
        value = value[-1] if value else ""
    return str(value or "")


def stranded(channels: Iterable[Mapping[str, Any]], app: str = contract.APP_NAME) -> Stranded:
    """From ``CoreShowChannel`` events: callers in ``Stasis(app…)`` outside any bridge, the
    router's officer legs outside any bridge, and channels in ``Stasis(app…)`` alone in one."""
    listed = [c for c in channels if _field(c, "Event") == "CoreShowChannel"]
    in_bridge = Counter(_field(c, "BridgeId") for c in listed if _field(c, "BridgeId"))
    found = Stranded([], [])
    for c in listed:
        name = _field(c, "Channel")
        in_app = (
            _field(c, "Application") == "Stasis"
            and _field(c, "ApplicationData").split(",", 1)[0].strip() == app
        )
        bridge = _field(c, "BridgeId")
        if bridge:
            if in_app and in_bridge[bridge] == 1:
                found.alone.append(name)
        elif _field(c, "Uniqueid").startswith(LEG_ID_PREFIX):
            found.legs.append(name)
        elif in_app:
            found.callers.append(name)
    return found


def _problems(status: int, body: bytes) -> list[str]:
    """The checks a 503 ``/healthz`` names as failing (``["database"]``); [] when ready."""
    if status < 500:
        return []
    try:
        checks = json.loads(body).get("checks", {})
    except (ValueError, AttributeError):
        return [f"HTTP {status}"]
    failing = [str(k)[:40] for k, v in checks.items() if not v] if isinstance(checks, dict) else []
    return failing[:10] or [f"HTTP {status}"]


def _local(at: datetime, timezone: str) -> str:
    """The time as the admins read it, in the rota's zone."""
    return f"{at.astimezone(ZoneInfo(timezone)):%H:%M:%S %d/%m/%Y}"


class Guard:
    """The guard's loop over one AMI connection; ``run`` until ``stop`` is set."""

    def __init__(
        self, manager: Manager, config: GuardConfig, alarms: GuardAlarms | None = None
    ) -> None:
        self.manager = manager
        self.config = config
        self.alarms = alarms
        self.misses = 0
        self.moved = 0
        #: what the last 503 said was down ("ari", "database", …); empty when healthy
        self.problems: list[str] = []
        #: when the router was first seen dead or unhealthy in this outage (None: healthy)
        self.bad_since: datetime | None = None
        self.moved_in_outage = 0
        self._alarm_task: asyncio.Task[None] | None = None
        #: armed once the router answered: a wrong --health-url (or an admin web that is
        #: off) must not make the guard take every caller away from a live router
        self.seen_alive = False

    async def alive(self, session: aiohttp.ClientSession) -> bool:
        """Whether the router answered its ``/healthz`` at all (any HTTP status)."""
        try:
            async with asyncio.timeout(self.config.probe_timeout):
                async with session.get(self.config.health_url) as resp:
                    body = await resp.read()
                    self.problems = _problems(resp.status, body)
                    return True
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    async def run(self, stop: asyncio.Event) -> None:
        async with aiohttp.ClientSession() as session:
            while not stop.is_set():
                if await self.alive(session):
                    if not self.seen_alive:
                        log.info("guard.armed", url=self.config.health_url)
                    elif self.misses >= self.config.dead_after:
                        log.info("guard.router_back")
                    self.seen_alive = True
                    self.misses = 0
                else:
                    self.misses += 1
                    if self.misses == self.config.dead_after:
                        log.warning(
                            "guard.router_dead" if self.seen_alive else "guard.router_never_seen",
                            url=self.config.health_url,
                        )
                    if self.seen_alive and self.misses >= self.config.dead_after:
                        with contextlib.suppress(AsteriskError):
                            found = await self.sweep()
                            self.moved_in_outage += len(found.callers)
                if self.seen_alive:
                    self._watch_health()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.config.interval)

    def _watch_health(self) -> None:
        """Track the outage and raise its alarms (in the background: a slow SMTP server
        must not hold up the next sweep)."""
        dead = self.misses >= self.config.dead_after
        if not dead and not self.problems:
            self.bad_since, self.moved_in_outage = None, 0
            return
        now = datetime.now(UTC)
        if self.bad_since is None:
            self.bad_since = now
        if self.alarms is None or (self._alarm_task and not self._alarm_task.done()):
            return
        outage = f"{self.bad_since:%Y%m%dT%H%M%S}"
        what = "bộ định tuyến không trả lời" if dead else ", ".join(self.problems)
        pending: list[tuple[str, str, dict[str, str]]] = []
        if self.moved_in_outage:
            pending.append(
                (
                    f"fallback:{outage}",
                    "fallback_alarm",
                    {
                        "at": _local(self.bad_since, self.config.timezone),
                        "callers": str(self.moved_in_outage),
                    },
                )
            )
        seconds = (now - self.bad_since).total_seconds()
        if seconds >= self.config.health_alarm_after:
            minutes = str(int(seconds // 60))
            values = {
                "since": _local(self.bad_since, self.config.timezone),
                "minutes": minutes,
                "what": what,
            }
            pending.append((f"health:{outage}", "health_alarm", values))
        if pending:
            self._alarm_task = asyncio.create_task(self._raise(pending))

    async def _raise(self, pending: list[tuple[str, str, dict[str, str]]]) -> None:
        for key, kind, values in pending:
            if self.alarms is None:
                return
            try:
                await self.alarms.raise_alarm(key, kind, values)
            except OSError as exc:  # the record on disk: logged, tried again next round
                log.error("guard.alarm_failed", kind=kind, error=str(exc))

    async def sweep(self) -> Stranded:
        """Move what the dead router left: callers to the fallback, lone legs and parties left
        alone in a bridge hung up."""
        found = stranded(await self._channels(), self.config.app)
        for name in found.legs:
            await self._action(
                {"Action": "Hangup", "Channel": name, "Cause": "16"}, "hang up a leg"
            )
            log.warning("guard.leg_hung_up", channel=name)
        for name in found.alone:
            await self._action(
                {"Action": "Hangup", "Channel": name, "Cause": "16"}, "hang up a lone party"
            )
            log.warning("guard.alone_in_bridge_hung_up", channel=name)
        for name in found.callers:
            await self._action(
                {
                    "Action": "Setvar",
                    "Channel": name,
                    "Variable": contract.VAR_FALLBACK_REASON,
                    "Value": REASON_GUARD,
                },
                "mark the caller",
            )
            await self._action(
                {
                    "Action": "Redirect",
                    "Channel": name,
                    "Context": contract.CONTEXT_FALLBACK,
                    "Exten": "s",
                    "Priority": "1",
                },
                "redirect the caller",
            )
            self.moved += 1
            log.warning("guard.caller_to_fallback", channel=name)
        return found

    async def _channels(self) -> list[Mapping[str, Any]]:
        reply = await self._send({"Action": "CoreShowChannels"}, "list channels")
        return list(reply) if isinstance(reply, list) else []

    async def _action(self, action: dict[str, str], what: str) -> None:
        reply = await self._send(action, what)
        first = reply[0] if isinstance(reply, list) and reply else reply
        if not getattr(first, "success", False):  # the channel may just have gone: go on
            log.info("guard.action_refused", action=action["Action"], what=what)

    async def _send(self, action: dict[str, str], what: str) -> Any:
        try:
            async with asyncio.timeout(5.0):
                return await self.manager.send_action(action)
        except (OSError, TimeoutError) as exc:
            raise AsteriskError(f"AMI {what}: {exc or 'timeout'}") from None
