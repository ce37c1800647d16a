"""Password hashes, secret comparison, the log-in throttle and the post-login redirect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callrouter.web.app import _safe_next
from callrouter.web.security import (
    BadHash,
    LoginThrottle,
    hash_password,
    parse_hash,
    same_secret,
    verify_password,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 10, 3, 0, tzinfo=UTC)


def test_hash_verifies_the_right_password_only() -> None:
    encoded = hash_password("Mật khẩu dài 1022")
    assert encoded.startswith("scrypt:16384:8:1:")
    assert verify_password("Mật khẩu dài 1022", encoded)
    assert not verify_password("mật khẩu dài 1022", encoded)
    assert not verify_password("", encoded)


def test_hash_has_no_dollar_sign_for_env_files() -> None:
    assert "$" not in hash_password("abcdefghij")


def test_two_hashes_of_one_password_differ_by_salt() -> None:
    assert hash_password("abcdefghij") != hash_password("abcdefghij")


def test_no_such_user_never_verifies() -> None:
    assert not verify_password("callrouter-dummy", None)


@pytest.mark.parametrize(
    "bad",
    [
        "plaintext",
        "bcrypt$2b$12$abc",
        "scrypt:16384:8:1:!!!:abc",
        "scrypt:16384:8:1:a+b/:abc",  # standard base64, not base64url
        "scrypt$16384$8$1$AAAA$AAAA",  # the old "$" form
        "scrypt:1000:8:1:AAAA:AAAA",  # n not a power of two
        "scrypt:67108864:8:1:AAAA:AAAA",  # n far too large (memory)
    ],
)
def test_malformed_configured_hash_is_a_clear_error(bad: str) -> None:
    with pytest.raises(BadHash):
        parse_hash(bad)


def test_empty_password_cannot_be_hashed() -> None:
    with pytest.raises(ValueError, match="empty"):
        hash_password("")


def test_same_secret_refuses_missing_or_different_values() -> None:
    assert same_secret("token", "token")
    assert not same_secret("token2", "token")
    assert not same_secret(None, "token")
    assert not same_secret("", "")


def test_throttle_locks_after_max_failures_and_unlocks_after_the_window() -> None:
    throttle = LoginThrottle(3, timedelta(minutes=15))
    for i in range(3):
        assert not throttle.locked("admin", T0)
        throttle.failed("admin", T0 + timedelta(seconds=i))
    assert throttle.locked("admin", T0 + timedelta(minutes=1))
    assert not throttle.locked("other", T0)
    assert not throttle.locked("admin", T0 + timedelta(minutes=15, seconds=3))


def test_throttle_forgets_failures_after_a_success() -> None:
    throttle = LoginThrottle(2, timedelta(minutes=15))
    throttle.failed("admin", T0)
    throttle.succeeded("admin")
    throttle.failed("admin", T0)
    assert not throttle.locked("admin", T0)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/callbacks", "/callbacks"),
        ("/calls/abc", "/calls/abc"),
        (None, "/"),
        ("", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
    ],
)
def test_after_login_only_local_paths_are_followed(given: str | None, expected: str) -> None:
    assert _safe_next(given) == expected
