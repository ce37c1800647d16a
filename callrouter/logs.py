"""Structured logging: JSON in production, readable in a terminal.

Every line of a call carries its ``call_id`` (bound with ``structlog.contextvars``).
Caller numbers never appear in full: use :func:`mask_number` before logging one.
Passwords in URLs never appear at all: :func:`mask_url` hides them, and every line (its
traceback too) goes through it before it is written, whoever forgot to call it.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog


def mask_number(number: str | None) -> str:
    """Mask a phone number for logs: keep the first 3 and last 2 digits.

    >>> mask_number("0912345678")
    '091*****78'
    """
    if not number:
        return "<none>"
    if len(number) <= 5:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 5) + number[-2:]


_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]*):[^@/\s]*@")
_SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:password|passwd|pwd|pass|sslpassword|secret|token|api_key|apikey)=)[^&;#\s]*"
)
MASK = "***"


def mask_url(text: str) -> str:
    """``text`` with the password of every URL in it hidden: ``user:***@`` in the authority,
    ``password=***`` (and secret, token …) in the query.

    >>> mask_url("http://callrouter:hunter2@127.0.0.1:8088")
    'http://callrouter:***@127.0.0.1:8088'
    >>> mask_url("postgresql://u@db/callrouter?sslmode=require&password=hunter2")
    'postgresql://u@db/callrouter?sslmode=require&password=***'
    """
    return _SECRET_PARAM.sub(rf"\g<1>{MASK}", _USERINFO.sub(rf"\g<1>:{MASK}@", text))


def _mask_urls(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
    """structlog processor: :func:`mask_url` on every string value of the line."""
    for key, value in event.items():
        if isinstance(value, str) and ("://" in value or "=" in value):
            event[key] = mask_url(value)
    return event


class _MaskingFormatter(logging.Formatter):
    """The stdlib side (uvicorn, asyncio, SQLAlchemy): the same masking."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_url(super().format(record))


def configure(*, json: bool | None = None, level: str = "INFO") -> None:
    """Configure structlog and the stdlib root logger once at start-up."""
    if json is None:
        json = not sys.stderr.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, _mask_urls, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_MaskingFormatter("%(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


def get_logger(name: str) -> Any:
    """A structlog logger named for its module."""
    return structlog.get_logger(name)
