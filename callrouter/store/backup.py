"""``db backup`` / ``db restore``: the call log and the recorded messages in one archive.

The archive is a ``.tar.gz`` (mode 0600: it holds personal data) with

* ``manifest.json`` — format, time, database kind, schema revision, recordings;
* ``database.sqlite3`` — SQLite's online backup API (consistent while callrouter writes), or
  ``database.pgdump`` — ``pg_dump --format=custom`` (``pg_dump`` must be at least the
  server's major version; it is checked first, and a clear error names both);
* ``recordings/<name>`` — every ``callrouter-message-….wav`` in the recordings directory.

Restore goes into a **fresh** database (one without callrouter's tables; anything else is
refused, nothing is overwritten): SQLite through the backup API, PostgreSQL through
``pg_restore --no-owner --no-privileges --exit-on-error``. Recordings are put back in the
recordings directory (an existing file of the same name is kept). ``db upgrade`` then brings
an older backup's schema up to date. Members are read by their known names only, and
recordings only when :func:`~callrouter.store.recordings.is_valid_recording_name` accepts
the name, so an archive cannot write outside those places.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from callrouter.errors import StoreError
from callrouter.store.db import parse_url
from callrouter.store.migrate import current_revision
from callrouter.store.recordings import is_valid_recording_name

FORMAT: Final = "callrouter-backup/1"
MANIFEST: Final = "manifest.json"
SQLITE_MEMBER: Final = "database.sqlite3"
PG_MEMBER: Final = "database.pgdump"
RECORDINGS: Final = "recordings/"
TOOL_TIMEOUT: Final = 3600.0


class BackupError(StoreError):
    """A backup that cannot be made or an archive that cannot be restored."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    database: str
    revision: str | None
    recordings: int


@dataclass(frozen=True)
class RestoreResult:
    database: str
    revision: str | None
    recordings_restored: int
    recordings_kept: int


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename or ''}: {exc.strerror}".lstrip(": ")
    return f"{type(exc).__name__}: {exc}"


def backup_name(now: datetime) -> str:
    return f"callrouter-backup-{now:%Y%m%dT%H%M%SZ}.tar.gz"


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URL for pg_dump/pg_restore, the password in the environment (not in ``ps``)."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None, query={})
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} not found: install the PostgreSQL client of the server's major version "
            "(Debian: postgresql-client)"
        )
    return path


