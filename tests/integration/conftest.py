"""Database fixtures for the integration tests: every store test runs on SQLite and PostgreSQL.

PostgreSQL isolation: each test gets its own login role and a schema of the same name in
the test database, the role's only ``search_path``: every table that test creates lands
in its own schema, so tests are independent of each other and of
other suites sharing the server, and the test needs nothing but a plain URL (which also
works in a subprocess). The role and schema are dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from callrouter.store.db import make_engine
from callrouter.store.models import call_attempts, call_events, callbacks, calls
from callrouter.store.writer import CallLog

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
    await _admin_execute(
        pg_url,
        create_role,
        f"CREATE SCHEMA {name} AUTHORIZATION {name}",
        # Only its own schema: tables other suites left in public stay invisible.
        f"ALTER ROLE {name} SET search_path = {name}",
    )
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


T0 = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # 06:30 on 2 March in Asia/Ho_Chi_Minh


def open_call(
    log: CallLog,
    linkedid: str,
    *,
    start: datetime = T0,
    caller: str | None = "0912345678",
    mode: str = "ari",
) -> None:
    """Hand over the start of a call and of its first attempt (both still open)."""
    log.call_started(
        linkedid=linkedid,
        uniqueid=linkedid,
        branch=3,
        caller=caller,
        started_at=start,
        mode=mode,
        rota_version="abc123def456",
    )
    log.attempt_started(
        linkedid=linkedid,
        seq=1,
        officer_id="o1",
        officer_name="Nguyễn Văn An",
        number="0911111111",
        number_label="Máy bàn trực",
        channel_id=f"{linkedid}-1",
        started_at=start + timedelta(seconds=2),
    )


def write_call(
    log: CallLog,
    linkedid: str,
    *,
    start: datetime = T0,
    caller: str | None = "0912345678",
    answered: bool = True,
) -> None:
    """Hand over the records of one call with two attempts (the first is not answered)."""
    open_call(log, linkedid, start=start, caller=caller)
    log.attempt_ended(
        linkedid=linkedid,
        seq=1,
        result="no_answer",
        cause=19,
        ended_at=start + timedelta(seconds=22),
    )
    log.attempt_started(
        linkedid=linkedid,
        seq=2,
        officer_id="o2",
        officer_name="Trần Thị Bình",
        number="0922222222",
        number_label=None,
        channel_id=f"{linkedid}-2",
        started_at=start + timedelta(seconds=22),
    )
    if answered:
        log.attempt_ended(
            linkedid=linkedid,
            seq=2,
            result="answered",
            cause=16,
            ended_at=start + timedelta(seconds=100),
            answered_at=start + timedelta(seconds=30),
        )
        log.call_answered(
            linkedid=linkedid,
            answered_at=start + timedelta(seconds=30),
            officer_id="o2",
            officer_name="Trần Thị Bình",
            number="0922222222",
        )
        log.call_ended(
            linkedid=linkedid,
            ended_at=start + timedelta(seconds=100),
            outcome="answered",
            hangup_cause=16,
        )
    else:
        log.attempt_ended(
            linkedid=linkedid,
            seq=2,
            result="cancelled",
            cause=487,
            ended_at=start + timedelta(seconds=40),
        )
        log.call_ended(
            linkedid=linkedid,
            ended_at=start + timedelta(seconds=40),
            outcome="abandoned",
            hangup_cause=16,
        )


async def table_counts(url: str) -> dict[str, int]:
    """Rows per call-log table (a fresh engine: the test's view of the database)."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            counts = {}
            for table in (calls, call_attempts, call_events, callbacks):
                result = await conn.execute(select(func.count()).select_from(table))
                counts[table.name] = int(result.scalar_one())
            return counts
    finally:
        await engine.dispose()
