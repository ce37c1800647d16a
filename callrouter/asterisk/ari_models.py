"""The typed views of ARI's JSON the call flow reads: :class:`Channel`, :class:`Bridge`,
:class:`Event` (and :class:`CallerId`). Split out of :mod:`callrouter.asterisk.ari`, which
re-exports them; the HTTP and WebSocket client stays there."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# --------------------------------------------------------------------------- models
# ARI's JSON is read field by field with these: a field of the wrong type (a list where an
# object belongs, "x" as a priority) reads as absent instead of raising in the event loop.


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _sequence(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _count(value: Any) -> int | None:
    """A non-negative integer given as a number or as ASCII digits, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 9:
        return int(value)
    return None


@dataclass(frozen=True, slots=True)
class CallerId:
    name: str = ""
    number: str = ""


@dataclass(frozen=True, slots=True)
class Channel:
    """An ARI channel snapshot (the fields the call flow reads)."""

    id: str
    name: str
    state: str
    caller: CallerId
    connected: CallerId
    context: str = ""
    exten: str = ""
    priority: int = 0
    creationtime: str = ""
    language: str = ""
    channelvars: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Channel:
        caller, connected = _mapping(data.get("caller")), _mapping(data.get("connected"))
        dialplan = _mapping(data.get("dialplan"))
        return cls(
            id=str(data.get("id", "")),
            name=str(data.get("name", "")),
            state=str(data.get("state", "")),
            caller=CallerId(str(caller.get("name", "")), str(caller.get("number", ""))),
            connected=CallerId(str(connected.get("name", "")), str(connected.get("number", ""))),
            context=str(dialplan.get("context", "")),
            exten=str(dialplan.get("exten", "")),
            priority=_count(dialplan.get("priority")) or 0,
            creationtime=str(data.get("creationtime", "")),
            language=str(data.get("language", "")),
            channelvars={str(k): str(v) for k, v in _mapping(data.get("channelvars")).items()},
        )


@dataclass(frozen=True, slots=True)
class Bridge:
    """An ARI bridge snapshot."""

    id: str
    bridge_type: str
    technology: str
    channels: tuple[str, ...]
    name: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Bridge:
        return cls(
            id=str(data.get("id", "")),
            bridge_type=str(data.get("bridge_type", "")),
            technology=str(data.get("technology", "")),
            name=str(data.get("name", "")),
            channels=tuple(str(c) for c in _sequence(data.get("channels"))),
        )


@dataclass(frozen=True, slots=True)
class Event:
    """One ARI event. ``raw`` keeps the whole JSON object for the fields not lifted here."""

    type: str
    application: str
    timestamp: str
    channel: Channel | None
    bridge: Bridge | None
    args: tuple[str, ...]
    cause: int | None
    digit: str | None
    playback_id: str | None
    received: float  # time.monotonic() when the client read it
    raw: Mapping[str, Any]

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, received: float | None = None) -> Event:
        channel = data.get("channel")
        bridge = data.get("bridge")
        playback = data.get("playback")
        cause = data.get("cause")
        return cls(
            type=str(data.get("type", "")),
            application=str(data.get("application", "")),
            timestamp=str(data.get("timestamp", "")),
            channel=Channel.from_json(channel) if isinstance(channel, Mapping) else None,
            bridge=Bridge.from_json(bridge) if isinstance(bridge, Mapping) else None,
            args=tuple(str(a) for a in _sequence(data.get("args"))),
            cause=_count(cause),
            digit=str(data["digit"]) if "digit" in data else None,
            playback_id=str(playback.get("id")) if isinstance(playback, Mapping) else None,
            received=time.monotonic() if received is None else received,
            raw=data,
        )

    @property
    def channel_id(self) -> str | None:
        """The channel the event is about: its ``channel``, or a playback's or a live
        recording's target channel."""
        if self.channel is not None:
            return self.channel.id
        for key in ("playback", "recording"):
            media = self.raw.get(key)
            if isinstance(media, Mapping):
                target = str(media.get("target_uri", ""))
                if target.startswith("channel:"):
                    return target.removeprefix("channel:")
        return None

    @property
    def recording(self) -> Mapping[str, Any]:
        """The ``recording`` object of a Recording* event (empty for other events)."""
        data = self.raw.get("recording")
        return data if isinstance(data, Mapping) else {}

    def at(self) -> datetime | None:
        """The event's Asterisk timestamp as an aware datetime (None if missing/garbled)."""
        try:
            return datetime.strptime(self.timestamp, "%Y-%m-%dT%H:%M:%S.%f%z")
        except ValueError:
            return None
