"""Which schema revision a database is at, and the newest one shipped, without Alembic.

The long-running router checks the revision at every start; importing Alembic (and Mako)
for that costs the process ~10 MB of RSS for its whole life (issue 6: ≤ 100 MB). So the
head is read from the migration scripts' ``revision``/``down_revision`` lines and the
database's ``alembic_version`` row with one plain query; Alembic is imported only when a
database really needs upgrading — in ``callrouter serve`` by a short-lived child process
(:func:`upgrade_in_child`). ``tests/unit/test_store_revision.py`` holds this reading to
Alembic's own.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import sys
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.errors import ConfigError, DatabaseUnavailable
from callrouter.logs import get_logger
from callrouter.store.db import make_engine, safe_url

log = get_logger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
_REVISION = re.compile(r"^revision(?:\s*:\s*[\w\[\]| ]+)?\s*=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision(?:\s*:\s*[\w\[\]| ,]+)?\s*=\s*(None|['\"]([^'\"]+)['\"])", re.M)


@functools.cache
def head_revision(versions: Path = MIGRATIONS_DIR / "versions") -> str:
    """The one revision no other script names as its ``down_revision``."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in sorted(versions.glob("*.py")):
        source = script.read_text(encoding="utf-8")
        found = _REVISION.search(source)
        if found is None:
            raise ConfigError(f'{script}: no `revision = "…"` line')
        revisions.add(found.group(1))
        down = _DOWN.search(source)
        if down is not None and down.group(2):
            parents.add(down.group(2))
    heads = revisions - parents
    if len(heads) != 1:
        raise ConfigError(f"{versions}: expected one head revision, found {sorted(heads)}")
    return heads.pop()


async def database_revision(engine: AsyncEngine) -> str | None:
    """The ``alembic_version`` of the database; None when it has no such table (new)."""
    async with engine.connect() as conn:
        try:
            row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
        except SQLAlchemyError:
            return None  # no table yet (the error is the dialect's "no such table")
    return None if row is None else str(row[0])


async def at_head(engine: AsyncEngine) -> bool:
    return await database_revision(engine) == head_revision()


async def upgrade_in_child(database_url: str, *, limit: float = 300.0) -> None:
    """Run ``callrouter db upgrade`` in a child process (the URL goes by environment, never
    on the command line), so Alembic's memory leaves with it. Raises DatabaseUnavailable
    with the child's last error line when it fails."""
    env = {**os.environ, "CALLROUTER_DATABASE_URL": database_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "callrouter",
        "db",
        "upgrade",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(limit):
            _, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise DatabaseUnavailable(f"`callrouter db upgrade` took over {limit:.0f} s") from None
    if proc.returncode != 0:
        lines = [line for line in err.decode(errors="replace").splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit status {proc.returncode}"
        raise DatabaseUnavailable(f"`callrouter db upgrade` failed: {last}")


async def prepare_in_child(database_url: str) -> None:
    """Before a long-running service opens its call log: bring the schema to head in a child
    process if needed. Best effort: when the database cannot be reached now, the call log
    spools and upgrades in-process once it can (an outage must not stop the router)."""
    engine = make_engine(database_url)
    try:
        if await at_head(engine):
            return
    except Exception as exc:  # unreachable now: the call log deals with it
        log.warning("db.revision_unknown", url=safe_url(database_url), error=type(exc).__name__)
        return
    finally:
        await engine.dispose()
    try:
        await upgrade_in_child(database_url)
    except DatabaseUnavailable as exc:
        log.warning("db.upgrade_in_child_failed", url=safe_url(database_url), error=str(exc))
    else:
        log.info("db.upgraded", url=safe_url(database_url), revision=head_revision())
