"""The two ways callrouter routes a call, for end-to-end tests that run in both.

* ``ari``: the pbx hands branch 3 to Stasis and the real ``callrouter serve`` (ARI) rings the
  officers itself (:func:`tests.e2e.callflow_support.running_router`).
* ``agi``: the pbx's global ``CALLROUTER_ROUTER=agi`` sends branch 3 to FastAGI; the real
  ``callrouter serve --mode agi`` decides and the shipped dialplan dials
  (:func:`tests.e2e.agi_support.running_agi_router`).

A test takes the ``router_mode`` fixture (tests/e2e/conftest.py) and runs its router with
``async with router_mode.running(rota, url, state_dir) as router``; the rows and the phones'
experience it then asserts are the same in both modes (``calls.mode`` is the mode's name).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from callrouter.asterisk import contract
from callrouter.calls.live import LiveCalls
from callrouter.calls.vocabulary import LEG_ID_PREFIX
from callrouter.metrics import Metrics
from tests.e2e.agi_support import agi_url, running_agi_router
from tests.e2e.callflow_support import running_router
from tests.e2e.harness import AmiEvent, Harness, PlacedCall

ModeName = Literal["ari", "agi"]
MODES: tuple[ModeName, ...] = ("ari", "agi")


@dataclass
class RunningRouter:
    """What a test sees of a running router, whatever the mode: its live-calls view and
    metrics (fed by the call flow's observer in both modes)."""

    live: LiveCalls
    metrics: Metrics
    #: ARI mode's router (``callflow_support.Router``) or AGI mode's (``AgiRouter``)
    inner: Any = field(repr=False)


@dataclass
class RouterMode:
    name: ModeName
    harness: Harness
    #: where the pbx's dialplan sends FastAGI requests (AGI mode only)
    agi_port: int | None = None

    @contextlib.asynccontextmanager
    async def running(
        self,
        rota_path: Path,
        database_url: str,
        state_dir: Path,
        *,
        message_max_seconds: int = 120,
        dialplan_include: Path | None = None,
        **ari_options: Any,
    ) -> AsyncIterator[RunningRouter]:
        """This mode's router until the block ends. ``message_max_seconds``: the longest
        message a caller may leave (both modes); ``dialplan_include``: where it writes the
        fallback include (default: in ``state_dir``, which no Asterisk reads; AGI mode then
        also gets the pbx's AMI, to reload the dialplan as ARI mode does over ARI);
        ``ari_options``: further Settings or ServeOptions fields (e.g. ``drain_seconds``)."""
        live, metrics = LiveCalls(), Metrics()
        if self.name == "ari":
            async with running_router(
                self.harness.info,
                rota_path,
                database_url,
                state_dir,
                dialplan_include=dialplan_include,
                live=live,
                metrics=metrics,
                message_max_seconds=message_max_seconds,
                **ari_options,
            ) as router:
                yield RunningRouter(live, metrics, router)
        else:
            assert self.agi_port is not None
            pbx = self.harness.info.pbx
            async with running_agi_router(
                rota_path,
                database_url,
                state_dir,
                port=self.agi_port,
                dialplan_include=dialplan_include,
                ami=(pbx.ami_port, pbx.ami_user, pbx.ami_secret) if dialplan_include else None,
                live=live,
                metrics=metrics,
                message_max_seconds=message_max_seconds,
                **ari_options,
            ) as agi_router:
                if dialplan_include is not None:  # it reloaded the pbx dialplan at start
                    await self.dialplan_reloaded()
                yield RunningRouter(live, metrics, agi_router)

    async def dialplan_reloaded(self) -> None:
        """A dialplan reload resets the pbx's globals to its files, which in the sandbox say
        ``CALLROUTER_ROUTER=ari`` (an operator running AGI mode has ``agi`` in the
        [globals]): in AGI mode set this test's AGI globals again."""
        if self.name == "agi":
            assert self.agi_port is not None
            ami = self.harness.ami("pbx")
            url = agi_url(self.agi_port)
            await ami.action("Setvar", Variable=contract.GLOBAL_AGI_URL, Value=url)
            await ami.action("Setvar", Variable=contract.GLOBAL_ROUTER, Value=contract.ROUTER_AGI)

    def post_dial_delay(self, call: PlacedCall) -> float:
        """Seconds, on the pbx's clock, from callrouter getting the call (Stasis entered /
        AGI ``route`` started) to the first officer leg being created."""
        events = self.harness.events.events
        app = "Stasis" if self.name == "ari" else "AGI"
        start = next(
            e
            for e in events
            if e.source == "pbx"
            and e.name == "Newexten"
            and e.get("Application") == app
            and (app == "Stasis" or "/route" in e.get("AppData"))
            and e.get("CallerIDNum") == call.caller_number
        )

        def is_leg(e: AmiEvent) -> bool:
            if self.name == "ari":
                return bool(e.get("Uniqueid").startswith(LEG_ID_PREFIX))
            return bool(e.get("Channel") != start.get("Channel"))

        leg = next(
            e
            for e in events
            if e.source == "pbx"
            and e.name == "Newchannel"
            and e.get("Linkedid") == start.get("Linkedid")
            and is_leg(e)
        )
        return leg.timestamp - start.timestamp
