"""Shared fixtures.

Services a test needs (PostgreSQL, the Asterisk sandbox) are *required* under ``CI=true``:
when they cannot be reached the test fails with a clear message instead of skipping.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest
from hypothesis import settings

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Fuzz suites: `ci` (the default) bounds CI time; by hand, `--hypothesis-profile=deep` runs
# 10,000 examples per suite (add --hypothesis-show-statistics for the numbers).
settings.register_profile("ci", max_examples=100, deadline=None, print_blob=True)
settings.register_profile("deep", max_examples=10_000, deadline=None, print_blob=True)
settings.load_profile("ci")

PG_URL = os.environ.get(
    "CALLROUTER_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/callrouter_test"
)


def require_service(what: str, reason: str) -> None:
    """Fail under CI (a missing service is a broken build), skip on a developer's laptop."""
    message = f"{what} is not available: {reason}"
    if IN_CI:
        pytest.fail(message + " (CI=true: required, run scripts/services-up)", pytrace=False)
    pytest.skip(message)


def _tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of the PostgreSQL test database (``scripts/services-up`` creates it)."""
    parts = urlsplit(PG_URL.replace("+asyncpg", ""))
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    if not _tcp_open(host, port):
        require_service("PostgreSQL", f"nothing listens on {host}:{port}")
    return PG_URL
