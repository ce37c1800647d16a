"""Caller numbers never appear in full in logs; passwords in URLs never at all."""

from __future__ import annotations

import logging

import pytest
import structlog

from callrouter.logs import configure, mask_number, mask_url
from callrouter.store.db import safe_url

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("0912345678", "091*****78"),
        ("+84912345678", "+84*******78"),
        ("02433334444", "024******44"),
        ("1022", "****"),
        ("", "<none>"),
        (None, "<none>"),
    ],
)
def test_mask_number_keeps_only_prefix_and_last_two_digits(number: str | None, masked: str) -> None:
    assert mask_number(number) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            "http://callrouter:hunter2@127.0.0.1:8088/ari",
            "http://callrouter:***@127.0.0.1:8088/ari",
        ),
        ("ws://u:p%40ss@h/ari/events?app=x", "ws://u:***@h/ari/events?app=x"),
        (
            "postgresql+asyncpg://cr@db/cr?sslmode=require&password=hunter2",
            "postgresql+asyncpg://cr@db/cr?sslmode=require&password=***",
        ),
        ("sqlite+aiosqlite:///var/lib/x.sqlite3", "sqlite+aiosqlite:///var/lib/x.sqlite3"),
        ("see http://h/x?token=abc;and more", "see http://h/x?token=***;and more"),
        ("http://127.0.0.1:8088", "http://127.0.0.1:8088"),
    ],
)
def test_mask_url_hides_every_password_in_a_url(text: str, masked: str) -> None:
    assert mask_url(text) == masked
    assert "hunter2" not in mask_url(text)


def test_safe_url_hides_a_password_given_as_a_query_parameter() -> None:
    url = "postgresql+asyncpg://callrouter@db:5432/callrouter?password=hunter2"
    assert safe_url(url) == "postgresql+asyncpg://callrouter@db:5432/callrouter?password=***"
    assert safe_url("postgresql://u:hunter2@db/x") == "postgresql://u:***@db/x"


def test_every_log_line_and_traceback_is_masked_whoever_forgot(
    capsys: pytest.CaptureFixture[str],
) -> None:
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers.clear()  # basicConfig only configures a root without handlers
    try:
        configure(json=True)
        log = structlog.get_logger("t")
        log.info("serve.starting", ari="http://callrouter:hunter2@127.0.0.1:8088")
        try:
            raise ConnectionError("cannot reach postgresql://u@db/x?password=hunter2")
        except ConnectionError:
            log.exception("db.failed")
        logging.getLogger("sqlalchemy").warning("url http://a:hunter2@h/")
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)
    err = capsys.readouterr().err
    assert "hunter2" not in err
    assert err.count("***") >= 3  # the traceback repeats the message
