"""Engines for both databases through one code path.

SQLite (``sqlite+aiosqlite:///path``) is the embedded default: the file and its directory
are created on first use, in WAL mode with foreign keys enforced. PostgreSQL
(``postgresql+asyncpg://…``) is the production database. Nothing else is supported.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from callrouter.errors import ConfigError, DatabaseUnavailable
from callrouter.logs import mask_url

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


def parse_url(url: str) -> URL:
    """Parse and check a database URL; a clear :class:`ConfigError` when it cannot work."""
    if not url:
        raise ConfigError("database URL is empty")
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(f"database URL is not valid: {mask_url(str(exc))}") from None
    if parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise ConfigError(
            f"database URL driver {parsed.drivername!r} is not supported; "
            f"use one of {', '.join(SUPPORTED_DRIVERS)}"
        )
    if parsed.drivername.startswith("sqlite") and not parsed.database:
        raise ConfigError("SQLite database URL needs a file path (in-memory is not durable)")
    return parsed


def safe_url(url: str | URL) -> str:
    """The URL with its passwords hidden (``user:***@`` and ``?password=***``), fit for logs
    and error messages."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except (ArgumentError, ValueError):
        return "<invalid URL>"
    return mask_url(parsed.render_as_string(hide_password=True))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(url: str, *, search_path: str | None = None, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url``; ``search_path`` picks a PostgreSQL schema (tests use it)."""
    parsed = parse_url(url)
    if parsed.drivername.startswith("sqlite"):
        Path(parsed.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(parsed, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("timeout", 5)
    if search_path is not None:
        connect_args.setdefault("server_settings", {})["search_path"] = search_path
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 5)
    return create_async_engine(parsed, connect_args=connect_args, **kwargs)


def is_sqlite(url: str) -> bool:
    """True when ``url`` names the embedded SQLite file."""
    return parse_url(url).drivername.startswith("sqlite")


def make_blocking_sqlite_engine(url: str) -> Engine:
    """A blocking engine on the SQLite file of ``url``, for work that runs whole in one worker
    thread (the call log's batches: one hop from the event loop a batch, where aiosqlite makes
    one per statement). Same file, same pragmas as :func:`make_engine`'s."""
    parsed = parse_url(url)
    if not parsed.drivername.startswith("sqlite"):
        raise ConfigError(f"not an SQLite database URL: {safe_url(parsed)}")
    Path(parsed.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed.set(drivername="sqlite+pysqlite"))
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def is_connection_error(exc: BaseException) -> bool:
    """True when ``exc`` means "the database is not reachable right now" (retry later)."""
    if isinstance(exc, (OperationalError, InterfaceError)) and not is_credentials_error(exc):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    orig = getattr(exc, "orig", None) or exc
    name = type(orig).__name__
    if name in {
        "CannotConnectNowError",
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "AdminShutdownError",
        "CrashShutdownError",
        "InterfaceError",
        "InternalClientError",
        "TooManyConnectionsError",
    }:
        return True
    return isinstance(
        orig, (ConnectionError, OSError, socket.gaierror, asyncio.TimeoutError, TimeoutError)
    )


def is_data_error(exc: BaseException) -> bool:
    """True when the database refused the data itself (a constraint, a value it cannot
    store) or the record could not be read: retrying the same record cannot help."""
    if isinstance(exc, (IntegrityError, DataError)):
        return True
    return not isinstance(exc, SQLAlchemyError) and isinstance(
        exc, (KeyError, ValueError, TypeError)
    )


def is_credentials_error(exc: BaseException) -> bool:
    """True when the server refused who we are (wrong password, unknown role or database)."""
    orig = getattr(exc, "orig", None) or exc
    name = type(orig).__name__
    if name in {
        "InvalidPasswordError",
        "InvalidAuthorizationSpecificationError",
        "InvalidCatalogNameError",
    }:
        return True
    cause = orig.__cause__
    return cause is not None and cause is not orig and is_credentials_error(cause)


async def probe(engine: AsyncEngine) -> str | None:
    """Connect once: None when fine, the reason when unreachable (worth retrying).

    Raises :class:`DatabaseUnavailable` when the server refuses us (wrong password,
    unknown role or database): retrying cannot help, the configuration is wrong.
    """
    where = safe_url(engine.url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        if is_credentials_error(exc):
            raise DatabaseUnavailable(
                f"database {where} refuses the configured credentials or database name: "
                f"{_first_line(exc)}. Check CALLROUTER_DATABASE_URL."
            ) from None
        if is_connection_error(exc):
            return f"database {where} cannot be reached: {_reason(exc)}"
        raise
    return None


async def check_connection(engine: AsyncEngine) -> None:
    """Connect once; raise :class:`DatabaseUnavailable` with a clear message if we cannot."""
    problem = await probe(engine)
    if problem is not None:
        raise DatabaseUnavailable(problem)


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).splitlines()[0] if str(orig) else type(orig).__name__


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text_ = str(orig).splitlines()[0] if str(orig) else ""
    return f"{type(orig).__name__}: {text_}" if text_ else type(orig).__name__
