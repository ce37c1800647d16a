"""Password hashes (stdlib scrypt), CSRF tokens, the log-in throttle, secret comparison.

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
import re
import secrets
from collections import deque
from datetime import datetime, timedelta

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_KEY_LEN = 32
_SALT_LEN = 16
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


class LoginThrottle:
    """Locks a user name after ``max_failures`` failed log-ins within ``window``."""

    def __init__(self, max_failures: int, window: timedelta) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, deque[datetime]] = {}

    def _recent(self, user: str, now: datetime) -> deque[datetime]:
        times = self._failures.get(user)
        if times is None:
            return deque()
        while times and now - times[0] >= self.window:
            times.popleft()
        if not times:
            del self._failures[user]
        return times

    def locked(self, user: str, now: datetime) -> bool:
        return len(self._recent(user, now)) >= self.max_failures

    def failed(self, user: str, now: datetime) -> None:
        self._recent(user, now)
        self._failures.setdefault(user, deque()).append(now)
        # Bound memory: a flood of made-up user names cannot grow this without limit.
        if len(self._failures) > 10_000:
            oldest = min(self._failures, key=lambda u: self._failures[u][-1])
            del self._failures[oldest]

    def succeeded(self, user: str) -> None:
        self._failures.pop(user, None)
