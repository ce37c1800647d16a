"""A wrong database password is one clear error at start-up, against a server that checks it.

The machine's shared PostgreSQL trusts every local connection, so this test starts its own
small PostgreSQL instance with password (SCRAM) authentication in a temporary directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from callrouter.cli import cli
from callrouter.errors import DatabaseUnavailable
from callrouter.store.writer import CallLog
from tests.conftest import require_service
from tests.integration.conftest import table_counts, write_call

pytestmark = pytest.mark.integration

PASSWORD = "s3cret-pw"  # noqa: S105 (a throw-away server's password)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_bin() -> Path | None:
    root = Path("/usr/lib/postgresql")
    if not root.is_dir() or shutil.which("runuser") is None or os.geteuid() != 0:
        return None
    versions = sorted(os.listdir(root), key=lambda v: [int(x) for x in v.split(".")])
    return root / versions[-1] / "bin" if versions else None


def _as_postgres(*args: str) -> None:
    done = subprocess.run(
        ["runuser", "-u", "postgres", "--", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        pytest.fail(f"{args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")


@pytest.fixture(scope="module")
def password_server() -> Iterator[str]:
    """URL (with the right password) of a private PostgreSQL that demands passwords."""
    binary = _postgres_bin()
    if binary is None:
        require_service("PostgreSQL binaries", "initdb/pg_ctl and runuser (as root) are needed")
    assert binary is not None
    # Not under pytest's tmp dirs: the postgres user must be able to reach it.
    base = Path(tempfile.mkdtemp(prefix="callrouter-pwpg-"))
    base.chmod(0o755)
    data = base / "data"
    data.mkdir()
    shutil.chown(data, "postgres", "postgres")
    pwfile = base / "pw"
    pwfile.write_text(PASSWORD, encoding="utf-8")
    shutil.chown(pwfile, "postgres", "postgres")
    port = _free_port()
    _as_postgres(
        str(binary / "initdb"), "-D", str(data), "-U", "postgres",
        "--auth=scram-sha-256", f"--pwfile={pwfile}",
    )  # fmt: skip
    opts = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
    _as_postgres(
        str(binary / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(data / "log"), "-w", "start"
    )
    try:
        yield f"postgresql+asyncpg://postgres:{PASSWORD}@127.0.0.1:{port}/postgres"
    finally:
        _as_postgres(str(binary / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


async def test_wrong_password_is_one_clear_error_at_start_up(
    password_server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = password_server.replace(PASSWORD, "not-the-password")
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as info:
        async with CallLog(wrong, tmp_path / "spool"):
            pytest.fail("must not start with a wrong password")
    message = str(info.value)
    assert "refuses the configured credentials" in message
    assert "password authentication failed" in message
    assert "not-the-password" not in message
    assert time.monotonic() - started < 15
    out, err = capsys.readouterr()
    assert "not-the-password" not in out + err
    assert "Traceback" not in out + err

    # Corrected, the same spool directory starts and works at once.
    async with CallLog(password_server, tmp_path / "spool") as log:
        write_call(log, "L1")
        await log.flush()
    assert (await table_counts(password_server))["calls"] == 1


def test_db_upgrade_with_a_wrong_password_says_so_without_a_traceback(
    password_server: str,
) -> None:
    wrong = password_server.replace(PASSWORD, "nope")
    result = CliRunner().invoke(cli, ["db", "upgrade", "--database-url", wrong])
    assert result.exit_code == 1
    assert "refuses the configured credentials" in result.output
    assert "password authentication failed" in result.output
    assert "nope@" not in result.output
    assert "Traceback" not in result.output
