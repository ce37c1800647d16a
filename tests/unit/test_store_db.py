"""Database URLs: only the two supported drivers, clear errors, passwords never shown."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from callrouter.errors import ConfigError
from callrouter.store.db import is_connection_error, is_data_error, parse_url, safe_url

pytestmark = pytest.mark.unit


def test_plain_driver_names_get_their_async_driver() -> None:
    assert parse_url("sqlite:////var/lib/x.db").drivername == "sqlite+aiosqlite"
    assert parse_url("postgresql://u@h/db").drivername == "postgresql+asyncpg"
    assert parse_url("postgres://u@h/db").drivername == "postgresql+asyncpg"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("not a url", "not valid"),
        ("mysql+aiomysql://u@h/db", r"'mysql\+aiomysql' is not supported"),
        ("sqlite+aiosqlite://", "needs a file path"),
    ],
)
def test_unusable_urls_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_url(url)


def test_safe_url_hides_the_password() -> None:
    shown = safe_url("postgresql+asyncpg://callrouter:hunter2@db:5432/callrouter")
    assert "hunter2" not in shown
    assert "callrouter:***@db" in shown
    assert safe_url("::::") == "<invalid URL>"


def test_only_refused_data_counts_as_a_data_error() -> None:
    assert is_data_error(IntegrityError("INSERT", {}, Exception("check")))
    assert is_data_error(DataError("INSERT", {}, Exception("too long")))
    assert is_data_error(KeyError("started_at"))
    assert not is_data_error(OperationalError("SELECT 1", {}, Exception("gone")))
    assert not is_data_error(RuntimeError("bug"))


def test_refused_connections_and_timeouts_are_connection_errors() -> None:
    assert is_connection_error(ConnectionRefusedError(111, "refused"))
    assert is_connection_error(TimeoutError())
    assert not is_connection_error(ValueError("x"))
