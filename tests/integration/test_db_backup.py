"""``db backup`` → ``db restore`` into a fresh database gives the same report (issue 15).

PostgreSQL: two fresh databases on the test server (a backup is of a whole database, as in
production), dropped afterwards. SQLite: two files.
"""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy.engine import make_url

from callrouter.cli import cli
from callrouter.store.backup import FORMAT
from callrouter.store.writer import CallLog
from tests.integration.conftest import T0, _admin_execute, write_call

pytestmark = pytest.mark.integration

WAV = b"RIFF....WAVEfmt "


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def two_databases(
    db_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[str, str]]:
    if db_kind == "sqlite":
        yield (
            f"sqlite+aiosqlite:///{tmp_path / 'src' / 'callrouter.sqlite3'}",
            f"sqlite+aiosqlite:///{tmp_path / 'dst' / 'callrouter.sqlite3'}",
        )
        return
    admin = str(request.getfixturevalue("pg_url"))
    names = [f"cr_bk_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    asyncio.run(_admin_execute(admin, *(f"CREATE DATABASE {n}" for n in names)))
    base = make_url(admin)
    try:
        yield tuple(base.set(database=n).render_as_string(hide_password=False) for n in names)  # type: ignore[misc]
    finally:
        asyncio.run(
            _admin_execute(admin, *(f"DROP DATABASE IF EXISTS {n} WITH (FORCE)" for n in names))
        )


async def _seed(url: str, spool: Path) -> None:
    async with CallLog(url, spool, tz="Asia/Ho_Chi_Minh") as log:
        for i in range(6):
            write_call(
                log,
                f"L{i}",
                start=T0 + timedelta(hours=i),
                caller=f"091234567{i}",
                answered=i % 2 == 0,
            )
        log.callback_requested(
            linkedid="L1",
            number="0912345671",
            reason="after_hours_message",
            created_at=T0,
            recording="callrouter-message-L1-1.wav",
        )
        await log.flush()


def test_backup_then_restore_into_a_fresh_database_gives_the_same_report(
    two_databases: tuple[str, str], tmp_path: Path
) -> None:
    source, target = two_databases
    recordings = tmp_path / "recording"
    recordings.mkdir()
    (recordings / "callrouter-message-L1-1.wav").write_bytes(WAV)
    (recordings / "not-ours.txt").write_text("x", encoding="utf-8")
    assert _invoke("db", "upgrade", "--database-url", source).exit_code == 0
    asyncio.run(_seed(source, tmp_path / "spool"))
    report = ("report", "monthly", "--month", "2026-03", "--format", "csv")
    before = _invoke(*report, "--database-url", source)
    assert before.exit_code == 0, before.output
    assert "summary,received,Tổng số cuộc gọi đến,6" in before.output

    backups = tmp_path / "backups"
    backups.mkdir()
    made = _invoke("db", "backup", str(backups), "--recordings-dir", str(recordings),
                   "--database-url", source)  # fmt: skip
    assert made.exit_code == 0, made.output
    [archive] = backups.iterdir()
    assert archive.name.startswith("callrouter-backup-")
    assert archive.stat().st_mode & 0o777 == 0o600
    with tarfile.open(archive) as tar:
        members = set(tar.getnames())
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert "recordings/callrouter-message-L1-1.wav" in members
    assert "recordings/not-ours.txt" not in members
    assert manifest["format"] == FORMAT
    assert manifest["recordings"] == ["callrouter-message-L1-1.wav"]

    restored_recordings = tmp_path / "restored" / "recording"
    result = _invoke("db", "restore", str(archive), "--recordings-dir", str(restored_recordings),
                     "--database-url", target)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (restored_recordings / "callrouter-message-L1-1.wav").read_bytes() == WAV
    upgraded = _invoke("db", "upgrade", "--database-url", target)
    assert upgraded.exit_code == 0, upgraded.output
    after = _invoke(*report, "--database-url", target)
    assert after.output == before.output

    # A second restore into the now used database is refused; nothing is overwritten.
    again = CliRunner().invoke(
        cli, ["db", "restore", str(archive), "--recordings-dir", str(restored_recordings),
              "--database-url", target],
    )  # fmt: skip
    assert again.exit_code == 1
    assert "already has callrouter tables" in again.output
    assert _invoke(*report, "--database-url", target).output == before.output


def _tar(path: Path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_an_archive_that_is_not_a_backup_or_reaches_outside_is_refused(
    sqlite_url: str, tmp_path: Path
) -> None:
    recordings = tmp_path / "recording"
    not_tar = tmp_path / "x.tar.gz"
    not_tar.write_bytes(b"hello")
    result = CliRunner().invoke(cli, ["db", "restore", str(not_tar), "--database-url", sqlite_url])
    assert result.exit_code == 1
    assert "cannot be read as a .tar.gz" in result.output

    no_manifest = tmp_path / "y.tar.gz"
    _tar(no_manifest, {"database.sqlite3": b""})
    result = CliRunner().invoke(
        cli, ["db", "restore", str(no_manifest), "--database-url", sqlite_url]
    )
    assert result.exit_code == 1
    assert "not a callrouter backup" in result.output

    # Build a real backup, then add a member that would land outside the recordings directory.
    source = f"sqlite+aiosqlite:///{tmp_path / 'src.sqlite3'}"
    assert _invoke("db", "upgrade", "--database-url", source).exit_code == 0
    good = tmp_path / "good.tar.gz"
    assert _invoke("db", "backup", str(good), "--recordings-dir", str(recordings),
                   "--database-url", source).exit_code == 0  # fmt: skip
    with tarfile.open(good) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    evil = tmp_path / "evil.tar.gz"
    _tar(evil, {**members, "recordings/../../escaped.wav": WAV})
    result = CliRunner().invoke(
        cli,
        [
            "db",
            "restore",
            str(evil),
            "--recordings-dir",
            str(recordings),
            "--database-url",
            sqlite_url,
        ],
    )
    assert result.exit_code == 1
    assert "is not a recording name" in result.output
    assert not (tmp_path / "escaped.wav").exists()
    # Refused before anything was written: the same database still takes the good backup.
    restored = _invoke("db", "restore", str(good), "--recordings-dir", str(recordings),
                       "--database-url", sqlite_url)  # fmt: skip
    assert restored.exit_code == 0, restored.output


def test_a_pg_dump_older_than_the_server_is_refused_with_the_version_to_install(
    pg_schema_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin" / "pg_dump"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    assert _invoke("db", "upgrade", "--database-url", pg_schema_url).exit_code == 0
    result = CliRunner().invoke(
        cli, ["db", "backup", str(tmp_path / "b.tar.gz"), "--recordings-dir", str(tmp_path),
              "--database-url", pg_schema_url],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "pg_dump 9 cannot handle PostgreSQL" in result.output
    assert "install postgresql-client-" in result.output
    assert not (tmp_path / "b.tar.gz").exists()


def test_a_backup_that_cannot_be_written_or_a_truncated_archive_is_one_clear_error(
    tmp_path: Path,
) -> None:
    source = f"sqlite+aiosqlite:///{tmp_path / 'src.sqlite3'}"
    assert _invoke("db", "upgrade", "--database-url", source).exit_code == 0
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["db", "backup", str(blocker / "b.tar.gz"), "--recordings-dir", str(tmp_path),
              "--database-url", source],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "backup not written" in result.output
    assert "Traceback" not in result.output

    good = tmp_path / "good.tar.gz"
    assert _invoke("db", "backup", str(good), "--recordings-dir", str(tmp_path / "none"),
                   "--database-url", source).exit_code == 0  # fmt: skip
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    target = f"sqlite+aiosqlite:///{tmp_path / 'dst.sqlite3'}"
    result = CliRunner().invoke(cli, ["db", "restore", str(cut), "--database-url", target])
    assert result.exit_code == 1
    assert str(cut) in result.output
    assert "Traceback" not in result.output
