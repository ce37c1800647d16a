"""Password hashes (stdlib scrypt), CSRF tokens, the log-in throttle, client addresses,
secret comparison.

Hash format (one string, fit for an environment variable)::

    scrypt:<n>:<r>:<p>:<salt, base64url>:<key, base64url>

No ``$`` in it on purpose: docker compose and shells would expand ``$…`` in an env file.

Verification is constant-time, and an unknown user name costs the same scrypt run as a
wrong password, so timing does not tell which user names exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
from collections import deque
from datetime import datetime, timedelta

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_KEY_LEN = 32
_SALT_LEN = 16
MIN_PASSWORD = 10  # the shortest password anyone may set (admin hash, officer account)
_MAX_N = 2**20  # refuse absurd parameters in a configured hash (memory blow-up)


class BadHash(ValueError):
    """A configured password hash that is not in the expected format."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A new scrypt hash of ``password`` (random salt)."""
    if not password:
        raise ValueError("empty password")
    salt = salt if salt is not None else secrets.token_bytes(_SALT_LEN)
    key = hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        dklen=_KEY_LEN,
        maxmem=2**26,
    )
    return f"scrypt:{SCRYPT_N}:{SCRYPT_R}:{SCRYPT_P}:{_b64(salt)}:{_b64(key)}"


def parse_hash(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    """(n, r, p, salt, key) of a hash string; :class:`BadHash` when malformed."""
    parts = encoded.split(":")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise BadHash(
            "expected scrypt:n:r:p:salt:key (make one with: callrouter web hash-password)"
        )
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, key = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        raise BadHash("scrypt parameters or base64 fields are not valid") from None
    if not (2 <= n <= _MAX_N and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16 and key):
        raise BadHash("scrypt parameters out of range")
    return n, r, p, salt, key


_DUMMY = hash_password("callrouter-dummy", salt=b"\0" * _SALT_LEN)


def verify_password(password: str, encoded: str | None) -> bool:
    """True when ``password`` matches ``encoded``; ``None`` (no such user) is always False."""
    n, r, p, salt, key = parse_hash(encoded if encoded is not None else _DUMMY)
    candidate = hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        dklen=len(key),
        maxmem=128 * r * (n + p + 2) + 2**20,
    )
    return hmac.compare_digest(candidate, key) and encoded is not None


def new_token() -> str:
    """A URL-safe random secret (CSRF tokens, feed tokens, session secrets)."""
    return secrets.token_urlsafe(32)


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented secret with the configured one."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


MAX_USER_NAME = 100  # longer names are cut before they are kept, compared or logged


def bounded_user(name: str) -> str:
    """A submitted user name cut to :data:`MAX_USER_NAME` characters (no configured name is
    longer, so a cut name never logs anyone in)."""
    return name[:MAX_USER_NAME]


def client_address(
    peer: str | None, forwarded: str | None, trusted: frozenset[str] | tuple[str, ...]
) -> str:
    """The address a request came from.

    ``peer`` is the TCP peer. Only when it is one of the ``trusted`` proxies is ``forwarded``
    (its ``X-Forwarded-For`` style header) read: the right-most address in it that is not
    itself a trusted proxy (the left part is whatever the client chose to send). Anything not
    an IP address counts as the peer's own request.
    """
    peer = _ip(peer) or "unknown"
    if peer not in trusted or not forwarded:
        return peer
    for item in reversed(forwarded[:1000].split(",")):
        address = _ip(item.strip())
        if address is None:
            return peer
        if address not in trusted:
            return address
    return peer


def _ip(text: str | None) -> str | None:
    if not text:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


class LoginThrottle:
    """Failed log-ins per (client address, user name), per client, and for the whole server.

    * ``max_failures`` within ``window`` for one (client, user) pair locks that pair: the
      right password from another client is still accepted (nobody locks the admin out
      from afar).
    * ``client_max_failures`` for one client across all user names locks that client
      (trying many user names from one address).
    * ``global_max_failures`` across the server: past it, only clients with no failure in
      the window may try (a spread-out guessing run is bounded; a clean client still logs in).
    * At most ``max_tracked`` pairs are kept; each key is bounded (:func:`bounded_user`, an
      IP address), so memory stays small whatever is sent.
    """

    def __init__(
        self,
        max_failures: int,
        window: timedelta,
        *,
        client_max_failures: int = 20,
        global_max_failures: int = 1000,
        max_tracked: int = 10_000,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.client_max_failures = client_max_failures
        self.global_max_failures = global_max_failures
        self.max_tracked = max_tracked
        self._failures: dict[tuple[str, str], deque[datetime]] = {}
        self._by_client: dict[str, int] = {}
        self._recent_all: deque[datetime] = deque()

    def _expire(self, now: datetime) -> None:
        while self._recent_all and now - self._recent_all[0] >= self.window:
            self._recent_all.popleft()

    def _recent(self, key: tuple[str, str], now: datetime) -> int:
        times = self._failures.get(key)
        if times is None:
            return 0
        while times and now - times[0] >= self.window:
            times.popleft()
            self._count(key[0], -1)
        if not times:
            del self._failures[key]
        return len(times)

    def _count(self, client: str, delta: int) -> None:
        n = self._by_client.get(client, 0) + delta
        if n > 0:
            self._by_client[client] = n
        else:
            self._by_client.pop(client, None)

    def _client_failures(self, client: str, now: datetime) -> int:
        for key in [k for k in self._failures if k[0] == client]:
            self._recent(key, now)
        return self._by_client.get(client, 0)

    def locked(self, client: str, user: str, now: datetime) -> bool:
        """True when this client may not try this user name now."""
        key = (client, bounded_user(user))
        if self._recent(key, now) >= self.max_failures:
            return True
        if client not in self._by_client:
            return False  # a clean client always gets its try
        failures = self._client_failures(client, now)
        self._expire(now)
        return failures >= self.client_max_failures or (
            failures > 0 and len(self._recent_all) >= self.global_max_failures
        )

    def failed(self, client: str, user: str, now: datetime) -> None:
        key = (client, bounded_user(user))
        self._recent(key, now)
        self._failures.setdefault(key, deque()).append(now)
        self._count(client, 1)
        self._expire(now)
        self._recent_all.append(now)
        if len(self._recent_all) > self.global_max_failures:
            self._recent_all.popleft()  # only "at the cap or not" matters
        if len(self._failures) > self.max_tracked:
            oldest = min(self._failures, key=lambda k: self._failures[k][-1])
            self._count(oldest[0], -len(self._failures.pop(oldest)))

    def succeeded(self, client: str, user: str) -> None:
        times = self._failures.pop((client, bounded_user(user)), None)
        if times:
            self._count(client, -len(times))

    def tracked(self) -> list[tuple[str, str]]:
        """The (client, user) pairs with failures kept (for tests and the metrics)."""
        return list(self._failures)


def credential_digest(encoded: str) -> str:
    """A digest of a user's configured password hash, kept with each session: when the
    password changes, the digest no longer matches and the user's sessions are revoked."""
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()
