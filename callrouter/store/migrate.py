"""Alembic, configured from code: ``callrouter db upgrade`` and the drift check.

The migration scripts live in ``migrations/`` at the top of the source tree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.errors import ConfigError
from callrouter.store.models import Base

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config() -> Config:
    """An Alembic config pointing at ``migrations/`` (no ini file)."""
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise ConfigError(f"migration scripts not found in {MIGRATIONS_DIR}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise ConfigError(f"no migration found in {MIGRATIONS_DIR}/versions")
    return head


def _upgrade(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def _downgrade(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


#: Tables the migrations create outside the models (the answers' full-text index and, on
#: SQLite, FTS5's shadow tables): the drift check leaves them alone.
OUTSIDE_MODELS_PREFIX = "answers_fts"


def in_models(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic ``include_name`` hook: skip the tables kept outside the models."""
    return not (type_ == "table" and name is not None and name.startswith(OUTSIDE_MODELS_PREFIX))


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": in_models}
    )
    return list(compare_metadata(context, Base.metadata))


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (idempotent: a no-op when already there)."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_downgrade, revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def schema_drift(engine: AsyncEngine) -> list[Any]:
    """What Alembic autogenerate would change to make the database match the models."""
    async with engine.connect() as conn:
        return await conn.run_sync(_diff)
