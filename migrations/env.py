"""Alembic environment for callrouter.

callrouter configures Alembic from code (``callrouter.store.migrate``) and hands a live
connection in ``config.attributes["connection"]``; no ``alembic.ini`` is needed. Running
the ``alembic`` command directly also works: set ``CALLROUTER_DATABASE_URL`` (or use the
embedded SQLite default) and pass ``-c migrations/alembic.ini``.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from callrouter.settings import Settings
from callrouter.store.db import make_engine
from callrouter.store.migrate import in_models
from callrouter.store.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        include_name=in_models,
        render_as_batch=connection.dialect.name == "sqlite",
    )


def _run(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine() -> None:

    engine = make_engine(Settings().effective_database_url())
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_with_own_engine())


if context.is_offline_mode():
    raise SystemExit("callrouter migrations run online only (callrouter db upgrade)")
run_migrations_online()
