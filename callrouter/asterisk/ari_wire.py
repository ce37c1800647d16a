"""What the ARI client puts on the wire and reads back besides the payloads: the event types
it lets through, the HTTP Basic header, the typed error for each status, an error's message,
and exceptions as log strings that cannot carry credentials."""

from __future__ import annotations

import base64
from typing import Final

import aiohttp
import orjson

from callrouter.errors import AriConflict, AriNotFound, AriRequestError


def basic_auth(user: str, password: str) -> str:
    """The ``Authorization`` header value for HTTP Basic auth."""
    if ":" in user:
        raise ValueError("an ARI user name cannot contain ':'")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


#: The event Asterisk sends to the socket it no longer gives the application's events to
#: (callrouter/asterisk/ari_standby.py).
APPLICATION_REPLACED: Final = "ApplicationReplaced"

#: Event types the call flow reacts to; everything else is dropped (ChannelVarset first).
#: Not Dial, ChannelEnteredBridge/LeftBridge, BridgeDestroyed, PlaybackStarted or
#: RecordingStarted: nothing waits for them, and they were 9 of the 22 events of an answered
#: call (issue 23: each event is JSON Asterisk encodes and the router decodes).
DEFAULT_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "StasisStart",
        "StasisEnd",
        "ChannelStateChange",
        "ChannelDestroyed",
        "ChannelHangupRequest",
        "ChannelDtmfReceived",
        "PlaybackFinished",
        "RecordingFinished",
        "RecordingFailed",
        APPLICATION_REPLACED,
    }
)


ERRORS_BY_STATUS: Final[dict[int, type[AriRequestError]]] = {
    404: AriNotFound,
    409: AriConflict,
}


def json_text(value: object) -> str:
    """``value`` as JSON text: every ARI request body, on HTTP and on the events socket."""
    return orjson.dumps(value).decode()


def error_message(text: str) -> str:
    try:
        data = orjson.loads(text)
    except ValueError:
        return text.strip()[:200]
    if isinstance(data, dict) and "message" in data:
        return str(data["message"])
    return text.strip()[:200]


def describe(exc: BaseException) -> str:
    """An exception as a log string that cannot carry credentials (no URL with userinfo)."""
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        return f"handshake status {exc.status}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status}"
    return type(exc).__name__ + (f": {exc}" if isinstance(exc, AriRequestError) else "")
