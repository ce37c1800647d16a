"""Who may talk to the FastAGI server, and what a FastAGI script may be given.

Anybody who reaches the FastAGI port can otherwise read the officers' numbers (``route``),
write calls and call-backs, and end calls. Two locks, either or both (operator guide,
"FastAGI mode"):

* **A shared secret in the AGI URL.** ``CALLROUTER_AGI_SECRET`` (or ``_SECRET_FILE``) and the
  dialplan global ``CALLROUTER_AGI_URL = agi://HOST:PORT/<secret>``: the dialplan calls
  ``${CALLROUTER_AGI_URL}/route``, so Asterisk sends ``agi_network_script: <secret>/route``.
  The server takes the last path segment as the script and compares the rest with the secret
  in constant time. The secret is never logged (only whether it matched).
* **A peer allow-list.** ``CALLROUTER_AGI_ALLOW``: comma-separated addresses or networks
  (``127.0.0.1, 10.0.0.0/24``); a connection from elsewhere is closed before a byte is read.

A connection refused by either is logged (``agi.refused``: peer and reason) and counted in
``callrouter_agi_refused_total{reason}``. Listening beyond loopback with neither lock is refused
at start (:func:`check_exposure`).

The scripts' arguments come from the dialplan, but over a socket: the checks here (and
:func:`~callrouter.asterisk.contract.is_linkedid`) bound them before anything is stored.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from callrouter.errors import CallrouterError, ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SECRET_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{16,128}")
"""URL-path safe and long enough not to be guessed (``openssl rand -hex 24`` gives 48)."""
MAX_ARGS: Final = 10
MAX_ARG_CHARS: Final = 128

REFUSED_REASONS: Final = ("peer", "secret", "bad_request", "unknown_script", "arguments")
"""Label values of ``callrouter_agi_refused_total``."""

OnRefused = Callable[[str], None]
UNKNOWN: Final = "agi.unknown_script"


class Refused(CallrouterError):
    """A FastAGI connection this server does not serve: ``reason`` is a metric label."""

    def __init__(self, reason: str, detail: str, *, event: str = "agi.refused") -> None:
        super().__init__(detail)
        self.reason = reason
        self.event = event  # the log line's name


def parse_allow(raw: str, *, setting: str = "CALLROUTER_AGI_ALLOW") -> tuple[Network, ...]:
    """``127.0.0.1, 10.0.0.0/24, ::1`` → networks; a bad entry is a :class:`ConfigError`
    naming the setting and the entry."""
    out: list[Network] = []
    for part in raw.split(","):
        entry = part.strip()
        if not entry:
            continue
        try:
            out.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ConfigError(
                f"{setting}: {entry[:60]!r} is not an IP address or network (e.g. 10.0.0.0/24)"
            ) from None
    return tuple(out)


@dataclass(frozen=True)
class AgiAccess:
    """The FastAGI server's locks. Both empty: every peer, no secret (loopback only)."""

    secret: str = ""
    allow: tuple[Network, ...] = ()

    def __post_init__(self) -> None:
        if self.secret and SECRET_PATTERN.fullmatch(self.secret) is None:
            raise ConfigError(
                "CALLROUTER_AGI_SECRET: 16-128 characters of A-Z a-z 0-9 _ - (it is part "
                "of the AGI URL); e.g. the output of `openssl rand -hex 24`"
            )

    @classmethod
    def from_text(cls, secret: str, allow: str) -> AgiAccess:
        return cls(secret=secret.strip(), allow=parse_allow(allow))

    @property
    def locked(self) -> bool:
        return bool(self.secret or self.allow)

    def check_peer(self, host: str | None) -> None:
        """Raise :class:`Refused` ("peer") when an allow-list is set and ``host`` is not in it."""
        if not self.allow:
            return
        try:
            address = ipaddress.ip_address((host or "").split("%", 1)[0])
        except ValueError:
            raise Refused("peer", "peer address unknown") from None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not any(address in network for network in self.allow):
            raise Refused("peer", "peer not in CALLROUTER_AGI_ALLOW")

    def script(self, network_script: str) -> str:
        """The script name of an ``agi_network_script`` header, once its secret matched."""
        path = network_script.strip().strip("/")
        given, _, name = path.rpartition("/")
        if self.secret and not hmac.compare_digest(given.encode(), self.secret.encode()):
            raise Refused("secret", "missing or wrong secret in the AGI URL")
        if not self.secret and given:
            raise Refused("unknown_script", "a path where none is expected", event=UNKNOWN)
        return name


def check_exposure(host: str, access: AgiAccess) -> None:
    """Refuse to serve FastAGI beyond loopback with neither a secret nor an allow-list."""
    if access.locked:
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ConfigError(
            f"CALLROUTER_AGI_HOST={host}: FastAGI beyond loopback needs CALLROUTER_AGI_SECRET "
            "(and the same secret in the dialplan's CALLROUTER_AGI_URL) or CALLROUTER_AGI_ALLOW"
        )
