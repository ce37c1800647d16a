"""Structured logging: JSON in production, readable in a terminal.

Every line of a call carries its ``call_id`` (bound with ``structlog.contextvars``).
Caller numbers never appear in full: use :func:`mask_number` before logging one.
"""

from __future__ import annotations

import logging
import sys
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
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")


def get_logger(name: str) -> Any:
    """A structlog logger named for its module."""
    return structlog.get_logger(name)
