"""The schema: migrations create it, match the models, and enforce the allowed values."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import insert, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.cli import cli
from callrouter.store.migrate import current_revision, downgrade, head_revision, schema_drift
from callrouter.store.migrate import upgrade as upgrade_schema
from callrouter.store.models import call_attempts, call_id_for, calls

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


def _call_row(linkedid: str, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": call_id_for(linkedid),
        "linkedid": linkedid,
        "uniqueid": linkedid,
        "branch": 3,
        "caller": "0912345678",
        "started_at": T0,
        "local_day": date(2026, 3, 2),
        "local_hour": 8,
        "mode": "ari",
    }
    row.update(overrides)
    return row


async def test_upgrade_creates_every_table_and_autogenerate_shows_no_drift(
    engine: AsyncEngine,
) -> None:
    await upgrade_schema(engine)
    assert await current_revision(engine) == head_revision()
    assert await schema_drift(engine) == []
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert {"calls", "call_attempts", "call_events", "callbacks", "alembic_version"} <= tables


async def test_upgrade_twice_is_a_no_op_and_downgrade_removes_everything(
    engine: AsyncEngine,
) -> None:
    await upgrade_schema(engine)
    await upgrade_schema(engine)
    assert await current_revision(engine) == head_revision()
    await downgrade(engine, "base")
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert tables <= {"alembic_version"}


async def test_outcome_outside_the_allowed_set_is_refused(engine: AsyncEngine) -> None:
    await upgrade_schema(engine)
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert(calls).values(_call_row("L1", outcome="lost")))


async def test_attempt_must_belong_to_an_existing_call(engine: AsyncEngine) -> None:
    await upgrade_schema(engine)
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(
                insert(call_attempts).values(
                    call_id=call_id_for("nope"),
                    seq=1,
                    officer_id="o1",
                    officer_name="A",
                    number="0911111111",
                    channel_id="c1",
                    started_at=T0,
                )
            )


async def test_linkedid_is_unique(engine: AsyncEngine) -> None:
    await upgrade_schema(engine)
    async with engine.begin() as conn:
        await conn.execute(insert(calls).values(_call_row("L1")))
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(insert(calls).values(_call_row("L1", id="other")))


async def test_timestamps_come_back_timezone_aware_utc(engine: AsyncEngine) -> None:
    await upgrade_schema(engine)
    async with engine.begin() as conn:
        await conn.execute(insert(calls).values(_call_row("L1")))
    async with engine.connect() as conn:
        started = (await conn.execute(select(calls.c.started_at))).scalar_one()
    assert started == T0
    assert started.tzinfo is not None
    assert started.utcoffset() == timedelta(0)


def test_db_upgrade_command_creates_the_database_on_first_run(store_url: str) -> None:
    result = CliRunner().invoke(cli, ["db", "upgrade", "--database-url", store_url])
    assert result.exit_code == 0, result.output
    assert head_revision() in result.output
    if store_url.startswith("sqlite"):
        assert Path(store_url.split("///", 1)[1]).is_file()


def test_db_upgrade_with_unknown_database_is_one_clear_error(pg_url: str) -> None:
    bad = pg_url.rsplit("/", 1)[0] + "/callrouter_no_such_db"
    result = CliRunner().invoke(cli, ["db", "upgrade", "--database-url", bad])
    assert result.exit_code == 1
    assert "callrouter_no_such_db" in result.output
    assert "Traceback" not in result.output
