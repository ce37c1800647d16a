"""Password hashes, secret comparison, the log-in throttle and the post-login redirect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from callrouter.web.app import _safe_next
from callrouter.web.security import (
    MAX_USER_NAME,
    BadHash,
    LoginThrottle,
    client_address,
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


A, B = "192.0.2.1", "192.0.2.2"


def test_throttle_locks_after_max_failures_and_unlocks_after_the_window() -> None:
    throttle = LoginThrottle(3, timedelta(minutes=15))
    for i in range(3):
        assert not throttle.locked(A, "admin", T0)
        throttle.failed(A, "admin", T0 + timedelta(seconds=i))
    assert throttle.locked(A, "admin", T0 + timedelta(minutes=1))
    assert not throttle.locked(A, "other", T0)
    assert not throttle.locked(B, "admin", T0 + timedelta(minutes=1))
    assert not throttle.locked(A, "admin", T0 + timedelta(minutes=15, seconds=3))
    assert throttle.tracked() == []


def test_throttle_forgets_failures_after_a_success() -> None:
    throttle = LoginThrottle(2, timedelta(minutes=15))
    throttle.failed(A, "admin", T0)
    throttle.succeeded(A, "admin")
    throttle.failed(A, "admin", T0)
    assert not throttle.locked(A, "admin", T0)


def test_one_client_trying_many_user_names_is_locked_but_not_other_clients() -> None:
    throttle = LoginThrottle(5, timedelta(minutes=15), client_max_failures=4)
    for n in range(4):
        throttle.failed(A, f"user{n}", T0)
    assert throttle.locked(A, "admin", T0)
    assert not throttle.locked(B, "admin", T0)


def test_past_the_global_cap_only_clients_without_failures_may_try() -> None:
    throttle = LoginThrottle(5, timedelta(minutes=15), global_max_failures=10)
    for n in range(10):
        throttle.failed(f"198.51.100.{n}", "admin", T0)
    assert throttle.locked("198.51.100.0", "admin", T0)  # failed once, cap reached
    assert not throttle.locked(B, "admin", T0)  # a clean client still gets its try
    assert not throttle.locked("198.51.100.0", "admin", T0 + timedelta(minutes=15))


def test_throttle_memory_is_bounded_in_pairs_and_in_name_length() -> None:
    throttle = LoginThrottle(5, timedelta(minutes=15), max_tracked=100)
    for n in range(1000):
        throttle.failed(f"10.0.{n // 250}.{n % 250}", "x" * 10_000, T0 + timedelta(seconds=n))
    kept = throttle.tracked()
    assert len(kept) == 100
    assert all(len(user) == MAX_USER_NAME for _, user in kept)


@pytest.mark.parametrize(
    ("peer", "header", "trusted", "expected"),
    [
        ("192.0.2.1", None, (), "192.0.2.1"),
        ("192.0.2.1", "203.0.113.9", (), "192.0.2.1"),  # not a proxy: header ignored
        ("10.0.0.1", "203.0.113.9", ("10.0.0.1",), "203.0.113.9"),
        ("10.0.0.1", "1.1.1.1, 203.0.113.9", ("10.0.0.1",), "203.0.113.9"),  # right-most
        ("10.0.0.1", "203.0.113.9, 10.0.0.2", ("10.0.0.1", "10.0.0.2"), "203.0.113.9"),
        ("10.0.0.1", "not-an-ip", ("10.0.0.1",), "10.0.0.1"),
        ("10.0.0.1", "", ("10.0.0.1",), "10.0.0.1"),
        (None, None, (), "unknown"),
        ("::ffff:192.0.2.1", None, (), "::ffff:c000:201"),
    ],
)
def test_client_address_reads_the_proxy_header_only_from_a_trusted_proxy(
    peer: str | None, header: str | None, trusted: tuple[str, ...], expected: str
) -> None:
    assert client_address(peer, header, trusted) == expected


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