def _run(args: list[str], env: dict[str, str]) -> None:
    try:
        done = subprocess.run(  # noqa: S603 -- fixed tool, arguments built here, no shell
            args, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise BackupError(f"{Path(args[0]).name} did not finish in {TOOL_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        raise BackupError(f"{Path(args[0]).name} failed: {' / '.join(lines[-3:])}")


def _tool_major(path: str) -> int:
    out = subprocess.run(  # noqa: S603 -- fixed tool
        [path, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    if match is None:
        raise BackupError(f"cannot read the version of {path}: {out.strip()!r}")
    return int(match.group(1))


async def _server_major(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        num = (await conn.execute(text("SHOW server_version_num"))).scalar_one()
    return int(num) // 10000


async def check_pg_tool(engine: AsyncEngine, name: str) -> str:
    """The path of ``pg_dump``/``pg_restore``, refused when older than the server."""
    path = _tool(name)
    tool, server = _tool_major(path), await _server_major(engine)
    if tool < server:
        raise BackupError(
            f"{name} {tool} cannot handle PostgreSQL {server}: install postgresql-client-{server}"
        )
    return path


def _recording_files(recordings_dir: Path) -> list[Path]:
    if not recordings_dir.is_dir():
        return []
    return sorted(
        p for p in recordings_dir.iterdir() if is_valid_recording_name(p.name) and p.is_file()
    )


async def backup(
    engine: AsyncEngine, url: str, dest: Path, *, recordings_dir: Path, now: datetime
) -> BackupResult:
    """Write the archive ``dest`` (a directory: a dated file inside it)."""
    parsed = parse_url(url)
    kind = "sqlite" if parsed.drivername.startswith("sqlite") else "postgresql"
    revision = await current_revision(engine)
    pg_dump = await check_pg_tool(engine, "pg_dump") if kind == "postgresql" else ""
    manifest = {
        "format": FORMAT,
        "created_at": now.isoformat(),
        "database": kind,
        "revision": revision,
    }
    try:
        return await asyncio.to_thread(
            _write_archive, parsed, manifest, pg_dump, dest / backup_name(now), dest, recordings_dir
        )
    except (OSError, sqlite3.Error, tarfile.TarError) as exc:
        raise BackupError(f"backup not written: {_why(exc)}") from None


def _write_archive(  # noqa: PLR0917 -- one call site, the steps of one backup
    parsed: URL, manifest: dict[str, Any], pg_dump: str, dated: Path, dest: Path, recordings: Path
) -> BackupResult:
    target = dated if dest.is_dir() else dest
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="callrouter-backup-", dir=target.parent) as tmp:
        work = Path(tmp)
        if manifest["database"] == "sqlite":
            db_file = work / SQLITE_MEMBER
            _sqlite_copy(f"file:{parsed.database}?mode=ro", str(db_file), uri=True)
        else:
            db_file = work / PG_MEMBER
            conninfo, env = _libpq(parsed)
            _run([pg_dump, "--format=custom", f"--file={db_file}", f"--dbname={conninfo}"], env)
        files = _recording_files(recordings)
        manifest = {**manifest, "recordings": [p.name for p in files]}
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        partial = work / "archive.tar.gz"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            tar.add(work / MANIFEST, arcname=MANIFEST)
            tar.add(db_file, arcname=db_file.name)
            for p in files:
                tar.add(p, arcname=RECORDINGS + p.name)
        os.replace(partial, target)
    return BackupResult(target, manifest["database"], manifest["revision"], len(files))


def _sqlite_copy(source: str, dest: str, *, uri: bool = False) -> None:
    """SQLite's online backup API: a consistent copy even while another process writes."""
    src = sqlite3.connect(source, uri=uri)
    dst = sqlite3.connect(dest)
    try:
        with dst:
            src.backup(dst)
    finally:
        dst.close()
        src.close()


def read_manifest(tar: tarfile.TarFile, archive: Path) -> dict[str, Any]:
    try:
        member = tar.extractfile(MANIFEST)
        if member is None:
            raise KeyError(MANIFEST)
        manifest = json.loads(member.read().decode("utf-8"))
    except (KeyError, ValueError, UnicodeDecodeError) as exc:
        raise BackupError(f"{archive}: not a callrouter backup ({MANIFEST}: {exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{archive}: {MANIFEST}: format is not {FORMAT!r}")
    if manifest.get("database") not in ("sqlite", "postgresql"):
        raise BackupError(f"{archive}: {MANIFEST}: field 'database' is not sqlite or postgresql")
    return manifest


async def _is_fresh(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    return not names & {"alembic_version", "calls", "callbacks", "call_events", "call_attempts"}


def _extract(tar: tarfile.TarFile, name: str, dest: Path, archive: Path) -> None:
    member = tar.getmember(name) if name in tar.getnames() else None
    source = tar.extractfile(member) if member is not None and member.isfile() else None
    if source is None:
        raise BackupError(f"{archive}: member {name!r} is missing")
    with source, dest.open("wb") as out:
        shutil.copyfileobj(source, out)


def _open(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, mode="r:gz")
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"{archive}: cannot be read as a .tar.gz ({exc})") from None


def _archive_manifest(archive: Path) -> dict[str, Any]:
    """The manifest, once every member is known to be one a backup writes."""
    with _open(archive) as tar:
        manifest = read_manifest(tar, archive)
        for member in tar.getmembers():
            name = member.name
            if name.startswith(RECORDINGS):
                if not is_valid_recording_name(name.removeprefix(RECORDINGS)):
                    raise BackupError(f"{archive}: member {name!r} is not a recording name")
            elif name not in (MANIFEST, SQLITE_MEMBER, PG_MEMBER):
                raise BackupError(f"{archive}: member {name!r} is not part of a callrouter backup")
            if not member.isfile():
                raise BackupError(f"{archive}: member {name!r} is not a regular file")
        return manifest


def _restore_files(
    parsed: URL, pg_restore: str, archive: Path, recordings: Path
) -> tuple[int, int]:
    """Put the database and the recordings back; (recordings restored, already there)."""
    restored = kept = 0
    with _open(archive) as tar, tempfile.TemporaryDirectory(prefix="callrouter-restore-") as tmp:
        work = Path(tmp)
        if not pg_restore:
            db_file = work / SQLITE_MEMBER
            _extract(tar, SQLITE_MEMBER, db_file, archive)
            _sqlite_copy(str(db_file), str(parsed.database))
        else:
            db_file = work / PG_MEMBER
            _extract(tar, PG_MEMBER, db_file, archive)
            conninfo, env = _libpq(parsed)
            _run(
                [pg_restore, "--no-owner", "--no-privileges", "--exit-on-error",
                 f"--dbname={conninfo}", str(db_file)],
                env,
            )  # fmt: skip
        names = [n for n in tar.getnames() if n.startswith(RECORDINGS)]
        if names:
            recordings.mkdir(parents=True, exist_ok=True)
        for name in names:  # names checked by _archive_manifest
            target = recordings / name.removeprefix(RECORDINGS)
            if target.exists():
                kept += 1
                continue
            _extract(tar, name, target, archive)
            restored += 1
    return restored, kept


async def restore(
    engine: AsyncEngine, url: str, archive: Path, *, recordings_dir: Path
) -> RestoreResult:
    """Restore ``archive`` into the fresh database at ``url`` and the recordings directory."""
    parsed = parse_url(url)
    kind = "sqlite" if parsed.drivername.startswith("sqlite") else "postgresql"
    try:
        manifest = await asyncio.to_thread(_archive_manifest, archive)
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise BackupError(f"{archive}: cannot be read ({_why(exc)})") from None
    if manifest["database"] != kind:
        raise BackupError(
            f"{archive}: holds a {manifest['database']} database, the target is {kind}"
        )
    if not await _is_fresh(engine):
        raise BackupError(
            "the target database already has callrouter tables: restore into a new one"
        )
    pg_restore = await check_pg_tool(engine, "pg_restore") if kind == "postgresql" else ""
    await engine.dispose()  # no pooled connection while the database is replaced
    try:
        restored, kept = await asyncio.to_thread(
            _restore_files, parsed, pg_restore, archive, recordings_dir
        )
    except (OSError, sqlite3.Error, tarfile.TarError) as exc:
        raise BackupError(f"{archive}: restore stopped: {_why(exc)}") from None
    return RestoreResult(kind, await current_revision(engine), restored, kept)
