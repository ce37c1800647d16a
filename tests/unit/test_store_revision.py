"""The schema head read without Alembic matches Alembic's, and the database's revision."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from callrouter.errors import ConfigError, DatabaseUnavailable
from callrouter.store.migrate import head_revision as alembic_head
from callrouter.store.migrate import upgrade
from callrouter.store.revision import (
    at_head,
    database_revision,
    head_revision,
    prepare_in_child,
    upgrade_in_child,
)
from callrouter.store.writer import CallLog


def test_the_head_read_from_the_scripts_is_alembics_head() -> None:
    assert head_revision() == alembic_head()


def write_script(folder: Path, name: str, revision: str, down: str | None) -> None:
    down_text = "None" if down is None else f'"{down}"'
    (folder / name).write_text(
        f'revision: str = "{revision}"\ndown_revision: str | None = {down_text}\n',
        encoding="utf-8",
    )


def test_given_a_chain_then_the_head_is_the_revision_nobody_builds_on(tmp_path: Path) -> None:
    write_script(tmp_path, "a.py", "0001", None)
    write_script(tmp_path, "b.py", "0002", "0001")
    write_script(tmp_path, "c.py", "0003", "0002")
    assert head_revision(tmp_path) == "0003"


def test_given_two_heads_then_it_is_a_clear_error(tmp_path: Path) -> None:
    write_script(tmp_path, "a.py", "0001", None)
    write_script(tmp_path, "b.py", "0002", "0001")
    write_script(tmp_path, "c.py", "0003", "0001")
    with pytest.raises(ConfigError, match="one head revision"):
        head_revision(tmp_path)


def test_given_a_script_without_revision_then_the_error_names_it(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text("print('no revision')\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"x\.py"):
        head_revision(tmp_path)


async def test_a_new_database_has_no_revision_and_an_upgraded_one_is_at_head(
    tmp_path: Path,
) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        assert await database_revision(engine) is None
        assert not await at_head(engine)
        await upgrade(engine)
        assert await database_revision(engine) == head_revision()
        assert await at_head(engine)
    finally:
        await engine.dispose()


async def test_upgrade_in_a_child_process_brings_a_new_database_to_head(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}"
    await prepare_in_child(url)
    engine = create_async_engine(url)
    try:
        assert await database_revision(engine) == head_revision()
    finally:
        await engine.dispose()


CLOSED_PORT = "postgresql+asyncpg://callrouter:secret@127.0.0.1:9/callrouter"


async def test_a_failing_child_upgrade_names_the_error_and_never_the_password() -> None:
    with pytest.raises(DatabaseUnavailable, match="callrouter db upgrade") as failed:
        await upgrade_in_child(CLOSED_PORT)
    assert "secret" not in str(failed.value)


async def test_an_unreachable_database_leaves_the_upgrade_to_the_call_log(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await prepare_in_child(CLOSED_PORT)  # logs, never raises: the router must still start
    out = capsys.readouterr().out
    assert "db.revision_unknown" in out
    assert "secret" not in out


async def test_two_call_logs_opening_a_new_database_at_once_upgrade_it_once(
    tmp_path: Path,
) -> None:
    """serve opens two call logs (router and CDR importer); when the database was not
    reachable at start, both upgrade in-process: one at a time, never 'table exists'."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}"

    async def open_one(name: str) -> None:
        async with CallLog(url, tmp_path / name):
            pass

    await asyncio.gather(open_one("spool-a"), open_one("spool-b"))
    engine = create_async_engine(url)
    try:
        assert await database_revision(engine) == head_revision()
    finally:
        await engine.dispose()
