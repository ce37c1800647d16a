"""What the ARI call flow needs of Asterisk: the :class:`AriPort` Protocol.

:class:`callrouter.asterisk.ari.AriClient` satisfies it over HTTP and a WebSocket;
:class:`callrouter.calls.fake_ari.FakeAri` in memory, replaying a trace recorded from a real
end-to-end run. The session (:mod:`callrouter.asterisk.stasis`) only ever sees this port.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from callrouter.asterisk.ari import (
    Bridge,
    Channel,
    ConnectedHandler,
    EventHandler,
    ReplacedHandler,
)


class AriPort(Protocol):
    """The ARI commands and the event stream of one Stasis application."""

    async def originate(
        self,
        *,
        endpoint: str,
        app: str,
        app_args: Iterable[str] = (),
        channel_id: str | None = None,
        originator: str | None = None,
        ring_timeout: int | None = None,
        caller_id: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Channel: ...

    async def get_channel(self, channel_id: str) -> Channel: ...

    async def list_channels(self) -> list[Channel]: ...

    async def answer(self, channel_id: str) -> None: ...

    async def hangup(self, channel_id: str, reason: str = "normal") -> None: ...

    async def continue_in_dialplan(
        self,
        channel_id: str,
        *,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None: ...

    async def play(
        self,
        channel_id: str,
        media: str | Iterable[str],
        *,
        playback_id: str | None = None,
        lang: str | None = None,
    ) -> str: ...

    async def record(
        self,
        channel_id: str,
        name: str,
        *,
        fmt: str = "wav",
        max_duration: int = 0,
        max_silence: int = 0,
        beep: bool = True,
        terminate_on: str = "#",
    ) -> None: ...

    async def stop_playback(self, playback_id: str) -> None: ...

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None: ...

    async def stop_moh(self, channel_id: str) -> None: ...

    async def get_variable(self, channel_id: str, variable: str) -> str: ...

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None: ...

    async def create_bridge(
        self, bridge_id: str, *, bridge_type: str = "mixing", name: str | None = None
    ) -> Bridge: ...

    async def add_channels(self, bridge_id: str, channel_ids: Iterable[str]) -> None: ...

    async def destroy_bridge(self, bridge_id: str) -> None: ...

    async def list_bridges(self) -> list[Bridge]: ...

    async def subscribe(self, event_source: str) -> None: ...

    async def run_events(
        self,
        on_event: EventHandler,
        on_connected: ConnectedHandler | None = None,
        on_replaced: ReplacedHandler | None = None,
    ) -> None: ...
