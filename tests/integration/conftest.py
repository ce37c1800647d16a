"""Database fixtures for the integration tests: every store test runs on SQLite and PostgreSQL.

PostgreSQL isolation: each test gets its own login role and a schema of the same name in
the test database. PostgreSQL's default ``search_path`` (``"$user", public``) puts every
table that test creates in its own schema, so tests are independent of each other and of
other suites sharing the server, and the test needs nothing but a plain URL (which also
works in a subprocess). The role and schema are dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from callrouter.store.db import make_engine

DATABASES = ("sqlite", "postgresql")


async def _admin_execute(admin_url: str, *statements: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
async def pg_schema_url(pg_url: str) -> AsyncIterator[str]:
    """A URL whose login role owns a fresh, empty schema in the PostgreSQL test database."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = make_url(pg_url)
    password = admin.password
    create_role = f"CREATE ROLE {name} LOGIN" + (
        f" PASSWORD '{password}'" if password is not None else ""
    )
    await _admin_execute(pg_url, create_role, f"CREATE SCHEMA {name} AUTHORIZATION {name}")
    url = admin.set(username=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        await _admin_execute(
            pg_url,
            # name is our own generated identifier, not input
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{name}'",  # noqa: S608
            f"DROP SCHEMA {name} CASCADE",
            f"DROP ROLE {name}",
        )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'db' / 'callrouter.sqlite3'}"


@pytest.fixture(params=DATABASES)
def db_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(db_kind: str, request: pytest.FixtureRequest) -> str:
    """An empty database of each kind (SQLite file, PostgreSQL schema)."""
    if db_kind == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
async def engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(store_url)
    try:
        yield engine
    finally:
        await engine.dispose()
