"""The FastAGI locks as configured: a secret fit for a URL, an allow-list of networks, and no
FastAGI beyond loopback with neither."""

from __future__ import annotations

import pytest

from callrouter.asterisk.agi_access import (
    AgiAccess,
    Refused,
    check_exposure,
    parse_allow,
)
from callrouter.asterisk.contract import is_linkedid
from callrouter.errors import ConfigError
from callrouter.store.recordings import is_valid_recording_name

pytestmark = pytest.mark.unit

SECRET = "a" * 24


@pytest.mark.parametrize("bad", ["short", "has/slash-0123456789", "has space 0123456789", "é" * 20])
def test_a_secret_unfit_for_the_agi_url_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="CALLROUTER_AGI_SECRET"):
        AgiAccess(secret=bad)


def test_a_bad_allow_list_entry_is_named() -> None:
    with pytest.raises(ConfigError, match=r"CALLROUTER_AGI_ALLOW: 'nowhere'"):
        parse_allow("127.0.0.1, nowhere")


def test_the_script_is_the_last_segment_once_the_secret_matched() -> None:
    access = AgiAccess(secret=SECRET)
    assert access.script(f"/{SECRET}/route") == "route"
    for given in ("route", f"{SECRET}x/route", f"x{SECRET}/route", "/route", ""):
        with pytest.raises(Refused) as caught:
            access.script(given)
        assert caught.value.reason == "secret"
    assert AgiAccess().script("route") == "route"
    with pytest.raises(Refused):
        AgiAccess().script(f"{SECRET}/route")


def test_the_allow_list_admits_its_networks_and_ipv4_mapped_addresses_only() -> None:
    access = AgiAccess(allow=parse_allow("10.0.0.0/24, ::1"))
    access.check_peer("10.0.0.7")
    access.check_peer("::ffff:10.0.0.8")
    access.check_peer("::1")
    for peer in ("10.0.1.1", "127.0.0.1", None, "garbage"):
        with pytest.raises(Refused):
            access.check_peer(peer)
    AgiAccess().check_peer("203.0.113.9")  # no list: any peer (loopback-only serving)


def test_fastagi_beyond_loopback_needs_a_secret_or_an_allow_list() -> None:
    for host in ("127.0.0.1", "::1", "localhost"):
        check_exposure(host, AgiAccess())
    with pytest.raises(ConfigError, match=r"CALLROUTER_AGI_HOST=0\.0\.0\.0"):
        check_exposure("0.0.0.0", AgiAccess())  # noqa: S104 -- the case under test
    check_exposure("0.0.0.0", AgiAccess(secret=SECRET))  # noqa: S104
    check_exposure("10.0.0.1", AgiAccess(allow=parse_allow("10.0.0.2")))


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("1700000000.42", True),
        ("pbx-1.2", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("", False),
        ("a b", False),
        ("a\nb", False),
        ("a,b", False),
    ],
)
def test_a_linkedid_is_a_short_plain_token(text: str, ok: bool) -> None:
    assert is_linkedid(text) is ok


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("callrouter-message-pbx11-1700000000.wav", True),
        ("../x.wav", False),
        (".x", False),
        ("a/b.wav", False),
        ("a..b", False),
        ("x" * 129, False),
        ("", False),
    ],
)
def test_a_recording_name_is_one_plain_file_name(text: str, ok: bool) -> None:
    assert is_valid_recording_name(text) is ok
